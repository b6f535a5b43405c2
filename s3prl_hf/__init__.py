"""s3prl_hf: every S3PRL upstream as a Hugging Face model with S3PRL's hidden states."""

__version__ = "0.1.0"

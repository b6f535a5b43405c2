"""s3prl_hf: every S3PRL upstream as a Hugging Face model with S3PRL's hidden states.

Example:
    >>> from s3prl_hf import AutoUpstream
    >>> model = AutoUpstream.from_pretrained("hubert")  # doctest: +SKIP
    >>> all_hs, all_hs_len = model(wavs, wavs_len)  # doctest: +SKIP
"""

import importlib

__version__ = "0.1.0"

# Public name -> module that defines it, imported on first use.
_EXPORTS = {
    "AutoUpstream": "auto",
    "UpstreamNotAvailableError": "auto",
    "reference_config": "auto",
    "UpstreamConfig": "modeling_utils",
    "UpstreamOutput": "modeling_utils",
    "UpstreamPreTrainedModel": "modeling_utils",
    "convert_checkpoint": "convert",
    "CheckpointFormatError": "conversion",
    "UnknownUpstreamError": "registry",
    "get_spec": "registry",
    "list_upstreams": "registry",
    "S3PRLUpstream": "compat",
    "Featurizer": "featurizer",
    "extract_features": "extract",
    "set_feature_format": "extract",
    "extract_to_dir": "sharded",
    "load_features": "sharded",
    "AudioError": "audio",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

# Registers every family with transformers' AutoConfig / AutoModel, so that
# `transformers.AutoModel.from_pretrained(folder)` works after `import s3prl_hf`.
from . import auto  # noqa: E402,F401


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 's3prl_hf' has no attribute {name!r}")

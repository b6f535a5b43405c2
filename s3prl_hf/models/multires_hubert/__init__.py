"""MR-HuBERT family: multires_hubert_base, multires_hubert_large, multires_hubert_multilingual_*."""

from .configuration_multires_hubert import REFERENCE_CONFIGS, S3prlMultiresHubertConfig
from .modeling_multires_hubert import S3prlMultiresHubertModel

__all__ = ["REFERENCE_CONFIGS", "S3prlMultiresHubertConfig", "S3prlMultiresHubertModel"]

"""HuBERT family: hubert, hubert_base, hubert_large_ll60k, hubert_base_robust_mgr."""

from .configuration_hubert import REFERENCE_CONFIGS, S3prlHubertConfig
from .modeling_hubert import S3prlHubertModel

__all__ = ["REFERENCE_CONFIGS", "S3prlHubertConfig", "S3prlHubertModel"]

"""LightHuBERT family: lighthubert, lighthubert_base, lighthubert_small, lighthubert_stage1."""

from .configuration_lighthubert import REFERENCE_CONFIGS, S3prlLightHubertConfig
from .modeling_lighthubert import S3prlLightHubertModel

__all__ = ["REFERENCE_CONFIGS", "S3prlLightHubertConfig", "S3prlLightHubertModel"]

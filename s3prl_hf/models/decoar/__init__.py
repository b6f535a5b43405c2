"""DeCoAR family: the decoar_layers and decoar names (S3PRL's decoar_layers and decoar experts, one checkpoint)."""

from .configuration_decoar import REFERENCE_CONFIGS, S3prlDecoarConfig
from .modeling_decoar import S3prlDecoarModel

__all__ = ["REFERENCE_CONFIGS", "S3prlDecoarConfig", "S3prlDecoarModel"]

"""DeCoAR family: the decoar_layers name (S3PRL's decoar_layers expert)."""

from .configuration_decoar import REFERENCE_CONFIGS, S3prlDecoarConfig
from .modeling_decoar import S3prlDecoarModel

__all__ = ["REFERENCE_CONFIGS", "S3prlDecoarConfig", "S3prlDecoarModel"]

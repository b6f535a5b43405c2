"""DeCoAR 2.0 family: the decoar2 name (S3PRL's decoar2 expert)."""

from .configuration_decoar2 import REFERENCE_CONFIGS, S3prlDecoar2Config
from .modeling_decoar2 import S3prlDecoar2Model

__all__ = ["REFERENCE_CONFIGS", "S3prlDecoar2Config", "S3prlDecoar2Model"]

"""PaSST family: S3PRL's passt_* hub entries (the vendored hear21passt package, kkoutini's AudioSet releases)."""

from .configuration_passt import REFERENCE_CONFIGS, S3prlPasstConfig
from .modeling_passt import S3prlPasstModel

__all__ = ["REFERENCE_CONFIGS", "S3prlPasstConfig", "S3prlPasstModel"]

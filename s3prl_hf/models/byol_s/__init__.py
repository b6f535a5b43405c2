"""BYOL-S family: byol_s_default, byol_s_resnetish34, byol_s_cvt (S3PRL's byol_s expert, serab-byols' networks)."""

from .configuration_byol_s import REFERENCE_CONFIGS, S3prlByolSConfig
from .modeling_byol_s import S3prlByolSModel

__all__ = ["REFERENCE_CONFIGS", "S3prlByolSConfig", "S3prlByolSModel"]

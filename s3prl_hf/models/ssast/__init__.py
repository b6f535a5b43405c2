"""SSAST family: ssast_frame_base and ssast_patch_base (S3PRL's ssast expert)."""

from .configuration_ssast import REFERENCE_CONFIGS, S3prlSsastConfig
from .modeling_ssast import S3prlSsastModel

__all__ = ["REFERENCE_CONFIGS", "S3prlSsastConfig", "S3prlSsastModel"]

"""Mockingjay family: every mockingjay*, tera* and audio_albert* name (one network, S3PRL's mockingjay expert)."""

from .configuration_mockingjay import REFERENCE_CONFIGS, S3prlMockingjayConfig
from .modeling_mockingjay import S3prlMockingjayModel

__all__ = ["REFERENCE_CONFIGS", "S3prlMockingjayConfig", "S3prlMockingjayModel"]

"""PASE+ family: the pase_plus name (S3PRL's pase expert on PASE's WaveFe, reimplemented in pure torch)."""

from .configuration_pase_plus import REFERENCE_CONFIGS, S3prlPasePlusConfig
from .modeling_pase_plus import S3prlPasePlusModel

__all__ = ["REFERENCE_CONFIGS", "S3prlPasePlusConfig", "S3prlPasePlusModel"]

"""BYOL-A family: byol_a_2048, byol_a_1024, byol_a_512 (S3PRL's byol_a expert); also the log-mel frontend and the
AudioNTT2020 network that the BYOL-S family reuses."""

from .configuration_byol_a import REFERENCE_CONFIGS, S3prlByolAConfig
from .modeling_byol_a import S3prlByolAModel

__all__ = ["REFERENCE_CONFIGS", "S3prlByolAConfig", "S3prlByolAModel"]

"""Modified CPC family: the modified_cpc name (S3PRL's cpc expert)."""

from .configuration_modified_cpc import REFERENCE_CONFIGS, S3prlModifiedCpcConfig
from .modeling_modified_cpc import S3prlModifiedCpcModel

__all__ = ["REFERENCE_CONFIGS", "S3prlModifiedCpcConfig", "S3prlModifiedCpcModel"]

"""VGGish family: the vggish name (S3PRL's vggish expert, torchvggish's weights)."""

from .configuration_vggish import REFERENCE_CONFIGS, S3prlVggishConfig
from .modeling_vggish import S3prlVggishModel

__all__ = ["REFERENCE_CONFIGS", "S3prlVggishConfig", "S3prlVggishModel"]

"""UniSpeech-SAT family: unispeech_sat, unispeech_sat_base, unispeech_sat_base_plus, unispeech_sat_large."""

from .configuration_unispeech_sat import REFERENCE_CONFIGS, S3prlUniSpeechSatConfig
from .modeling_unispeech_sat import S3prlUniSpeechSatModel

__all__ = ["REFERENCE_CONFIGS", "S3prlUniSpeechSatConfig", "S3prlUniSpeechSatModel"]

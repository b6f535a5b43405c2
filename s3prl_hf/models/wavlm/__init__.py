"""WavLM family: wavlm, wavlm_base, wavlm_base_plus, wavlm_large."""

from .configuration_wavlm import REFERENCE_CONFIGS, S3prlWavLMConfig
from .modeling_wavlm import S3prlWavLMModel

__all__ = ["REFERENCE_CONFIGS", "S3prlWavLMConfig", "S3prlWavLMModel"]

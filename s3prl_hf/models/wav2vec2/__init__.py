"""wav2vec 2.0 family (wav2vec2_*, xlsr_53, xls_r_*), and the network HuBERT-style families build on."""

from .configuration_wav2vec2 import REFERENCE_CONFIGS, S3prlWav2Vec2Config
from .modeling_wav2vec2 import S3prlWav2Vec2Encoder, S3prlWav2Vec2Model

__all__ = ["REFERENCE_CONFIGS", "S3prlWav2Vec2Config", "S3prlWav2Vec2Encoder", "S3prlWav2Vec2Model"]

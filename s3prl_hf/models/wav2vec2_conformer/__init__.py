"""wav2vec 2.0 Conformer family: wav2vec2_conformer_relpos, wav2vec2_conformer_rope."""

from .configuration_wav2vec2_conformer import REFERENCE_CONFIGS, S3prlWav2Vec2ConformerConfig
from .modeling_wav2vec2_conformer import S3prlWav2Vec2ConformerModel

__all__ = ["REFERENCE_CONFIGS", "S3prlWav2Vec2ConformerConfig", "S3prlWav2Vec2ConformerModel"]

"""wav2vec 2.0 Conformer family: wav2vec2_conformer_relpos, wav2vec2_conformer_rope."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_wav2vec2_conformer import REFERENCE_CONFIGS, S3prlWav2Vec2ConformerConfig
from .modeling_wav2vec2_conformer import S3prlWav2Vec2ConformerModel
from .convert_wav2vec2_conformer import convert_wav2vec2_conformer

FAMILY = Family(
    name="wav2vec2_conformer",
    config_class=S3prlWav2Vec2ConformerConfig,
    model_class=S3prlWav2Vec2ConformerModel,
    convert=from_state(convert_wav2vec2_conformer),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, position_embeddings_type="rotary", conv_depthwise_kernel_size=5),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlWav2Vec2ConformerConfig", "S3prlWav2Vec2ConformerModel"]

"""UniSpeech-SAT family: unispeech_sat, unispeech_sat_base, unispeech_sat_base_plus, unispeech_sat_large."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_unispeech_sat import REFERENCE_CONFIGS, S3prlUniSpeechSatConfig
from .modeling_unispeech_sat import S3prlUniSpeechSatModel
from .convert_unispeech_sat import convert_unispeech_sat

FAMILY = Family(
    name="unispeech_sat",
    config_class=S3prlUniSpeechSatConfig,
    model_class=S3prlUniSpeechSatModel,
    convert=from_state(convert_unispeech_sat),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlUniSpeechSatConfig", "S3prlUniSpeechSatModel"]

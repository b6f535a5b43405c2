"""DeCoAR 2.0 family: the decoar2 name (S3PRL's decoar2 expert)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_decoar2 import REFERENCE_CONFIGS, S3prlDecoar2Config
from .modeling_decoar2 import S3prlDecoar2Model
from .convert_decoar2 import convert_decoar2

FAMILY = Family(
    name="decoar2",
    config_class=S3prlDecoar2Config,
    model_class=S3prlDecoar2Model,
    convert=from_state(convert_decoar2),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(hidden_size=24, num_hidden_layers=2, intermediate_size=48, num_conv_pos_embeddings=16,
             num_conv_pos_embedding_groups=4),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlDecoar2Config", "S3prlDecoar2Model"]

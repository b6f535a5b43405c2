"""NPC family: every npc* name (S3PRL's npc expert)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_npc import REFERENCE_CONFIGS, S3prlNpcConfig
from .modeling_npc import S3prlNpcModel
from .convert_npc import convert_npc

FAMILY = Family(
    name="npc",
    config_class=S3prlNpcConfig,
    model_class=S3prlNpcModel,
    convert=from_state(convert_npc),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(hidden_size=16, n_blocks=2, kernel_size=9, mask_size=3,
             vq={"codebook_size": [8, 8], "code_dim": [8, 8], "gumbel_temperature": 1.0}),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlNpcConfig", "S3prlNpcModel"]

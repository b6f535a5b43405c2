"""BYOL-S family: byol_s_default, byol_s_resnetish34, byol_s_cvt (S3PRL's byol_s expert, serab-byols' networks)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_byol_s import REFERENCE_CONFIGS, S3prlByolSConfig
from .modeling_byol_s import S3prlByolSModel
from .convert_byol_s import convert_byol_s

FAMILY = Family(
    name="byol_s",
    config_class=S3prlByolSConfig,
    model_class=S3prlByolSModel,
    convert=from_state(convert_byol_s),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(encoder_type="cvt", cvt_embed_dims=[4, 8, 8], cvt_heads=[1, 1, 1], cvt_depths=[1, 1, 1]),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlByolSConfig", "S3prlByolSModel"]

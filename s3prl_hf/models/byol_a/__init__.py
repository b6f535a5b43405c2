"""BYOL-A family: byol_a_2048, byol_a_1024, byol_a_512 (S3PRL's byol_a expert); also the log-mel frontend and the
AudioNTT2020 network that the BYOL-S family reuses."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_byol_a import REFERENCE_CONFIGS, S3prlByolAConfig
from .modeling_byol_a import S3prlByolAModel
from .convert_byol_a import convert_byol_a

FAMILY = Family(
    name="byol_a",
    config_class=S3prlByolAConfig,
    model_class=S3prlByolAModel,
    convert=from_state(convert_byol_a),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # BYOL-A with small conv blocks; BYOL-S's CvT (one network of three; tests/test_byol_s.py runs the others).
        dict(conv_channels=[4, 4, 4], hidden_size=16),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlByolAConfig", "S3prlByolAModel"]

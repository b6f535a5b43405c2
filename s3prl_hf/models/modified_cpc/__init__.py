"""Modified CPC family: the modified_cpc name (S3PRL's cpc expert)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_modified_cpc import REFERENCE_CONFIGS, S3prlModifiedCpcConfig
from .modeling_modified_cpc import S3prlModifiedCpcModel
from .convert_modified_cpc import convert_modified_cpc

FAMILY = Family(
    name="modified_cpc",
    config_class=S3prlModifiedCpcConfig,
    model_class=S3prlModifiedCpcModel,
    convert=from_state(convert_modified_cpc),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(encoder_hidden_size=16, ar_hidden_size=12, norm_mode="ID", ar_mode="no_ar"),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlModifiedCpcConfig", "S3prlModifiedCpcModel"]

"""DeCoAR family: the decoar_layers and decoar names (S3PRL's decoar_layers and decoar experts, one checkpoint)."""

from ..family import Family
from . import notes
from .configuration_decoar import REFERENCE_CONFIGS, S3prlDecoarConfig
from .modeling_decoar import S3prlDecoarModel
from .convert_decoar import convert_release

FAMILY = Family(
    name="decoar",
    config_class=S3prlDecoarConfig,
    model_class=S3prlDecoarModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(hidden_size=8, num_hidden_layers=2),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    name_notes=notes.NAME_NOTES,
    name_quirks=notes.NAME_QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlDecoarConfig", "S3prlDecoarModel"]

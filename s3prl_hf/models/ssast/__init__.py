"""SSAST family: ssast_frame_base and ssast_patch_base (S3PRL's ssast expert)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_ssast import REFERENCE_CONFIGS, S3prlSsastConfig
from .modeling_ssast import S3prlSsastModel
from .convert_ssast import convert_ssast

FAMILY = Family(
    name="ssast",
    config_class=S3prlSsastConfig,
    model_class=S3prlSsastModel,
    convert=from_state(convert_ssast),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(hidden_size=24, num_hidden_layers=2, intermediate_size=48, patch_size=[128, 2],
             frequency_stride=128, time_stride=1, position_embedding_grid=[1, 128]),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
    s3prl_options={"window_secs": ("window_secs", "stride_secs")},  # S3PRL's SSAST hops by its window
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlSsastConfig", "S3prlSsastModel"]

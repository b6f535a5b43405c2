"""PaSST family: S3PRL's passt_* hub entries (the vendored hear21passt package, kkoutini's AudioSet releases)."""

from ..family import Family
from . import notes
from .configuration_passt import REFERENCE_CONFIGS, S3prlPasstConfig
from .modeling_passt import S3prlPasstModel
from .convert_passt import convert_release

FAMILY = Family(
    name="passt",
    config_class=S3prlPasstConfig,
    model_class=S3prlPasstModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # PaSST with two passes and the mel embedding, on windows short enough for the 0.05 s batch (S3PRL's 0.16 s
        # windows need 1281 samples: tests/test_passt.py): 40 ms and 80 ms windows every 40 ms (a 0.05 s batch is one
        # 50 ms stride long, two windows for one frame, which S3PRL fails) at mel hop 100, 16 x 8 patches.
        dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, num_labels=6,
             patch_size=[16, 8], time_patches=4, mel_hop_length=100, window_secs=0.04, stride_secs=0.04,
             window_scales=[1, 2], mel_window_samples=600),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
    s3prl_options={"window_secs": ("window_secs",), "stride_secs": ("stride_secs",)},
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlPasstConfig", "S3prlPasstModel"]

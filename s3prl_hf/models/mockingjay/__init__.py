"""Mockingjay family: every mockingjay*, tera* and audio_albert* name (one network, S3PRL's mockingjay expert)."""

from ..family import Family
from . import notes
from .configuration_mockingjay import REFERENCE_CONFIGS, S3prlMockingjayConfig
from .modeling_mockingjay import S3prlMockingjayModel
from .convert_mockingjay import convert_release

FAMILY = Family(
    name="mockingjay",
    config_class=S3prlMockingjayConfig,
    model_class=S3prlMockingjayModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # One network for the three: each row covers one of its variants (log-mel; kaldi fbank with chunking;
        # a shared pre-LN layer).
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64),
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, sequence_length=30,
             audio_config={"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80}},
                           "cmvn": {"use_cmvn": True}}),
        dict(num_hidden_layers=3, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             share_layer=True, pre_layer_norm=True),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlMockingjayConfig", "S3prlMockingjayModel"]

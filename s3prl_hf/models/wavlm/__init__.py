"""WavLM family: wavlm, wavlm_base, wavlm_base_plus, wavlm_large."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_wavlm import REFERENCE_CONFIGS, S3prlWavLMConfig
from .modeling_wavlm import S3prlWavLMModel
from .convert_wavlm import convert_wavlm

FAMILY = Family(
    name="wavlm",
    config_class=S3prlWavLMConfig,
    model_class=S3prlWavLMModel,
    convert=from_state(convert_wavlm),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
             num_buckets=64, max_bucket_distance=100),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlWavLMConfig", "S3prlWavLMModel"]

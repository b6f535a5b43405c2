"""MR-HuBERT family: multires_hubert_base, multires_hubert_large, multires_hubert_multilingual_*."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_multires_hubert import REFERENCE_CONFIGS, S3prlMultiresHubertConfig
from .modeling_multires_hubert import S3prlMultiresHubertModel
from .convert_multires_hubert import convert_multires_hubert

FAMILY = Family(
    name="multires_hubert",
    config_class=S3prlMultiresHubertConfig,
    model_class=S3prlMultiresHubertModel,
    convert=from_state(convert_multires_hubert),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # MR-HuBERT with three frame rates, an empty decoder block and kernel-3 resamplers
        dict(hidden_size=32, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
             resolution_ratios=[[1, 2], [1, 2]], encoder_block_layers=[1, 1], middle_block_layers=1,
             decoder_block_layers=[1, 0], resampler_kernel_size=3),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlMultiresHubertConfig", "S3prlMultiresHubertModel"]

"""LightHuBERT family: lighthubert, lighthubert_base, lighthubert_small, lighthubert_stage1."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_lighthubert import REFERENCE_CONFIGS, S3prlLightHubertConfig
from .modeling_lighthubert import S3prlLightHubertModel
from .convert_lighthubert import convert_lighthubert

FAMILY = Family(
    name="lighthubert",
    config_class=S3prlLightHubertConfig,
    model_class=S3prlLightHubertModel,
    convert=from_state(convert_lighthubert),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # a LightHuBERT subnet with per-layer heads (8 wide, not splitting the width) and FFN widths
        dict(num_hidden_layers=2, hidden_size=20, num_attention_heads=2, intermediate_size=64,
             attention_head_dim=8, layer_attention_heads=[2, 3], layer_intermediate_sizes=[64, 70],
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlLightHubertConfig", "S3prlLightHubertModel"]

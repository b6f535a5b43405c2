"""DistilHuBERT family: distilhubert, distilhubert_base."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_distilhubert import REFERENCE_CONFIGS, S3prlDistilHubertConfig
from .modeling_distilhubert import S3prlDistilHubertModel
from .convert_distilhubert import convert_distilhubert

FAMILY = Family(
    name="distilhubert",
    config_class=S3prlDistilHubertConfig,
    model_class=S3prlDistilHubertModel,
    convert=from_state(convert_distilhubert),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
             num_prediction_heads=3, prediction_head_size=24, prediction_head_intermediate_size=16),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlDistilHubertConfig", "S3prlDistilHubertModel"]

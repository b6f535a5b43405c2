"""HuBERT family: the HuBERT, HuBERT-MGR, mHuBERT, MS-HuBERT and ContentVec names (one network, S3PRL's hubert
expert)."""

from ..family import Family
from . import notes
from .configuration_hubert import REFERENCE_CONFIGS, S3prlHubertConfig
from .modeling_hubert import S3prlHubertModel
from .convert_hubert import convert_release

FAMILY = Family(
    name="hubert",
    config_class=S3prlHubertConfig,
    model_class=S3prlHubertModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlHubertConfig", "S3prlHubertModel"]

"""data2vec family: data2vec, data2vec_base_960, data2vec_large_ll60k."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_data2vec import REFERENCE_CONFIGS, S3prlData2VecConfig
from .modeling_data2vec import S3prlData2VecModel
from .convert_data2vec import convert_data2vec

FAMILY = Family(
    name="data2vec",
    config_class=S3prlData2VecConfig,
    model_class=S3prlData2VecModel,
    convert=from_state(convert_data2vec),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
             pos_conv_depth=4),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlData2VecConfig", "S3prlData2VecModel"]

"""discretebert family: discretebert and vq_wav2vec_kmeans_roberta (RoBERTa over vq-wav2vec k-means codes)."""

from ..family import Family, SecondFile
from . import notes
from .configuration_discretebert import REFERENCE_CONFIGS, S3prlDiscreteBertConfig
from .modeling_discretebert import S3prlDiscreteBertModel
from .convert_discretebert import convert_release

FAMILY = Family(
    name="discretebert",
    config_class=S3prlDiscreteBertConfig,
    model_class=S3prlDiscreteBertModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        dict(frontend_config=dict(conv_dim=(16,) * 7, vq_type="gumbel", vq_vars=4, vq_depth=2),
             vocab_size=21, num_code_tokens=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64, max_positions=40, max_position_embeddings=42),
    ),
    second_file=SecondFile(what="its vq-wav2vec k-means frontend (vq_wav2vec_kmeans's checkpoint)",
                           name_fragments=("vq", "kmeans"), required=True),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    s3prl_options={"vq_ckpt": "second_file"},
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlDiscreteBertConfig", "S3prlDiscreteBertModel"]

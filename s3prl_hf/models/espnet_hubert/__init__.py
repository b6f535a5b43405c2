"""ESPnet HuBERT family: espnet_hubert_base_iter0/1, espnet_hubert_large_gs_ll60k, cvhubert, wavlablm_*_40k."""

from ..family import Family, SecondFile
from . import notes
from .configuration_espnet_hubert import REFERENCE_CONFIGS, S3prlEspnetHubertConfig
from .modeling_espnet_hubert import S3prlEspnetHubertModel
from .convert_espnet_hubert import convert_release

FAMILY = Family(
    name="espnet_hubert",
    config_class=S3prlEspnetHubertConfig,
    model_class=S3prlEspnetHubertModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # ESPnet HuBERT large: layer-norm extractor, pre-LN (its final LayerNorm is in no hidden state)
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
             feat_extract_norm="layer", do_stable_layer_norm=True),
    ),
    second_file=SecondFile(what="its ESPnet training config (config.yaml)", name_fragments=("config.yaml",)),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlEspnetHubertConfig", "S3prlEspnetHubertModel"]

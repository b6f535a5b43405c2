"""wav2vec 2.0 family (wav2vec2_*, xlsr_53, xls_r_*), and the network HuBERT-style families build on."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_wav2vec2 import REFERENCE_CONFIGS, S3prlWav2Vec2Config
from .modeling_wav2vec2 import S3prlWav2Vec2Encoder, S3prlWav2Vec2Model
from .convert_wav2vec2 import convert_wav2vec2

FAMILY = Family(
    name="wav2vec2",
    config_class=S3prlWav2Vec2Config,
    model_class=S3prlWav2Vec2Model,
    convert=from_state(convert_wav2vec2),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # wav2vec 2.0 pre-LN with cropping; a rotary conformer; data2vec's positional conv stack (kernel 16 // 4 = 4)
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
             feat_extract_norm="layer", do_stable_layer_norm=True, crop_seq_to_multiple=2),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlWav2Vec2Config", "S3prlWav2Vec2Encoder", "S3prlWav2Vec2Model"]

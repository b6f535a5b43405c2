"""Configuration of DeCoAR 2.0 (S3PRL's `upstream/decoar2`).

S3PRL's `Decoar2()` reads its architecture from the module-level `args` of `upstream/decoar2/decoar2.py`: a linear
projection of the 80-dim fbank (every second frame) to 768, then S3PRL's copy of fairseq's wav2vec 2.0
`TransformerEncoder` (weight-normalised positional conv of kernel 128 in 16 groups, post-LN layers with 12 heads and
a 3072 feed-forward). The fields carry transformers' wav2vec2 / HuBERT names, so their modules are built from this
config directly.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import EncoderLayersConfig
from ...frontends.fbank_cmvn import DEFAULT_AUDIO_CONFIG, FRAME_SHIFT_SAMPLES

# The expert keeps every second fbank frame (`y[::2]`): 320 samples per frame.
FRAME_SKIP = 2
DOWNSAMPLE_RATE = FRAME_SHIFT_SAMPLES * FRAME_SKIP


@strict
class S3prlDecoar2Config(EncoderLayersConfig):
    """Architecture of a DeCoAR 2.0 upstream (S3PRL's `args` name in brackets).

    Args:
        hidden_size: Width of the projection and the transformer (`encoder_embed_dim`).
        num_hidden_layers: Transformer layers (`encoder_layers`).
        num_attention_heads: Attention heads (`encoder_attention_heads`).
        intermediate_size: Feed-forward width (`encoder_ffn_embed_dim`).
        hidden_act: Feed-forward activation (`activation_fn`, erf GELU).
        hidden_dropout: Dropout after attention, feed-forward and positional conv (`dropout`).
        attention_dropout: Dropout on attention weights (`attention_dropout`).
        activation_dropout: Dropout after the feed-forward activation (`activation_dropout`).
        feat_proj_dropout: Dropout after the input projection (`dropout_input`).
        num_conv_pos_embeddings: Kernel of the positional conv (`conv_pos`).
        num_conv_pos_embedding_groups: Groups of the positional conv (`conv_pos_groups`).
        layer_norm_eps: Epsilon of every LayerNorm (fairseq's 1e-5).
        s3prl_nan_cmvn: Reproduce S3PRL's CMVN of an utterance that gives one feature frame: NaN (the unbiased std
            of one value), spreading to its hidden states. Off by default: that frame comes out as zeros and the
            hidden states stay finite; longer utterances are S3PRL's numbers either way.

    The input is S3PRL's fixed frontend: 80-bin kaldi fbank (hamming) + CMVN per utterance, every second frame.

    Example:
        >>> config = S3prlDecoar2Config(hidden_size=24, num_hidden_layers=2, intermediate_size=48,
        ...                             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
        >>> config.num_layers, config.downsample_rates[0]
        (3, 320)
    """

    model_type = "s3prl_decoar2"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.1
    activation_dropout: float | int = 0.0
    feat_proj_dropout: float | int = 0.1
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    s3prl_nan_cmvn: bool = False

    # transformers' HubertPositionalConvEmbedding reads these: fairseq's GELU after the positional conv, weight norm.
    feat_extract_activation = "gelu"
    conv_pos_batch_norm = False

    def validate_architecture(self):
        """Shapes transformers' modules accept."""
        if self.hidden_size % self.num_attention_heads or self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_attention_heads "
                             f"{self.num_attention_heads} and num_conv_pos_embedding_groups "
                             f"{self.num_conv_pos_embedding_groups}")

    @property
    def audio_config(self) -> dict:
        """S3PRL's fixed frontend (`create_transform()` without a config)."""
        return dict(DEFAULT_AUDIO_CONFIG)

    @property
    def feature_dim(self) -> int:
        """Mel bins of the frontend, the projection's input size (80)."""
        return DEFAULT_AUDIO_CONFIG["feat_dim"]

    @property
    def frame_stride(self) -> int:
        return DOWNSAMPLE_RATE


# S3PRL's `args` (upstream/decoar2/decoar2.py), which the released checkpoint's weights must fit for S3PRL to load
# them. The layer count and widths are read from the weights by the converter; the heads cannot be, and are S3PRL's.
REFERENCE_CONFIGS: dict[str, dict] = {
    "decoar2": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                    hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, feat_proj_dropout=0.1,
                    num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16),
}

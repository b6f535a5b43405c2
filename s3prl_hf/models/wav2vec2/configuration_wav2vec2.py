"""Configuration of the wav2vec 2.0 family, the base of every fairseq wav2vec2-style upstream (HuBERT, ...)."""

from __future__ import annotations

import math

from huggingface_hub.dataclasses import strict

from ...modeling_utils import EncoderLayersConfig


@strict
class S3prlWav2Vec2Config(EncoderLayersConfig):
    """Architecture of a wav2vec 2.0-style upstream, with transformers' `Wav2Vec2Config` / `HubertConfig` names.

    The field names are those of `transformers.HubertConfig`, so transformers' HuBERT modules can be built
    from this config directly; only the fields that change the forward pass are kept.

    Args:
        hidden_size: Transformer width (fairseq `encoder_embed_dim`).
        num_hidden_layers: Transformer layers (`encoder_layers`).
        num_attention_heads: Attention heads (`encoder_attention_heads`).
        intermediate_size: Feed-forward width (`encoder_ffn_embed_dim`).
        hidden_act: Feed-forward activation (`activation_fn`, in transformers' naming).
        hidden_dropout: Dropout after attention and feed-forward (`dropout`).
        activation_dropout: Dropout inside the feed-forward (`activation_dropout`).
        attention_dropout: Dropout on attention weights (`attention_dropout`).
        feat_proj_dropout: Dropout after the feature projection (`dropout_input`).
        layer_norm_eps: Epsilon of every LayerNorm (fairseq uses 1e-5).
        feat_extract_norm: "group" (GroupNorm in the first conv only, fairseq `extractor_mode=default`) or
            "layer" (LayerNorm in every conv, `extractor_mode=layer_norm`).
        feat_extract_activation: Activation of the conv feature extractor and positional conv (always GELU in
            fairseq).
        conv_dim: Output channels of each conv layer (`conv_feature_layers`).
        conv_kernel: Kernel size of each conv layer.
        conv_stride: Stride of each conv layer.
        conv_bias: Whether the conv layers have a bias.
        num_conv_pos_embeddings: Kernel size of the positional conv (`conv_pos`).
        num_conv_pos_embedding_groups: Groups of the positional conv (`conv_pos_groups`).
        pos_conv_depth: 1 for wav2vec 2.0's single weight-normalised positional conv; n > 1 for data2vec's stack of
            n convs of kernel `max(3, num_conv_pos_embeddings // n)`, each followed by a LayerNorm without
            parameters and GELU (`pos_conv_depth`; see `conv_pos_kernel_size`).
        crop_seq_to_multiple: Drop the last frames so the frame count is a multiple of this (wav2vec 2.0's
            `crop_seq_to_multiple`; 1 = keep all).
        do_stable_layer_norm: Pre-LN transformer with a final LayerNorm (`layer_norm_first`).
        normalize_waveform: Standardise each utterance before the model (`task_cfg.normalize`).
        initializer_range: Std of the normal init of freshly built (not loaded) weights.
        skip_padding: On CPU, run the CNN front end and the transformer layers on each utterance's frames only,
            instead of on the padded batch. The valid frames are the same up to float rounding (padded frames
            are masked keys, and the first GroupNorm's statistics over the padded length are computed
            exactly, see `feature_encoder.py`); the compute spent on padding is saved. On GPUs the padded batch
            is used, where one large kernel wins.

    Example:
        >>> config = S3prlWav2Vec2Config(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                            intermediate_size=64)
        >>> config.num_layers, config.downsample_rates[0]
        (3, 320)
    """

    model_type = "s3prl_wav2vec2"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    activation_dropout: float | int = 0.0
    attention_dropout: float | int = 0.1
    feat_proj_dropout: float | int = 0.0
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: list[int] | tuple[int, ...] = (512, 512, 512, 512, 512, 512, 512)
    conv_kernel: list[int] | tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: list[int] | tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    pos_conv_depth: int = 1
    crop_seq_to_multiple: int = 1
    do_stable_layer_norm: bool = False
    normalize_waveform: bool = False
    initializer_range: float = 0.02
    skip_padding: bool = True

    def __post_init__(self, **kwargs):
        self.num_feat_extract_layers = len(self.conv_dim)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Reject inconsistent shapes before any module is built."""
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) > 0:
            raise ValueError(f"conv_dim, conv_kernel and conv_stride must have the same non-zero length, got "
                             f"{len(self.conv_dim)}, {len(self.conv_kernel)} and {len(self.conv_stride)}")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if self.pos_conv_depth < 1 or self.crop_seq_to_multiple < 1:
            raise ValueError(f"pos_conv_depth ({self.pos_conv_depth}) and crop_seq_to_multiple "
                             f"({self.crop_seq_to_multiple}) must be at least 1")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_conv_pos_embedding_groups "
                             f"{self.num_conv_pos_embedding_groups} (the positional conv's groups)")

    def validate_attention_heads(self):
        """Every head must be `hidden_size // num_attention_heads` wide (families with other heads override this)."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                             f"{self.num_attention_heads}")

    @property
    def conv_pos_kernel_size(self) -> int:
        """Kernel size of each positional conv: fairseq's `max(3, conv_pos // pos_conv_depth)` for a stack."""
        if self.pos_conv_depth == 1:
            return self.num_conv_pos_embeddings
        return max(3, self.num_conv_pos_embeddings // self.pos_conv_depth)

    # transformers' feature projection reads this; fairseq wav2vec2 / HuBERT always have the feature LayerNorm.
    feat_proj_layer_norm = True

    @property
    def frame_stride(self) -> int:
        return math.prod(self.conv_stride)


# The released architectures, from fairseq's wav2vec 2.0 recipes (examples/wav2vec/config/pretraining/
# wav2vec2_base_librispeech.yaml, wav2vec2_large_librivox.yaml), the wav2vec 2.0 paper (arXiv:2006.11477, §4.2:
# BASE 12 x 768, LARGE 24 x 1024, FFN 3072 / 4096), XLSR (arXiv:2006.13979: the LARGE architecture) and XLS-R
# (arXiv:2111.09296, Table 1: 0.3B = 24 x 1024, FFN 4096; 1B = 48 x 1280, FFN 5120; 2B = 48 x 1920, FFN 7680;
# 16 heads). The 2020 LibriSpeech LARGE (libri960_big.pt) keeps BASE's group-norm extractor and post-LN layers;
# the Libri-Light and later models use the layer-norm extractor with conv bias, pre-LN layers and normalised input.
# Used to check parameter counts and to describe the models in cards; a converted checkpoint always takes its
# architecture from its own config.
_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
_STABLE = dict(feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True, normalize_waveform=True)
REFERENCE_CONFIGS: dict[str, dict] = {
    "wav2vec2_base_960": dict(),
    "wav2vec2_large_960": dict(_LARGE),
    "wav2vec2_large_ll60k": dict(_LARGE, **_STABLE),
    "wav2vec2_large_lv60_cv_swbd_fsh": dict(_LARGE, **_STABLE),
    "xlsr_53": dict(_LARGE, **_STABLE),
    "xls_r_300m": dict(_LARGE, **_STABLE),
    "xls_r_1b": dict(_LARGE, **_STABLE, hidden_size=1280, num_hidden_layers=48, intermediate_size=5120),
    "xls_r_2b": dict(_LARGE, **_STABLE, hidden_size=1920, num_hidden_layers=48, intermediate_size=7680),
    # VoxPopuli's "Large Model (317M)" (facebookresearch/voxpopuli README), assumed to be the Libri-Light LARGE recipe;
    # the s2st encoders of fairseq's examples/speech_to_speech ("Transformer | BASE"), assumed to be the BASE recipe.
    # Only the layer table and parameter counts of the cards rely on these assumptions.
    "wav2vec2_large_voxpopuli_100k": dict(_LARGE, **_STABLE),
    "wav2vec2_base_s2st_es_voxpopuli": dict(),
    "wav2vec2_base_s2st_en_librilight": dict(),
}

"""Configuration of MAE-AST (S3PRL's `upstream/mae_ast`, names `mae_ast_frame` and `mae_ast_patch`).

S3PRL builds `MAE_AST(cfg.model, cfg.task)` from the fairseq checkpoint's own config: kaldi fbank (`feature_dim`
mel bins, povey window, no normalisation), an eval-mode `BatchNorm2d(1)` times 0.5, `nn.Unfold` patches of
`ast_kernel_size_time x ast_kernel_size_chan` frames x bins taken every `ast_kernel_stride_*` (time-major, so the
tokens are ordered time step by time step, frequency patch by frequency patch), a linear projection, a sinusoidal
encoding of the flattened token index, LayerNorm and fairseq transformer layers. The frame model takes whole
2-frame x 128-bin patches (one token per 20 ms), the patch model 16 x 16 patches (8 tokens per 160 ms).

The fields carry transformers' wav2vec2 / HuBERT names where transformers' modules read them.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

# S3PRL's expert reports `ast_kernel_stride_time * 160` samples per frame, whatever the fbank frame shift.
FBANK_SAMPLE_STRIDE = 160
# `MAE_AST.forward_padding_mask` takes `feature_dim=128` as a default argument, whatever the task's mel bins.
PADDING_MASK_FEATURE_DIM = 128
# fairseq activation names (S3PRL's `get_activation_fn`) -> transformers' ACT2FN names with the same formula.
ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_accurate": "gelu_new", "gelu_fast": "gelu_new",
               "tanh": "tanh", "linear": "linear", "relu_squared": "relu2"}


@strict
class S3prlMaeAstConfig(UpstreamConfig):
    """Architecture of a MAE-AST encoder (S3PRL's `cfg.model` / `cfg.task` name in brackets).

    Args:
        num_mel_bins: Mel bins of the kaldi fbank (`task.feature_dim`).
        kernel_size_time: Frames per patch (`ast_kernel_size_time`).
        kernel_size_chan: Mel bins per patch (`ast_kernel_size_chan`).
        stride_time: Frames between patches (`ast_kernel_stride_time`); the hidden states' stride is 160 times it.
        stride_chan: Mel bins between patches (`ast_kernel_stride_chan`).
        hidden_size: Width of the encoder (`encoder_embed_dim`).
        num_hidden_layers: Encoder layers (`encoder_layers`).
        num_attention_heads: Attention heads (`encoder_attention_heads`).
        intermediate_size: Feed-forward width (`encoder_ffn_embed_dim`).
        hidden_act: Feed-forward activation, transformers' name (`activation_fn` through `ACTIVATIONS`).
        hidden_dropout: Dropout after attention and feed-forward and after the input LayerNorm (`dropout`).
        attention_dropout: Dropout on attention weights (`attention_dropout`).
        activation_dropout: Dropout after the feed-forward activation (`activation_dropout`).
        do_stable_layer_norm: Pre-LN layers (`layer_norm_first`); the encoder's LayerNorm then follows the last
            layer and is not part of any hidden state. Post-LN (False): the LayerNorm precedes the first layer.
        sine_positions: Add the sinusoidal encoding of the token index (`enc_sine_pos`).
        max_token_length: Longest token sequence S3PRL's positional table covers (`max_token_length`).
        conv_positions: Add a convolutional positional embedding first (`enc_conv_pos`): a weight-normalised
            grouped conv over the token sequence, then GELU; S3PRL zeroes the padded tokens of the features in place
            before it, so they stay zero in the sum too.
        num_conv_pos_embeddings: Kernel of that conv (`conv_pos`).
        num_conv_pos_embedding_groups: Groups of that conv (`conv_pos_groups`).
        layer_norm_eps: Epsilon of every LayerNorm (fairseq's 1e-5).
        batch_norm_eps: Epsilon of the input BatchNorm (torch's 1e-5).

    Example:
        >>> config = S3prlMaeAstConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                            intermediate_size=64)
        >>> config.num_layers, config.hidden_sizes[0], config.downsample_rates[0]
        (2, 32, 320)
    """

    model_type = "s3prl_mae_ast"

    num_mel_bins: int = 128
    kernel_size_time: int = 2
    kernel_size_chan: int = 128
    stride_time: int = 2
    stride_chan: int = 128
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.1
    activation_dropout: float | int = 0.0
    do_stable_layer_norm: bool = False
    sine_positions: bool = True
    max_token_length: int = 48000
    conv_positions: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    batch_norm_eps: float = 1e-5

    # transformers' HubertPositionalConvEmbedding reads these: fairseq's GELU after the positional conv, weight norm.
    feat_extract_activation = "gelu"
    conv_pos_batch_norm = False

    def validate_architecture(self):
        """Shapes S3PRL's model and transformers' modules accept."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_attention_heads "
                             f"{self.num_attention_heads}")
        if self.hidden_act not in ACTIVATIONS.values():
            raise ValueError(f"hidden_act {self.hidden_act!r} is not one of {sorted(set(ACTIVATIONS.values()))}")
        if self.num_mel_bins <= 3:
            raise ValueError(f"kaldi fbank needs more than 3 mel bins, got num_mel_bins={self.num_mel_bins}")
        if min(self.kernel_size_time, self.kernel_size_chan, self.stride_time, self.stride_chan) < 1:
            raise ValueError("patch kernel sizes and strides must be positive")
        if self.kernel_size_chan > self.num_mel_bins:
            raise ValueError(f"kernel_size_chan {self.kernel_size_chan} exceeds num_mel_bins {self.num_mel_bins}")
        if self.kernel_size_chan > PADDING_MASK_FEATURE_DIM:
            # S3PRL's padding mask counts 128 // kernel_size_chan = 0 valid tokens per frame: every token of a
            # padded utterance would be masked.
            raise ValueError(f"kernel_size_chan {self.kernel_size_chan} > 128: S3PRL's padding mask (which assumes "
                             f"128 mel bins) would mask every token of a padded utterance")
        if self.sine_positions and self.hidden_size % 2:
            raise ValueError(f"S3PRL's sinusoidal positions need an even hidden_size, got {self.hidden_size}")
        if self.conv_positions and (self.hidden_size % self.num_conv_pos_embedding_groups
                                    or self.num_conv_pos_embeddings < 1):
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_conv_pos_embedding_groups "
                             f"{self.num_conv_pos_embedding_groups}, and the conv kernel must be positive")
        if self.num_hidden_layers < 1 or self.max_token_length < 1:
            raise ValueError("num_hidden_layers and max_token_length must be positive")

    @property
    def num_vertical_patches(self) -> int:
        """Patches across the mel bins per time step (S3PRL's `num_vertical_patch`)."""
        return (self.num_mel_bins - self.kernel_size_chan) // self.stride_chan + 1

    @property
    def num_layers(self) -> int:
        return self.num_hidden_layers

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size * self.num_vertical_patches,) * self.num_layers

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (self.stride_time * FBANK_SAMPLE_STRIDE,) * self.num_layers


# The released checkpoints' `cfg` (AlanBaade/MAE-AST-Public config/pretrain/mae_ast.yaml and the names' README):
# 12 post-LN layers of 768 with 12 heads and a 3072 feed-forward, sinusoidal positions over 48000 tokens, 128 bins.
_RELEASE = dict(num_mel_bins=128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=3072, hidden_act="gelu", do_stable_layer_norm=False, sine_positions=True,
                max_token_length=48000)
REFERENCE_CONFIGS: dict[str, dict] = {
    "mae_ast_frame": dict(_RELEASE, kernel_size_time=2, kernel_size_chan=128, stride_time=2, stride_chan=128),
    "mae_ast_patch": dict(_RELEASE, kernel_size_time=16, kernel_size_chan=16, stride_time=16, stride_chan=16),
}

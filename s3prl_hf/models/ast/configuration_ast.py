"""Configuration of AST (S3PRL's `upstream/ast`) and the spectrogram-transformer fields SSAST shares.

S3PRL's AST expert (`upstream/ast/{expert,ast_models}.py`, frontend `upstream/ssast/audio.py`):

* cuts the batch into windows of `window_secs` every `stride_secs` (both 10.24 s for the `ast` hub entry), each
  utterance zero-padded to cover the last window;
* per window and utterance: kaldi fbank (128 bins, hanning, htk_compat, 10 ms), `(y + 4.2677393) / (4.5689974 * 2)`,
  **then** zero frames up to `int(window_secs * 100)` frames;
* a DeiT-distilled ViT (timm 0.4.5, LayerNorm eps 1e-6): 16x16 patches every (10, 10) fbank bins / frames, a class
  and a distillation token, the release's positional embedding (a 12 x 101 grid) cut or interpolated to the window;
* `feature_selection="cls"` (the hub default): one hidden state, `mlp_head(norm(x)[:, 0] + norm(x)[:, 1]) / 2)` per
  window, 527 wide, one frame per `stride_secs`. S3PRL re-creates `mlp_head` randomly (the checkpoint's trained
  head is discarded), so S3PRL's own output is not reproducible; the converter keeps the checkpoint's head.
* `feature_selection="hidden_states"`: the output of every block, patch tokens reshaped to (frames, 12 * width),
  one frame per 1600 samples, windows concatenated.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

SAMPLE_RATE = 16000
FBANK_SAMPLE_STRIDE = 160  # kaldi's 10 ms frame shift
NUM_MEL_BINS = 128
# The fbank S3PRL computes (`upstream/ssast/audio.py:FeatureExtractor.forward`), as KaldiFeatures options.
FBANK_OPTIONS = dict(htk_compat=True, sample_frequency=SAMPLE_RATE, use_energy=False, window_type="hanning",
                     num_mel_bins=NUM_MEL_BINS, dither=0.0, frame_shift=10)
# `(y + FBANK_MEAN) / (FBANK_STD * 2)` before the zero padding.
FBANK_MEAN = 4.2677393
FBANK_STD = 4.5689974
FEATURE_SELECTIONS = ("cls", "hidden_states")


@strict
class S3prlSpectrogramTransformerConfig(UpstreamConfig):
    """Fields shared by AST and SSAST: the windowed fbank frontend and a DeiT-distilled ViT over its patches.

    Args:
        hidden_size: Token width (timm `embed_dim`).
        num_hidden_layers: Transformer blocks (timm `depth`).
        num_attention_heads: Attention heads; no weight records them (S3PRL's base models: 12).
        intermediate_size: Feed-forward width (`int(embed_dim * mlp_ratio)`).
        qkv_bias: Whether the fused qkv projection has a bias (timm's DeiT: yes).
        layer_norm_eps: Epsilon of the blocks' LayerNorms (timm: 1e-6).
        hidden_act: Feed-forward activation (timm: erf GELU).
        hidden_dropout_prob: Dropout after attention and feed-forward (0 in S3PRL's models).
        attention_probs_dropout_prob: Dropout on attention weights (0).
        patch_size: (frequency, time) kernel of the patch projection, from its weight.
        frequency_stride: Patch stride over the fbank bins.
        time_stride: Patch stride over the fbank frames.
        position_embedding_grid: (frequency, time) patch grid the checkpoint's positional embedding was trained on;
            it is cut or interpolated to the window's grid as S3PRL does at construction.
        window_secs: Window length; S3PRL's fbank has `int(window_secs * 100)` frames per window.
        stride_secs: Window hop.
    """

    model_type = "s3prl_spectrogram_transformer"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    patch_size: list[int] | tuple[int, int] = (16, 16)
    frequency_stride: int = 10
    time_stride: int = 10
    position_embedding_grid: list[int] | tuple[int, int] = (12, 101)
    window_secs: float | int = 10.24
    stride_secs: float | int = 10.24

    def validate_architecture(self):
        """Shapes the modules and S3PRL's windowing accept."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_attention_heads "
                             f"{self.num_attention_heads}")
        if len(self.patch_size) != 2 or len(self.position_embedding_grid) != 2:
            raise ValueError("patch_size and position_embedding_grid are (frequency, time) pairs")
        if not 0 < self.patch_size[0] <= NUM_MEL_BINS:
            raise ValueError(f"patch_size {tuple(self.patch_size)} does not fit {NUM_MEL_BINS} mel bins")
        if self.window_samples < 400 or self.stride_samples < 1:
            raise ValueError(f"window_secs {self.window_secs} / stride_secs {self.stride_secs}: a window needs at "
                             f"least one 25 ms fbank frame and a positive hop")
        if self.target_length < self.patch_size[1]:
            raise ValueError(f"window_secs {self.window_secs} gives {self.target_length} fbank frames, fewer than "
                             f"the patch's {self.patch_size[1]}")

    @property
    def window_samples(self) -> int:
        """Samples per window (`int(window_secs * SAMPLE_RATE)`)."""
        return int(self.window_secs * SAMPLE_RATE)

    @property
    def stride_samples(self) -> int:
        """Samples between window starts (`int(stride_secs * SAMPLE_RATE)`)."""
        return int(self.stride_secs * SAMPLE_RATE)

    @property
    def target_length(self) -> int:
        """Fbank frames per window after padding / cutting (`int(window_secs * SAMPLE_RATE / 160)`)."""
        return int(self.window_secs * SAMPLE_RATE / FBANK_SAMPLE_STRIDE)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(frequency, time) patches of one window."""
        return ((NUM_MEL_BINS - self.patch_size[0]) // self.frequency_stride + 1,
                (self.target_length - self.patch_size[1]) // self.time_stride + 1)

    @property
    def patch_frames_hidden_size(self) -> int:
        """Width of a block's hidden state: every frequency patch of a time step, concatenated."""
        return self.patch_grid[0] * self.hidden_size


@strict
class S3prlAstConfig(S3prlSpectrogramTransformerConfig):
    """An AST upstream (S3PRL's `ast` expert); see the module docstring for what S3PRL computes.

    Args:
        feature_selection: "cls" (S3PRL's default: the classifier's logits, one frame per window) or
            "hidden_states" (every block's patch tokens, one frame per 1600 samples).
        num_labels: Classes of the head (`label_dim`, 527 AudioSet classes).
        head_layer_norm_eps: Epsilon of the head's LayerNorm (`nn.LayerNorm` default, 1e-5).

    Example:
        >>> config = S3prlAstConfig(hidden_size=24, num_hidden_layers=2, intermediate_size=48,
        ...                         feature_selection="hidden_states")
        >>> config.num_layers, config.hidden_sizes[0], config.downsample_rates[0]
        (2, 288, 1600)
    """

    model_type = "s3prl_ast"

    feature_selection: str = "cls"
    num_labels: int = 527
    head_layer_norm_eps: float = 1e-5

    def validate_architecture(self):
        super().validate_architecture()
        if self.feature_selection not in FEATURE_SELECTIONS:
            raise ValueError(f"feature_selection must be one of {FEATURE_SELECTIONS}, got {self.feature_selection!r}")
        # S3PRL sizes the positional embedding with input_tdim=int(window_secs * 100) and the features with
        # int(window_secs * 16000 / 160); where float rounding makes them differ, its forward fails.
        if int(self.window_secs * 100) != self.target_length:
            raise ValueError(f"window_secs {self.window_secs}: S3PRL's AST sizes its model for "
                             f"{int(self.window_secs * 100)} frames but pads the fbank to {self.target_length}")

    @property
    def num_layers(self) -> int:
        return 1 if self.feature_selection == "cls" else self.num_hidden_layers

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        if self.feature_selection == "cls":
            return (self.num_labels,)
        return (self.patch_frames_hidden_size,) * self.num_layers

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        if self.feature_selection == "cls":
            return (self.stride_samples,)
        # S3PRL's FBANK_SAMPLE_STRIDE * PATCH_FBANK_STRIDE, whatever the window
        return (FBANK_SAMPLE_STRIDE * self.time_stride,) * self.num_layers


# S3PRL's `ast` hub entry: DeiT-base distilled (timm `vit_deit_base_distilled_patch16_384`), the release's 12 x 101
# grid, 10.24 s windows, feature_selection="cls". Widths, depth and grid are read from the weights by the converter.
REFERENCE_CONFIGS: dict[str, dict] = {
    "ast": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                patch_size=[16, 16], frequency_stride=10, time_stride=10, position_embedding_grid=[12, 101],
                window_secs=10.24, stride_secs=10.24, feature_selection="cls", num_labels=527),
}

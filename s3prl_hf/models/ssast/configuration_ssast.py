"""Configuration of SSAST (S3PRL's `upstream/ssast`: `ssast_frame_base`, `ssast_patch_base`).

S3PRL's SSAST expert (`upstream/ssast/{expert,ast_models,audio}.py`) shares AST's frontend (kaldi fbank 128, AST's
normalisation, then zero padding) with 1 s windows (100 frames: 98 real + 2 zero frames) every 1 s, and runs the
blocks of an SSAST pretraining checkpoint (timm DeiT-base distilled, built by the hub's "base" model size):

* frame model: 128 x 2 patches, fine-tuned with stride (128, 1): 99 patches per 1 s window, hidden states of the
  block width, one frame per 160 samples. 99 frames per window where S3PRL expects 100: the frames drift by one per
  second and `S3PRLUpstream` repeats the last frame at the end;
* patch model: 16 x 16 patches, stride (10, 10): 12 x 9 patches per window, hidden states 12 * width wide, one
  frame per 1600 samples (9 per window where 10 are expected).

The hidden states are the 12 block outputs (no embeddings, no final LayerNorm). The positional embedding of the
pretraining grid (`module.p_input_fdim / p_input_tdim`, patch shape from the projection weight) is cut or
interpolated to the window's grid with S3PRL's rule, quirks included (`size=(8, t)` when interpolating the time
axis; the frequency cut's slice length is the time size).
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..ast.configuration_ast import FBANK_SAMPLE_STRIDE, S3prlSpectrogramTransformerConfig


@strict
class S3prlSsastConfig(S3prlSpectrogramTransformerConfig):
    """An SSAST upstream; see the module docstring. Windows are `window_secs` long every `window_secs`.

    Example:
        >>> config = S3prlSsastConfig(hidden_size=24, num_hidden_layers=2, intermediate_size=48, patch_size=[128, 2],
        ...                           frequency_stride=128, time_stride=1, position_embedding_grid=[1, 128])
        >>> config.num_layers, config.hidden_sizes[0], config.downsample_rates[0], config.patch_grid
        (2, 24, 160, (1, 99))
    """

    model_type = "s3prl_ssast"

    window_secs: float | int = 1.0
    stride_secs: float | int = 1.0

    def validate_architecture(self):
        super().validate_architecture()
        if self.stride_secs != self.window_secs:
            raise ValueError(f"S3PRL's SSAST hops by its window: stride_secs {self.stride_secs} must equal "
                             f"window_secs {self.window_secs}")

    @property
    def num_layers(self) -> int:
        return self.num_hidden_layers

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.patch_frames_hidden_size,) * self.num_layers

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (FBANK_SAMPLE_STRIDE * self.time_stride,) * self.num_layers


# The hub entries: model size "base" (DeiT-base distilled, 12 heads), 1 s windows. The released pretraining grids
# (p_input_fdim 128, p_input_tdim 1024) are expected; the converter reads them from the checkpoint.
REFERENCE_CONFIGS: dict[str, dict] = {
    "ssast_frame_base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                             patch_size=[128, 2], frequency_stride=128, time_stride=1,
                             position_embedding_grid=[1, 512], window_secs=1.0, stride_secs=1.0),
    "ssast_patch_base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                             patch_size=[16, 16], frequency_stride=10, time_stride=10,
                             position_embedding_grid=[8, 64], window_secs=1.0, stride_secs=1.0),
}

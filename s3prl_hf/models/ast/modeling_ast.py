"""AST with S3PRL's hidden states, on transformers' `ASTLayer` (the ViT block of HF's Audio Spectrogram Transformer).

S3PRL (`upstream/ast/{expert,ast_models}.py`, frontend `upstream/ssast/audio.py`), per window and utterance:

1. kaldi fbank of the window (zero-padded utterance), normalised, then zero frames up to the window's length;
2. the patch projection (a conv over the (mel, frame) plane), a class and a distillation token, the positional
   embedding (the checkpoint's grid cut or interpolated to the window's, as S3PRL does when it builds the model);
3. timm's pre-LN blocks (= `ASTLayer`, whose separate q/k/v the converter splits from timm's fused qkv);
4. hidden states: `"hidden_states"` takes each block's patch tokens, (frequency, time) -> (time, frequency * width);
   `"cls"` the head's logits of the averaged class and distillation tokens after the final LayerNorm. Windows are
   concatenated in time and cut to `len(range(0, max_len, downsample_rate))` frames.

Every window is processed alone, so nothing depends on the rest of the batch except how many windows there are.
transformers' `ASTModel` itself cannot be used as a whole: its patch embedding is square only (SSAST's frames are
128 x 2), it has no per-window positional-embedding cut, and its hidden states are not S3PRL's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.models.audio_spectrogram_transformer.modeling_audio_spectrogram_transformer import ASTLayer

from ...frontends import KaldiFeatures, init_frontend_buffers
from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_ast import (FBANK_MEAN, FBANK_OPTIONS, FBANK_STD, S3prlAstConfig,
                                S3prlSpectrogramTransformerConfig)

NUM_SPECIAL_TOKENS = 2  # class + distillation token


def cut_or_interpolate_ast(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """S3PRL's AST rule (`ast_models.py`, audioset branch) from a (1, D, F0, T0) grid to (1, D, f, t).

    Time: cut from the middle when shorter, else bilinear interpolation (even to the same size). Frequency: cut
    when shorter, interpolate when longer. S3PRL writes the release's grid as literals (12, 101; 50 = 101 // 2).
    """
    f0, t0 = grid.shape[2:]
    f_dim, t_dim = size
    if t_dim < t0:
        start = int(t0 / 2) - int(t_dim / 2)
        grid = grid[:, :, :, start : start + t_dim]
    else:
        grid = F.interpolate(grid, size=(f0, t_dim), mode="bilinear")
    if f_dim < f0:
        start = int(f0 / 2) - int(f_dim / 2)
        grid = grid[:, :, start : start + f_dim, :]
    elif f_dim > f0:
        grid = F.interpolate(grid, size=(f_dim, t_dim), mode="bilinear")
    return grid


class S3prlSpectrogramEmbeddings(nn.Module):
    """Patch projection, class / distillation tokens and the checkpoint's positional embedding (HF's names)."""

    def __init__(self, config: S3prlSpectrogramTransformerConfig):
        super().__init__()
        f0, t0 = config.position_embedding_grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.position_embeddings = nn.Parameter(torch.zeros(1, f0 * t0 + NUM_SPECIAL_TOKENS, config.hidden_size))
        self.patch_embeddings = nn.Module()
        self.patch_embeddings.projection = nn.Conv2d(1, config.hidden_size, kernel_size=tuple(config.patch_size),
                                                     stride=(config.frequency_stride, config.time_stride))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def window_position_embeddings(self, pretrained_grid: tuple[int, int], grid_size: tuple[int, int],
                                   rule) -> torch.Tensor:
        """(1, 2 + f * t, D): the special tokens' embeddings and the `pretrained_grid` adapted by `rule` to one
        window's `grid_size` patches, computed in float32 as S3PRL does when it builds the model."""
        table = self.position_embeddings
        hidden = table.shape[-1]
        f0, t0 = pretrained_grid
        grid = table[:, NUM_SPECIAL_TOKENS:].float().reshape(1, f0 * t0, hidden).transpose(1, 2)
        grid = rule(grid.reshape(1, hidden, f0, t0), grid_size)
        patches = grid.reshape(1, hidden, grid_size[0] * grid_size[1]).transpose(1, 2)
        return torch.cat([table[:, :NUM_SPECIAL_TOKENS].float(), patches], dim=1).to(table.dtype)

    def forward(self, features: torch.Tensor, position_embeddings: torch.Tensor) -> torch.Tensor:
        """(N, frames, mel) features -> (N, 2 + patches, D) tokens."""
        x = self.patch_embeddings.projection(features.unsqueeze(1).transpose(2, 3)).flatten(2).transpose(1, 2)
        batch = x.shape[0]
        x = torch.cat([self.cls_token.expand(batch, -1, -1), self.distillation_token.expand(batch, -1, -1), x], dim=1)
        return self.dropout(x + position_embeddings)


class S3prlSpectrogramTransformerPreTrainedModel(UpstreamPreTrainedModel):
    """Windowed fbank + ViT blocks shared by AST and SSAST; subclasses pick the outputs."""

    config_class = S3prlSpectrogramTransformerConfig
    _no_split_modules = ["ASTLayer"]
    _supports_sdpa = True
    # S3PRL's positional-embedding rule: (1, D, F0, T0) grid, (f, t) -> (1, D, f, t)
    position_embedding_rule = staticmethod(cut_or_interpolate_ast)

    def __init__(self, config: S3prlSpectrogramTransformerConfig):
        super().__init__(config)
        self.fbank = KaldiFeatures("fbank", **FBANK_OPTIONS)
        self.embeddings = S3prlSpectrogramEmbeddings(config)
        self.layers = nn.ModuleList([ASTLayer(config) for _ in range(config.num_hidden_layers)])

    def _init_weights(self, module):
        super()._init_weights(module)
        # The fbank window and filterbank are not saved; transformers leaves them uninitialised after loading.
        init_frontend_buffers(module, init.copy_)
        if isinstance(module, S3prlSpectrogramEmbeddings):
            init.trunc_normal_(module.cls_token, std=0.02)
            init.trunc_normal_(module.distillation_token, std=0.02)
            init.trunc_normal_(module.position_embeddings, std=0.02)

    def window_features(self, wavs: torch.Tensor) -> tuple[torch.Tensor, int]:
        """S3PRL's windowing and per-window fbank: (num_windows * B, target_length, mel) in window-major order."""
        config = self.config
        max_len = wavs.shape[1]
        starts = list(range(0, max_len, config.stride_samples))
        padded = F.pad(wavs, (0, max(0, starts[-1] + config.window_samples - max_len)))
        features = []
        for start in starts:
            for wav in padded[:, start : start + config.window_samples]:
                y = (self.fbank(wav) + FBANK_MEAN) / (FBANK_STD * 2)
                missing = config.target_length - y.shape[0]
                # normalise, then pad with zeros (or cut), as S3PRL's FeatureExtractor
                y = F.pad(y, (0, 0, 0, missing)) if missing > 0 else y[: config.target_length]
                features.append(y)
        return torch.stack(features), len(starts)

    def _run_blocks(self, wavs: torch.Tensor, num_blocks: int) -> tuple[list[torch.Tensor], torch.Tensor, int]:
        """Block outputs (N, 2 + f * t, D) of every window, the last one's output, and the number of windows."""
        features, num_windows = self.window_features(wavs)
        grid = self.config.patch_grid
        positions = self.embeddings.window_position_embeddings(
            tuple(self.config.position_embedding_grid), grid, self.position_embedding_rule)
        hidden = self.embeddings(features.to(self.dtype), positions)
        outputs = []
        for layer in self.layers[:num_blocks]:
            hidden = layer(hidden)
            outputs.append(hidden)
        return outputs, hidden, num_windows

    def _patch_hidden_states(self, outputs: list[torch.Tensor], batch: int, num_windows: int,
                             max_len: int) -> list[torch.Tensor]:
        """Each block's patch tokens as (B, windows * t, f * D), cut to the expert's frame count."""
        f_dim, _ = self.config.patch_grid
        stride = self.config.downsample_rates[0]
        max_frames = len(range(0, max_len, stride))
        states = []
        for x in outputs:
            tokens = x[:, NUM_SPECIAL_TOKENS:]
            n, _, hidden = tokens.shape
            tokens = tokens.reshape(n, f_dim, -1, hidden).transpose(1, 2).flatten(2)
            tokens = tokens.reshape(num_windows, batch, -1, tokens.shape[-1]).transpose(0, 1).flatten(1, 2)
            states.append(tokens[:, :max_frames])
        return states


class S3prlAstHead(nn.Module):
    """S3PRL's `mlp_head`: LayerNorm (eps 1e-5) and a linear classifier (HF `ASTMLPHead`'s names)."""

    def __init__(self, config: S3prlAstConfig):
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.head_layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(x))


class S3prlAstModel(S3prlSpectrogramTransformerPreTrainedModel):
    """AST upstream with S3PRL's hidden states (`feature_selection` "cls" or "hidden_states").

    The head is the checkpoint's (S3PRL builds a random one, see `S3prlAstConfig`).

    Example:
        >>> from s3prl_hf.models.ast import S3prlAstConfig, S3prlAstModel
        >>> config = S3prlAstConfig(hidden_size=24, num_hidden_layers=2, intermediate_size=48,
        ...                         position_embedding_grid=[12, 20], feature_selection="hidden_states")
        >>> model = S3prlAstModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (2, torch.Size([2, 10, 288]), [10, 5])
    """

    config_class = S3prlAstConfig
    base_model_prefix = "s3prl_ast"

    def __init__(self, config: S3prlAstConfig):
        super().__init__(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.classifier = S3prlAstHead(config)
        self.post_init()

    @property
    def _modules_outside_hidden_states(self) -> tuple[str, ...]:
        """The final LayerNorm and the head, which only `feature_selection="cls"` runs."""
        return ("layernorm", "classifier") if self.config.feature_selection == "hidden_states" else ()

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        batch, max_len = wavs.shape
        if self.config.feature_selection == "hidden_states":
            outputs, _, num_windows = self._run_blocks(wavs, num_hidden_states)
            return self._patch_hidden_states(outputs, batch, num_windows, max_len)
        _, last, num_windows = self._run_blocks(wavs, self.config.num_hidden_layers)
        x = self.layernorm(last)
        logits = self.classifier((x[:, 0] + x[:, 1]) / 2)
        logits = logits.reshape(num_windows, batch, -1).transpose(0, 1)
        return [logits[:, : len(range(0, max_len, self.config.downsample_rates[0]))]]

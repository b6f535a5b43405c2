"""SSAST with S3PRL's hidden states, on transformers' `ASTLayer` (see `models/ast/modeling_ast.py`).

Same windowing, fbank, patch embedding and blocks as AST; the hidden states are the block outputs (patch tokens as
(time, frequency * width)), and the positional embedding follows S3PRL's SSAST rule (`ast_models.py`,
`pretrain_stage=False` branch), quirks included. transformers' `ASTModel` cannot express the frame model as a whole
(its patch embedding is square only), so the hidden states are assembled here from its layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ast.modeling_ast import S3prlSpectrogramTransformerPreTrainedModel
from .configuration_ssast import S3prlSsastConfig


def cut_or_interpolate_ssast(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """S3PRL's SSAST rule from the pretraining grid (1, D, p_f, p_t) to the window's (1, D, f, t).

    Time: cut from the middle when shorter, else interpolate to **(8, t)** (S3PRL's literal, whatever p_f).
    Frequency: when f < p_f, S3PRL slices `start : start + t` (the *time* size); otherwise it interpolates to
    (f, t). A slice of the wrong size fails later, as in S3PRL.
    """
    p_f, p_t = grid.shape[2:]
    f_dim, t_dim = size
    if t_dim < p_t:
        start = int(p_t / 2) - int(t_dim / 2)
        grid = grid[:, :, :, start : start + t_dim]
    else:
        grid = F.interpolate(grid, size=(8, t_dim), mode="bilinear")
    if f_dim < p_f:
        start = int(p_f / 2) - int(f_dim / 2)
        grid = grid[:, :, start : start + t_dim, :]
    else:
        grid = F.interpolate(grid, size=(f_dim, t_dim), mode="bilinear")
    if grid.shape[2:] != (f_dim, t_dim):
        raise RuntimeError(f"S3PRL's SSAST positional-embedding cut gives a {tuple(grid.shape[2:])} grid for "
                           f"{f_dim} x {t_dim} patches (its frequency slice has the time size); S3PRL fails here too")
    return grid


class S3prlSsastModel(S3prlSpectrogramTransformerPreTrainedModel):
    """SSAST upstream returning S3PRL's block outputs.

    Example:
        >>> from s3prl_hf.models.ssast import S3prlSsastConfig, S3prlSsastModel
        >>> config = S3prlSsastConfig(hidden_size=24, num_hidden_layers=2, intermediate_size=48, patch_size=[128, 2],
        ...                           frequency_stride=128, time_stride=1, position_embedding_grid=[1, 128])
        >>> model = S3prlSsastModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (2, torch.Size([2, 100, 24]), [100, 50])
    """

    config_class = S3prlSsastConfig
    base_model_prefix = "s3prl_ssast"
    position_embedding_rule = staticmethod(cut_or_interpolate_ssast)

    def __init__(self, config: S3prlSsastConfig):
        super().__init__(config)
        self.post_init()

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        batch, max_len = wavs.shape
        outputs, _, num_windows = self._run_blocks(wavs, num_hidden_states)
        return self._patch_hidden_states(outputs, batch, num_windows, max_len)

"""`Featurizer`: S3PRL's learnable weighted sum of hidden states, on top of any upstream.

Same constructor, forward signature, parameter name (`weights`, so S3PRL downstream checkpoints load) and
numbers as `s3prl.nn.Featurizer` (s3prl 0.4.18, `s3prl/nn/upstream.py`):

- one hidden state: passed through unchanged, no parameter;
- several: `layer_selections` (all layers by default) is sorted, the selected states are stacked, optionally
  layer-normed over the feature dimension (`normalize=True`), and summed with `softmax(weights)`; the
  weights start at zero, i.e. a plain average.

Where S3PRL fails with a bare `assert` or a reshape error (layers of different sizes or strides, repeated or
out-of-range selections), this raises a `ValueError` that says what is wrong. Two extensions, both of which
S3PRL rejects: negative indices count from the end, and the sizes / strides only need to agree among the
*selected* layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Featurizer(nn.Module):
    """Reduce an upstream's hidden states to one: a softmax-weighted sum of the selected layers.

    Args:
        upstream: Anything with `num_layers`, `hidden_sizes` and `downsample_rates`: an `AutoUpstream`
            model, `s3prl_hf.S3PRLUpstream`, or S3PRL's own. Only read here, not kept.
        layer_selections: Indices of the hidden states to combine (sorted, as S3PRL does); all by default.
        normalize: Layer-norm every selected hidden state (no affine) before the weighted sum.

    Example:
        >>> from s3prl_hf import AutoUpstream, Featurizer
        >>> model = AutoUpstream.from_pretrained("hubert")  # doctest: +SKIP
        >>> featurizer = Featurizer(model, layer_selections=[4, 8, 12])  # doctest: +SKIP
        >>> with torch.no_grad():  # doctest: +SKIP
        ...     all_hs, all_lens = model(wavs, wavs_len, layers=featurizer.layer_selections)
        >>> hs, hs_len = featurizer(all_hs, all_lens)  # doctest: +SKIP
        >>> hs.shape[-1] == featurizer.output_size  # doctest: +SKIP
        True
    """

    def __init__(self, upstream, layer_selections: Sequence[int] | None = None, normalize: bool = False):
        super().__init__()
        num_layers = int(upstream.num_layers)
        hidden_sizes, strides = list(upstream.hidden_sizes), list(upstream.downsample_rates)
        self.normalize = normalize
        self._num_layers = num_layers

        if num_layers > 1:
            self.layer_selections = _normalise_selection(layer_selections, num_layers)
            self.weights = nn.Parameter(torch.zeros(len(self.layer_selections)))
            considered = self.layer_selections
        else:
            self.layer_selections = [0]  # S3PRL leaves it unset; set so `layers=` calls work for any upstream
            considered = [0]
        sizes = sorted({hidden_sizes[i] for i in considered})
        rates = sorted({strides[i] for i in considered})
        if len(sizes) != 1 or len(rates) != 1:
            raise ValueError(f"the selected layers {considered} have hidden sizes {sizes} and downsample rates "
                             f"{rates}: a weighted sum needs one size and one rate; select layers that agree")
        self._output_size = sizes[0]
        self._downsample_rate = rates[0]

    @property
    def output_size(self) -> int:
        """Hidden size of the weighted-sum output."""
        return self._output_size

    @property
    def downsample_rate(self) -> int:
        """Input samples per output frame."""
        return self._downsample_rate

    def forward(self, all_hs: Sequence[torch.Tensor], all_lens: Sequence[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Combine the hidden states.

        Args:
            all_hs: Every hidden state of the upstream (as S3PRL passes them), or only the selected ones, in
                `layer_selections` order (from `model(..., layers=featurizer.layer_selections)`). An
                `UpstreamOutput` may be passed alone.
            all_lens: The matching (B,) valid lengths.

        Returns:
            (B, T, output_size) weighted sum and its (B,) lengths.
        """
        if all_lens is None:
            if not hasattr(all_hs, "hidden_states_lengths"):
                raise ValueError("all_lens is missing: pass (all_hs, all_lens), or an UpstreamOutput alone")
            all_hs, all_lens = all_hs.hidden_states, all_hs.hidden_states_lengths
        all_hs, all_lens = list(all_hs), list(all_lens)
        if len(all_hs) != len(all_lens):
            raise ValueError(f"{len(all_hs)} hidden states but {len(all_lens)} lengths")
        if len(all_hs) == 1:
            return all_hs[0], all_lens[0]
        if self._num_layers == 1:
            raise ValueError(f"this Featurizer was built for a 1-layer upstream but got {len(all_hs)} states")

        if len(all_hs) == self._num_layers:
            all_hs = [all_hs[i] for i in self.layer_selections]
            all_lens = [all_lens[i] for i in self.layer_selections]
        elif len(all_hs) != len(self.layer_selections):
            raise ValueError(f"got {len(all_hs)} hidden states: expected all {self._num_layers} of the upstream, "
                             f"or the {len(self.layer_selections)} selected ones {self.layer_selections}")
        return self._weighted_sum(all_hs, all_lens)

    def _weighted_sum(self, all_hs, all_lens):
        for index, lens in enumerate(all_lens[1:], start=1):
            if not torch.equal(all_lens[0].cpu(), lens.cpu()):
                raise ValueError(f"selected hidden state {index} has lengths {lens.tolist()}, the first has "
                                 f"{all_lens[0].tolist()}: only states of one frame rate can be summed")
        # The exact op sequence of S3PRL's Featurizer._weighted_sum, so the numbers are bit-identical.
        stacked_hs = torch.stack(all_hs, dim=0)
        if self.normalize:
            stacked_hs = F.layer_norm(stacked_hs, (stacked_hs.shape[-1],))
        _, *origin_shape = stacked_hs.shape
        stacked_hs = stacked_hs.view(len(self.layer_selections), -1)
        norm_weights = F.softmax(self.weights, dim=-1)
        weighted_hs = (norm_weights.unsqueeze(-1) * stacked_hs).sum(dim=0)
        weighted_hs = weighted_hs.view(*origin_shape)
        return weighted_hs, all_lens[0]


def _normalise_selection(layer_selections, num_layers: int) -> list[int]:
    if layer_selections is None:
        return list(range(num_layers))
    if isinstance(layer_selections, int):
        layer_selections = [layer_selections]
    selected = []
    for layer in layer_selections:
        if isinstance(layer, bool) or not isinstance(layer, int) or not -num_layers <= layer < num_layers:
            raise ValueError(f"layer_selections={list(layer_selections)}: each entry must be an int in "
                             f"[{-num_layers}, {num_layers - 1}] for this {num_layers}-layer upstream")
        selected.append(layer % num_layers)
    if not selected:
        raise ValueError("layer_selections is empty: select at least one layer, or pass None for all")
    if len(set(selected)) != len(selected):
        raise ValueError(f"layer_selections={list(layer_selections)} repeats a layer")
    return sorted(selected)

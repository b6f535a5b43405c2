"""DistilHuBERT with S3PRL's 6 hidden states, on the shared wav2vec 2.0 network plus its prediction heads.

S3PRL's expert (`upstream/distiller/expert.py`) returns `[feat_final] + layer_hiddens + preds`:

- `feat_final`: `post_extract_proj(CNN features)`, before the positional conv, with no feature LayerNorm; the
  encoder zeroes its padded frames in place, so the returned tensor has them zeroed;
- `layer_hiddens`: each transformer layer's output (raw, even for a pre-LN model);
- `preds`: the prediction heads, `SplitLinear(GELU(Linear(D -> N * D')))` on the encoder output (the final
  LayerNorm of a pre-LN model applied), one per teacher layer they were trained to predict (4, 8, 12).

transformers' own DistilHuBERT port (`HubertModel`, ntu-spml/distilhubert) drops the heads; these keep them.
Frames are masked with the distiller's `cal_pad_mask`: the conv-length formula with truncating division, applied
with Python slicing (a negative length counts from the end), reproduced as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Model
from .configuration_distilhubert import S3prlDistilHubertConfig


class DistilHubertPredictionHeads(nn.Module):
    """S3PRL's `output_layer`: a shared Linear + GELU, then one linear map per head (`SplitLinear`).

    `weight` (heads, intermediate, out) and `bias` (1, 1, heads, out) keep S3PRL's shapes.
    """

    def __init__(self, config: S3prlDistilHubertConfig):
        super().__init__()
        heads, inner = config.num_prediction_heads, config.prediction_head_intermediate_size
        self.projection = nn.Linear(config.hidden_size, heads * inner)
        self.weight = nn.Parameter(torch.empty(heads, inner, config.prediction_head_size))
        self.bias = nn.Parameter(torch.empty(1, 1, heads, config.prediction_head_size))

    def forward(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        batch, frames, _ = hidden.shape
        heads, inner, _ = self.weight.shape
        inputs = F.gelu(self.projection(hidden)).view(batch, frames, heads, inner)
        outputs = torch.einsum("btki,kio->btko", inputs, self.weight) + self.bias
        return list(outputs.unbind(dim=2))


class S3prlDistilHubertModel(S3prlWav2Vec2Model):
    """DistilHuBERT upstream returning S3PRL's `1 + num_hidden_layers + num_prediction_heads` hidden states.

    Example:
        >>> from s3prl_hf.models.distilhubert import S3prlDistilHubertConfig, S3prlDistilHubertModel
        >>> model = S3prlDistilHubertModel(S3prlDistilHubertConfig(
        ...     hidden_size=32, num_attention_heads=4, intermediate_size=64, prediction_head_size=32,
        ...     prediction_head_intermediate_size=32)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[-1].shape, all_hs_len[-1].tolist()
        (6, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlDistilHubertConfig
    base_model_prefix = "s3prl_distilhubert"

    def __init__(self, config: S3prlDistilHubertConfig):
        super().__init__(config)
        self.prediction_heads = DistilHubertPredictionHeads(config)
        self.post_init()  # again, now that the heads exist

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, DistilHubertPredictionHeads):
            bound = module.weight.shape[1] ** -0.5  # S3PRL's SplitLinear init
            init.uniform_(module.weight, -bound, bound)
            init.uniform_(module.bias, -bound, bound)

    def _frame_lengths(self, wavs_len: torch.Tensor, padded_len: int, num_frames: int) -> torch.Tensor:
        """Valid frames per utterance under the distiller's `cal_pad_mask` (truncating conv-length formula)."""
        lengths = wavs_len
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            lengths = torch.div(lengths - kernel, stride, rounding_mode="trunc") + 1
        # `new_pad_mask[i, n:] = 0`: a negative n keeps all but the last |n| frames, as Python slicing does.
        lengths = torch.where(lengths < 0, lengths + num_frames, lengths)
        return torch.clamp(lengths, min=0, max=num_frames)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, valid = self._project_features(wavs, wavs_len)
        if num_hidden_states == 1:
            return [features]
        num_layers = self.config.num_hidden_layers
        layer_outputs = self._encode(features, valid, min(num_hidden_states - 1, num_layers))[1:]
        hidden_states = [features] + layer_outputs
        if num_hidden_states > 1 + num_layers:
            last = layer_outputs[-1]
            if self.config.do_stable_layer_norm:
                last = self.encoder.layer_norm(last)
            hidden_states += self.prediction_heads(last)
        return hidden_states

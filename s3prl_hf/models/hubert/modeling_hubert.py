"""HuBERT with S3PRL's hidden states, built on transformers' HuBERT modules.

S3PRL (`upstream/hubert/expert.py`) records the input of every transformer layer plus the encoder output,
so there are `num_hidden_layers + 1` hidden states:

- post-LN models: hs[0] = LayerNorm(x + pos_conv(x)), hs[i] = output of layer i-1;
- pre-LN models: hs[0] = x + pos_conv(x) (no LayerNorm), hs[1..L-1] = raw layer outputs, and
  hs[L] = the final LayerNorm of the last layer's output.

Frames are masked with fairseq HuBERT's rule (`HubertModel.forward_padding_mask`): the padded waveform is
cut into one chunk of `T_padded // T_frames` samples per frame, and a frame is padding only when its whole
chunk is. This keeps one frame more than transformers' conv-length rule for many lengths, and changes every
frame of the shorter utterances in a padded batch, so it is reproduced exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.hubert.modeling_hubert import (
    HubertEncoderLayer,
    HubertEncoderLayerStableLayerNorm,
    HubertFeatureEncoder,
    HubertFeatureProjection,
    HubertPositionalConvEmbedding,
)

from ...modeling_utils import UpstreamPreTrainedModel, normalize_waveforms
from .configuration_hubert import S3prlHubertConfig


class S3prlHubertEncoder(nn.Module):
    """Positional conv + transformer layers; the layer loop lives in the model so it can record states."""

    def __init__(self, config: S3prlHubertConfig):
        super().__init__()
        self.pos_conv_embed = HubertPositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        layer_class = HubertEncoderLayerStableLayerNorm if config.do_stable_layer_norm else HubertEncoderLayer
        self.layers = nn.ModuleList([layer_class(config) for _ in range(config.num_hidden_layers)])


class S3prlHubertModel(UpstreamPreTrainedModel):
    """HuBERT upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.hubert import S3prlHubertConfig, S3prlHubertModel
        >>> model = S3prlHubertModel(S3prlHubertConfig(num_hidden_layers=2, hidden_size=32,
        ...                          num_attention_heads=4, intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlHubertConfig
    base_model_prefix = "s3prl_hubert"
    _no_split_modules = ["HubertEncoderLayer", "HubertEncoderLayerStableLayerNorm"]
    _supports_sdpa = True

    def __init__(self, config: S3prlHubertConfig):
        super().__init__(config)
        self.feature_extractor = HubertFeatureEncoder(config)
        self.feature_projection = HubertFeatureProjection(config)
        self.encoder = S3prlHubertEncoder(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.Conv1d) and not hasattr(module, "parametrizations"):
            init.kaiming_normal_(module.weight)

    def _frame_lengths(self, wavs_len: torch.Tensor, padded_len: int, num_frames: int) -> torch.Tensor:
        """Valid frames per utterance under fairseq HuBERT's all-chunk rule."""
        chunk = padded_len // num_frames
        return torch.clamp(torch.div(wavs_len + chunk - 1, chunk, rounding_mode="floor"), max=num_frames)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        if self.config.normalize_waveform:
            wavs = normalize_waveforms(wavs, wavs_len)
        features = self.feature_extractor(wavs.to(self.dtype)).transpose(1, 2)
        frame_len = self._frame_lengths(wavs_len, wavs.shape[1], features.shape[1])
        valid = torch.arange(features.shape[1], device=features.device)[None, :] < frame_len[:, None]

        hidden = self.feature_projection(features)
        hidden = hidden.masked_fill(~valid[..., None], 0.0)
        hidden = hidden + self.encoder.pos_conv_embed(hidden)
        if not self.config.do_stable_layer_norm:
            hidden = self.encoder.layer_norm(hidden)
        hidden = self.encoder.dropout(hidden)

        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=valid)
        hidden_states = [hidden]
        for layer in self.encoder.layers[: num_hidden_states - 1]:
            hidden = layer(hidden, attention_mask=attention_mask)
            hidden_states.append(hidden)
        if self.config.do_stable_layer_norm and len(hidden_states) == self.config.num_layers:
            hidden_states[-1] = self.encoder.layer_norm(hidden_states[-1])
        return hidden_states

"""WavLM with S3PRL's hidden states: HuBERT's network and frame rule, with transformers' WavLM attention layers.

S3PRL's WavLM (`upstream/wavlm/WavLM.py`, copied from microsoft/unilm) is fairseq HuBERT's network in which every
layer's attention adds a relative position bias: computed once by layer 0 from `num_buckets` log-spaced buckets
up to `max_distance`, passed on to every layer, and gated per layer and head from the layer's attention input.
transformers' `WavLMEncoderLayer` / `WavLMEncoderLayerStableLayerNorm` implement exactly that, so only the layers
differ from `S3prlHubertModel`: the CNN, feature projection, positional conv, hidden-state definition (L+1 states,
final LayerNorm of pre-LN models) and the all-chunk frame padding rule (`WavLM.forward_padding_mask`) are shared.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn
from transformers import initialization as init
from transformers.models.wavlm.modeling_wavlm import (
    WavLMAttention,
    WavLMEncoderLayer,
    WavLMEncoderLayerStableLayerNorm,
)

from ..hubert.modeling_hubert import S3prlHubertModel
from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Encoder
from .configuration_wavlm import S3prlWavLMConfig


class UngatedWavLMAttention(WavLMAttention):
    """WavLM attention for `gru_rel_pos=False`: S3PRL adds the relative position bias as computed, ungated."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, num_buckets=320, max_distance=800,
                 has_relative_position_bias=True):
        super().__init__(embed_dim, num_heads, dropout, num_buckets, max_distance, has_relative_position_bias)
        del self.gru_rel_pos_const, self.gru_rel_pos_linear  # S3PRL builds no gate weights then

    def forward(self, hidden_states, attention_mask=None, position_bias=None, index=0, **kwargs):
        batch, frames, _ = hidden_states.shape
        if position_bias is None:
            position_bias = self.compute_bias(frames, frames)
            position_bias = position_bias.unsqueeze(0).repeat(batch, 1, 1, 1).view(batch * self.num_heads, frames,
                                                                                   frames)
        output, weights = self.torch_multi_head_self_attention(hidden_states, attention_mask, position_bias)
        return output, weights, position_bias


class S3prlWavLMEncoder(S3prlWav2Vec2Encoder):
    """Positional conv + WavLM layers; only layer 0 owns the relative position embedding."""

    @staticmethod
    def _build_layers(config: S3prlWavLMConfig) -> list[nn.Module]:
        layer_class = WavLMEncoderLayerStableLayerNorm if config.do_stable_layer_norm else WavLMEncoderLayer
        layers = [layer_class(config, has_relative_position_bias=index == 0)
                  for index in range(config.num_hidden_layers)]
        if not config.gru_rel_pos:
            for index, layer in enumerate(layers):
                layer.attention = UngatedWavLMAttention(
                    config.hidden_size, config.num_attention_heads, config.attention_dropout, config.num_buckets,
                    config.max_bucket_distance, has_relative_position_bias=index == 0)
        return layers


class S3prlWavLMModel(S3prlHubertModel):
    """WavLM upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.wavlm import S3prlWavLMConfig, S3prlWavLMModel
        >>> model = S3prlWavLMModel(S3prlWavLMConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                         intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlWavLMConfig
    base_model_prefix = "s3prl_wavlm"
    encoder_class = S3prlWavLMEncoder
    _no_split_modules = ["WavLMEncoderLayer", "WavLMEncoderLayerStableLayerNorm"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, WavLMAttention) and hasattr(module, "gru_rel_pos_const"):
            init.ones_(module.gru_rel_pos_const)  # the gate's neutral value, as fairseq/unilm initialise it

    def _run_layers(self, hidden, valid, num_layers) -> list[torch.Tensor]:
        # WavLMAttention runs torch's multi_head_attention_forward and builds its key_padding_mask from a
        # (B, T) mask with 1 = valid; layer 0 computes the position bias, the others reuse it.
        attention_mask = valid.long()
        position_bias = None
        outputs = []
        # Under torch.compile the warning filter is skipped: dynamo cannot trace `warnings.catch_warnings` (a graph
        # break), and the traced graph does not warn anyway.
        with contextlib.nullcontext() if torch.compiler.is_compiling() else warnings.catch_warnings():
            # torch deprecates a bool key-padding mask next to a float bias; S3PRL's WavLM passes the same pair.
            if not torch.compiler.is_compiling():
                warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask",
                                        category=UserWarning)
            for layer in self.encoder.layers[:num_layers]:
                hidden, position_bias = layer(hidden, attention_mask=attention_mask, position_bias=position_bias)
                outputs.append(hidden)
        return outputs

"""LightHuBERT with S3PRL's hidden states: one fixed subnet of the supernet, as a plain HuBERT-style network.

S3PRL's LightHuBERT (`upstream/lighthubert/lighthubert/`) is fairseq HuBERT's network whose linear, LayerNorm and
conv modules ("scaling" modules) use the leading slices of the supernet's weights for the subnet set by
`set_sample_config`. At a fixed subnet that is an ordinary network with smaller weights, which the converter slices
out once; what is left differs from HuBERT in three places:

- each layer's attention has its own head count, and heads keep the supernet's width (64 in the releases), so
  `heads x 64` (LightHuBERT's `atten_dim`) need not equal the model width: `LightHubertAttention` is transformers'
  `HubertAttention` with those projection shapes (its scaling is `head_dim ** -0.5`, as LightHuBERT's `SMHA`);
- each layer's FFN has its own width (transformers' `HubertFeedForward` built for that width);
- the hidden states (`LightHuBERT.forward`, `ret_hs=True`) are the projected CNN features (before the positional
  conv, padded frames zeroed in place by the encoder) followed by the raw output of every subnet layer: no state
  has the encoder's LayerNorm of a post-LN model's input or the final LayerNorm of a pre-LN model.

The CNN, feature projection, positional conv, all-chunk frame padding rule (`forward_padding_mask`) and the layers'
maths are HuBERT's; S3PRL's expert always standardises each waveform (`F.layer_norm`) first. Its padding of the frame
count to an even number (`required_seq_len_multiple`) only adds masked keys, so it changes no valid frame and is left
out.
"""

from __future__ import annotations

from types import SimpleNamespace

from torch import nn
from transformers.models.hubert.modeling_hubert import (
    HubertAttention,
    HubertEncoderLayer,
    HubertEncoderLayerStableLayerNorm,
)

from ..hubert.modeling_hubert import S3prlHubertModel
from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Encoder
from .configuration_lighthubert import S3prlLightHubertConfig

# What transformers' HuBERT layer and feed-forward read from a config, besides the per-layer sizes.
_LAYER_FIELDS = ("hidden_size", "hidden_act", "hidden_dropout", "activation_dropout", "attention_dropout",
                 "layer_norm_eps")


class LightHubertAttention(HubertAttention):
    """`HubertAttention` whose `num_heads` heads of `head_dim` span `num_heads * head_dim` features, which need not be
    `embed_dim` (LightHuBERT's attention dimension). The forward is transformers' own.

    Example:
        >>> attention = LightHubertAttention(embed_dim=20, num_heads=3, head_dim=8)
        >>> attention.q_proj.weight.shape, attention.out_proj.weight.shape
        (torch.Size([24, 20]), torch.Size([20, 24]))
    """

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, dropout: float = 0.0, config=None):
        nn.Module.__init__(self)  # HubertAttention.__init__ insists on heads that split embed_dim
        self.embed_dim, self.num_heads, self.head_dim, self.dropout, self.config = (
            embed_dim, num_heads, head_dim, dropout, config)
        self.scaling = head_dim**-0.5
        self.is_decoder = self.is_causal = False
        width = num_heads * head_dim
        self.q_proj = nn.Linear(embed_dim, width)
        self.k_proj = nn.Linear(embed_dim, width)
        self.v_proj = nn.Linear(embed_dim, width)
        self.out_proj = nn.Linear(width, embed_dim)


def lighthubert_layer(config: S3prlLightHubertConfig, index: int) -> nn.Module:
    """transformers' HuBERT layer (post-LN, or pre-LN for `do_stable_layer_norm`) with layer `index`'s FFN width and
    attention heads."""
    layer_class = HubertEncoderLayerStableLayerNorm if config.do_stable_layer_norm else HubertEncoderLayer
    # One head for the attention transformers builds from this view: it is replaced just below.
    view = SimpleNamespace(**{field: getattr(config, field) for field in _LAYER_FIELDS}, num_attention_heads=1,
                           intermediate_size=config.intermediate_size_of(index))
    layer = layer_class(view)
    layer.attention = LightHubertAttention(config.hidden_size, config.attention_heads(index), config.head_dim,
                                           config.attention_dropout, config)
    return layer


class S3prlLightHubertEncoder(S3prlWav2Vec2Encoder):
    """Positional conv + the subnet's layers, each with its own heads and FFN width."""

    @staticmethod
    def _build_layers(config: S3prlLightHubertConfig) -> list[nn.Module]:
        return [lighthubert_layer(config, index) for index in range(config.num_hidden_layers)]


class S3prlLightHubertModel(S3prlHubertModel):
    """LightHuBERT upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.lighthubert import S3prlLightHubertConfig, S3prlLightHubertModel
        >>> model = S3prlLightHubertModel(S3prlLightHubertConfig(
        ...     num_hidden_layers=2, hidden_size=20, num_attention_heads=2, intermediate_size=64,
        ...     attention_head_dim=8, layer_attention_heads=[2, 3], conv_dim=(16,) * 7,
        ...     num_conv_pos_embedding_groups=4)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 20]), [50, 25])
    """

    config_class = S3prlLightHubertConfig
    base_model_prefix = "s3prl_lighthubert"
    encoder_class = S3prlLightHubertEncoder

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, valid = self._project_features(wavs, wavs_len)
        if num_hidden_states == 1:
            return [features]
        layer_outputs = self._encode(features, valid, num_hidden_states - 1,
                                     needed=self._needed_frames(wavs_len, valid))[1:]
        return [features] + layer_outputs

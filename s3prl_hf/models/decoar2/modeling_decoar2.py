"""DeCoAR 2.0 with S3PRL's hidden states, on transformers' HuBERT encoder modules.

S3PRL (`upstream/decoar2/{expert,decoar2,audio}.py`, the encoder from `upstream/wav2vec2/wav2vec2_model.py`):

1. kaldi fbank + CMVN per utterance, every second frame, zero-padded into a batch; frames past an utterance's
   length are its padding mask;
2. a linear projection; padded frames set to zero; `x + GELU(weight-normed conv(x))`; LayerNorm (post-LN encoder);
3. post-LN transformer layers, padded frames masked as keys;
4. hidden states: the input of every layer and the encoder's output, `num_hidden_layers + 1` of them. S3PRL pads
   the frames to an even count before the layers and trims the states back, which changes nothing else.

fairseq's positional conv and post-LN layer are transformers' `HubertPositionalConvEmbedding` and
`HubertEncoderLayer` weight for weight.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.hubert.modeling_hubert import HubertEncoderLayer, HubertPositionalConvEmbedding

from ...frontends.fbank_cmvn import S3prlFbankFrontend, normalize_audio_config
from ..apc.modeling_apc import S3prlFbankPreTrainedModel
from .configuration_decoar2 import FRAME_SKIP, S3prlDecoar2Config


class S3prlDecoar2Encoder(nn.Module):
    """Positional conv, LayerNorm and layers; the layer loop lives in the model so it can record states."""

    def __init__(self, config: S3prlDecoar2Config):
        super().__init__()
        self.pos_conv_embed = HubertPositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([HubertEncoderLayer(config) for _ in range(config.num_hidden_layers)])


class S3prlDecoar2Model(S3prlFbankPreTrainedModel):
    """DeCoAR 2.0 upstream returning S3PRL's `num_hidden_layers + 1` hidden states at 320 samples per frame.

    Example:
        >>> from s3prl_hf.models.decoar2 import S3prlDecoar2Config, S3prlDecoar2Model
        >>> model = S3prlDecoar2Model(S3prlDecoar2Config(hidden_size=24, num_hidden_layers=2, intermediate_size=48,
        ...                           num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 24]), [50, 25])
    """

    config_class = S3prlDecoar2Config
    base_model_prefix = "s3prl_decoar2"
    _no_split_modules = ["HubertEncoderLayer"]
    _supports_sdpa = True

    def __init__(self, config: S3prlDecoar2Config):
        super().__init__(config)
        self.frontend = S3prlFbankFrontend(normalize_audio_config(config.audio_config), frame_skip=FRAME_SKIP,
                                           nan_on_one_frame=config.s3prl_nan_cmvn)
        self.post_extract_proj = nn.Linear(config.feature_dim, config.hidden_size)
        self.dropout_input = nn.Dropout(config.feat_proj_dropout)
        self.encoder = S3prlDecoar2Encoder(config)
        self.post_init()

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, lengths = self.frontend(wavs, wavs_len)
        hidden = self.dropout_input(self.post_extract_proj(features.to(self.dtype)))
        valid = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]
        hidden = hidden.masked_fill(~valid[..., None], 0.0)
        hidden = self.encoder.layer_norm(hidden + self.encoder.pos_conv_embed(hidden))
        hidden = self.encoder.dropout(hidden)
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=valid)
        states = [hidden]
        for layer in self.encoder.layers[: num_hidden_states - 1]:
            hidden = layer(hidden, attention_mask=attention_mask)
            states.append(hidden)
        return states

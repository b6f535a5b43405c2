"""wav2vec 2.0 Conformer with S3PRL's hidden states, on transformers' `Wav2Vec2Conformer*` modules.

fairseq's `ConformerEncoder` (S3PRL `upstream/wav2vec2/wav2vec2_model.py`), which runs `pos_enc_type` rel_pos and
rope, differs from the transformer encoder in three ways that matter here:

- no positional conv: hs[0] is the projected CNN features with padded frames zeroed (plus the encoder
  LayerNorm when the model is post-LN), not `x + pos_conv(x)`;
- positions enter each layer's attention as Transformer-XL relative encodings or rotary embeddings (none at all
  with fairseq's own attention, `attn_type` other than espnet, which ignores rope);
- the layers are conformer blocks (half-step FFN, attention, depthwise-conv module with BatchNorm, half-step FFN,
  LayerNorm).

Any other `pos_enc_type` ("abs") runs the conformer layers in fairseq's transformer encoder instead
(`position_embeddings_type="absolute"`): hs[0] = x + pos_conv(x) as in wav2vec 2.0, attention without positions,
and the sequence zero-padded to a multiple of `required_seq_len_multiple` frames before the layers. The padded
frames are masked keys, but each layer's depthwise conv reads them, so they change the last frames; S3PRL trims
them from every state.

The rest (CNN, conv-length frame mask, final LayerNorm of pre-LN models, `crop_seq_to_multiple`) is
`S3prlWav2Vec2Model`'s. The relative-position table is computed in each forward for exactly the frames at hand
(fairseq's values do not depend on its `max_positions`, so nothing of that size is allocated, and no buffer needs
initialising after a meta-device build). The rotary frequencies are the checkpoint's own `inv_freq` (what S3PRL
computes with), kept as a weight.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import (
    Wav2Vec2ConformerEncoderLayer,
    Wav2Vec2ConformerRelPositionalEmbedding,
    Wav2Vec2ConformerRotaryPositionalEmbedding,
    Wav2Vec2ConformerSelfAttention,
)

from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Model, positional_conv_embedding
from .configuration_wav2vec2_conformer import S3prlWav2Vec2ConformerConfig


def rotary_inv_freq(config: S3prlWav2Vec2ConformerConfig) -> torch.Tensor:
    """fairseq's `RotaryPositionalEmbedding.inv_freq` for the config's head size."""
    dim = config.hidden_size // config.num_attention_heads
    return 1.0 / (config.rotary_embedding_base ** (torch.arange(0, dim, 2).float() / dim))


class S3prlRelPositionalEmbedding(Wav2Vec2ConformerRelPositionalEmbedding):
    """fairseq's `RelPositionalEncoding`, computed per forward for the current length instead of a
    `max_positions`-sized table (2 * 100000 - 1 rows of 1024 floats, 781 MiB, for the released models)."""

    def __init__(self, config: S3prlWav2Vec2ConformerConfig):
        nn.Module.__init__(self)
        self.d_model = config.hidden_size

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # a table of exactly 2T - 1 positions: relative offsets T-1 ... -(T-1), as fairseq slices its own
        return self.extend_pe(hidden_states)


class S3prlRotaryPositionalEmbedding(Wav2Vec2ConformerRotaryPositionalEmbedding):
    """Rotary cos/sin from the stored `inv_freq`, recomputed every call (transformers' cache by length alone
    would hand back tensors of another device or dtype after `.to()`)."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        self.cached_rotary_positional_embedding = None
        return super().forward(hidden_states)


class S3prlWav2Vec2ConformerEncoder(nn.Module):
    """Position embeddings (or the positional conv) + conformer layers + the encoder LayerNorm; the loop lives in
    the model."""

    def __init__(self, config: S3prlWav2Vec2ConformerConfig):
        super().__init__()
        if config.position_embeddings_type == "relative":
            self.embed_positions = S3prlRelPositionalEmbedding(config)
        elif config.position_embeddings_type == "rotary":
            self.embed_positions = S3prlRotaryPositionalEmbedding(config)
        else:
            self.embed_positions = None
        if config.uses_positional_conv:
            self.pos_conv_embed = positional_conv_embedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([Wav2Vec2ConformerEncoderLayer(config) for _ in range(config.num_hidden_layers)])


class S3prlWav2Vec2ConformerModel(S3prlWav2Vec2Model):
    """wav2vec 2.0 Conformer upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.wav2vec2_conformer import (S3prlWav2Vec2ConformerConfig,
        ...                                                 S3prlWav2Vec2ConformerModel)
        >>> config = S3prlWav2Vec2ConformerConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                                       intermediate_size=64, conv_dim=(16,) * 7)
        >>> model = S3prlWav2Vec2ConformerModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[-1].shape, all_hs_len[-1].tolist()
        (3, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlWav2Vec2ConformerConfig
    base_model_prefix = "s3prl_wav2vec2_conformer"
    _no_split_modules = ["Wav2Vec2ConformerEncoderLayer"]
    encoder_class = S3prlWav2Vec2ConformerEncoder

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, Wav2Vec2ConformerSelfAttention) and hasattr(module, "pos_bias_u"):
            init.xavier_uniform_(module.pos_bias_u)
            init.xavier_uniform_(module.pos_bias_v)
        elif isinstance(module, S3prlRotaryPositionalEmbedding):
            init.copy_(module.inv_freq, rotary_inv_freq(self.config))

    def _encode(self, features, valid, num_layers, needed=None) -> list[torch.Tensor]:
        """[encoder input (projected features, + positional conv in the transformer encoder; LayerNorm if post-LN),
        outputs of the first layers]."""
        hidden = features
        if self.config.uses_positional_conv:
            hidden = hidden + self.encoder.pos_conv_embed(hidden)
        if not self.config.do_stable_layer_norm:
            hidden = self.encoder.layer_norm(hidden)
        hidden = self.encoder.dropout(hidden)
        # Always the padded batch: the conformer's depthwise conv mixes padded frames into the valid ones near
        # each utterance's end (fairseq masks only attention keys), so S3PRL's numbers depend on the padding.
        return [hidden] + self._run_layers(hidden, valid, num_layers)

    def _run_layers(self, hidden, valid, num_layers) -> list[torch.Tensor]:
        """Outputs of the first `num_layers` conformer layers."""
        frames = hidden.shape[1]
        if self.config.uses_positional_conv:  # fairseq's transformer encoder pads to a multiple, masked
            pad = -frames % self.config.seq_len_multiple
            hidden = nn.functional.pad(hidden, (0, 0, 0, pad))
            valid = nn.functional.pad(valid, (0, pad), value=False)
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=valid)
        positions = self.encoder.embed_positions(hidden) if self.encoder.embed_positions is not None else None
        outputs = []
        for layer in self.encoder.layers[:num_layers]:
            hidden = layer(hidden, attention_mask=attention_mask, relative_position_embeddings=positions)
            outputs.append(hidden[:, :frames])
        return outputs

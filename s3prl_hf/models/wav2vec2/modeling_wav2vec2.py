"""wav2vec 2.0-style upstreams with S3PRL's hidden states, built on transformers' HuBERT/wav2vec2 modules.

This is the network of fairseq's wav2vec 2.0 and HuBERT (the two share it module for module); families
that differ only in how padded frames are masked subclass `S3prlWav2Vec2Model`.

S3PRL (`upstream/wav2vec2/expert.py`, `upstream/hubert/expert.py`) records the input of every transformer layer plus the encoder output,
so there are `num_hidden_layers + 1` hidden states:

- post-LN models: hs[0] = LayerNorm(x + pos_conv(x)), hs[i] = output of layer i-1;
- pre-LN models: hs[0] = x + pos_conv(x) (no LayerNorm), hs[1..L-1] = raw layer outputs, and
  hs[L] = the final LayerNorm of the last layer's output.

wav2vec 2.0 masks frames with the conv-length rule (`Wav2Vec2Model.forward`): the valid frames of an
utterance are the conv stack's output length for its valid samples. HuBERT's rule differs (see
`s3prl_hf.models.hubert`). The positional conv is one weight-normalised conv, or data2vec's stack of plain
convs (`pos_conv_depth > 1`, transformers' `Data2VecAudioPositionalConvEmbedding`).
"""

from __future__ import annotations

import math

from types import SimpleNamespace

import torch
from torch import nn
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.data2vec.modeling_data2vec_audio import Data2VecAudioPositionalConvEmbedding
from transformers.models.hubert.modeling_hubert import (
    HubertEncoderLayer,
    HubertEncoderLayerStableLayerNorm,
    HubertFeatureEncoder,
    HubertFeatureProjection,
    HubertPositionalConvEmbedding,
)

from ...modeling_utils import UpstreamPreTrainedModel, normalize_waveforms
from .configuration_wav2vec2 import S3prlWav2Vec2Config
from .feature_encoder import conv_output_length, encode_per_utterance, supports_per_utterance
from .packed_encoder import run_packed_layers, supports_packing


def positional_conv_embedding(config: S3prlWav2Vec2Config) -> nn.Module:
    """fairseq's `encoder.pos_conv`: one weight-normalised conv, or data2vec's stack when `pos_conv_depth > 1`."""
    if config.pos_conv_depth == 1:
        return HubertPositionalConvEmbedding(config)
    # transformers' data2vec modules name the stack depth `num_conv_pos_embeddings`; give them that view
    view = SimpleNamespace(hidden_size=config.hidden_size, num_conv_pos_embeddings=config.pos_conv_depth,
                           conv_pos_kernel_size=config.conv_pos_kernel_size,
                           num_conv_pos_embedding_groups=config.num_conv_pos_embedding_groups,
                           feat_extract_activation=config.feat_extract_activation)
    return Data2VecAudioPositionalConvEmbedding(view)


class S3prlWav2Vec2Encoder(nn.Module):
    """Positional conv + transformer layers; the layer loop lives in the model so it can record states."""

    def __init__(self, config: S3prlWav2Vec2Config):
        super().__init__()
        self.pos_conv_embed = positional_conv_embedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(self._build_layers(config))

    @staticmethod
    def _build_layers(config: S3prlWav2Vec2Config) -> list[nn.Module]:
        """The transformer layers; families with other attention (WavLM) override this."""
        layer_class = HubertEncoderLayerStableLayerNorm if config.do_stable_layer_norm else HubertEncoderLayer
        return [layer_class(config) for _ in range(config.num_hidden_layers)]


class S3prlWav2Vec2Model(UpstreamPreTrainedModel):
    """wav2vec 2.0 upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.wav2vec2 import S3prlWav2Vec2Config, S3prlWav2Vec2Model
        >>> model = S3prlWav2Vec2Model(S3prlWav2Vec2Config(num_hidden_layers=2, hidden_size=32,
        ...                            num_attention_heads=4, intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlWav2Vec2Config
    base_model_prefix = "s3prl_wav2vec2"
    _no_split_modules = ["HubertEncoderLayer", "HubertEncoderLayerStableLayerNorm"]
    _supports_sdpa = True
    encoder_class = S3prlWav2Vec2Encoder

    def __init__(self, config: S3prlWav2Vec2Config):
        super().__init__(config)
        self.feature_extractor = HubertFeatureEncoder(config)
        self.feature_projection = HubertFeatureProjection(config)
        self.encoder = self.encoder_class(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.Conv1d) and not hasattr(module, "parametrizations"):
            init.kaiming_normal_(module.weight)

    def output_frames(self, num_samples: int) -> int:
        frames = conv_output_length(self.padded_samples(num_samples), self.feature_extractor.conv_layers)
        return frames - frames % self.config.crop_seq_to_multiple

    def _frame_lengths(self, wavs_len: torch.Tensor, padded_len: int, num_frames: int) -> torch.Tensor:
        """Valid frames per utterance under fairseq wav2vec 2.0's conv-length rule.

        fairseq marks frame `conv_len - 1` and keeps every frame up to it, indexing like Python: an utterance
        shorter than the receptive field (conv_len <= 0) wraps around to the end of the batch, so S3PRL keeps
        `num_frames + conv_len` frames of it. That is reproduced, not fixed. A batch without padding gets no
        frame mask at all (`padding_mask.any()` is False), whatever the formula says.
        """
        unpadded = (wavs_len == padded_len).all()  # a tensor, not a Python bool: no graph break under torch.compile
        lengths = wavs_len
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            # the same float32 ops as fairseq's `_get_feat_extract_output_lengths`, so the rounding of very long
            # inputs (over 2**24 samples) is the same too
            lengths = torch.floor((lengths - kernel) / stride + 1)
        last = lengths.long() - 1
        last = torch.where(last < 0, last + num_frames, last)
        return torch.where(unpadded, num_frames, torch.clamp(last + 1, min=0, max=num_frames))

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, valid = self._project_features(wavs, wavs_len)
        hidden_states = self._encode(features, valid, num_hidden_states - 1,
                                     needed=self._needed_frames(wavs_len, valid))
        if self.config.do_stable_layer_norm and len(hidden_states) == self.config.num_layers:
            hidden_states[-1] = self.encoder.layer_norm(hidden_states[-1])
        return hidden_states

    def _project_features(self, wavs, wavs_len) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected CNN features with padded frames zeroed, and the (B, T) bool mask of valid frames."""
        if self.config.normalize_waveform:
            wavs = normalize_waveforms(wavs, wavs_len)
        wavs = wavs.to(self.dtype)
        conv_layers = self.feature_extractor.conv_layers
        num_frames = conv_output_length(wavs.shape[1], conv_layers)
        frame_len = self._frame_lengths(wavs_len, wavs.shape[1], num_frames)
        # wav2vec 2.0's crop_seq_to_multiple drops trailing frames after masking (LayerNorm and projection are
        # per frame, so cropping before them is the same)
        keep = num_frames - num_frames % self.config.crop_seq_to_multiple
        valid = torch.arange(keep, device=wavs.device)[None, :] < frame_len[:, None]
        if self._skips_padding(wavs) and supports_per_utterance(conv_layers):
            features = encode_per_utterance(conv_layers, wavs, wavs_len, valid.sum(1))[:, :keep]
        else:
            features = self.feature_extractor(wavs).transpose(1, 2)[:, :keep]
        hidden = self.feature_projection(features)
        return hidden.masked_fill(~valid[..., None], 0.0), valid

    def _needed_frames(self, wavs_len: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Frames of each utterance whose values matter: those S3PRL reports as valid (`ceil(len / stride)`,
        which can be 1-2 more than the model's unmasked frames) and every unmasked frame (the keys)."""
        stride = math.prod(self.config.conv_stride)
        reported = torch.div(wavs_len + stride - 1, stride, rounding_mode="floor")
        return torch.clamp(torch.maximum(reported, valid.sum(1)), max=valid.shape[1])

    def _encode(self, features, valid, num_layers, needed=None) -> list[torch.Tensor]:
        """[encoder input (features + positional conv, LayerNorm if post-LN), outputs of the first layers].

        With `needed` (frames that matter per utterance) and `config.skip_padding` on CPU, the layers run on each
        utterance's needed frames only; the padded frames of the outputs are then zeros.
        """
        hidden = features + self.encoder.pos_conv_embed(features)
        if not self.config.do_stable_layer_norm:
            hidden = self.encoder.layer_norm(hidden)
        hidden = self.encoder.dropout(hidden)
        if needed is not None and self._skips_padding(hidden, needed.sum()):
            return [hidden] + self._run_layers_per_utterance(hidden, valid, needed, num_layers)
        return [hidden] + self._run_layers(hidden, valid, num_layers)

    def _skips_padding(self, batch: torch.Tensor, needed: torch.Tensor | None = None) -> bool:
        """Whether to run per utterance: `config.skip_padding` on CPU; on GPUs the padded batch is faster, and so
        does a body compiled with `compile_body` (on any device).

        With `needed` (the count of frames that matter), only when a tenth of the batch or more is padding.
        """
        if not (self.config.skip_padding and batch.device.type == "cpu") or torch.compiler.is_compiling():
            return False  # the per-utterance loop reads lengths in Python: a compiled body runs the padded batch
        return needed is None or (batch.shape[0] > 1 and int(needed) < 0.9 * batch.shape[0] * batch.shape[1])

    def _run_layers_per_utterance(self, hidden, valid, needed, num_layers) -> list[torch.Tensor]:
        """`_run_layers` on each utterance's needed frames, re-padded with zeros into batch tensors.

        Plain HuBERT layers run on all utterances' frames packed together (`packed_encoder.py`), so their matrix
        products stay large; other layers (WavLM's relative position bias) run one utterance at a time.
        """
        layers = self.encoder.layers[:num_layers]
        keys = valid.sum(1)
        plain = type(self)._run_layers is S3prlWav2Vec2Model._run_layers  # no family-specific layer loop
        if plain and supports_packing(layers, self.config._attn_implementation) and bool((keys > 0).all()):
            return run_packed_layers(layers, hidden, needed, keys)
        outputs: list[torch.Tensor] = []
        for index, length in enumerate(needed.tolist()):
            states = self._run_layers(hidden[index : index + 1, :length], valid[index : index + 1, :length],
                                      num_layers)
            if not outputs:
                outputs = [hidden.new_zeros(hidden.shape[:2] + state.shape[2:]) for state in states]
            for output, state in zip(outputs, states):
                output[index, :length] = state[0]
        return outputs

    def _run_layers(self, hidden, valid, num_layers) -> list[torch.Tensor]:
        """Outputs of the first `num_layers` transformer layers; families with other layers override this."""
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=valid)
        outputs = []
        for layer in self.encoder.layers[:num_layers]:
            hidden = layer(hidden, attention_mask=attention_mask)
            outputs.append(hidden)
        return outputs

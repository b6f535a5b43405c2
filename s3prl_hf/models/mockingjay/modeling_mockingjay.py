"""Mockingjay / TERA / Audio ALBERT with S3PRL's hidden states, built on transformers' `BertLayer`.

S3PRL (`upstream/mockingjay/{expert,builder,model}.py`, shared by the tera and audio_albert experts):

1. features per the checkpoint's `audio` config: either each utterance scaled to -25 dB, the batch zero-padded and
   transformed at once (`OnlinePreprocessor`: STFT, log-mel or linear, CMVN over S3PRL's rounded lengths), or kaldi
   features per utterance (fbank + deltas + CMVN) zero-padded afterwards;
2. frames longer than `sequence_length` are cut into `ceil(T / sequence_length)` chunks with `torch.chunk`, each
   encoded alone with positions restarting at 0;
3. per chunk: the frames whose features sum to non-zero are counted and the first that many attend (additive mask
   -10000); `LayerNorm(Linear(features) + sinusoid positions)`; BERT layers (post-LN; optionally pre-LN; Audio
   ALBERT applies one layer `num_hidden_layers` times);
4. hidden states = [input block output, layer 1, ..., layer L] (each through its own LayerNorm when pre-LN).

S3PRL's layers are BERT's layer for layer (same names, erf-GELU, TF-style LayerNorm with eps inside the square
root), so transformers' `BertLayer` holds the weights unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn
from transformers import initialization as init
from transformers.models.bert.modeling_bert import BertLayer

from ...frontends import (KaldiFeatures, StftFeatures, append_deltas, init_frontend_buffers,
                          utterance_cmvn)
from ...modeling_utils import UpstreamOutput, UpstreamPreTrainedModel, _check_inputs
from .configuration_mockingjay import SAMPLE_RATE, S3prlMockingjayConfig

# S3PRL's sinusoid table has this many rows (builder.py MAX_SEQLEN); longer chunks fail there.
MAX_SEQLEN = 24000
# Additive attention mask of padded frames, as S3PRL's TransformerModel.
MASK_VALUE = -10000.0


def normalize_decibel(wav: torch.Tensor, target_level: float) -> torch.Tensor:
    """Scale an utterance to `target_level` dB RMS (`TransformerBuilder._normalize_wav_decibel`)."""
    rms = wav.pow(2).mean().pow(0.5)
    return wav * ((10 ** (target_level / 20)) / (rms + 1e-10))


@lru_cache(maxsize=16)
def sinusoid_position_encoding(length: int, hidden_size: int) -> torch.Tensor:
    """S3PRL's position table (`get_sinusoid_table`): computed in float64, returned as float32 (length, hidden)."""
    if length > MAX_SEQLEN:
        raise ValueError(f"a chunk of {length} frames exceeds S3PRL's position table of {MAX_SEQLEN} frames; S3PRL "
                         f"fails on it too (set sequence_length to chunk long inputs)")
    exponent = torch.tensor([2 * (j // 2) / hidden_size for j in range(hidden_size)], dtype=torch.float64)
    angle = torch.arange(length, dtype=torch.float64)[:, None] / torch.pow(10000.0, exponent)[None, :]
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float()


class S3prlMockingjayFrontend(nn.Module):
    """S3PRL's on-the-fly input features of the mockingjay expert, from the checkpoint's `audio` config."""

    def __init__(self, config: S3prlMockingjayConfig):
        super().__init__()
        audio = config.audio_config
        self.kind = "kaldi" if "kaldi" in audio else "online"
        self.nan_cmvn = config.s3prl_nan_cmvn
        if self.kind == "kaldi":
            feat_type = audio["kaldi"]["feat_type"]
            self.kaldi = KaldiFeatures(feat_type, **audio["kaldi"][feat_type], sample_frequency=SAMPLE_RATE)
            self.delta, self.cmvn = dict(audio["delta"]), dict(audio["cmvn"])
        else:
            feature = audio["input"]
            self.stft = StftFeatures(sample_rate=audio["sample_rate"], win_ms=audio["win_ms"], hop_ms=audio["hop_ms"],
                                     n_freq=audio["n_freq"], n_mels=audio["n_mels"], feat_type=feature["feat_type"],
                                     log=feature["log"], delta=feature["delta"], cmvn=feature["cmvn"],
                                     eps=audio["eps"], nan_on_one_frame=config.s3prl_nan_cmvn)
            self.target_level = audio["target_level"]

    def num_frames(self, num_samples: int) -> int:
        """Frames of a batch whose longest utterance has `num_samples` samples (after S3PRL's padding)."""
        return self.kaldi.num_frames(num_samples) if self.kind == "kaldi" else self.stft.num_frames(num_samples)

    def forward(self, wavs: torch.Tensor, wavs_len: torch.Tensor) -> torch.Tensor:
        """(batch, frames, feature_dim) float32 features of a zero-padded batch, as S3PRL pads them."""
        wavs = wavs.float()
        lengths = wavs_len.tolist()
        if self.kind == "kaldi":
            feats = []
            for wav, length in zip(wavs, lengths):
                feat = append_deltas(self.kaldi(wav[:length]), self.delta["order"], self.delta["win_length"],
                                     self.delta["mode"])
                feats.append(utterance_cmvn(feat, dim=0, eps=self.cmvn["eps"], nan_on_one_frame=self.nan_cmvn)
                             if self.cmvn["use_cmvn"] else feat)
            return nn.utils.rnn.pad_sequence(feats, batch_first=True)
        # The STFT runs on the padded batch, so a shorter utterance's last frames see its zero padding.
        normed = [normalize_decibel(wav[:length], self.target_level) for wav, length in zip(wavs, lengths)]
        feats, _ = self.stft(nn.utils.rnn.pad_sequence(normed, batch_first=True), lengths)
        return feats


class S3prlMockingjayInputRepresentations(nn.Module):
    """`LayerNorm(Linear(features) + positions)`, S3PRL's `TransformerInputRepresentations`."""

    def __init__(self, config: S3prlMockingjayConfig):
        super().__init__()
        self.spec_transform = nn.Linear(config.feature_dim, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.LayerNorm(self.spec_transform(features) + positions))


class S3prlMockingjayEncoder(nn.Module):
    """The BERT layers (one, when shared) and, for pre-LN models, one LayerNorm per returned hidden state."""

    def __init__(self, config: S3prlMockingjayConfig):
        super().__init__()
        # Audio ALBERT: S3PRL lists the shared layer under every index; it is stored once.
        num_modules = 1 if config.share_layer else config.num_hidden_layers
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(num_modules)])
        if config.pre_layer_norm:
            self.LayerNorm = nn.ModuleList([nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
                                            for _ in range(config.num_hidden_layers + 1)])


def _pre_ln_layer(layer: BertLayer, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """S3PRL's pre-LN TransformerLayer on BertLayer's modules: LayerNorm before attention and FFN, plain residuals."""
    attention = layer.attention
    context, _ = attention.self(attention.output.LayerNorm(hidden), attention_mask=attention_mask)
    attention_output = attention.output.dropout(attention.output.dense(context)) + hidden
    intermediate = layer.intermediate(layer.output.LayerNorm(attention_output))
    return layer.output.dropout(layer.output.dense(intermediate)) + attention_output


class S3prlMockingjayModel(UpstreamPreTrainedModel):
    """Mockingjay / TERA / Audio ALBERT upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.mockingjay import S3prlMockingjayConfig, S3prlMockingjayModel
        >>> model = S3prlMockingjayModel(S3prlMockingjayConfig(hidden_size=32, num_hidden_layers=2,
        ...                              num_attention_heads=4, intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 100, 32]), [100, 50])
    """

    config_class = S3prlMockingjayConfig
    base_model_prefix = "s3prl_mockingjay"
    _no_split_modules = ["BertLayer"]
    _supports_sdpa = True

    def __init__(self, config: S3prlMockingjayConfig):
        super().__init__(config)
        self.frontend = S3prlMockingjayFrontend(config)
        self.input_representations = S3prlMockingjayInputRepresentations(config)
        self.encoder = S3prlMockingjayEncoder(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        # Windows and filterbanks are not saved; transformers leaves them uninitialised after loading.
        init_frontend_buffers(module, init.copy_)

    def _layer(self, index: int) -> BertLayer:
        return self.encoder.layer[0 if self.config.share_layer else index]

    def _encode(self, features: torch.Tensor, num_hidden_states: int) -> list[torch.Tensor]:
        """S3PRL's `process_input_data` + `TransformerModel` on one chunk of (batch, frames, dim) features."""
        batch, frames, _ = features.shape
        # S3PRL counts the frames whose features sum to non-zero and lets the first that many attend.
        valid_frames = (features.sum(dim=-1) != 0).long().sum(dim=-1)
        valid = torch.arange(frames, device=features.device)[None, :] < valid_frames[:, None]
        attention_mask = ((1.0 - valid.to(self.dtype)) * MASK_VALUE)[:, None, None, :]
        positions = sinusoid_position_encoding(frames, self.config.hidden_size).to(features.device, self.dtype)
        hidden = self.input_representations(features.to(self.dtype), positions)

        pre_ln = self.config.pre_layer_norm
        hidden_states = []
        for index in range(self.config.num_hidden_layers):
            if len(hidden_states) == num_hidden_states:
                return hidden_states
            hidden_states.append(self.encoder.LayerNorm[index](hidden) if pre_ln else hidden)
            layer = self._layer(index)
            hidden = _pre_ln_layer(layer, hidden, attention_mask) if pre_ln else layer(hidden, attention_mask)
        hidden_states.append(self.encoder.LayerNorm[-1](hidden) if pre_ln else hidden)
        return hidden_states

    def output_frames(self, num_samples: int) -> int:
        return self.frontend.num_frames(self.padded_samples(num_samples))

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features = self.frontend(wavs, wavs_len)
        frames = features.shape[1]
        max_frames = self.config.sequence_length
        if max_frames and frames > max_frames:
            # S3PRL's chunking: equal chunks of the batch's frames, positions restarting in each.
            chunks = torch.chunk(features, math.ceil(frames / max_frames), dim=1)
        else:
            chunks = (features,)
        encoded = [self._encode(chunk, num_hidden_states) for chunk in chunks]
        return [torch.cat(states, dim=1) for states in zip(*encoded)]

    def forward(self, wavs: torch.Tensor | Sequence[torch.Tensor], wavs_len: torch.Tensor | Sequence[int] | None = None,
                layers: Sequence[int] | None = None, normalize: bool | None = None) -> UpstreamOutput:
        """Extract hidden states as `S3PRLUpstream.forward` does; see `UpstreamPreTrainedModel.forward`.

        With `config.batch_invariant`, each utterance is run alone (as S3PRL would in a batch of one) and the
        results are zero-padded into one batch, so no utterance depends on the others.

        Example:
            >>> model.config.batch_invariant = True  # doctest: +SKIP
            >>> all_hs, all_hs_len = model(wavs, wavs_len)  # doctest: +SKIP
        """
        if not self.config.batch_invariant:
            return super().forward(wavs, wavs_len, layers=layers, normalize=normalize)
        wavs, wavs_len = _check_inputs(wavs, wavs_len)
        if wavs.shape[0] == 1:
            return super().forward(wavs, wavs_len, layers=layers, normalize=normalize)
        alone = [super(S3prlMockingjayModel, self).forward(wav[None, :length], wavs_len[i : i + 1], layers=layers,
                                                           normalize=normalize)
                 for i, (wav, length) in enumerate(zip(wavs, wavs_len.tolist()))]
        hidden_states, lengths = [], []
        for index in range(len(alone[0].hidden_states)):
            states = [out.hidden_states[index][0] for out in alone]
            hidden_states.append(nn.utils.rnn.pad_sequence(states, batch_first=True))
            lengths.append(torch.cat([out.hidden_states_lengths[index] for out in alone]))
        return UpstreamOutput(hidden_states=tuple(hidden_states), hidden_states_lengths=tuple(lengths))

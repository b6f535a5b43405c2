"""MAE-AST with S3PRL's hidden states, on transformers' HuBERT encoder layers.

S3PRL (`upstream/mae_ast/{expert,mae_ast}.py`, `MAE_AST.forward(mask=False, features_only=True)`):

1. per utterance, `torchaudio.compliance.kaldi.fbank(use_energy=False, num_mel_bins=feature_dim)` (povey window,
   25 / 10 ms, dither 0, no normalisation), zero-padded into a batch; a frame is padding past the utterance's
   frame count;
2. `BatchNorm2d(1, affine=False)` with its running statistics (eval mode), times 0.5; padded frames go through it
   too, so a token that straddles the end of an utterance sees their normalised zeros;
3. `nn.Unfold` patches (time-major, frequency-minor) and a linear projection;
4. the padding mask of the tokens (`forward_padding_mask`): nothing is padding unless some utterance is shorter
   than the batch in frames; then utterance i keeps `ceil(frames_i / kernel_size_time) * (128 // kernel_size_chan)`
   tokens, with 128 whatever the mel bins (a default argument);
5. with `enc_conv_pos` (no release uses it), padded tokens zeroed in place and a positional conv added; then
   the sinusoidal encoding of the flattened token index (not the time step), zero at padded tokens, when
   `enc_sine_pos`; the table is recomputed here exactly as S3PRL builds it, never stored;
6. the encoder: LayerNorm first if post-LN, then the layers with padded tokens masked as keys;
7. hidden states: every layer's output, reshaped to (batch, time steps, frequency patches * width).

fairseq's post-LN / pre-LN layers are transformers' `HubertEncoderLayer` / `HubertEncoderLayerStableLayerNorm`
weight for weight.

S3PRL fails (an assertion in `S3PRLUpstream`) when the longest utterance gives fewer than about half the frames it
expects; this model raises a `ValueError` saying so instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.hubert.modeling_hubert import (HubertEncoderLayer, HubertEncoderLayerStableLayerNorm,
                                                        HubertPositionalConvEmbedding)

from ...frontends import (KaldiFeatures, float32_on_cpu, init_frontend_buffers, kaldi_frame_sizes)
from ...length_matching import length_error, matchable
from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_mae_ast import PADDING_MASK_FEATURE_DIM, S3prlMaeAstConfig


def sinusoidal_positions(length: int, dim: int, start: int = 0) -> torch.Tensor:
    """Rows `start` to `start + length` of S3PRL's `SinusoidalPositionalEncoding.pe[0]` (float32, CPU), with its ops
    (element by element, so any slice equals the same rows of the whole table).

    Example:
        >>> sinusoidal_positions(3, 4)[1]
        tensor([0.8415, 0.5403, 0.0100, 0.9999])
    """
    with float32_on_cpu():
        position = torch.arange(start, start + length).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(length, dim, dtype=torch.float32)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
    return pe


class S3prlMaeAstEncoder(nn.Module):
    """LayerNorm and layers; the layer loop lives in the model so it can record states."""

    def __init__(self, config: S3prlMaeAstConfig):
        super().__init__()
        layer_class = HubertEncoderLayerStableLayerNorm if config.do_stable_layer_norm else HubertEncoderLayer
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([layer_class(config) for _ in range(config.num_hidden_layers)])


class S3prlMaeAstPreTrainedModel(UpstreamPreTrainedModel):
    config_class = S3prlMaeAstConfig
    base_model_prefix = "s3prl_mae_ast"
    _no_split_modules = ["HubertEncoderLayer", "HubertEncoderLayerStableLayerNorm"]
    _supports_sdpa = True

    def _init_weights(self, module):
        super()._init_weights(module)
        # The fbank window and filterbank are not saved; transformers leaves them uninitialised after loading.
        init_frontend_buffers(module, init.copy_)


class S3prlMaeAstModel(S3prlMaeAstPreTrainedModel):
    """MAE-AST encoder returning S3PRL's `num_hidden_layers` hidden states at `160 * stride_time` samples per frame.

    Example:
        >>> from s3prl_hf.models.mae_ast import S3prlMaeAstConfig, S3prlMaeAstModel
        >>> model = S3prlMaeAstModel(S3prlMaeAstConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                          intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (2, torch.Size([2, 50, 32]), [50, 25])
    """

    def __init__(self, config: S3prlMaeAstConfig):
        super().__init__(config)
        self.fbank = KaldiFeatures("fbank", num_mel_bins=config.num_mel_bins, use_energy=False,
                                   sample_frequency=config.sampling_rate)
        self.batch_norm = nn.BatchNorm2d(1, eps=config.batch_norm_eps, affine=False)
        self.post_extract_proj = nn.Linear(config.kernel_size_time * config.kernel_size_chan, config.hidden_size)
        if config.conv_positions:
            self.pos_conv_embed = HubertPositionalConvEmbedding(config)
        self.encoder = S3prlMaeAstEncoder(config)
        self.post_init()

    def _fbank(self, wavs: torch.Tensor, wavs_len: torch.Tensor) -> tuple[torch.Tensor, torch.LongTensor]:
        """(batch, frames, mel bins) float32 fbank, zero after each utterance, and the frames per utterance."""
        window_size = kaldi_frame_sizes(sample_frequency=self.config.sampling_rate)[0]
        if int(wavs_len.min()) < window_size:
            raise ValueError(f"MAE-AST's kaldi fbank needs at least {window_size} samples per utterance, got "
                             f"{wavs_len.tolist()} (torchaudio, and so S3PRL, fails on shorter ones)")
        feats = [self.fbank(wav[:length]) for wav, length in zip(wavs.float(), wavs_len.tolist())]
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.long, device=wavs.device)
        return nn.utils.rnn.pad_sequence(feats, batch_first=True), lengths

    def output_frames(self, num_samples: int) -> int:
        config = self.config
        frames = self.fbank.num_frames(self.padded_samples(num_samples))
        return max((frames - config.kernel_size_time) // config.stride_time + 1, 0)

    def _check_token_count(self, time_steps: int, num_samples: int) -> None:
        """Fail where S3PRL does: `S3PRLUpstream._match_length` asserts on too few time steps."""
        expected = -(-num_samples // self.downsample_rates[0])
        if time_steps < 1 or (time_steps < expected and not matchable(time_steps, expected)):
            raise length_error(self, num_samples, time_steps, 0)

    def _token_padding_mask(self, frame_lengths: torch.LongTensor, num_frames: int, num_tokens: int) -> torch.Tensor:
        """(batch, tokens) bool, True where S3PRL's `forward_padding_mask` marks a token as padding."""
        config = self.config
        padding = torch.zeros(len(frame_lengths), num_tokens, dtype=torch.bool, device=frame_lengths.device)
        if bool((frame_lengths == num_frames).all()):  # S3PRL's fast exit: no utterance padded at the last frame
            return padding
        keep = ((frame_lengths - 1) // config.kernel_size_time + 1) * (
            PADDING_MASK_FEATURE_DIM // config.kernel_size_chan)
        return torch.arange(num_tokens, device=frame_lengths.device)[None, :] >= keep[:, None]

    def _positions(self, num_tokens: int, padding: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """S3PRL's sinusoidal encoding of the token index, zero at padded tokens, as (batch, tokens, width)."""
        if num_tokens > self.config.max_token_length:
            raise ValueError(f"{num_tokens} MAE-AST tokens exceed the checkpoint's max_token_length "
                             f"{self.config.max_token_length} (S3PRL's positional table; S3PRL fails too)")
        pe = sinusoidal_positions(num_tokens, self.config.hidden_size).to(device=like.device, dtype=like.dtype)
        return pe[None].masked_fill(padding[..., None], 0.0)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        config = self.config
        features, frame_lengths = self._fbank(wavs, wavs_len)
        num_frames = features.shape[1]
        if num_frames < config.kernel_size_time:
            raise ValueError(f"the longest utterance gives {num_frames} fbank frames, fewer than the "
                             f"{config.kernel_size_time} of one MAE-AST patch (S3PRL fails too)")
        time_steps = (num_frames - config.kernel_size_time) // config.stride_time + 1
        self._check_token_count(time_steps, wavs.shape[1])

        x = self.batch_norm(features.to(self.dtype).unsqueeze(1)) * 0.5
        patches = F.unfold(x, kernel_size=(config.kernel_size_time, config.kernel_size_chan),
                           stride=(config.stride_time, config.stride_chan)).transpose(-1, -2)
        hidden = self.post_extract_proj(patches)
        num_tokens = hidden.shape[1]
        padding = self._token_padding_mask(frame_lengths, num_frames, num_tokens)
        if config.conv_positions:
            # S3PRL's `index_put` zeroes the padded tokens of the features themselves, not just the conv's input.
            hidden = hidden.masked_fill(padding[..., None], 0.0)
            hidden = hidden + self.pos_conv_embed(hidden)
        if config.sine_positions:
            hidden = hidden + self._positions(num_tokens, padding, hidden)

        if not config.do_stable_layer_norm:
            hidden = self.encoder.layer_norm(hidden)
        hidden = self.encoder.dropout(hidden)
        attention_mask = create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=~padding)
        states = []
        for layer in self.encoder.layers[:num_hidden_states]:
            hidden = layer(hidden, attention_mask=attention_mask)
            states.append(hidden.reshape(hidden.shape[0], time_steps, -1))
        return states

"""PaSST with S3PRL's hidden states, on transformers' `ASTLayer` (the pre-LN ViT block of timm's math).

What S3PRL computes is described in `configuration_passt`. Here every window of every pass is cut from the 32 kHz
batch at once and run through the network in chunks of windows (S3PRL loops over windows one at a time); each window
is processed alone, so the batching changes nothing but float rounding. The padded batch matters as in S3PRL: its
zeros and its reflect padding at the batch's end are part of a shorter utterance's last windows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.models.audio_spectrogram_transformer.modeling_audio_spectrogram_transformer import ASTLayer

from ...frontends.resample import resample
from ...frontends import Float32BuffersModule, init_frontend_buffers, kaldi_mel_banks
from ...modeling_utils import UpstreamPreTrainedModel
from ..ast.modeling_ast import S3prlAstHead
from .configuration_passt import (LOG_OFFSET, MEL_FMAX, MEL_FMIN, MODEL_SAMPLE_RATE, N_FFT, NORM_SCALE, NORM_SHIFT,
                                  NUM_MEL_BINS, NUM_SPECIAL_TOKENS, PREEMPHASIS, SAMPLE_RATE, WIN_LENGTH,
                                  S3prlPasstConfig)

# Windows per network call are chosen so that one call's STFT holds about this many (complex) bins.
MAX_STFT_BINS_PER_CALL = 1 << 22


class PasstMelSpectrogram(Float32BuffersModule):
    """hear21passt's `AugmentMelSTFT` in eval mode (no frequency / time masking, no random mel range).

    Example:
        >>> mel = PasstMelSpectrogram(hop_length=320)
        >>> mel(torch.zeros(2, 5120)).shape
        torch.Size([2, 128, 16])
    """

    def __init__(self, hop_length: int):
        super().__init__()
        self.hop_length = hop_length
        self._register_computed_buffers()

    def _buffer_values(self) -> dict[str, torch.Tensor]:
        # torchaudio's kaldi filterbank covers the n_fft // 2 bins below Nyquist; AugmentMelSTFT pads a zero column
        mel_basis = kaldi_mel_banks(NUM_MEL_BINS, N_FFT, float(MODEL_SAMPLE_RATE), MEL_FMIN, MEL_FMAX)
        return {"window": torch.hann_window(WIN_LENGTH, periodic=False),
                "preemphasis": torch.tensor([[[-PREEMPHASIS, 1.0]]]),
                "mel_basis": F.pad(mel_basis, (0, 1))}

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        """(N, samples) float32 at 32 kHz -> (N, 128, frames) normalised log-mel."""
        x = F.conv1d(wavs.unsqueeze(1), self.preemphasis).squeeze(1)
        x = torch.stft(x, N_FFT, hop_length=self.hop_length, win_length=WIN_LENGTH, center=True, normalized=False,
                       window=self.window, return_complex=True)
        power = (torch.view_as_real(x) ** 2).sum(dim=-1)
        mel = torch.matmul(self.mel_basis, power)
        return ((mel + LOG_OFFSET).log() + NORM_SHIFT) / NORM_SCALE


class PasstEmbeddings(nn.Module):
    """Patch projection, PaSST's frequency / time positional embeddings and the class / distillation tokens."""

    def __init__(self, config: S3prlPasstConfig):
        super().__init__()
        hidden = config.hidden_size
        self.patch_embeddings = nn.Module()
        self.patch_embeddings.projection = nn.Conv2d(1, hidden, kernel_size=tuple(config.patch_size),
                                                     stride=(config.frequency_stride, config.time_stride))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, hidden))
        # timm PaSST's new_pos_embed (the two tokens), freq_new_pos_embed and time_new_pos_embed
        self.special_position_embeddings = nn.Parameter(torch.zeros(1, NUM_SPECIAL_TOKENS, hidden))
        self.frequency_position_embeddings = nn.Parameter(torch.zeros(1, hidden, config.frequency_patches, 1))
        self.time_position_embeddings = nn.Parameter(torch.zeros(1, hidden, 1, config.time_patches))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """(N, mel, frames) -> (N, 2 + f * t, D) tokens, patches in (frequency, time) row-major order."""
        x = self.patch_embeddings.projection(spectrogram.unsqueeze(1))
        x = x + self.time_position_embeddings[..., : x.shape[-1]]
        x = x + self.frequency_position_embeddings
        x = x.flatten(2).transpose(1, 2)
        n = x.shape[0]
        cls = self.cls_token.expand(n, -1, -1) + self.special_position_embeddings[:, :1]
        dist = self.distillation_token.expand(n, -1, -1) + self.special_position_embeddings[:, 1:]
        return self.dropout(torch.cat([cls, dist, x], dim=1))


def timestamp_segments(audio: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """(B, samples) -> (B, windows, window): the wrapper's reflect padding by `window // 2` and its `F.unfold`."""
    pad = window // 2
    padded = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    return padded.unfold(-1, window, hop)


class S3prlPasstModel(UpstreamPreTrainedModel):
    """PaSST upstream with S3PRL's hidden state: per timestamp window, `[logits, features]` of each pass and, for
    the mel entries, the window's mel spectrogram.

    Example:
        >>> from s3prl_hf.models.passt import S3prlPasstConfig, S3prlPasstModel
        >>> config = S3prlPasstConfig(hidden_size=24, num_hidden_layers=2, intermediate_size=48, num_labels=10)
        >>> model = S3prlPasstModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> all_hs[0].shape, all_hs_len[0].tolist()
        (torch.Size([2, 20, 34]), [20, 10])
    """

    config_class = S3prlPasstConfig
    base_model_prefix = "s3prl_passt"
    _no_split_modules = ["ASTLayer"]
    _supports_sdpa = True

    def __init__(self, config: S3prlPasstConfig):
        super().__init__(config)
        self.mel = PasstMelSpectrogram(config.mel_hop_length)
        self.embeddings = PasstEmbeddings(config)
        self.layers = nn.ModuleList([ASTLayer(config) for _ in range(config.num_hidden_layers)])
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.classifier = S3prlAstHead(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        # The mel window and filterbank are not saved; transformers leaves them uninitialised after loading.
        init_frontend_buffers(module, init.copy_)
        if isinstance(module, PasstEmbeddings):
            for parameter in (module.cls_token, module.distillation_token, module.special_position_embeddings,
                              module.frequency_position_embeddings, module.time_position_embeddings):
                init.trunc_normal_(parameter, std=0.02)

    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, samples) 32 kHz windows -> (N, num_labels + hidden_size): `PasstBasicWrapper.forward` (mode "all")."""
        x = self.embeddings(self.mel(windows).to(self.dtype))
        for layer in self.layers:
            x = layer(x)
        x = self.layernorm(x)
        features = (x[:, 0] + x[:, 1]) / 2
        return torch.cat([self.classifier(features), features], dim=-1)

    def _windowed(self, audio: torch.Tensor, window: int, embed) -> torch.Tensor:
        """`embed` of every timestamp window of `audio`, (B, windows, dim), in chunks of windows."""
        segments = timestamp_segments(audio, window, self.config.timestamp_hop)
        batch, count, _ = segments.shape
        per_call = max(1, MAX_STFT_BINS_PER_CALL // (batch * self.config.window_frames(window) * (N_FFT // 2 + 1)))
        outputs = []
        for start in range(0, count, per_call):
            chunk = segments[:, start : start + per_call]
            outputs.append(embed(chunk.reshape(-1, window)).reshape(batch, chunk.shape[1], -1))
        return torch.cat(outputs, dim=1)

    def check_length(self, num_samples: int) -> None:
        """Raise the ValueError that stands for S3PRL's failure on a batch shorter than its largest window needs."""
        shortest = self.config.min_input_samples
        if num_samples < shortest:
            raise ValueError(
                f"PaSST needs the longest utterance of a batch to have at least {shortest} samples "
                f"({shortest / SAMPLE_RATE:g} s) with these windows, got {num_samples}: S3PRL reflect-pads the "
                f"32 kHz batch by half its largest window, which fails on a shorter batch. Pad the batch or "
                f"batch the utterance with longer ones")

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        config = self.config
        self.check_length(wavs.shape[1])
        audio = resample(wavs.float(), SAMPLE_RATE, MODEL_SAMPLE_RATE)
        parts = [self._windowed(audio, window, self.embed_windows) for window in config.timestamp_windows]
        if config.mel_window_samples is not None:
            parts.append(self._windowed(audio, config.mel_window_samples,
                                        lambda windows: self.mel(windows).flatten(1).to(self.dtype)))
        counts = {part.shape[1] for part in parts}
        if len(counts) > 1:
            raise ValueError(f"the windows of this configuration ({config.timestamp_windows}, mel "
                             f"{config.mel_window_samples}) give {sorted(counts)} frames for a batch of "
                             f"{wavs.shape[1]} samples, which S3PRL cannot concatenate (odd and even windows)")
        frames, expected = counts.pop(), -(-wavs.shape[1] // config.downsample_rates[0])
        if frames // expected != 1:
            # len // stride + 1 windows for ceil(len / stride) frames: two for one when the batch is one stride long
            raise ValueError(f"a batch of {wavs.shape[1]} samples gives {frames} windows for {expected} expected "
                             f"frame(s) of {config.downsample_rates[0]} samples; S3PRLUpstream's length matching "
                             f"asserts on it. Pad the batch")
        return [torch.cat(parts, dim=-1)]

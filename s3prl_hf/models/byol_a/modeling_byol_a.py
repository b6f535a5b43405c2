"""BYOL-A with S3PRL's hidden state (S3PRL's `upstream/byol_a/{expert,byol_a}.py`).

S3PRL's expert, for a batch whose longest utterance has T samples:

1. zero-pads every utterance to `starts[-1] + window` samples, `starts = range(0, T, stride)` (1 s and 1 s);
2. for each window of each utterance, torchaudio's `MelSpectrogram` (power 2, centred, reflect padding inside the
   window), `log(x + finfo(float32).eps)` and `(x - mean) / std` with the fixed statistics of the expert;
3. AudioNTT2020 on every window: conv blocks, then an MLP on each time step, then max + mean over time;
4. one hidden state: (B, number of windows, hidden_size), 16000 samples per frame.

The windows of a shorter utterance past its end hold only zeros (its padding), as in S3PRL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from ...frontends import Float32BuffersModule, init_frontend_buffers, melscale_fbanks
from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_byol_a import S3prlByolAConfig, audio_ntt_fc_input

# torch.finfo(torch.float).eps, added before the log by both BYOL experts.
LOG_EPSILON = torch.finfo(torch.float32).eps


class TorchaudioMelSpectrogram(Float32BuffersModule):
    """`torchaudio.transforms.MelSpectrogram` with its defaults (periodic Hann window, power 2, centred STFT with
    reflect padding, HTK mel scale without norm), in pure torch.

    Example:
        >>> mel = TorchaudioMelSpectrogram(16000, n_fft=1024, win_length=400, hop_length=160, n_mels=64,
        ...                                f_min=60.0, f_max=7800.0)
        >>> mel(torch.randn(3, 16000)).shape
        torch.Size([3, 64, 101])
    """

    def __init__(self, sample_rate: int, n_fft: int, win_length: int, hop_length: int, n_mels: int, f_min: float,
                 f_max: float):
        super().__init__()
        self.sample_rate, self.n_fft, self.win_length, self.hop_length = sample_rate, n_fft, win_length, hop_length
        self.n_mels, self.f_min, self.f_max = n_mels, float(f_min), float(f_max)
        self._register_computed_buffers()

    def _buffer_values(self) -> dict[str, torch.Tensor]:
        return {"window": torch.hann_window(self.win_length),
                "mel_fb": melscale_fbanks(self.n_fft // 2 + 1, self.f_min, self.f_max, self.n_mels, self.sample_rate)}

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        """(N, samples) waveforms -> (N, n_mels, frames) float32 mel power spectrograms."""
        spec = torch.stft(wavs.float(), self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window.float(), center=True, pad_mode="reflect", normalized=False,
                          onesided=True, return_complex=True)
        power = spec.abs().pow(2.0)
        return torch.matmul(power.transpose(-1, -2), self.mel_fb.float()).transpose(-1, -2)


class S3prlAudioNTT2020(nn.Module):
    """AudioNTT2020 (BYOL-A's and BYOL-S `default`'s network); S3PRL's module names (`features`, `fc`).

    (N, 1, n_mels, frames) log-mel windows -> (N, hidden_size): max + mean over time of the per-step MLP output.
    """

    def __init__(self, conv_channels, hidden_size: int, n_mels: int, dropout: float):
        super().__init__()
        layers, in_channels = [], 1
        for channels in conv_channels:
            layers += [nn.Conv2d(in_channels, channels, 3, stride=1, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
                       nn.MaxPool2d(2, stride=2)]
            in_channels = channels
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(audio_ntt_fc_input(conv_channels, n_mels), hidden_size), nn.ReLU(),
                                nn.Dropout(p=dropout), nn.Linear(hidden_size, hidden_size), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (batch, ch, mel, time)
        x = x.permute(0, 3, 2, 1)  # (batch, time, mel, ch)
        batch, time, mel, channels = x.shape
        x = self.fc(x.reshape(batch, time, channels * mel))
        return x.amax(dim=1) + x.mean(dim=1)


class S3prlLogMelPreTrainedModel(UpstreamPreTrainedModel):
    """Shared by BYOL-A and BYOL-S: the mel filterbank and window are recomputed, never saved."""

    def _init_weights(self, module):
        super()._init_weights(module)
        init_frontend_buffers(module, init.copy_)


class S3prlByolAModel(S3prlLogMelPreTrainedModel):
    """BYOL-A upstream returning S3PRL's single hidden state: one embedding per 1 s window.

    Example:
        >>> from s3prl_hf.models.byol_a import S3prlByolAConfig, S3prlByolAModel
        >>> model = S3prlByolAModel(S3prlByolAConfig(hidden_size=16, conv_channels=[4, 4, 4])).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 24000), torch.tensor([24000, 8000]))
        >>> all_hs[0].shape, all_hs_len[0].tolist()
        (torch.Size([2, 2, 16]), [2, 1])
    """

    config_class = S3prlByolAConfig
    base_model_prefix = "s3prl_byol_a"

    def __init__(self, config: S3prlByolAConfig):
        super().__init__(config)
        self.frontend = TorchaudioMelSpectrogram(config.sampling_rate, config.n_fft, config.win_length,
                                                 config.hop_length, config.n_mels, config.f_min, config.f_max)
        self.encoder = S3prlAudioNTT2020(config.conv_channels, config.hidden_size, config.n_mels,
                                         config.hidden_dropout)
        self.post_init()

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        config = self.config
        window = int(config.window_secs * config.sampling_rate)
        stride = int(config.stride_secs * config.sampling_rate)
        batch, samples = wavs.shape
        starts = range(0, samples, stride)
        wavs = F.pad(wavs.float(), (0, max(0, starts[-1] + window - samples)))
        segments = torch.stack([wavs[:, start : start + window] for start in starts])  # (windows, B, window)
        mel = self.frontend(segments.reshape(-1, window))
        # S3PRL's PrecomputedNorm with Python-float statistics
        features = ((mel + LOG_EPSILON).log() - config.norm_mean) / config.norm_std
        embeddings = self.encoder(features.unsqueeze(1).to(self.dtype))
        return [embeddings.reshape(len(starts), batch, -1).transpose(0, 1)]

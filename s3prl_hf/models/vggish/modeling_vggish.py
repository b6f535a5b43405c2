"""VGGish with S3PRL's hidden state (S3PRL's `upstream/vggish/{expert,audio,vggish}.py`).

S3PRL, per utterance (no batching):

1. `waveform_to_examples` (numpy): the float32 waveform framed (400 / 160 samples), times a periodic Hann window in
   float64, `|rfft|` of 512 points, an HTK mel matrix (64 bands, 125-7500 Hz, DC bin zeroed), `log(mel + 0.01)`;
   then examples of 96 frames with hop 96, incomplete ones dropped; cast to float32. Here: the same in torch, float64.
2. the VGG conv stack on the (n_examples, 1, 96, 64) examples, a transpose to (H, W, C) order, three linear + ReLU;
3. the `Postprocessor`: `mm(E, x.T - means).T`, clamp to [-2, 2], `round((x + 2) * 255 / 4)`: integer levels
   0..255 (the gradient through the rounding is zero);
4. the expert zero-pads the utterances' examples into a batch: the only hidden state, (B, n_examples, 128).

`S3PRLUpstream` reports a stride of 16000 samples (an example covers 15360), so it repeats the last example or
truncates to `ceil(len / 16000)` frames, and lengths are `ceil(len / 16000)`; a valid frame past an utterance's own
examples is the zero padding of step 4. Two S3PRL failures become `ValueError`s here: an utterance shorter than one
example (< 15600 samples = 0.975 s; S3PRL fails in `view` on zero examples, or in numpy for < 240 samples), and a
longest utterance of 16001..30959 samples (one example for an expected 2 frames; S3PRL's `_match_length` asserts).

The conv stack runs on each utterance's examples separately, as S3PRL does, so that the float32 results (and with
them the rounded levels) are the same as S3PRL's on the same machine.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import initialization as init

from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_vggish import S3prlVggishConfig

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _linspace(start: float, stop: float, num: int) -> torch.Tensor:
    """numpy's `linspace` (start + i * step, last value exactly `stop`), in float64."""
    values = torch.arange(num, dtype=torch.float64) * ((stop - start) / (num - 1)) + start
    values[-1] = stop
    return values


def _hertz_to_mel(hertz):
    if isinstance(hertz, torch.Tensor):
        return _MEL_HIGH_FREQUENCY_Q * torch.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)
    return _MEL_HIGH_FREQUENCY_Q * math.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)


def mel_matrix(num_mel_bins: int, num_spectrogram_bins: int, sample_rate: int, lower_hz: float,
               upper_hz: float) -> torch.Tensor:
    """`audio.py:spectrogram_to_mel_matrix` in float64: (num_spectrogram_bins, num_mel_bins).

    Example:
        >>> mel_matrix(64, 257, 16000, 125.0, 7500.0).shape
        torch.Size([257, 64])
    """
    bins_mel = _hertz_to_mel(_linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = _linspace(_hertz_to_mel(float(lower_hz)), _hertz_to_mel(float(upper_hz)), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slope = (bins_mel[:, None] - lower) / (center - lower)
    upper_slope = (upper - bins_mel[:, None]) / (upper - center)
    weights = torch.clamp(torch.minimum(lower_slope, upper_slope), min=0.0)
    weights[0, :] = 0.0  # HTK excludes the DC bin
    return weights


def periodic_hann(window_length: int) -> torch.Tensor:
    """`audio.py:periodic_hann` in float64."""
    return 0.5 - 0.5 * torch.cos(2 * math.pi / window_length * torch.arange(window_length, dtype=torch.float64))


def log_mel_frames(config: S3prlVggishConfig, wavs: torch.Tensor) -> torch.Tensor:
    """(B, frames, num_mel_bins) float64 log-mel of a padded batch; frame t of utterance i only reads its samples
    when `t < 1 + (len_i - window) // hop`."""
    frames = wavs.to(torch.float64).unfold(-1, config.stft_window_length, config.stft_hop_length)
    window = periodic_hann(config.stft_window_length).to(frames.device)
    spectrum = torch.fft.rfft(frames * window, n=config.fft_length).abs()
    mel = mel_matrix(config.num_mel_bins, spectrum.shape[-1], config.sampling_rate, config.mel_min_hz,
                     config.mel_max_hz).to(frames.device)
    return torch.log(torch.matmul(spectrum, mel) + config.log_offset)


def num_examples(config: S3prlVggishConfig, wavs_len: torch.Tensor) -> torch.Tensor:
    """Complete examples per utterance (`frame()` of audio.py, applied twice, without padding)."""
    frames = torch.div(wavs_len - config.stft_window_length, config.stft_hop_length, rounding_mode="floor") + 1
    return torch.div(frames - config.example_window_frames, config.example_hop_frames, rounding_mode="floor") + 1


def make_layers(features_config) -> nn.Sequential:
    """S3PRL's `make_layers`: conv 3x3 (padding 1) + ReLU per int, 2x2 max-pool per "M" (same module indices)."""
    layers, in_channels = [], 1
    for value in features_config:
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, value, kernel_size=3, padding=1), nn.ReLU()]
            in_channels = value
    return nn.Sequential(*layers)


class S3prlVggishPostprocessor(nn.Module):
    """S3PRL's `Postprocessor`: PCA, clamp and 8-bit quantisation (buffers in S3PRL's shapes)."""

    def __init__(self, config: S3prlVggishConfig):
        super().__init__()
        self.register_buffer("pca_eigen_vectors", torch.eye(config.pca_size, config.embedding_sizes[-1]))
        self.register_buffer("pca_means", torch.zeros(config.embedding_sizes[-1], 1))
        self.min_val, self.max_val = float(config.quantize_min_val), float(config.quantize_max_val)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        pca_applied = torch.mm(self.pca_eigen_vectors, embeddings.t() - self.pca_means).t()
        clipped = torch.clamp(pca_applied, self.min_val, self.max_val)
        return torch.round((clipped - self.min_val) * (255.0 / (self.max_val - self.min_val)))


class S3prlVggishModel(UpstreamPreTrainedModel):
    """VGGish upstream returning S3PRL's single hidden state: quantised 128-dim embeddings, one per 0.96 s example.

    Example:
        >>> from s3prl_hf.models.vggish import S3prlVggishConfig, S3prlVggishModel
        >>> model = S3prlVggishModel(S3prlVggishConfig(features_config=[4, "M", 8, "M", 8, "M", 8, "M"],
        ...                                            embedding_sizes=[16, 16, 8], pca_size=8)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 40000) * 0.1, torch.tensor([40000, 20000]))
        >>> all_hs[0].shape, all_hs_len[0].tolist()
        (torch.Size([2, 3, 8]), [3, 2])
    """

    config_class = S3prlVggishConfig
    base_model_prefix = "s3prl_vggish"

    def __init__(self, config: S3prlVggishConfig):
        super().__init__(config)
        self.features = make_layers(config.features_config)
        sizes = [config.flattened_size] + list(config.embedding_sizes)
        layers = []
        for in_size, out_size in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(in_size, out_size), nn.ReLU()]
        self.embeddings = nn.Sequential(*layers)
        self.pproc = S3prlVggishPostprocessor(config)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, S3prlVggishPostprocessor):
            init.eye_(module.pca_eigen_vectors)
            init.zeros_(module.pca_means)

    def embed(self, examples: torch.Tensor) -> torch.Tensor:
        """S3PRL's `VGG.forward` on (n, 1, frames, bands) examples: the embeddings before the postprocessor."""
        hidden = self.features(examples)
        hidden = hidden.transpose(1, 3).transpose(1, 2).contiguous()  # TensorFlow's (H, W, C) order
        return self.embeddings(hidden.reshape(hidden.shape[0], -1))

    def examples(self, wavs: torch.Tensor, wavs_len: torch.Tensor) -> list[torch.Tensor]:
        """Each utterance's (n_examples, 1, frames, bands) float32 log-mel examples, as `waveform_to_examples`."""
        config = self.config
        self.check_lengths(wavs_len)
        log_mel = log_mel_frames(config, wavs)
        out = []
        for row, count in zip(log_mel, num_examples(config, wavs_len).tolist()):
            starts = torch.arange(count, device=row.device) * config.example_hop_frames
            index = starts[:, None] + torch.arange(config.example_window_frames, device=row.device)
            out.append(row[index].to(torch.float32)[:, None])
        return out

    def check_lengths(self, wavs_len: torch.Tensor) -> None:
        """Raise the ValueError that stands for S3PRL's failure on utterances shorter than one example."""
        shortest = int(wavs_len.min())
        if shortest < self.config.min_input_samples:
            raise ValueError(
                f"VGGish needs at least {self.config.min_input_samples} samples "
                f"({self.config.min_input_samples / self.config.sampling_rate:g} s) per utterance for one complete "
                f"example, got an utterance of {shortest}; S3PRL fails on it (no example to embed). Pad or drop "
                f"shorter utterances")

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        config = self.config
        examples = self.examples(wavs, wavs_len)
        most = max(e.shape[0] for e in examples)
        expected = -(-wavs.shape[1] // config.downsample_rate)
        if expected // most != 1 and most // expected != 1:
            raise ValueError(
                f"S3PRL cannot return VGGish features for this batch: its longest utterance ({wavs.shape[1]} "
                f"samples) gives {most} example(s) of {config.example_window_frames * config.stft_hop_length} "
                f"samples for {expected} expected frames of {config.downsample_rate} (S3PRLUpstream._match_length "
                f"asserts); with S3PRL's values this is any longest utterance of 16001..30959 samples")
        outputs = []
        for utterance in examples:
            embeddings = self.embed(utterance.to(self.dtype))
            outputs.append(self.pproc(embeddings))
        return [nn.utils.rnn.pad_sequence(outputs, batch_first=True)]

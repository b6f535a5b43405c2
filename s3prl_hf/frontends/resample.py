"""Resampling in pure torch: `torchaudio.functional.resample`'s band-limited sinc interpolation, same numbers.

Models whose S3PRL expert resamples (PaSST runs at 32 kHz) and the extraction of audio at other rates use it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int, lowpass_filter_width: int = 6,
             rolloff: float = 0.99) -> torch.Tensor:
    """Resample the last dimension from `orig_rate` to `new_rate` Hz (band-limited sinc interpolation).

    The algorithm and defaults of `torchaudio.functional.resample` (`sinc_interp_hann`), in plain torch.
    The output has `ceil(T * new_rate / orig_rate)` samples.

    Example:
        >>> resample(torch.zeros(8000), 8000, 16000).shape
        torch.Size([16000])
    """
    if orig_rate <= 0 or new_rate <= 0 or int(orig_rate) != orig_rate or int(new_rate) != new_rate:
        raise ValueError(f"sampling rates must be positive integers, got {orig_rate} and {new_rate}")
    if orig_rate == new_rate:
        return wav
    gcd = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // gcd, int(new_rate) // gcd
    kernel, width = _sinc_kernel(orig, new, lowpass_filter_width, rolloff)
    kernel = kernel.to(device=wav.device, dtype=wav.dtype)
    shape = wav.shape
    flat = wav.reshape(-1, shape[-1])
    length = flat.shape[-1]
    padded = F.pad(flat, (width, width + orig))
    # Each of the `new` kernels produces one output phase; strided by `orig` input samples.
    out = F.conv1d(padded[:, None], kernel, stride=orig)  # (N, new, frames)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    target = math.ceil(new * length / orig)
    return out[:, :target].reshape(*shape[:-1], target)


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float) -> tuple[torch.Tensor, int]:
    """The polyphase filter bank: `new` windowed-sinc kernels of `2 * width + orig` taps (float64 math)."""
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float64)[:, None, None] / new + idx
    t = (t * base_freq).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    kernel = sinc * window * (base_freq / orig)
    return kernel, width


def resampled_length(num_samples: int, orig_rate: int, new_rate: int) -> int:
    """How many samples `resample` returns for `num_samples` input samples."""
    if orig_rate == new_rate:
        return num_samples
    gcd = math.gcd(int(orig_rate), int(new_rate))
    return math.ceil((new_rate // gcd) * num_samples / (orig_rate // gcd))

"""Audio frontends in pure torch, with the numerics of the torchaudio code that S3PRL calls.

S3PRL computes the input features of several upstreams with torchaudio (2.11 today). This module redoes that
computation op for op, so the features equal torchaudio's to float rounding, without torchaudio at runtime:

- functional pieces of `torchaudio.functional`: `melscale_fbanks`, `create_dct`, `compute_deltas`;
- `KaldiFeatures`: `torchaudio.compliance.kaldi.fbank` / `spectrogram` / `mfcc` with all their options
  (window types, pre-emphasis, DC removal, energy, snip_edges, power-of-two FFT, htk_compat, ...);
- `StftFeatures`: S3PRL's `upstream/baseline/preprocessor.py:OnlinePreprocessor` (torch.stft + torchaudio
  `MelScale` / `MFCC`, log, deltas and per-utterance CMVN with S3PRL's length rounding), used by Mockingjay / TERA /
  Audio ALBERT and the mel / linear baselines;
- `StftMagnitude`: S3PRL's `upstream/log_stft/expert.py:Spectrogram` (per-utterance STFT magnitude, optional log);
- `utterance_cmvn` and `append_deltas`, as S3PRL's `upstream/baseline/extracter.py` applies them.

Windows and filterbanks are non-persistent buffers: they are not weights and are never saved. Each module
exposes `buffer_values()`, the freshly computed float32 values, which a model's `_init_weights` copies in
(transformers 5 builds models on the meta device and leaves non-persistent buffers uninitialised otherwise).
Features are always computed in float32, as S3PRL does, whatever the model's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

# torch.finfo(torch.float).eps, the floor kaldi applies before every log (torchaudio's EPSILON).
KALDI_EPSILON = torch.finfo(torch.float32).eps
MILLISECONDS_TO_SECONDS = 0.001

# ------------------------------------------------------------------------------------------------------------------
# torchaudio.functional
# ------------------------------------------------------------------------------------------------------------------


def hz_to_mel(freq: float, mel_scale: str = "htk") -> float:
    """Hz to mels on a Python float (`torchaudio.functional.functional._hz_to_mel`)."""
    if mel_scale == "htk":
        return 2595.0 * math.log10(1.0 + (freq / 700.0))
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    if freq >= min_log_hz:
        mels = min_log_mel + math.log(freq / min_log_hz) / logstep
    return mels


def mel_to_hz(mels: torch.Tensor, mel_scale: str = "htk") -> torch.Tensor:
    """Mels to Hz on a tensor (`torchaudio.functional.functional._mel_to_hz`)."""
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * torch.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                    norm: str | None = None, mel_scale: str = "htk") -> torch.Tensor:
    """Triangular mel filterbank of shape (n_freqs, n_mels), as `torchaudio.functional.melscale_fbanks`.

    Example:
        >>> melscale_fbanks(201, 0.0, 8000.0, 80, 16000).shape
        torch.Size([201, 80])
    """
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs, device="cpu")
    m_pts = torch.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2, device="cpu")
    f_pts = mel_to_hz(m_pts, mel_scale)
    # Overlapping triangles from the differences between filter mid points and FFT bin frequencies (librosa's).
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up_slopes = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1, device="cpu"), torch.min(down_slopes, up_slopes))
    if norm == "slaney":
        fb *= (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


def create_dct(n_mfcc: int, n_mels: int, norm: str | None) -> torch.Tensor:
    """DCT-II matrix of shape (n_mels, n_mfcc), as `torchaudio.functional.create_dct`."""
    if norm not in (None, "ortho"):
        raise ValueError(f"norm must be None or 'ortho', got {norm!r}")
    n = torch.arange(float(n_mels), device="cpu")
    k = torch.arange(float(n_mfcc), device="cpu").unsqueeze(1)
    dct = torch.cos(math.pi / float(n_mels) * (n + 0.5) * k)
    if norm is None:
        dct *= 2.0
    else:
        dct[0] *= 1.0 / math.sqrt(2.0)
        dct *= math.sqrt(2.0 / float(n_mels))
    return dct.t()


def compute_deltas(specgram: torch.Tensor, win_length: int = 5, mode: str = "replicate") -> torch.Tensor:
    """Delta coefficients along the last (time) axis, as `torchaudio.functional.compute_deltas`.

    Args:
        specgram: (..., freq, time) features.
        win_length: Odd window length, at least 3.
        mode: Padding mode at both ends of time.

    Example:
        >>> compute_deltas(torch.arange(5.0)[None]).tolist()
        [[0.5, 0.800000011920929, 1.0, 0.800000011920929, 0.5]]
    """
    if win_length < 3:
        raise ValueError(f"win_length must be at least 3, got {win_length}")
    shape = specgram.size()
    specgram = specgram.reshape(1, -1, shape[-1])
    n = (win_length - 1) // 2
    denom = n * (n + 1) * (2 * n + 1) / 3  # twice the sum of squared offsets
    specgram = F.pad(specgram, (n, n), mode=mode)
    kernel = torch.arange(-n, n + 1, 1, device=specgram.device, dtype=specgram.dtype).repeat(specgram.shape[1], 1, 1)
    return (F.conv1d(specgram, kernel, groups=specgram.shape[1]) / denom).reshape(shape)


def append_deltas(features: torch.Tensor, order: int, win_length: int = 5, mode: str = "replicate") -> torch.Tensor:
    """Concatenate `order` successive deltas to (time, dim) features, as S3PRL's baseline `Delta` module.

    Returns:
        (time, dim * (order + 1)) features: [x, delta(x), delta(delta(x)), ...].

    Example:
        >>> append_deltas(torch.zeros(7, 80), order=2).shape
        torch.Size([7, 240])
    """
    feats = [features]
    for _ in range(order):
        delta = compute_deltas(feats[-1].transpose(0, 1).unsqueeze(0), win_length, mode)
        feats.append(delta.squeeze(0).transpose(0, 1))
    return torch.cat(feats, dim=-1)


def utterance_cmvn(features: torch.Tensor, dim: int = 0, eps: float = 1e-10, nan_on_one_frame: bool = False
                   ) -> torch.Tensor:
    """Mean and variance normalisation over `dim`: `(x - mean) / (std + eps)` with the unbiased std, as S3PRL.

    An utterance of a single frame has no unbiased std: S3PRL divides by NaN and returns NaN, which then spreads
    through the model. Here its frame comes out as zeros (its deviation from its own mean, as with any std), unless
    `nan_on_one_frame` asks for S3PRL's NaN. Utterances of two frames or more are S3PRL's numbers either way.

    Example:
        >>> utterance_cmvn(torch.tensor([[1.0, 2.0]])), utterance_cmvn(torch.tensor([[1.0, 2.0]]), nan_on_one_frame=True)
        (tensor([[0., 0.]]), tensor([[nan, nan]]))
    """
    if features.shape[dim] <= 1 and not nan_on_one_frame:
        return features - features.mean(dim=dim, keepdim=True) if features.shape[dim] else features
    return (features - features.mean(dim=dim, keepdim=True)) / (eps + features.std(dim=dim, keepdim=True))


# ------------------------------------------------------------------------------------------------------------------
# Buffers
# ------------------------------------------------------------------------------------------------------------------


@contextmanager
def float32_on_cpu():
    """Compute buffer values on the CPU in float32, whatever device / default dtype a model is being built with."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.device("cpu"):
            yield
    finally:
        torch.set_default_dtype(dtype)


class Float32BuffersModule(nn.Module):
    """A module whose buffers stay float32 when the model is cast (`.to(torch.bfloat16)`, `.half()`, `dtype=`).

    S3PRL computes features in float32; a window or filterbank rounded to bfloat16 would change them far more than
    the model's own rounding. Device moves apply as usual.
    """

    def buffer_values(self) -> dict[str, torch.Tensor]:
        """Freshly computed values of the non-persistent buffers (float32, CPU)."""
        with float32_on_cpu():
            return self._buffer_values()

    def _buffer_values(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _register_computed_buffers(self) -> None:
        for name, value in self.buffer_values().items():
            self.register_buffer(name, value, persistent=False)

    def _apply(self, fn, recurse=True):
        before = dict(self._buffers)
        super()._apply(fn, recurse)
        for name, old in before.items():
            new = self._buffers[name]
            if old is not None and new is not None and old.dtype == torch.float32 and new.dtype != torch.float32:
                self._buffers[name] = old.to(device=new.device)  # from the float32 original, not the rounded copy
        return self


# ------------------------------------------------------------------------------------------------------------------
# torchaudio.compliance.kaldi
# ------------------------------------------------------------------------------------------------------------------

# Options of torchaudio.compliance.kaldi.{spectrogram, fbank, mfcc} and their defaults (torchaudio 2.11).
_KALDI_COMMON = {
    "blackman_coeff": 0.42, "channel": -1, "dither": 0.0, "energy_floor": 1.0, "frame_length": 25.0,
    "frame_shift": 10.0, "min_duration": 0.0, "preemphasis_coefficient": 0.97, "raw_energy": True,
    "remove_dc_offset": True, "round_to_power_of_two": True, "sample_frequency": 16000.0, "snip_edges": True,
    "subtract_mean": False, "window_type": "povey",
}
_KALDI_MEL = {"high_freq": 0.0, "htk_compat": False, "low_freq": 20.0, "num_mel_bins": 23, "use_energy": False,
              "vtln_high": -500.0, "vtln_low": 100.0, "vtln_warp": 1.0}
KALDI_DEFAULTS: dict[str, dict] = {
    "spectrogram": dict(_KALDI_COMMON),
    "fbank": {**_KALDI_COMMON, **_KALDI_MEL, "use_log_fbank": True, "use_power": True},
    "mfcc": {**_KALDI_COMMON, **_KALDI_MEL, "cepstral_lifter": 22.0, "num_ceps": 13},
}
KALDI_WINDOWS = ("hamming", "hanning", "povey", "rectangular", "blackman")


def kaldi_window(window_type: str, window_size: int, blackman_coeff: float = 0.42) -> torch.Tensor:
    """The analysis window of kaldi's feature extraction (`kaldi._feature_window_function`), float32."""
    if window_type == "hanning":
        return torch.hann_window(window_size, periodic=False, device="cpu")
    if window_type == "hamming":
        return torch.hamming_window(window_size, periodic=False, alpha=0.54, beta=0.46, device="cpu")
    if window_type == "povey":  # like hanning but goes to zero at the edges
        return torch.hann_window(window_size, periodic=False, device="cpu").pow(0.85)
    if window_type == "rectangular":
        return torch.ones(window_size, device="cpu")
    if window_type == "blackman":
        a = 2 * math.pi / (window_size - 1)
        n = torch.arange(window_size, device="cpu", dtype=torch.float32)
        return blackman_coeff - 0.5 * torch.cos(a * n) + (0.5 - blackman_coeff) * torch.cos(2 * a * n)
    raise ValueError(f"window_type must be one of {KALDI_WINDOWS}, got {window_type!r}")


def kaldi_mel_banks(num_bins: int, padded_window_size: int, sample_freq: float, low_freq: float,
                    high_freq: float) -> torch.Tensor:
    """Kaldi's mel filterbank (`kaldi.get_mel_banks` without VTLN), shape (num_bins, padded_window_size // 2)."""
    if num_bins <= 3:
        raise ValueError(f"kaldi needs more than 3 mel bins, got {num_bins}")
    nyquist = 0.5 * sample_freq
    if high_freq <= 0.0:
        high_freq += nyquist
    if not (0.0 <= low_freq < nyquist and 0.0 < high_freq <= nyquist and low_freq < high_freq):
        raise ValueError(f"bad mel range: low_freq {low_freq} and high_freq {high_freq} vs. nyquist {nyquist}")
    fft_bin_width = sample_freq / padded_window_size
    mel_low = 1127.0 * math.log(1.0 + low_freq / 700.0)
    mel_high = 1127.0 * math.log(1.0 + high_freq / 700.0)
    mel_delta = (mel_high - mel_low) / (num_bins + 1)  # num_bins + 1: the bins spread out to both sides
    bins = torch.arange(num_bins, device="cpu").unsqueeze(1)
    left_mel = mel_low + bins * mel_delta
    center_mel = mel_low + (bins + 1.0) * mel_delta
    right_mel = mel_low + (bins + 2.0) * mel_delta
    mel = (1127.0 * (1.0 + fft_bin_width * torch.arange(padded_window_size / 2, device="cpu") / 700.0).log())
    mel = mel.unsqueeze(0)
    up_slope = (mel - left_mel) / (center_mel - left_mel)
    down_slope = (right_mel - mel) / (right_mel - center_mel)
    return torch.max(torch.zeros(1, device="cpu"), torch.min(up_slope, down_slope))


def _kaldi_frames(waveform: torch.Tensor, window_size: int, window_shift: int, snip_edges: bool) -> torch.Tensor:
    """(frames, window_size) view of a 1-D waveform (`kaldi._get_strided`)."""
    num_samples = waveform.size(0)
    strides = (window_shift * waveform.stride(0), waveform.stride(0))
    if snip_edges:
        if num_samples < window_size:
            return torch.empty((0, 0), dtype=waveform.dtype, device=waveform.device)
        frames = 1 + (num_samples - window_size) // window_shift
    else:
        # Reflect at both ends, repeating the edge sample: [2, 1, 0, 0, 1, 2].
        reversed_waveform = torch.flip(waveform, [0])
        frames = (num_samples + (window_shift // 2)) // window_shift
        pad = window_size // 2 - window_shift // 2
        if pad > 0:
            waveform = torch.cat((reversed_waveform[-pad:], waveform, reversed_waveform), dim=0)
        else:
            waveform = torch.cat((waveform[-pad:], reversed_waveform), dim=0)
    return waveform.as_strided((frames, window_size), strides)


def kaldi_frame_sizes(frame_length: float = 25.0, frame_shift: float = 10.0, sample_frequency: float = 16000.0,
                      round_to_power_of_two: bool = True, **_) -> tuple[int, int, int]:
    """(window_size, window_shift, padded_window_size) in samples, as kaldi computes them."""
    window_shift = int(float(sample_frequency) * frame_shift * MILLISECONDS_TO_SECONDS)
    window_size = int(float(sample_frequency) * frame_length * MILLISECONDS_TO_SECONDS)
    padded = 2 ** (window_size - 1).bit_length() if round_to_power_of_two and window_size > 0 else window_size
    return window_size, window_shift, padded


def kaldi_output_dim(feat_type: str, **options) -> int:
    """Features per frame of `KaldiFeatures(feat_type, **options)`, without building it."""
    opts = {**KALDI_DEFAULTS[feat_type], **options}
    if feat_type == "spectrogram":
        return kaldi_frame_sizes(**opts)[2] // 2 + 1
    if feat_type == "mfcc":
        return int(opts["num_ceps"])
    return int(opts["num_mel_bins"]) + int(bool(opts["use_energy"]))


class KaldiFeatures(Float32BuffersModule):
    """Kaldi-compatible features of one utterance, equal to `torchaudio.compliance.kaldi.<feat_type>`.

    Args:
        feat_type: "fbank", "spectrogram" or "mfcc".
        **options: The keyword arguments of the torchaudio function (see `KALDI_DEFAULTS`). `dither` must be 0
            (random dithering cannot be reproduced) and `vtln_warp` 1.0 (VTLN is not implemented).

    Example:
        >>> fbank = KaldiFeatures("fbank", num_mel_bins=80, window_type="hamming")
        >>> fbank(torch.randn(16000)).shape
        torch.Size([98, 80])
    """

    def __init__(self, feat_type: str = "fbank", **options):
        super().__init__()
        if feat_type not in KALDI_DEFAULTS:
            raise ValueError(f"kaldi feat_type must be one of {sorted(KALDI_DEFAULTS)}, got {feat_type!r}")
        unknown = sorted(set(options) - set(KALDI_DEFAULTS[feat_type]))
        if unknown:
            raise ValueError(f"unknown options for kaldi {feat_type}: {unknown}")
        opts = {**KALDI_DEFAULTS[feat_type], **options}
        if opts["dither"] != 0.0:
            raise ValueError("dither != 0 adds random noise to the features; only dither=0.0 is reproducible")
        if opts.get("vtln_warp", 1.0) != 1.0:
            raise NotImplementedError("VTLN warping (vtln_warp != 1.0) is not implemented")
        if opts["channel"] not in (-1, 0):
            raise ValueError(f"channel must be -1 or 0 for a single-channel waveform, got {opts['channel']}")
        if opts["window_type"] not in KALDI_WINDOWS:
            raise ValueError(f"window_type must be one of {KALDI_WINDOWS}, got {opts['window_type']!r}")
        if not 0.0 <= opts["preemphasis_coefficient"] <= 1.0:
            raise ValueError("preemphasis_coefficient must be in [0, 1]")
        if feat_type == "mfcc" and opts["num_ceps"] > opts["num_mel_bins"]:
            raise ValueError(f"num_ceps ({opts['num_ceps']}) cannot exceed num_mel_bins ({opts['num_mel_bins']})")
        self.feat_type = feat_type
        self.options = opts
        self.window_size, self.window_shift, self.padded_window_size = kaldi_frame_sizes(**opts)
        if self.window_size < 2 or self.window_shift <= 0 or self.padded_window_size % 2:
            raise ValueError(f"bad framing: window of {self.window_size} samples (padded to "
                             f"{self.padded_window_size}, which must be even), shift of {self.window_shift}")
        self._register_computed_buffers()

    @property
    def output_dim(self) -> int:
        """Features per frame."""
        return kaldi_output_dim(self.feat_type, **self.options)

    def _buffer_values(self) -> dict[str, torch.Tensor]:
        opts = self.options
        values = {"window": kaldi_window(opts["window_type"], self.window_size, opts["blackman_coeff"])}
        if self.feat_type != "spectrogram":
            banks = kaldi_mel_banks(opts["num_mel_bins"], self.padded_window_size, float(opts["sample_frequency"]),
                                    opts["low_freq"], opts["high_freq"])
            values["mel_banks"] = F.pad(banks, (0, 1), mode="constant", value=0)  # no weight on the Nyquist bin
        if self.feat_type == "mfcc":
            dct = create_dct(opts["num_mel_bins"], opts["num_mel_bins"], "ortho")
            # kaldi's C0 is the plain sum scaled by sqrt(1 / num_mel_bins)
            dct[:, 0] = math.sqrt(1 / float(opts["num_mel_bins"]))
            values["dct"] = dct[:, : opts["num_ceps"]]
            i = torch.arange(opts["num_ceps"], device="cpu")
            values["lifter"] = 1.0 + 0.5 * opts["cepstral_lifter"] * torch.sin(math.pi * i / opts["cepstral_lifter"])
        return values

    def num_frames(self, num_samples: int) -> int:
        """Frames `forward` gives for an utterance of `num_samples` samples (0 where it gives none or fails)."""
        opts = self.options
        if num_samples < self.window_size or num_samples < opts["min_duration"] * opts["sample_frequency"]:
            return 0
        if opts["snip_edges"]:
            return 1 + (num_samples - self.window_size) // self.window_shift
        return (num_samples + self.window_shift // 2) // self.window_shift

    def _frames(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windowed frames (m, padded_window_size) and their log energy (m,) (`kaldi._get_window`)."""
        opts = self.options
        epsilon = torch.tensor(KALDI_EPSILON, device=waveform.device, dtype=waveform.dtype)
        frames = _kaldi_frames(waveform, self.window_size, self.window_shift, opts["snip_edges"])
        if opts["remove_dc_offset"]:
            frames = frames - torch.mean(frames, dim=1).unsqueeze(1)

        def log_energy(x):
            energy = torch.max(x.pow(2).sum(1), epsilon).log()
            if opts["energy_floor"] == 0.0:
                return energy
            return torch.max(energy, torch.tensor(math.log(opts["energy_floor"]), device=x.device, dtype=x.dtype))

        if opts["raw_energy"]:
            energy = log_energy(frames)
        if opts["preemphasis_coefficient"] != 0.0:
            previous = F.pad(frames.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)
            frames = frames - opts["preemphasis_coefficient"] * previous[:, :-1]
        frames = frames * self.window.float().unsqueeze(0)
        if self.padded_window_size != self.window_size:
            frames = F.pad(frames.unsqueeze(0), (0, self.padded_window_size - self.window_size),
                           mode="constant", value=0).squeeze(0)
        if not opts["raw_energy"]:
            energy = log_energy(frames)
        return frames, energy

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Features of one utterance.

        Args:
            waveform: (samples,) or (1, samples) float waveform at `sample_frequency`.

        Returns:
            (frames, output_dim) float32 features.
        """
        waveform = waveform.reshape(-1).float()
        opts = self.options
        if len(waveform) < self.window_size:
            raise ValueError(f"kaldi {self.feat_type} needs at least one window of {self.window_size} samples, got "
                             f"{len(waveform)} (torchaudio asserts the same)")
        if len(waveform) < opts["min_duration"] * opts["sample_frequency"]:
            return torch.empty(0, device=waveform.device)
        epsilon = torch.tensor(KALDI_EPSILON, device=waveform.device)
        frames, energy = self._frames(waveform)
        spectrum = torch.fft.rfft(frames).abs()
        if self.feat_type == "spectrogram":
            features = torch.max(spectrum.pow(2.0), epsilon).log()
            features[:, 0] = energy
        else:
            if self.feat_type == "mfcc" or opts["use_power"]:
                spectrum = spectrum.pow(2.0)
            features = torch.mm(spectrum, self.mel_banks.float().T)
            if self.feat_type == "mfcc" or opts["use_log_fbank"]:
                features = torch.max(features, epsilon).log()
            if self.feat_type == "mfcc":
                features = self._cepstra(features, energy)
            elif opts["use_energy"]:
                energy = energy.unsqueeze(1)
                features = torch.cat((features, energy) if opts["htk_compat"] else (energy, features), dim=1)
        if opts["subtract_mean"]:
            features = features - torch.mean(features, dim=0).unsqueeze(0)
        return features

    def _cepstra(self, log_mel: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Kaldi MFCCs from log mel energies (the tail of `kaldi.mfcc`)."""
        opts = self.options
        features = log_mel.matmul(self.dct.float())
        if opts["cepstral_lifter"] != 0.0:
            features *= self.lifter.float().unsqueeze(0)
        if opts["use_energy"]:
            features[:, 0] = energy
        if opts["htk_compat"]:
            c0 = features[:, 0].unsqueeze(1)
            features = features[:, 1:]
            if not opts["use_energy"]:
                c0 *= math.sqrt(2)  # undo the scale of C0 in this DCT's definition
            features = torch.cat((features, c0), dim=1)
        return features


# ------------------------------------------------------------------------------------------------------------------
# S3PRL's OnlinePreprocessor (upstream/baseline/preprocessor.py)
# ------------------------------------------------------------------------------------------------------------------

# The spectrogram features of S3PRL's released mockingjay-family checkpoints.
STFT_FEATURES = ("linear", "mel")
# Every feature `OnlinePreprocessor.select_feat` can return from the STFT ("wav", the raw samples, is not a frame
# feature: S3PRLUpstream cannot match its length to the hop).
ONLINE_FEATURES = ("linear", "mel", "mfcc", "phase", "complx")
# torchaudio.transforms.MFCC as S3PRL builds it: MelSpectrogram's default 128 mel bands, log(mel + 1e-6).
MFCC_N_MELS = 128
MFCC_LOG_OFFSET = 1e-6


class StftFeatures(Float32BuffersModule):
    """Features of a padded batch, as S3PRL's `OnlinePreprocessor` computes its input feature.

    The batch is transformed as a whole (torch.stft, centred, reflect padding at the batch's ends only), so the
    last frames of a shorter utterance see the zeros that pad it. Each utterance is then normalised over
    `round(len / (padded_len / frames))` frames (Python's banker's rounding on S3PRL's float expression) and
    zero-padded: reproduced exactly, since both change the numbers.

    Args:
        sample_rate: Sampling rate in Hz.
        win_ms: Window length in ms (rounded to samples as S3PRL does).
        hop_ms: Hop in ms.
        n_freq: Frequency bins; the FFT size is `(n_freq - 1) * 2`.
        n_mels: Mel bands of "mel" (torchaudio `MelScale`: HTK scale, no norm, 0 Hz to sample_rate // 2).
        feat_type: "linear" (power spectrogram), "mel" (mel power spectrogram), "mfcc" (torchaudio `MFCC` with
            `log_mels=True` on 128 mel bands of the same STFT), "phase" (the STFT's angle) or "complx" (real and
            imaginary parts, interleaved per frequency bin).
        log: Take `log(x + eps)`.
        delta: Number of successive deltas appended (torchaudio `compute_deltas`, window 5).
        cmvn: Normalise each utterance's valid frames to zero mean and unit (unbiased) std, and zero the rest.
        eps: The epsilon of the log and of the CMVN.
        n_mfcc: Cepstra of "mfcc".
        nan_on_one_frame: S3PRL's CMVN of a one-frame utterance (NaN) instead of zeros (see `utterance_cmvn`).

    Example:
        >>> frontend = StftFeatures(n_mels=80, feat_type="mel", log=True, cmvn=True)
        >>> feats, lengths = frontend(torch.randn(2, 16000), [16000, 8000])
        >>> feats.shape, lengths
        (torch.Size([2, 101, 80]), [101, 50])
    """

    def __init__(self, sample_rate: int = 16000, win_ms: float = 25, hop_ms: float = 10, n_freq: int = 201,
                 n_mels: int = 40, feat_type: str = "mel", log: bool = False, delta: int = 0, cmvn: bool = False,
                 eps: float = 1e-10, n_mfcc: int = 13, nan_on_one_frame: bool = False):
        super().__init__()
        if feat_type not in ONLINE_FEATURES:
            raise ValueError(f"feat_type must be one of {ONLINE_FEATURES}, got {feat_type!r}")
        if n_freq != 201:
            # OnlinePreprocessor applies torchaudio's MelScale (default n_stft=201) on every call, whatever the
            # feature, and fails on any other size.
            raise ValueError(f"S3PRL's OnlinePreprocessor needs n_freq=201 (torchaudio MelScale's default), got "
                             f"{n_freq}")
        if feat_type == "mfcc" and not 0 < n_mfcc <= MFCC_N_MELS:
            raise ValueError(f"n_mfcc must be in [1, {MFCC_N_MELS}] (torchaudio MFCC's mel bands), got {n_mfcc}")
        if delta < 0:
            raise ValueError(f"delta must be >= 0, got {delta}")
        self.sample_rate, self.n_freq, self.n_mels, self.n_mfcc = sample_rate, n_freq, n_mels, n_mfcc
        self.feat_type, self.log, self.delta, self.cmvn, self.eps = feat_type, bool(log), int(delta), bool(cmvn), eps
        self.nan_on_one_frame = bool(nan_on_one_frame)
        self.win_length = round(win_ms * sample_rate / 1000)
        self.hop_length = round(hop_ms * sample_rate / 1000)
        self.n_fft = (n_freq - 1) * 2
        if not 0 < self.win_length <= self.n_fft or self.hop_length <= 0:
            raise ValueError(f"torch.stft needs 0 < win_length <= n_fft and hop_length > 0, got a window of "
                             f"{self.win_length}, an FFT of {self.n_fft} and a hop of {self.hop_length} samples")
        self._register_computed_buffers()

    @property
    def output_dim(self) -> int:
        """Features per frame."""
        base = {"linear": self.n_freq, "phase": self.n_freq, "complx": 2 * self.n_freq, "mel": self.n_mels,
                "mfcc": self.n_mfcc}[self.feat_type]
        return base * (self.delta + 1)

    def _buffer_values(self) -> dict[str, torch.Tensor]:
        values = {"window": torch.hann_window(self.win_length)}
        if self.feat_type == "mel":
            values["mel_fb"] = melscale_fbanks(self.n_freq, 0.0, float(self.sample_rate // 2), self.n_mels,
                                               self.sample_rate)
        if self.feat_type == "mfcc":
            values["mfcc_fb"] = melscale_fbanks(self.n_freq, 0.0, float(self.sample_rate // 2), MFCC_N_MELS,
                                                self.sample_rate)
            values["dct"] = create_dct(self.n_mfcc, MFCC_N_MELS, "ortho")
        return values

    def num_frames(self, num_samples: int) -> int:
        """STFT frames of a batch padded to `num_samples` samples (centred: one per hop, plus one)."""
        return num_samples // self.hop_length + 1

    def _raw_features(self, spec: torch.Tensor) -> torch.Tensor:
        """(batch, dim, frames) feature of `feat_type` from the complex STFT (batch, freq, frames)."""
        if self.feat_type == "phase":
            return spec.angle()
        if self.feat_type == "complx":
            real = torch.view_as_real(spec).transpose(-1, -2)  # (batch, freq, 2, frames)
            return real.reshape(real.shape[0], -1, real.shape[-1])
        power = spec.abs().pow(exponent=2)  # as S3PRL's _magphase
        if self.feat_type == "mel":
            return torch.matmul(power.transpose(-1, -2), self.mel_fb.float()).transpose(-1, -2)
        if self.feat_type == "mfcc":
            mel = torch.matmul(power.transpose(-1, -2), self.mfcc_fb.float()).transpose(-1, -2)
            log_mel = torch.log(mel + MFCC_LOG_OFFSET)
            return torch.matmul(log_mel.transpose(-1, -2), self.dct.float()).transpose(-1, -2)
        return power

    def forward(self, wavs: torch.Tensor, wavs_len: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        """Features of a zero-padded batch.

        Args:
            wavs: (batch, samples) float waveforms, zero after each utterance.
            wavs_len: Valid samples per utterance.

        Returns:
            (batch, frames, output_dim) float32 features and the frames S3PRL counts as valid per utterance. With
            `cmvn`, frames past those are zero and `frames` is the largest valid count.
        """
        wavs = wavs.float()
        spec = torch.stft(wavs, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window.float(), center=True, pad_mode="reflect", normalized=False,
                          onesided=True, return_complex=True)
        feat = self._raw_features(spec)
        if self.log:
            feat = (feat + self.eps).log()
        feats = [feat.contiguous()]
        for _ in range(self.delta):
            feats.append(compute_deltas(feats[-1]))
        feat = torch.cat(feats, dim=-2)
        # S3PRL's valid lengths: a float ratio, then Python's round (ties to even).
        downsample_rate = wavs.size(-1) / feat.size(-1)
        feats_len = [round(int(length) / downsample_rate) for length in wavs_len]
        if self.cmvn:
            # over time, in S3PRL's (dim, frames) layout so the reductions round the same way
            normed = [utterance_cmvn(f[:, :length], dim=-1, eps=self.eps, nan_on_one_frame=self.nan_on_one_frame)
                      .transpose(0, 1)
                      for f, length in zip(feat, feats_len)]
            return nn.utils.rnn.pad_sequence(normed, batch_first=True).contiguous(), feats_len
        return feat.transpose(-1, -2).contiguous(), feats_len


# ------------------------------------------------------------------------------------------------------------------
# S3PRL's log_stft Spectrogram (upstream/log_stft/expert.py)
# ------------------------------------------------------------------------------------------------------------------


class StftMagnitude(Float32BuffersModule):
    """STFT magnitudes of one utterance, optionally `log(max(x, 1e-8))`, as S3PRL's `log_stft` `Spectrogram`.

    Args:
        n_fft: FFT size; `n_fft // 2 + 1` features per frame.
        hop_length: Hop in samples.
        win_length: Periodic Hann window length in samples (centred in the FFT frame when shorter).
        center: Reflect-pad `n_fft // 2` samples at both ends of the utterance (torch.stft's `center`).
        log: Return `log(max(|X|, 1e-8))` instead of `|X|`.

    Example:
        >>> StftMagnitude(512, 320, 512)(torch.randn(16000)).shape
        torch.Size([51, 257])
    """

    LOG_FLOOR = 1e-8

    def __init__(self, n_fft: int, hop_length: int, win_length: int, center: bool = True, log: bool = False):
        super().__init__()
        if not 0 < win_length <= n_fft or hop_length <= 0:
            raise ValueError(f"torch.stft needs 0 < win_length <= n_fft and hop_length > 0, got win_length "
                             f"{win_length}, n_fft {n_fft}, hop_length {hop_length}")
        self.n_fft, self.hop_length, self.win_length = int(n_fft), int(hop_length), int(win_length)
        self.center, self.log = bool(center), bool(log)
        self._register_computed_buffers()

    @property
    def output_dim(self) -> int:
        """Features per frame."""
        return self.n_fft // 2 + 1

    def _buffer_values(self) -> dict[str, torch.Tensor]:
        return {"window": torch.hann_window(self.win_length)}

    def min_samples(self) -> int:
        """The shortest waveform torch.stft takes: over half an FFT to reflect-pad when centred, else one FFT."""
        return self.n_fft // 2 + 1 if self.center else self.n_fft

    def num_frames(self, num_samples: int) -> int:
        """Frames `forward` gives for `num_samples` samples (0 where it fails)."""
        if num_samples < self.min_samples():
            return 0
        if self.center:
            return num_samples // self.hop_length + 1
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(frames, n_fft // 2 + 1) float32 magnitudes (or their log) of a 1-D waveform."""
        if waveform.shape[-1] < self.min_samples():
            raise ValueError(f"this STFT (n_fft {self.n_fft}, center={self.center}) needs at least "
                             f"{self.min_samples()} samples per utterance, got {waveform.shape[-1]} (torch.stft, and "
                             f"so S3PRL, fails on shorter ones)")
        spec = torch.stft(waveform.float(), n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window.float(), center=self.center, pad_mode="reflect", normalized=False,
                          return_complex=True)
        magnitude = torch.abs(spec).transpose(0, 1)
        return torch.log(torch.clamp(magnitude, min=self.LOG_FLOOR)) if self.log else magnitude


def init_frontend_buffers(module: nn.Module, copy_fn) -> None:
    """Copy freshly computed values into a frontend module's non-persistent buffers with `copy_fn(buffer, value)`.

    Use it from a model's `_init_weights` with `transformers.initialization.copy_`, so buffers that transformers
    left uninitialised after `from_pretrained` get their values.
    """
    if isinstance(module, Float32BuffersModule):
        for name, value in module.buffer_values().items():
            buffer = getattr(module, name)
            copy_fn(buffer, value.to(device=buffer.device, dtype=buffer.dtype))


def materialize_frontend_buffers(model: nn.Module, device: torch.device | str = "cpu") -> None:
    """Replace the buffers of every frontend in `model` (e.g. still on the meta device) by computed tensors."""
    for module in model.modules():
        if isinstance(module, Float32BuffersModule):
            for name, value in module.buffer_values().items():
                module._buffers[name] = value.to(device)

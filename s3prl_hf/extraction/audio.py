"""Audio reading and channel handling for feature extraction, without torchaudio or FFmpeg.

Files and `datasets.Audio(decode=False)` bytes are read with soundfile (libsndfile: WAV, FLAC, OGG/Vorbis,
MP3, ...). Other rates are brought to the model's by `s3prl_hf.frontends.resample`. Every problem with an input
raises `AudioError` naming the input.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from .wav_header import declared_frames

logger = logging.getLogger(__name__)

STEREO_MODES = ("mix", "error")
# A 2-D raw array is read as (time, channels) or (channels, time): the channel axis is the one this short.
MAX_CHANNELS = 8


class AudioError(ValueError):
    """An input that cannot be turned into a waveform (corrupt, empty, wrong rate, unclear channels).

    Attributes:
        source: The file path or row that failed, as given to the reader.
        reason: What was wrong, for the error summary.
    """

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self):  # keep both fields through pickling (multiprocessing, gather_object)
        return type(self), (self.source, self.reason)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: frames per channel, channels and sampling rate."""

    frames: int
    channels: int
    sampling_rate: int


def _soundfile():
    try:
        import soundfile
    except ImportError as error:  # pragma: no cover - soundfile is a runtime dependency
        raise ImportError("reading audio files needs soundfile: pip install soundfile") from error
    return soundfile


def _open_source(source: str | os.PathLike | bytes):
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source)


def audio_info(source: str | os.PathLike | bytes, name: str | None = None) -> AudioInfo:
    """Read only the header of an audio file (or its bytes).

    Args:
        source: A file path or the encoded bytes.
        name: How to name the input in errors (default: the path).

    Raises:
        AudioError: unreadable header, no frames, a non-positive rate, or a truncated WAV file.

    Example:
        >>> audio_info("speech.wav")  # doctest: +SKIP
        AudioInfo(frames=48000, channels=1, sampling_rate=16000)
    """
    name = name or _describe(source)
    try:
        info = _soundfile().info(_open_source(source))
    except Exception as error:  # libsndfile raises several types; all mean "not readable audio"
        raise AudioError(name, f"cannot read the audio header ({_short(error)})") from None
    if info.samplerate <= 0:
        raise AudioError(name, f"invalid sampling rate {info.samplerate}")
    if info.frames <= 0:
        raise AudioError(name, "empty audio (0 samples)")
    _check_whole(source, int(info.frames), name)
    return AudioInfo(frames=int(info.frames), channels=int(info.channels), sampling_rate=int(info.samplerate))


def read_audio(source: str | os.PathLike | bytes, name: str | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole audio file (or its bytes) as float32 in [-1, 1], shape (time, channels).

    Integer PCM is scaled by 1 / 2**(bits-1) (int16 / 32768), as S3PRL's soundfile / torchaudio readers do.

    Raises:
        AudioError: corrupt, empty or truncated audio.

    Example:
        >>> samples, rate = read_audio("speech.wav")  # doctest: +SKIP
        >>> samples.shape, rate  # doctest: +SKIP
        ((48000, 1), 16000)
    """
    name = name or _describe(source)
    try:
        samples, rate = _soundfile().read(_open_source(source), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(name, f"cannot decode audio ({_short(error)})") from None
    if samples.shape[0] == 0:
        raise AudioError(name, "empty audio (0 samples)")
    _check_whole(source, samples.shape[0], name)
    return samples, int(rate)


def _check_whole(source, frames: int, name: str) -> None:
    """Refuse a WAV whose header declares more samples than the file holds (libsndfile reads it short, silently)."""
    declared = declared_frames(source)
    if declared is not None and declared > frames:
        raise AudioError(name, f"truncated file: the header declares {declared} samples per channel, the file "
                               f"holds {frames}")


def to_mono(samples: np.ndarray | torch.Tensor, stereo: str = "mix", name: str = "audio",
            channels_first: bool | None = None) -> torch.Tensor:
    """Turn a waveform into a 1-D float32 tensor, mixing several channels down (mean) or refusing them.

    Args:
        samples: (time,), (time, channels) or (channels, time).
        stereo: "mix" averages the channels; "error" raises on more than one channel.
        name: How to name the input in errors.
        channels_first: The layout of a 2-D input; None infers it: the channel axis is the one with at most
            `MAX_CHANNELS` entries, and an input where this is ambiguous is refused, never guessed.

    Raises:
        AudioError: several channels with `stereo="error"`, an ambiguous layout, or non-finite samples.

    Example:
        >>> to_mono(np.ones((100, 2), dtype=np.float32)).shape
        torch.Size([100])
    """
    if stereo not in STEREO_MODES:
        raise ValueError(f"stereo={stereo!r}: expected one of {STEREO_MODES}")
    if not isinstance(samples, torch.Tensor):
        samples = np.require(samples, requirements="W")  # torch refuses read-only buffers (Arrow-backed)
    wav = torch.as_tensor(samples)
    if not wav.is_floating_point():
        raise AudioError(name, f"samples have dtype {wav.dtype}: expected float samples in [-1, 1]")
    wav = wav.to(torch.float32)
    if wav.dim() == 2:
        if channels_first is None:
            channels_first = _infer_channels_first(tuple(wav.shape), name)
        if channels_first:
            wav = wav.T
        if wav.shape[1] > 1:
            if stereo == "error":
                raise AudioError(name, f"{wav.shape[1]} channels, but stereo='error' accepts mono only "
                                       f"(pass stereo='mix' / --stereo mix to average the channels)")
            wav = wav.mean(dim=1)
        else:
            wav = wav[:, 0]
    if wav.dim() != 1:
        raise AudioError(name, f"samples have shape {tuple(wav.shape)}: expected (time,) or 2-D with channels")
    if wav.numel() == 0:
        raise AudioError(name, "empty audio (0 samples)")
    if not torch.isfinite(wav).all():
        raise AudioError(name, "audio contains NaN or infinite samples")
    return wav


def _infer_channels_first(shape: tuple[int, int], name: str) -> bool:
    rows_small, cols_small = shape[0] <= MAX_CHANNELS, shape[1] <= MAX_CHANNELS
    if cols_small and not rows_small:
        return False
    if rows_small and not cols_small:
        return True
    raise AudioError(name, f"cannot tell channels from time in a 2-D waveform of shape {shape}: give 1-D mono "
                           f"samples, or (time, channels) with at most {MAX_CHANNELS} channels")


def _describe(source) -> str:
    return "<audio bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[-1] if text else type(error).__name__)[:200]

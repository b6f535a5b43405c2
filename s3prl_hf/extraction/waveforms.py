"""From whatever a dataset or a file list holds to 1-D waveforms at the model's rate, and the model run on them.

Shared by `extract_features` (datasets) and the sharded `s3prl-hf extract`. Accepted values:

- a file path (str / PathLike), read with soundfile;
- `datasets.Audio(decode=False)` rows `{"bytes", "path"}`, read with soundfile;
- `{"array", "sampling_rate"}` dicts (plain struct columns, or rows decoded by datasets);
- torchcodec `AudioDecoder` objects (an `Audio` column decoded by datasets with torchcodec installed);
- raw arrays (lists, numpy, torch): 1-D mono, or 2-D with a clear channel axis, at `sampling_rate`.

Other rates are resampled to the model's (pure torch, see `s3prl_hf.audio.resample`) or refused, and
several channels are mixed down or refused, as chosen; each is logged once per reader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence

import numpy as np
import torch

from ..frontends.resample import resample, resampled_length
from .audio import AudioError, audio_info, read_audio, to_mono

logger = logging.getLogger(__name__)

STORAGE_DTYPES = {"float16": torch.float16, "float32": torch.float32}


class WaveformReader:
    """Turns dataset values or paths into mono float32 waveforms at `target_rate`.

    Args:
        target_rate: The model's sampling rate.
        sampling_rate: Rate of raw arrays, which carry none (default: `target_rate`).
        stereo: "mix" (average the channels) or "error" (refuse more than one channel).
        resample: Resample other rates; when False they are errors.

    Example:
        >>> reader = WaveformReader(16000)
        >>> reader({"array": np.zeros(8000, np.float32), "sampling_rate": 8000}, "row 0").shape
        torch.Size([16000])
    """

    def __init__(self, target_rate: int, sampling_rate: int | None = None, stereo: str = "mix",
                 resample: bool = True):
        to_mono(np.zeros(1, np.float32), stereo)  # validates `stereo` early
        self.target_rate = int(target_rate)
        self.sampling_rate = int(sampling_rate or target_rate)
        self.stereo = stereo
        self.resample = resample
        self._said: set = set()

    def __call__(self, value, name: str) -> torch.Tensor:
        """Decode `value` (named `name` in errors) to a 1-D float32 tensor at `target_rate`."""
        samples, rate, channels_first, name = self._decode(value, name)
        if samples.ndim == 2 and min(samples.shape) > 1 and self.stereo == "mix":
            self._say_once(("mix",), "mixing multi-channel audio down to mono by averaging the channels "
                                     "(stereo='error' / --stereo error refuses it instead)")
        wav = to_mono(samples, self.stereo, name, channels_first=channels_first)
        return self._to_target_rate(wav, rate, name)

    def num_samples(self, value, name: str) -> int:
        """Length at `target_rate` after decoding, from the header alone where possible.

        Raises `AudioError` for what `__call__` would refuse that the header shows (empty, wrong rate
        without resampling, several channels with stereo="error").
        """
        source = _file_source(value)
        if source is not None:
            info = audio_info(source[0], source[1] or name)
            where = source[1] or name
            if info.channels > 1 and self.stereo == "error":
                raise AudioError(where, f"{info.channels} channels, but stereo='error' accepts mono only")
            self._check_rate(info.sampling_rate, where)
            return resampled_length(info.frames, info.sampling_rate, self.target_rate)
        return int(self(value, name).shape[0])

    def _decode(self, value, name):
        source = _file_source(value)
        if source is not None:
            name = source[1] or name
            samples, rate = read_audio(source[0], name)
            return samples, rate, False, name
        if hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder from a decoded datasets.Audio column
            decoded = value.get_all_samples()
            return decoded.data.numpy(), int(decoded.sample_rate), True, name
        if isinstance(value, dict) or (hasattr(value, "keys") and "array" in value):
            if "array" not in value:
                raise AudioError(name, f"a dict with keys {sorted(value)}: expected 'array' and 'sampling_rate', "
                                       f"or 'bytes' / 'path'")
            rate = value.get("sampling_rate")
            if rate is None:
                raise AudioError(name, "an 'array' without 'sampling_rate'")
            return _as_array(value["array"], name), int(np.asarray(rate)), None, name
        return _as_array(value, name), self.sampling_rate, None, name

    def _to_target_rate(self, wav: torch.Tensor, rate: int, name: str) -> torch.Tensor:
        self._check_rate(rate, name)
        if rate == self.target_rate:
            return wav
        self._say_once(("rate", rate), f"resampling {rate} Hz audio to the model's {self.target_rate} Hz "
                                       f"(windowed-sinc, pure torch)")
        return resample(wav, rate, self.target_rate)

    def _check_rate(self, rate: int, name: str) -> None:
        if rate <= 0:
            raise AudioError(name, f"invalid sampling rate {rate}")
        if rate != self.target_rate and not self.resample:
            raise AudioError(name, f"sampling rate {rate} Hz, but the model expects {self.target_rate} Hz and "
                                   f"resampling is off")

    def _say_once(self, key, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            logger.warning(message)


def _file_source(value) -> tuple[object, str | None] | None:
    """(path or bytes, display name) for values that are encoded files, else None."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value), os.fspath(value)
    if isinstance(value, dict) and ("bytes" in value or "path" in value) and "array" not in value:
        data, path = value.get("bytes"), value.get("path")
        if data is not None:
            return bytes(data), path
        if path:
            return path, path
        return None
    return None


def audio_files_stamp(dataset, column: str) -> str | None:
    """A digest of the size and modification time of every file `column` reads audio from, or None if none.

    Rows read from a file are paths (string columns) and `{"bytes", "path"}` rows without bytes (`Audio`
    columns of local files, as `load_dataset("audiofolder")` makes); a dataset's own fingerprint does not change
    when such a file is rewritten in place, this does. One `stat` per row, no audio read.

    Example:
        >>> audio_files_stamp(Dataset.from_dict({"audio": ["a.wav"]}), "audio")  # doctest: +SKIP
        '5d41402abc4b2a76b9719d911017c592'
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = dataset.data.column(column)
    if pa.types.is_struct(values.type):
        names = {values.type.field(i).name for i in range(values.type.num_fields)}
        if "path" not in names or "array" in names:
            return None
        paths = pc.struct_field(values, "path")
        if "bytes" in names:  # rows holding their bytes read no file
            paths = pc.if_else(pc.is_valid(pc.struct_field(values, "bytes")), pa.scalar(None, paths.type), paths)
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        paths = values
    else:
        return None
    if dataset._indices is not None:  # a selection or shuffle of the table: its rows, in its order
        paths = paths.take(dataset._indices.column(0))
    digest, files = hashlib.sha256(), 0
    for chunk in paths.chunks:
        for path in chunk.to_pylist():
            if path is None:
                digest.update(b"-\n")
                continue
            files += 1
            try:
                info = os.stat(path)
                digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
            except (OSError, ValueError):  # missing, or not a local path: the map reports what is wrong
                digest.update(f"{path}\0?\n".encode())
    return digest.hexdigest()[:32] if files else None


def _as_array(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise AudioError(name, f"not an array of samples ({error})") from None
    if array.dtype == object:
        raise AudioError(name, "not an array of samples (ragged or mixed values)")
    return array


@torch.inference_mode()
def run_model(model, wavs: Sequence[torch.Tensor], layers: Sequence[int], normalize: bool | None,
              dtype: torch.dtype) -> list[tuple[list[np.ndarray], list[int]]]:
    """Forward one padded batch; per selected layer, each utterance's valid frames (time first) and count.

    Frames are cast to the storage `dtype` on the device, then copied to the CPU once per layer.
    """
    lengths = torch.tensor([w.shape[0] for w in wavs], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(list(wavs), batch_first=True)
    out = model(padded, lengths, layers=list(layers), normalize=normalize)
    results = []
    for hs, hs_len in zip(out.hidden_states, out.hidden_states_lengths):
        array = hs.to(dtype).cpu().numpy()
        counts = [int(n) for n in hs_len.tolist()]
        results.append(([array[i, :n] for i, n in enumerate(counts)], counts))
    return results


def model_fingerprint(model) -> str:
    """A digest of what determines a model's outputs: its class, its config, and every weight and buffer.

    Two loads of the same weights give the same digest wherever they come from (Hub, cache, local folder),
    and an in-place change of any weight gives a new one.

    Example:
        >>> model_fingerprint(model)  # doctest: +SKIP
        '3f0c...'
    """
    config = {k: v for k, v in model.config.to_dict().items()
              if not k.startswith("_") and k not in ("transformers_version", "dtype", "torch_dtype")}
    digest = hashlib.sha256()
    digest.update(f"{type(model).__module__}.{type(model).__qualname__}\n".encode())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for key, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"\n{key}:{tensor.dtype}:{tensor.numel()}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def storage_dtype(dtype: str) -> torch.dtype:
    """The torch dtype of a storage dtype name ("float16" or "float32")."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype={dtype!r}: features are stored as one of {sorted(STORAGE_DTYPES)}")
    return STORAGE_DTYPES[dtype]


def resolve_model(model):
    """An upstream model from a model, an `S3PRLUpstream` wrapper, or a name / repo id / folder."""
    if isinstance(model, (str, os.PathLike)):
        from ..auto import AutoUpstream

        return AutoUpstream.from_pretrained(model)
    inner = getattr(model, "upstream", None)
    if inner is not None and hasattr(inner, "downsample_rates") and hasattr(inner, "config"):
        return inner  # s3prl_hf.S3PRLUpstream
    for attribute in ("num_layers", "hidden_sizes", "sampling_rate", "config"):
        if not hasattr(model, attribute):
            raise TypeError(f"{type(model).__name__} is not an s3prl_hf upstream (no {attribute!r}); pass a "
                            f"model from AutoUpstream.from_pretrained, or a name / folder")
    return model

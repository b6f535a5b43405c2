"""The inputs of `s3prl-hf extract`: an audio folder, a file list, or a saved `datasets` dataset.

Every input becomes an ordered list of items, each with a unique id (the relative path for a folder, the
list's id or path, the id column or row number for a dataset), a display name for error reports (the file
path, or "row N"), and two operations: its length at the model's rate (from the header where possible, for
length-sorted batching) and its waveform.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .audio import AudioError
from .waveforms import WaveformReader

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


class FileInputs:
    """Audio files, read with soundfile.

    Args:
        paths: The files, in order.
        ids: One unique id per file (default: the paths as given).
    """

    def __init__(self, paths: Sequence[str], ids: Sequence[str] | None = None):
        self.paths = [os.fspath(p) for p in paths]
        self.ids = list(ids) if ids is not None else list(self.paths)
        _check_ids(self.ids)
        self.names = self.paths
        self.fingerprint = _digest(["files", self.ids, self.paths])

    def __len__(self) -> int:
        return len(self.ids)

    def num_samples(self, indices: Sequence[int], reader: WaveformReader) -> list[int | AudioError]:
        """Length at the model's rate of each item, or the `AudioError` that item raises."""
        return [_attempt(reader.num_samples, self.paths[i], self.paths[i]) for i in indices]

    def load(self, indices: Sequence[int], reader: WaveformReader) -> list[torch.Tensor | AudioError]:
        """The waveform of each item, or the `AudioError` that item raises."""
        return [_attempt(reader, self.paths[i], self.paths[i]) for i in indices]


class DatasetInputs:
    """Rows of a `datasets.Dataset` (see `s3prl_hf.waveforms` for the audio values accepted).

    Args:
        dataset: The dataset.
        audio_column: Column holding the audio.
        id_column: Column of unique ids (default: the row number).
        decoder: "soundfile", "datasets" or "auto", as in `extract_features`.
    """

    def __init__(self, dataset, audio_column: str = "audio", id_column: str | None = None, decoder: str = "auto"):
        from datasets import Audio

        from .dataset_features import DECODERS, torchcodec_available

        if audio_column not in dataset.column_names:
            raise ValueError(f"audio column {audio_column!r} is not in the dataset (columns: {dataset.column_names})")
        if decoder not in DECODERS:
            raise ValueError(f"decoder={decoder!r}: expected one of {DECODERS}")
        if id_column is not None and id_column not in dataset.column_names:
            raise ValueError(f"id column {id_column!r} is not in the dataset (columns: {dataset.column_names})")
        self.ids = [str(v) for v in dataset[id_column]] if id_column else [str(i) for i in range(len(dataset))]
        _check_ids(self.ids)
        self.names = [f"row {i}" for i in range(len(dataset))]
        self.paths = [None] * len(dataset)
        feature = dataset.features[audio_column]
        if isinstance(feature, Audio) and feature.decode:
            if not (decoder == "datasets" or (decoder == "auto" and torchcodec_available())):
                dataset = dataset.cast_column(audio_column, Audio(decode=False))
                import pyarrow.compute as pc

                self.paths = pc.struct_field(dataset.with_format("arrow")[audio_column], "path").to_pylist()
        self.decoder = "datasets" if isinstance(dataset.features[audio_column], Audio) and \
            dataset.features[audio_column].decode else "soundfile"
        self._column = audio_column
        self._rows = dataset.with_format("numpy", columns=[audio_column]) if self.decoder == "soundfile" \
            else dataset.select_columns([audio_column])
        self.fingerprint = _digest(["dataset", dataset._fingerprint, audio_column, self.ids, self.decoder])

    def __len__(self) -> int:
        return len(self.ids)

    def _values(self, indices: Sequence[int]):
        return self._rows[list(indices)][self._column] if len(indices) else []

    def num_samples(self, indices: Sequence[int], reader: WaveformReader) -> list[int | AudioError]:
        indices, lengths = list(indices), []
        for start in range(0, len(indices), 256):  # bounded memory: rows may hold raw waveforms
            chunk = indices[start:start + 256]
            lengths += [_attempt(reader.num_samples, value, self.names[i])
                        for i, value in zip(chunk, self._values(chunk))]
        return lengths

    def load(self, indices: Sequence[int], reader: WaveformReader) -> list[torch.Tensor | AudioError]:
        return [_attempt(reader, value, self.names[i]) for i, value in zip(indices, self._values(indices))]


def open_inputs(source, audio_column: str = "audio", id_column: str | None = None, split: str | None = None,
                decoder: str = "auto"):
    """Turn `--input` into `FileInputs` or `DatasetInputs`.

    Args:
        source: An audio folder (searched recursively for .wav/.flac/.ogg/.mp3; ids are the relative paths), a
            file list (one path per line, or "id<TAB>path"; Kaldi-style "id path" for `.scp`; relative paths
            are relative to the list; blank lines and lines starting with # are skipped), a folder written
            by `Dataset.save_to_disk` / `DatasetDict.save_to_disk` (pick `split` for the latter), a
            `datasets.Dataset`, or a list of file paths.
        audio_column, id_column, decoder: For datasets, see `DatasetInputs`.
        split: The split of a saved `DatasetDict`.

    Example:
        >>> inputs = open_inputs("corpus/wavs")  # doctest: +SKIP
        >>> len(inputs), inputs.ids[:2]  # doctest: +SKIP
        (2620, ['spk1/utt1.wav', 'spk1/utt2.wav'])
    """
    if hasattr(source, "column_names"):
        return DatasetInputs(source, audio_column, id_column, decoder)
    if isinstance(source, (list, tuple)):
        return FileInputs(source)
    path = Path(source)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() \
                or (path / "state.json").exists():
            return DatasetInputs(_load_saved_dataset(path, split), audio_column, id_column, decoder)
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        if not files:
            raise ValueError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder or below")
        return FileInputs([str(p) for p in files], [p.relative_to(path).as_posix() for p in files])
    if path.is_file():
        ids, paths = _read_file_list(path)
        return FileInputs(paths, ids)
    raise FileNotFoundError(f"--input {source}: no such file or folder")


def _load_saved_dataset(path: Path, split: str | None):
    from datasets import DatasetDict, load_from_disk

    loaded = load_from_disk(str(path))
    if isinstance(loaded, DatasetDict):
        if split is None:
            raise ValueError(f"{path} holds splits {list(loaded)}: choose one with --split")
        if split not in loaded:
            raise ValueError(f"{path} has no split {split!r} (splits: {list(loaded)})")
        return loaded[split]
    if split is not None:
        raise ValueError(f"{path} holds a single dataset, not splits: drop --split")
    return loaded


def _read_file_list(path: Path) -> tuple[list[str], list[str]]:
    ids, paths = [], []
    kaldi = path.suffix == ".scp"
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if kaldi:
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or parts[1].endswith("|"):
                raise ValueError(f"{path}:{number}: expected 'id path' (pipes are not supported): {line!r}")
            utt_id, file = parts
        elif "\t" in line:
            utt_id, file = (part.strip() for part in line.split("\t", 1))
        else:
            utt_id = file = line
        file_path = Path(file)
        if not file_path.is_absolute():
            file_path = path.parent / file_path
        ids.append(utt_id)
        paths.append(str(file_path))
    if not ids:
        raise ValueError(f"{path}: the file list is empty")
    return ids, paths


def _check_ids(ids: Sequence[str]) -> None:
    seen = set()
    for utt_id in ids:
        if utt_id in seen:
            raise ValueError(f"id {utt_id!r} appears twice in the input: ids must be unique")
        seen.add(utt_id)


def _attempt(function, value, name):
    try:
        return function(value, name)
    except AudioError as error:
        return error


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:32]

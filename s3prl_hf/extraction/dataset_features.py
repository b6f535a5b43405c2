"""`extract_features`: add hidden-state columns to a `datasets.Dataset` with `Dataset.map`, cached.

Each chosen layer becomes one column `layer_<i>` of 2-D arrays, time first (`Array2D((None, D))`, stored as
float16 or float32), and `layer_<i>_length` holds its number of frames. The map is given an explicit
fingerprint derived from the dataset's fingerprint, the model's digest (class, config and every weight), the
layers, storage dtype, batch size, reading options and the size and mtime of the audio files rows point to, so
running the same call again on a cached dataset loads the result from the cache instead of recomputing it
(datasets cannot hash a model reliably by itself), and a file rewritten in place is read anew.

Audio decoding: an `Audio` column is read from its bytes / path with soundfile unless `decoder="datasets"`
(or "auto" with a working torchcodec) lets datasets decode it. PyPI's torchcodec is built against CUDA
torch and needs FFmpeg's shared libraries, so on CPU-only torch installs decoding through datasets fails;
soundfile needs neither, and gives the same numbers on every machine.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import torch

from .._version import __version__
from ..modeling_utils import check_layers
from ..precision import dtype_name, prepare_model
from .waveforms import (WaveformReader, audio_files_stamp, model_fingerprint, resolve_model, run_model,
                        storage_dtype)

logger = logging.getLogger(__name__)

DECODERS = ("auto", "soundfile", "datasets")


def extract_features(dataset, model, audio_column: str = "audio", layers: Sequence[int] | None = None,
                     dtype: str = "float16", batch_size: int = 8, *, sampling_rate: int | None = None,
                     stereo: str = "mix", resample: bool = True, decoder: str = "auto",
                     normalize: bool | None = None, column_prefix: str = "layer_",
                     remove_columns: Sequence[str] | None = None, load_from_cache_file: bool | None = None,
                     writer_batch_size: int | None = None, desc: str | None = "extracting features",
                     compute_dtype: str | None = "auto"):
    """Add one column of hidden states per chosen layer, and its frame counts, to `dataset`.

    Args:
        dataset: A `datasets.Dataset`. Re-runs are served from the cache when it is backed by cache files
            (loaded from the Hub, `load_dataset` or `load_from_disk`), as for any `Dataset.map`.
        model: A model from `AutoUpstream.from_pretrained` (or `S3PRLUpstream`), or a name / repo id / folder.
            It runs in eval mode during the extraction.
        audio_column: Column holding the audio: `Audio` (decoded or not), `{"array", "sampling_rate"}`
            structs, raw float arrays (at `sampling_rate`) or file paths.
        layers: Hidden-state indices to store (negative from the end); all by default (large: see the README).
        dtype: Storage dtype, "float16" (default) or "float32".
        compute_dtype: Dtype the model computes in: "float32", "bfloat16", "float16", or "auto" (default:
            bfloat16 on CUDA, float32 on CPU, a model loaded in bf16 / fp16 keeps it); numerically sensitive
            parts stay float32 (README, "Reduced precision"). Part of the cache fingerprint.
        batch_size: Rows per forward pass. Part of the cache key: group-norm models (HuBERT / wav2vec 2.0
            base) see the batch's padding, as S3PRL's batches do.
        sampling_rate: Rate of raw-array columns, which carry none (default: the model's rate).
        stereo: "mix" averages several channels to mono; "error" refuses such rows.
        resample: Resample rows at other rates to the model's rate (logged once); False refuses them.
        decoder: For `Audio` columns: "soundfile" reads the bytes / files itself, "datasets" uses datasets'
            decoding (needs torchcodec + FFmpeg), "auto" picks "datasets" when torchcodec loads.
        normalize: Layer-norm each hidden state (default: the model's config).
        column_prefix: Prefix of the new column names.
        remove_columns: Input columns to drop from the result (e.g. the audio, to save space).
        load_from_cache_file: Passed to `Dataset.map` (None: use the cache when caching is enabled).
        writer_batch_size: Rows per write (default: `batch_size`; feature rows are large).
        desc: Progress bar label.

    Returns:
        The dataset with columns `{column_prefix}{i}` (`Array2D((None, hidden_size), dtype)`) and
        `{column_prefix}{i}_length` (int32) for each chosen layer `i`.

    Raises:
        s3prl_hf.audio.AudioError: a row that cannot be read, naming its index (or path).

    Example:
        >>> from datasets import load_from_disk
        >>> from s3prl_hf import AutoUpstream, extract_features
        >>> model = AutoUpstream.from_pretrained("hubert")  # doctest: +SKIP
        >>> ds = extract_features(load_from_disk("my_audio"), model, layers=[6, 12])  # doctest: +SKIP
        >>> ds = ds.with_format("numpy", columns=["layer_6"], dtype=np.float16)  # doctest: +SKIP
        >>> ds[0]["layer_6"].shape  # doctest: +SKIP
        (149, 768)
    """
    from datasets import Array2D, Audio, Value

    if not hasattr(dataset, "_fingerprint"):
        raise TypeError(f"extract_features takes a datasets.Dataset, got {type(dataset).__name__}; for a "
                        f"DatasetDict, call it on each split")
    model = resolve_model(model)
    model, computing = prepare_model(model, compute_dtype, model.device)
    if audio_column not in dataset.column_names:
        raise ValueError(f"audio_column={audio_column!r} is not a column of the dataset "
                         f"(columns: {dataset.column_names})")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: expected a positive number of rows")
    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r}: expected one of {DECODERS}")
    selected = check_layers(layers, model.num_layers)
    torch_dtype = storage_dtype(dtype)
    reader = WaveformReader(model.sampling_rate, sampling_rate, stereo, resample)
    remove_columns = list(remove_columns or [])

    # Decide who decodes an Audio column; reading raw bytes needs decode=False while mapping.
    original_feature = dataset.features[audio_column]
    use_datasets_decoder = False
    if isinstance(original_feature, Audio) and original_feature.decode:
        use_datasets_decoder = decoder == "datasets" or (decoder == "auto" and torchcodec_available())
        if not use_datasets_decoder:
            dataset = dataset.cast_column(audio_column, Audio(decode=False))

    names = [f"{column_prefix}{i}" for i in selected]
    kept = [c for c in dataset.column_names if c not in remove_columns]
    clashes = sorted(set(kept) & {n + suffix for n in names for suffix in ("", "_length")})
    if clashes:
        raise ValueError(f"the dataset already has columns {clashes}: pass another column_prefix, or remove them")
    features = dataset.features.copy()
    for column in remove_columns:
        del features[column]
    for name, index in zip(names, selected):
        features[name] = Array2D(shape=(None, model.hidden_sizes[index]), dtype=dtype)
        features[name + "_length"] = Value("int32")

    fingerprint = _fingerprint(
        dataset._fingerprint, model_fingerprint(model), selected, dtype, batch_size, audio_column,
        reader.sampling_rate, stereo, resample, "datasets" if use_datasets_decoder else "soundfile", normalize,
        column_prefix, sorted(remove_columns), str(model.device.type), dtype_name(computing),
        audio_files_stamp(dataset, audio_column))  # files rewritten in place are read anew

    def extract_batch(values, indices):
        wavs = [reader(value, f"row {index}") for value, index in zip(values, indices)]
        batch = {}
        for name, (arrays, counts) in zip(names, run_model(model, wavs, selected, normalize, torch_dtype)):
            batch[name] = arrays
            batch[name + "_length"] = counts
        return batch

    # numpy formatting hands raw-array rows over without building Python lists of floats.
    formatted = dataset.with_format("numpy", columns=[audio_column]) if not use_datasets_decoder else dataset
    with _eval_mode(model):
        result = formatted.map(
            extract_batch, batched=True, batch_size=batch_size, with_indices=True, input_columns=[audio_column],
            features=features, remove_columns=remove_columns or None, new_fingerprint=fingerprint,
            load_from_cache_file=load_from_cache_file, writer_batch_size=writer_batch_size or batch_size,
            desc=desc)
    result = result.with_format(None)
    if audio_column in result.column_names and result.features[audio_column] != original_feature:
        result = result.cast_column(audio_column, original_feature)  # metadata only: back to the user's Audio
    return result


def set_feature_format(dataset, format: str = "numpy", columns: Sequence[str] | None = None):
    """Format the feature columns as numpy arrays or torch tensors **in their stored dtype**.

    `dataset.with_format("numpy")` turns float16 features into float32, and passing `dtype=` would cast
    every column (frame counts included); this formats only the `Array2D` columns, each in its own dtype,
    and returns the other columns as Python values.

    Args:
        dataset: A dataset with feature columns (from `extract_features` or `load_features`).
        format: "numpy" or "torch".
        columns: The feature columns to format (default: every `Array2D` column).

    Example:
        >>> ds = set_feature_format(ds, "torch")  # doctest: +SKIP
        >>> ds[0]["layer_6"].dtype  # doctest: +SKIP
        torch.float16
    """
    from datasets import Array2D

    if format not in ("numpy", "torch"):
        raise ValueError(f"format={format!r}: expected 'numpy' or 'torch'")
    if columns is None:
        columns = [n for n, f in dataset.features.items() if isinstance(f, Array2D)]
    dtypes = {dataset.features[c].dtype for c in columns}
    if len(dtypes) > 1:
        raise ValueError(f"feature columns of several dtypes {sorted(dtypes)}: format them separately")
    if not columns:
        return dataset.with_format(None)
    dtype = dtypes.pop()
    dtype = getattr(torch, dtype) if format == "torch" else np.dtype(dtype)
    return dataset.with_format(format, columns=list(columns), dtype=dtype, output_all_columns=True)


@lru_cache(maxsize=1)
def torchcodec_available() -> bool:
    """Whether torchcodec (datasets' audio decoder) imports and finds FFmpeg."""
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception:  # ImportError, or OSError when FFmpeg / CUDA libraries are missing
        return False
    return True


def _fingerprint(*parts) -> str:
    text = json.dumps(["s3prl_hf.extract_features", __version__, *parts], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)

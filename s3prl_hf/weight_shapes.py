"""Check a model folder's weights against its config before anything is allocated.

`config.json` says how big the model is; `model.safetensors` (or its shards) holds the weights. A folder whose
config contradicts its weights (a crafted or hand-edited `config.json`) would otherwise make transformers build
the model and fill every missing weight with random values, allocating whatever the config asks for. Here the
model is built on the meta device (no memory), its weight names and shapes are compared with the safetensors
headers (read, not the tensors), and any difference is refused with one line, before transformers loads anything.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from transformers.initialization import no_init_weights

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# A safetensors header lists names, dtypes, shapes and offsets: some KB per hundred tensors.
MAX_HEADER_BYTES = 100 << 20
MAX_INDEX_BYTES = 100 << 20
# Buffers a model computes from its config rather than loads (windows, filterbanks): the largest is a few MB.
MAX_COMPUTED_ELEMENTS = 1 << 28
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
# transformers' hub arguments that locate a file (the rest of from_pretrained's keywords do not).
HUB_KWARGS = ("cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "subfolder")


class WeightsMismatchError(ValueError):
    """A model folder's weights are unreadable or do not fit its config."""


def read_safetensors_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{name: (dtype, shape)} of a safetensors file, from its header alone, checked against the file's size.

    Raises:
        WeightsMismatchError: the header is missing, too large, not JSON, or describes data the file does not hold.

    Example:
        >>> read_safetensors_header("demo_hubert/model.safetensors")["encoder.layer_norm.weight"]  # doctest: +SKIP
        ('F32', (32,))
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < length <= min(size - 8, MAX_HEADER_BYTES):
            raise WeightsMismatchError(f"{path} is not a safetensors file (truncated, or a header of {length} bytes)")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsMismatchError(f"{path} has a corrupt safetensors header: {error}") from None
    if not isinstance(header, dict):
        raise WeightsMismatchError(f"{path} has a corrupt safetensors header (not a JSON object)")
    data_bytes = size - 8 - length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            valid = (dtype in _DTYPE_BYTES and all(isinstance(d, int) and d >= 0 for d in shape)
                     and isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_bytes
                     and end - start == math.prod(shape) * _DTYPE_BYTES[dtype])
        except (KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            raise WeightsMismatchError(f"{path}: the entry of {name!r} in the safetensors header is corrupt or "
                                       f"points past the end of the file (truncated download?)")
        tensors[name] = (dtype, shape)
    return tensors


def weight_files(path_or_repo: str | os.PathLike, hub_kwargs: dict) -> list[str] | None:
    """The local paths of a folder's or repo's safetensors weights (one file or the index's shards), or None.

    Downloads them from the Hub when `path_or_repo` is a repo id that is not cached (as transformers would next).
    """
    from transformers.utils import cached_file

    options = {key: hub_kwargs[key] for key in HUB_KWARGS if hub_kwargs.get(key) is not None}
    options.update(_raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False)
    index = cached_file(path_or_repo, SAFE_WEIGHTS_INDEX_NAME, **options)
    if index is None:
        single = cached_file(path_or_repo, SAFE_WEIGHTS_NAME, **options)
        return None if single is None else [single]
    if os.path.getsize(index) > MAX_INDEX_BYTES:
        raise WeightsMismatchError(f"{index} is over {MAX_INDEX_BYTES >> 20} MB: not a weights index")
    try:
        weight_map = json.loads(Path(index).read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise WeightsMismatchError(f"{index} is not a safetensors weights index: {error}") from None
    if not all(isinstance(s, str) and s == os.path.basename(s) and s.endswith(".safetensors") for s in shards):
        raise WeightsMismatchError(f"{index} names shards outside its folder or not safetensors: {shards[:5]}")
    files = []
    for shard in shards:
        file = cached_file(path_or_repo, shard, **options)
        if file is None:
            raise WeightsMismatchError(f"{index} lists the shard {shard}, which is missing")
        files.append(file)
    return files


def check_weights_fit_config(model_class, config, path_or_repo: str | os.PathLike, hub_kwargs: dict) -> None:
    """Refuse a folder or repo whose safetensors weights do not have exactly the names and shapes `config` needs.

    The model is built on the meta device (nothing allocated); the weights' headers are read, not their data.

    Raises:
        WeightsMismatchError: missing, unexpected or reshaped weights, no safetensors weights for a model that has
            weights, or a config whose computed buffers would be unreasonably large.

    Example:
        >>> check_weights_fit_config(S3prlHubertModel, config, "demo_hubert", {})  # doctest: +SKIP
    """
    with torch.device("meta"), no_init_weights():
        model = model_class(config)
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    computed = sum(buffer.numel() for name, buffer in model.named_buffers() if name not in expected)
    if computed > MAX_COMPUTED_ELEMENTS:
        raise WeightsMismatchError(f"{path_or_repo}: its config asks for {computed:,} computed buffer values "
                                   f"(windows, filterbanks), over the sane {MAX_COMPUTED_ELEMENTS:,}")
    if not expected:
        return
    files = weight_files(path_or_repo, hub_kwargs)
    if files is None:
        # no safetensors weights (a repo out of reach, a pickle-only or empty folder): transformers' loader fails
        # and `safe_loading.pickle_only_error` says what the folder or repo holds and how to convert it
        return
    found: dict[str, tuple[int, ...]] = {}
    for file in files:
        found.update((name, shape) for name, (_, shape) in read_safetensors_header(file).items())
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    reshaped = [f"{name} {found[name]} where the config needs {expected[name]}"
                for name in expected if name in found and found[name] != expected[name]]
    problems = []
    if reshaped:
        problems.append(f"{len(reshaped)} weights of another shape ({'; '.join(reshaped[:3])}"
                        f"{' ...' if len(reshaped) > 3 else ''})")
    if missing:
        problems.append(f"{len(missing)} weights missing ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''})")
    if unexpected:
        problems.append(f"{len(unexpected)} weights the config has no place for ({', '.join(unexpected[:3])}"
                        f"{' ...' if len(unexpected) > 3 else ''})")
    if problems:
        raise WeightsMismatchError(f"{path_or_repo}: config.json does not match the weights: {'; '.join(problems)}. "
                                   f"Was config.json edited, or copied from another model?")

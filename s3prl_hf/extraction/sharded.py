"""Sharded, resumable extraction to a folder, on one process or many (`torchrun`, `accelerate launch`).

How a run goes (`extract_to_dir`, behind `s3prl-hf extract`):

1. **Plan** (once per output folder, kept in `plan.json`): every input's length is read (from file headers
   where possible; ranks split this work and gather it). Bad inputs are reported here already. Items are
   sorted by length (longest first, ties by input order) and packed greedily into batches whose padded
   size stays under `batch_seconds`, which keeps padding small; consecutive batches form shards of about
   `shard_seconds` of audio. The plan depends only on the inputs and settings, **never on the number of
   processes**, so every utterance is always computed in the same padded batch: group-norm models (HuBERT /
   wav2vec 2.0 base), whose outputs depend on the batch's padding, give the same numbers on 1 or N ranks.
2. **Work**: the shards not yet on disk are dealt round-robin to the ranks. A shard is written to a temporary
   file and renamed into place when complete, so a shard file is always whole; an interrupted run resumes
   by rerunning the same command (finished shards are skipped, never rewritten; the temporary files a killed
   run left are deleted). Its report of bad inputs is written next to it (`shard-NNNNN.json`) before the rename.
3. **Finish**: whichever rank completes the last shard writes `manifest.json` (and `errors.json` when inputs
   were skipped), so no rank waits on another at the end (a claim file, `.finished-<run>`, picks that rank and
   is deleted once the manifest is written). `load_features(DIR)` loads the result.

Bad inputs (unreadable, empty, truncated, NaN, wrong rate with resampling off, several channels with
`stereo="error"`) are reported with their path: `on_error="skip"` leaves them out and lists them;
`on_error="stop"` stops the run at the first, keeping every shard already written.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._version import __version__
from .audio import AudioError
from .changed_inputs import file_stamps, refresh_plan
from .inputs import open_inputs
from ..modeling_utils import check_layers
from ..precision import dtype_name, prepare_model
from .waveforms import WaveformReader, model_fingerprint, resolve_model, run_model, storage_dtype

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
PLAN_FILE, MANIFEST_FILE, ERRORS_FILE = "plan.json", "manifest.json", "errors.json"
ON_ERROR = ("stop", "skip")


class ExtractionError(ValueError):
    """The run stopped on a bad input, or the output folder holds another extraction.

    Attributes:
        errors: `{"id", "path", "error"}` for each bad input found.
    """

    def __init__(self, message: str, errors: Sequence[dict] = ()):
        super().__init__(message)
        self.errors = list(errors)


class IncompleteExtractionError(ValueError):
    """`load_features` on a folder whose run has not finished."""


@dataclass
class ExtractionSummary:
    """What a call of `extract_to_dir` did, seen from its rank.

    Attributes:
        output: The output folder.
        num_items: Inputs in the plan (bad ones included).
        num_shards: Shards in the plan.
        shards_written: Shards this rank wrote in this call.
        shards_already_done: Shards found finished when this call started (resumed runs).
        inputs_changed: Input files rewritten since the plan was made, whose features this call computes again.
        padding_ratio: Padded samples / valid samples - 1 over the plan's batches.
        complete: Whether the whole extraction is finished (this rank wrote the manifest).
        errors: Bad inputs, `{"id", "path", "error"}` (all ranks' when `complete`).
    """

    output: Path
    num_items: int
    num_shards: int
    shards_written: int = 0
    shards_already_done: int = 0
    inputs_changed: int = 0
    padding_ratio: float = 0.0
    complete: bool = False
    errors: list[dict] = field(default_factory=list)


def extract_to_dir(inputs, output: str | os.PathLike, model, *, layers: Sequence[int] | None = None,
                   dtype: str = "float16", batch_seconds: float = 100.0, shard_seconds: float = 1800.0,
                   on_error: str = "stop", stereo: str = "mix", resample: bool = True,
                   sampling_rate: int | None = None, normalize: bool | None = None, audio_column: str = "audio",
                   id_column: str | None = None, split: str | None = None, decoder: str = "auto",
                   progress: bool = True, cpu: bool | None = None,
                   compile: bool | str = False,
                   compute_dtype: str | None = "auto") -> ExtractionSummary:
    """Extract hidden states of many inputs into sharded Arrow files under `output`.

    Runs as one process, or as one rank of `torchrun` / `accelerate launch` (each rank calls this with the
    same arguments). See the module docstring for the plan, the resumption and the error handling.

    Args:
        inputs: An audio folder, a file list, a saved dataset folder, a `datasets.Dataset` or a list of paths
            (see `s3prl_hf.inputs.open_inputs`).
        output: Folder of the result; rerun with the same arguments to resume.
        model: A name / repo id / converted folder (loaded on each rank), or a loaded upstream; it is moved to
            the rank's device and put in eval mode.
        layers: Hidden states to store (negative from the end); all by default.
        dtype: Storage dtype, "float16" or "float32".
        batch_seconds: Most padded seconds of audio per forward pass (one longer input runs alone).
        shard_seconds: Seconds of audio per shard file: the unit of resumption.
        on_error: "stop" at the first bad input, or "skip" bad inputs and list them.
        stereo: "mix" several channels down to mono, or "error" (a bad input).
        resample: Resample other rates to the model's; when False they are bad inputs.
        sampling_rate: Rate of raw-array dataset columns (default: the model's).
        normalize: Layer-norm each hidden state (default: the model's config).
        audio_column, id_column, split, decoder: For dataset inputs (see `open_inputs`).
        progress: Show a progress bar on the main rank.
        cpu: Force CPU (default: CPU only when CUDA is unavailable).
        compile: `torch.compile` the model's network (`compile_body`; True: inductor, or a backend's name). Off by
            default: it pays on CUDA; on CPU with inductor it may not. Not part of the plan's settings (a resumed
            run may switch it): valid frames are the same up to the rounding of fused kernels. Every batch is
            already length-sorted (the plan), so few distinct shapes are compiled.
        compute_dtype: Dtype the model computes in: "float32", "bfloat16", "float16", or "auto" (default:
            bfloat16 on CUDA, float32 on CPU); numerically sensitive parts stay float32 (README, "Reduced
            precision"). Separate from the storage `dtype`; part of the settings, so a resumed run never mixes
            features of two compute dtypes.

    Returns:
        An `ExtractionSummary`.

    Raises:
        ExtractionError: `on_error="stop"` and a bad input, or `output` holds an extraction with other settings.

    Example:
        >>> summary = extract_to_dir("corpus/wavs", "features", "hubert", layers=[6, 12])  # doctest: +SKIP
        >>> ds = load_features("features")  # doctest: +SKIP
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}: expected one of {ON_ERROR}")
    if batch_seconds <= 0 or shard_seconds <= 0:
        raise ValueError("batch_seconds and shard_seconds must be positive")
    state = _state(cpu)
    output = Path(output)
    # Every rank resolves the model itself: downloads and conversions are serialised by file locks (one rank
    # fetches, the others wait and load the same files), and a rank that fails raises on its own, so no rank is
    # left waiting at a barrier for one that died.
    model = resolve_model(model)
    model = model.to(state.device).eval()
    model, computing = prepare_model(model, compute_dtype, state.device)
    if compile:
        model.compile_body(backend="inductor" if compile is True else compile)
    selected = check_layers(layers, model.num_layers)
    torch_dtype = storage_dtype(dtype)
    reader = WaveformReader(model.sampling_rate, sampling_rate, stereo, resample)
    items = open_inputs(inputs, audio_column, id_column, split, decoder)
    settings = {
        "format": FORMAT_VERSION, "s3prl_hf": __version__, "model": model_fingerprint(model),
        "model_rate": model.sampling_rate, "layers": selected, "dtype": dtype, "compute_dtype": dtype_name(computing),
        "batch_seconds": batch_seconds, "shard_seconds": shard_seconds, "stereo": stereo, "resample": resample,
        "sampling_rate": reader.sampling_rate, "normalize": normalize, "inputs": items.fingerprint,
    }

    token = _run_token(state)
    existing = _read_json(output / PLAN_FILE)
    state.wait_for_everyone()  # every rank has looked before rank 0 may write a plan
    changed = 0
    if existing is not None:
        plan = _check_plan(existing, settings, output)
        changed = _recompute_changed_inputs(plan, items, reader, output, state)
    else:
        plan = _make_plan(items, reader, settings, state, on_error)
        if state.is_main_process:
            output.mkdir(parents=True, exist_ok=True)
            _write_json(output / PLAN_FILE, plan)

    if state.is_main_process:
        _remove_stale_files(output)  # before the barrier below: no rank of this run has written a shard yet
    state.wait_for_everyone()  # stale shards of changed inputs are gone before any rank lists the finished ones
    shards = plan["shards"]
    done = {k for k in range(len(shards)) if _shard_path(output, k).exists()}
    pending = [k for k in range(len(shards)) if k not in done]
    state.wait_for_everyone()  # every rank has listed the finished shards before any rank writes one
    mine = pending[state.process_index::state.num_processes]

    summary = ExtractionSummary(output=output, num_items=len(plan["items"]["ids"]), num_shards=len(shards),
                                shards_already_done=len(done), inputs_changed=changed,
                                padding_ratio=plan["padding_ratio"])
    features = _features(model, selected, dtype)
    total = sum(len(batch) for k in mine for batch in shards[k])
    bar = _progress_bar(total, progress and state.is_main_process, state)
    try:
        for k in mine:
            errors = _write_shard(output, k, shards[k], items, reader, model, selected, normalize, torch_dtype,
                                  features, on_error, bar, state.process_index)
            summary.errors.extend(errors)
            summary.shards_written += 1
    finally:
        bar.close()
    if all(_shard_path(output, k).exists() for k in range(len(shards))) and _claim_finish(output, token):
        summary.errors = _write_manifest(output, plan, token)
        _release_finish(output, token)
        summary.complete = True
    return summary


def load_features(output: str | os.PathLike, order: str = "input", format: str | None = "numpy",
                  allow_partial: bool = False):
    """Load the result of `extract_to_dir` / `s3prl-hf extract` as one `datasets.Dataset`.

    Columns: `index` (position in the input), `id`, `path` (file inputs), `num_samples` (at the model's
    rate), and per stored layer `layer_<i>` (time x hidden size) and `layer_<i>_length`. The shards are
    memory-mapped, not copied.

    Args:
        output: The output folder.
        order: "input" (the input's order; skipped inputs are absent) or "storage" (length-sorted shards).
        format: "numpy" / "torch": feature columns as arrays in their stored dtype (see
            `set_feature_format`); None: plain datasets formatting.
        allow_partial: Load the shards finished so far of an unfinished run instead of raising.

    Raises:
        FileNotFoundError: not an extraction folder.
        IncompleteExtractionError: the run has not finished (rerun the same command to resume it).

    Nothing is written into `output`: read-only folders (shared, archived) load as well.

    Example:
        >>> from s3prl_hf import load_features
        >>> ds = load_features("features")  # doctest: +SKIP
        >>> ds[0]["id"], ds[0]["layer_12"].shape, ds[0]["layer_12"].dtype  # doctest: +SKIP
        ('spk1/utt1.wav', (149, 768), dtype('float16'))
    """
    from datasets import Dataset, concatenate_datasets

    from .dataset_features import set_feature_format

    if order not in ("input", "storage"):
        raise ValueError(f"order={order!r}: expected 'input' or 'storage'")
    output = Path(output)
    manifest = _read_json(output / MANIFEST_FILE)
    if manifest is not None:
        files = [output / name for name in manifest["shards"]]
        if not files:
            raise ValueError(f"{output}: no input could be extracted (see {output / ERRORS_FILE})")
    else:
        plan = _read_json(output / PLAN_FILE)
        if plan is None:
            raise FileNotFoundError(f"{output} holds no extraction ({PLAN_FILE} / {MANIFEST_FILE} missing)")
        files = [_shard_path(output, k) for k in range(len(plan["shards"]))]
        finished = [f for f in files if f.exists()]
        if not allow_partial:
            raise IncompleteExtractionError(
                f"{output}: the extraction is unfinished ({len(finished)} of {len(files)} shards written); rerun "
                f"the same command to resume it, or pass allow_partial=True to load the finished shards")
        files = finished
    if not files:
        raise IncompleteExtractionError(f"{output}: no shard written yet")
    dataset = concatenate_datasets([Dataset.from_file(str(f)) for f in files])
    if order == "input":
        # An in-memory permutation (8 bytes a row): `Dataset.sort` writes a cache file beside the shards (failing
        # on read-only folders) and refuses keep_in_memory for datasets backed by files.
        permutation = np.argsort(dataset.data.column("index").to_numpy(), kind="stable")
        dataset = dataset.select(permutation, keep_in_memory=True)
    return set_feature_format(dataset, format) if format else dataset


# --- planning -------------------------------------------------------------------------------------------


def make_batches(lengths: dict[int, int], batch_samples: int) -> list[list[int]]:
    """Greedy length-sorted batches: longest first (ties by index), padded size <= `batch_samples`.

    Example:
        >>> make_batches({0: 10, 1: 30, 2: 20, 3: 10}, 60)
        [[1, 2], [0, 3]]
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in sorted(lengths, key=lambda i: (-lengths[i], i)):
        if current and (len(current) + 1) * longest > batch_samples:
            batches.append(current)
            current = []
        if not current:
            longest = lengths[index]
        current.append(index)
    if current:
        batches.append(current)
    return batches


def padding_ratio(batches: list[list[int]], lengths: dict[int, int]) -> float:
    """Padded samples over valid samples, minus one (0 = no padding)."""
    valid = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return padded / valid - 1 if valid else 0.0


def _make_plan(items, reader, settings, state, on_error) -> dict:
    n, world, rank = len(items), state.num_processes, state.process_index
    start, stop = n * rank // world, n * (rank + 1) // world
    probed = [v if isinstance(v, int) else {"path": v.source, "error": v.reason}
              for v in items.num_samples(range(start, stop), reader)]
    if world > 1:
        from accelerate.utils import gather_object

        probed = gather_object(probed)  # rank order: the same full list on every rank
    lengths = {i: v for i, v in enumerate(probed) if isinstance(v, int)}
    bad = [{"index": i, "id": items.ids[i], "path": v["path"], "error": v["error"]}
           for i, v in enumerate(probed) if not isinstance(v, int)]
    if bad and on_error == "stop":
        raise ExtractionError(_bad_message(bad, "stopped before extracting anything"), bad)

    rate = settings["model_rate"]
    batches = make_batches(lengths, int(settings["batch_seconds"] * rate))
    shards, current, seconds = [], [], 0.0
    for batch in batches:
        current.append(batch)
        seconds += sum(lengths[i] for i in batch) / rate
        if seconds >= settings["shard_seconds"]:
            shards.append(current)
            current, seconds = [], 0.0
    if current:
        shards.append(current)
    return {"settings": settings, "items": {"ids": items.ids, "paths": items.paths,
                                            "samples": [lengths.get(i) for i in range(n)],
                                            "stamps": file_stamps(items.paths)},
            "bad": bad, "shards": shards, "padding_ratio": padding_ratio(batches, lengths)}


def _check_plan(plan: dict, settings: dict, output: Path) -> dict:
    plan["settings"].setdefault("compute_dtype", "float32")  # plans from before compute dtypes computed in fp32
    differing = sorted(k for k in set(plan["settings"]) | set(settings) if plan["settings"].get(k) != settings.get(k))
    if differing:
        raise ExtractionError(f"{output} holds an extraction with other settings ({', '.join(differing)} differ): "
                              f"rerun with the same model, inputs and options to resume it, or choose a new "
                              f"--output")
    return plan


def _recompute_changed_inputs(plan: dict, items, reader, output: Path, state) -> int:
    """Files rewritten since the plan was made: delete the shards that hold their features, so they are written again.

    The manifest goes first (a reader then sees an unfinished run, never stale features), the plan last (a run
    killed in between finds the same files changed and deletes the same shards). Returns the number of changed
    inputs.
    """
    refresh = refresh_plan(plan, items, reader)
    if not refresh.changed:
        return 0
    if refresh.revived:  # inputs that were bad and read now: new shards at the end of the plan
        lengths = {i: plan["items"]["samples"][i] for i in refresh.revived}
        for batch in make_batches(lengths, int(plan["settings"]["batch_seconds"] * plan["settings"]["model_rate"])):
            plan["shards"].append([batch])
    logger.warning("%d input file(s) changed since %s was planned (size or modification time): computing their "
                   "features again", len(refresh.changed), output)
    if state.is_main_process:
        for name in (MANIFEST_FILE, ERRORS_FILE):
            (output / name).unlink(missing_ok=True)
        for k in sorted(refresh.stale_shards):
            _shard_path(output, k).with_suffix(".json").unlink(missing_ok=True)
            _shard_path(output, k).unlink(missing_ok=True)
        _write_json(output / PLAN_FILE, plan)
    return len(refresh.changed)


# --- work ----------------------------------------------------------------------------------------------


def _write_shard(output, k, batches, items, reader, model, selected, normalize, torch_dtype, features,
                 on_error, bar, rank) -> list[dict]:
    from datasets.arrow_writer import ArrowWriter

    final = _shard_path(output, k)
    temporary = output / f".{final.name}.tmp-{os.getpid()}"
    errors = []
    names = [f"layer_{i}" for i in selected]
    writer = ArrowWriter(features=features, path=str(temporary))
    try:
        for batch in batches:
            loaded = items.load(batch, reader)
            good = []
            for index, wav in zip(batch, loaded):
                if isinstance(wav, AudioError):
                    error = {"index": index, "id": items.ids[index], "path": wav.source, "error": wav.reason}
                    if on_error == "stop":
                        raise ExtractionError(_bad_message([error], "stopped; finished shards are kept"), [error])
                    errors.append(error)
                    logger.warning("skipping %s: %s", wav.source, wav.reason)
                else:
                    good.append((index, wav))
            if good:
                rows = {"index": [i for i, _ in good], "id": [items.ids[i] for i, _ in good],
                        "path": [items.paths[i] for i, _ in good], "num_samples": [w.shape[0] for _, w in good]}
                outputs = run_model(model, [w for _, w in good], selected, normalize, torch_dtype)
                for name, (arrays, counts) in zip(names, outputs):
                    rows[name], rows[name + "_length"] = arrays, counts
                writer.write_batch(rows)
            bar.update(len(batch))
        writer.finalize()
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
    _write_json(final.with_suffix(".json"), {"rank": rank, "errors": errors})
    os.replace(temporary, final)  # the shard exists only once whole
    return errors


def _write_manifest(output: Path, plan: dict, token: str) -> list[dict]:
    errors = list(plan["bad"])
    for k in range(len(plan["shards"])):
        report = _read_json(_shard_path(output, k).with_suffix(".json")) or {}
        errors.extend(report.get("errors", []))
    errors.sort(key=lambda e: e["index"])
    manifest = {"format": FORMAT_VERSION, "settings": plan["settings"],
                "shards": [_shard_path(output, k).name for k in range(len(plan["shards"]))],
                "num_items": len(plan["items"]["ids"]), "num_errors": len(errors), "run": token}
    if errors:
        _write_json(output / ERRORS_FILE, errors)
    _write_json(output / MANIFEST_FILE, manifest)
    return errors


def _features(model, selected, dtype):
    from datasets import Array2D, Features, Value

    columns = {"index": Value("int64"), "id": Value("string"), "path": Value("string"),
               "num_samples": Value("int64")}
    for i in selected:
        columns[f"layer_{i}"] = Array2D(shape=(None, model.hidden_sizes[i]), dtype=dtype)
        columns[f"layer_{i}_length"] = Value("int32")
    return Features(columns)


# --- helpers -------------------------------------------------------------------------------------------


def _state(cpu: bool | None):
    from accelerate import PartialState

    # PartialState only sets up a CPU (gloo) process group under torchrun when told cpu=True.
    return PartialState(cpu=not torch.cuda.is_available() if cpu is None else cpu)


def _run_token(state) -> str:
    """An id of this run shared by all ranks (rank 0's, broadcast); also a barrier."""
    token = [uuid.uuid4().hex]
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(token)
    return token[0]


def _claim_finish(output: Path, token: str) -> bool:
    """True for exactly one rank of the run that sees every shard written: it writes the manifest.

    Without this, two ranks finishing together would both report; no barrier is needed at the end, so a rank
    that finishes long before the others does not time out waiting for them.
    """
    claim = output / f".finished-{token}"
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    if (_read_json(output / MANIFEST_FILE) or {}).get("run") == token:  # a rank of this run finished and released
        claim.unlink(missing_ok=True)
        return False
    return True


def _release_finish(output: Path, token: str) -> None:
    """Delete the claim once the manifest (which names the run) is written: a finished folder holds no dot files."""
    (output / f".finished-{token}").unlink(missing_ok=True)


def _remove_stale_files(output: Path) -> None:
    """Delete what killed runs left behind: their temporary files and their claims to finish.

    Called by the main rank before any rank of the current run writes (a barrier follows), so the files found
    belong to earlier runs. A temporary file whose writer is still alive on this machine (another run into the
    same folder) is kept; it is cleaned by a later run once that process is gone.
    """
    if not output.is_dir():
        return
    for path in output.glob(".*.tmp-*"):
        pid = path.name.rpartition(".tmp-")[2]
        if pid.isdigit() and (int(pid) == os.getpid() or not _process_alive(int(pid))):
            path.unlink(missing_ok=True)
    for claim in output.glob(".finished-*"):
        claim.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    return pid > 0


def _progress_bar(total: int, enabled: bool, state):
    from tqdm.auto import tqdm

    label = f"extracting (rank 0 of {state.num_processes})" if state.num_processes > 1 else "extracting"
    return tqdm(total=total, disable=not enabled, unit="utt", desc=label)


def _shard_path(output: Path, k: int) -> Path:
    return output / f"shard-{k:05d}.arrow"


def _bad_message(bad: list[dict], what: str) -> str:
    shown = "\n".join(f"  {e['path'] or e['id']}: {e['error']}" for e in bad[:20])
    more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
    return (f"{len(bad)} bad input(s), {what} (on_error='skip' / --on-error skip leaves them out):\n"
            f"{shown}{more}")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _write_json(path: Path, value) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, path)

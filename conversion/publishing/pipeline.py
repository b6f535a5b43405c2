"""The publish run: names and patterns -> built folders (in parallel, with a progress bar) -> push -> summary table.

One run at a time per output folder (a lock file). Leftovers of an interrupted run (`DIR/.staging/`) are deleted
first; names whose sources and converter version are unchanged are skipped, so rerunning the same command resumes.
A failure on one name is listed with its reason and the others go on; the exit status is 1 if any name failed.
"""

from __future__ import annotations

import logging
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from s3prl_hf import registry
from s3prl_hf.weights.download import human_size

from .build import STAGING, BuildOptions, Outcome, build_name
from .manifest import Manifest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushOptions:
    namespace: str
    pins: Path
    api: object = None  # an `HfApi`; None: `huggingface_hub.HfApi()` (token from HF_TOKEN or `hf auth login`)


def resolve_names(patterns: list[str]) -> list[str]:
    """Canonical names for names, aliases and shell patterns (`'hubert*'`), in order, without repeats.

    Raises:
        registry.UnknownUpstreamError: an unknown name.
        ValueError: a pattern that matches nothing.

    Example:
        >>> resolve_names(["hubert", "wavlm_*"])
        ['hubert_base', 'wavlm_base', 'wavlm_base_plus', 'wavlm_large']
    """
    names: dict[str, None] = {}
    for pattern in patterns:
        if any(char in pattern for char in "*?["):
            matches = registry.list_upstreams(pattern)
            if not matches:
                raise ValueError(f"no upstream name matches {pattern!r}")
            names.update(dict.fromkeys(matches))
        else:
            names[registry.resolve_name(pattern)] = None
    return list(names)


def run(names: list[str], options: BuildOptions, push: PushOptions | None = None, jobs: int = 1,
        progress: bool = True, out=None) -> list[Outcome]:
    """Build (and push) `names` into `options.output`; print the summary table to `out`; return the outcomes.

    Raises:
        OSError: another run holds the output folder.
    """
    out = out or sys.stdout
    output = options.output
    output.mkdir(parents=True, exist_ok=True)
    lock = FileLock(output / ".publish.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OSError(f"another publish run is using {output} (lock {lock.lock_file}); wait for it or give another "
                      f"--output") from None
    try:
        shutil.rmtree(output / STAGING, ignore_errors=True)  # an interrupted run's half-made folders
        manifest = Manifest(output)
        outcomes = _build_all(names, options, manifest, max(1, jobs), progress)
        if push is not None:
            from .hub import push_names

            api = push.api
            if api is None:
                from huggingface_hub import HfApi

                api = HfApi()
            ready = [o.name for o in outcomes if o.status in ("built", "skipped") and manifest.get(o.name)]
            statuses = push_names(api, manifest, output, ready, push.namespace, push.pins)
            for outcome in outcomes:
                outcome.push = statuses.get(outcome.name, outcome.push)
            if "(collection)" in statuses:
                print(statuses["(collection)"], file=out)
    finally:
        shutil.rmtree(output / STAGING, ignore_errors=True)
        lock.release()
    print_summary(outcomes, out)
    return outcomes


def _build_all(names, options, manifest, jobs, progress) -> list[Outcome]:
    from tqdm.auto import tqdm

    results: dict[str, Outcome] = {}
    with tqdm(total=len(names), desc="publish", unit="name", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_build_safely, name, options, manifest): name for name in names}
        for future in as_completed(futures):
            outcome = future.result()
            results[outcome.name] = outcome
            bar.set_postfix_str(f"{outcome.name}: {outcome.status}", refresh=False)
            bar.update(1)
    return [results[name] for name in names]


def _build_safely(name: str, options: BuildOptions, manifest: Manifest) -> Outcome:
    try:
        return build_name(registry.get_spec(name), options, manifest)
    except Exception as error:  # listed with its reason; the other names go on
        logger.debug("%s failed", name, exc_info=True)
        text = str(error).strip().splitlines()
        reason = text[0] if text else type(error).__name__
        if not isinstance(error, (OSError, ValueError, RuntimeError)):
            reason = f"{type(error).__name__}: {reason}"
        return Outcome(name, "failed", reason)


def print_summary(outcomes: list[Outcome], out=None) -> None:
    """The table: name, source size, converted size, parity, status; then each failure with its reason."""
    out = out or sys.stdout
    rows = [("name", "source", "converted", "parity", "status")]
    for o in outcomes:
        parity = f"{o.parity:.1e}" if isinstance(o.parity, float) else (str(o.parity) if o.parity is not None else "-")
        status = _status(o)
        rows.append((o.name, _size(o.source_size), _size(o.converted_size), parity, status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(file=out)
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4], file=out)
    failed = [o for o in outcomes if o.status == "failed"]
    counts = {status: sum(o.status == status for o in outcomes) for status in ("built", "skipped", "failed")}
    print(f"\n{counts['built']} built, {counts['skipped']} skipped, {counts['failed']} failed", file=out)
    for o in failed:
        print(f"  {o.name}: {o.reason}", file=out)


def _status(o: Outcome) -> str:
    if o.status == "failed":
        return "failed"
    if o.status == "skipped":
        built = "skipped (unchanged)" if o.reason.startswith("unchanged") else f"skipped: {o.reason}"
    else:
        built = "built" + (f" ({o.reason})" if o.reason and not o.push else "")
    return f"{built}; {o.push}" if o.push else built


def _size(size: int | None) -> str:
    return "-" if size is None else human_size(size)

"""The conversion cache: each original checkpoint converted once, per converter version, shared by all processes.

A conversion lives in `converted/<name>/<key>-c<version>/`, where `key` is a prefix of the source files' sha256
and `version` the family's converter version, with a `source.json` saying what it was made from. It is written
into a temporary folder beside it and renamed into place (a rename onto a missing path), so no process ever sees a
half-written folder, and a killed conversion leaves only a temporary folder that the next conversion deletes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import registry
from ..conversion.folders import rename_no_replace
from .paths import cache_root, converted_root

logger = logging.getLogger(__name__)

SOURCE_FILE = "source.json"
_TEMPORARY_PREFIX = ".tmp-"


@dataclass(frozen=True)
class CachedConversion:
    """One folder of the conversion cache."""

    name: str
    path: Path
    converter_version: int
    urls: tuple[str, ...]
    sha256: tuple[str, ...]
    size: int
    created: float


def cache_key(digests: Sequence[str]) -> str:
    """A short key for a set of source files: the sha256 prefix of the one file, or of the files' digests."""
    if len(digests) == 1:
        return digests[0][:16]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


def find_conversion(spec: registry.UpstreamSpec, converter_version: int) -> Path | None:
    """The newest cached conversion of `spec` by this converter version from one of its listed sources, or None.

    Where every file of a source is pinned, only the conversion of exactly those bytes qualifies.
    """
    wanted = {tuple(f.url for f in option): option for option in spec.download_options}
    best = None
    for entry in list_conversions(spec.name):
        option = wanted.get(entry.urls)
        if entry.converter_version != converter_version or option is None:
            continue
        pinned = [f.sha256 for f in option]
        if all(pinned) and tuple(pinned) != entry.sha256:
            continue
        if best is None or entry.created > best.created:
            best = entry
    return best.path if best else None


def store_conversion(spec: registry.UpstreamSpec, converter_version: int, files: Sequence[Path],
                     sources: Sequence[registry.SourceFile], digests: Sequence[str], convert) -> Path:
    """Convert `files` with `convert(files, output)` into the cache and return the final folder.

    Call it holding the name's lock: temporary folders of earlier, killed conversions are deleted first.
    """
    root = converted_root(spec.name)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{_TEMPORARY_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"{cache_key(digests)}-c{converter_version}"
    if (final / "config.json").is_file():
        return final
    staging = root / f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex}"
    try:
        output = staging / "model"
        convert(list(files), output)
        (output / SOURCE_FILE).write_text(json.dumps({
            "name": spec.name, "converter_version": converter_version,
            "files": [{"url": s.url, "sha256": d, "size": Path(f).stat().st_size}
                      for s, d, f in zip(sources, digests, files)],
            "created": time.time(),
        }, indent=2) + "\n")
        try:
            rename_no_replace(output, final)  # the commit: onto a path that does not exist
        except FileExistsError:  # made meanwhile by a process that did not take the lock: same content
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def list_conversions(name: str | None = None) -> list[CachedConversion]:
    """Every complete folder of the conversion cache (of one name, or all), oldest first."""
    roots = [converted_root(name)] if name else sorted((cache_root() / "converted").glob("*"))
    entries = []
    for root in roots:
        for folder in sorted(root.glob("*-c*")) if root.is_dir() else []:
            info = _read_source(folder)
            if info is None:
                continue
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            entries.append(CachedConversion(
                name=info["name"], path=folder, converter_version=int(info["converter_version"]),
                urls=tuple(f["url"] for f in info["files"]), sha256=tuple(f["sha256"] for f in info["files"]),
                size=size, created=float(info.get("created", 0))))
    return sorted(entries, key=lambda e: e.created)


def remove_conversion(entry: CachedConversion) -> None:
    """Delete one conversion: renamed aside first, so that no reader finds it half-deleted."""
    doomed = entry.path.with_name(f"{_TEMPORARY_PREFIX}removed-{uuid.uuid4().hex}")
    os.rename(entry.path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _read_source(folder: Path) -> dict | None:
    if not (folder / "config.json").is_file():
        return None
    try:
        info = json.loads((folder / SOURCE_FILE).read_text())
        if not isinstance(info.get("files"), list) or "converter_version" not in info or "name" not in info:
            return None
        return info
    except (OSError, ValueError, AttributeError):
        return None

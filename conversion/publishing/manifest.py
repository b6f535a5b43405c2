"""`DIR/manifest.json`: one entry per built name, the record of a publish run and the input of the push.

An entry holds the source URLs with the sha256 and size of each original file, the converter version, every file of
the repo with its sha256 (the weight files named), the parity figure, the licence and whether the weights may be
re-hosted, and once pushed, the repo id, commit and tag. The file is rewritten whole (temporary file + rename) after
each name, so an interrupted run leaves a valid manifest of what was finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

MANIFEST_FILE = "manifest.json"
FORMAT = "s3prl_hf.publish_manifest"
FORMAT_VERSION = 1


class Manifest:
    """The manifest of an output folder; safe to update from several threads.

    Example:
        >>> manifest = Manifest(Path("published"))  # doctest: +SKIP
        >>> manifest.get("hubert_large_ll60k")["sources"][0]["sha256"]  # doctest: +SKIP
        '...'
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / MANIFEST_FILE
        self._lock = threading.Lock()
        if self.path.is_file():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"{self.path} is not a publish manifest (format {data.get('format')!r})")
        else:
            data = {"format": FORMAT, "format_version": FORMAT_VERSION, "names": {}}
        self.data = data

    def get(self, name: str) -> dict | None:
        """The entry of `name`, or None."""
        with self._lock:
            entry = self.data["names"].get(name)
            return json.loads(json.dumps(entry)) if entry is not None else None

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self.data["names"])

    def put(self, name: str, entry: dict) -> None:
        """Set the entry of `name` and write the file."""
        with self._lock:
            self.data["names"][name] = entry
            write_json_atomic(self.path, self.data)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write `data` as JSON (sorted keys, indent 2, trailing newline) through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_records(folder: Path) -> dict[str, dict]:
    """{relative path: {"sha256", "size"}} of every file under `folder`, sorted."""
    records = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
        records[path.relative_to(folder).as_posix()] = {"sha256": digest.hexdigest(), "size": path.stat().st_size}
    return records


def content_digest(files: dict[str, dict]) -> str:
    """One sha256 for a repo's content: of its files' paths and sha256, sorted."""
    text = "\n".join(f"{path} {record['sha256']}" for path, record in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()

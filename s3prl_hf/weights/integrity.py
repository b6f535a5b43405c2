"""Check an original file before it is converted: its pinned sha256 and size, or the sha256 seen the first time.

A sha256 pinned in the registry (`data/pins.json`) is checked; a mismatch is an error. An unknown one is computed,
recorded beside the download (`downloads/<host>/<path>.sha256`), printed so that it can be pinned, and re-checked
whenever the same file is read again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..conversion import file_sha256
from ..registry import SourceFile
from .paths import download_path

logger = logging.getLogger(__name__)


class IntegrityError(OSError):
    """A file's bytes are not the ones the registry (or an earlier read) says they are."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


def record_path(url: str) -> Path:
    """Where the sha256 first seen for `url` is recorded."""
    path = download_path(url)
    return path.with_name(path.name + ".sha256")


def check_file(path: Path, source: SourceFile) -> str:
    """Return the sha256 of `path`, after checking it against the pin or the recorded value.

    Raises:
        IntegrityError: another size or sha256 than pinned, or another sha256 than first recorded.

    Example:
        >>> check_file(Path("hubert_base_ls960.pt"), source_file(url))  # doctest: +SKIP
        '1703cf8d2cdc76f8c046f5f6a9bcd224e0e6caf4744cad1a1f4199c32cac8c8d'
    """
    size = path.stat().st_size
    if source.size is not None and size != source.size:
        raise IntegrityError(source.url, f"{size} bytes, the registry pins {source.size}")
    digest = file_sha256(path)
    if source.sha256 is not None:
        if digest != source.sha256:
            raise IntegrityError(source.url, f"sha256 {digest}, the registry pins {source.sha256}")
        return digest
    record = record_path(source.url)
    recorded = _read_record(record)
    if recorded is not None:
        if recorded != digest:
            raise IntegrityError(source.url, f"sha256 {digest}, but it was {recorded} when first downloaded "
                                             f"(recorded in {record})")
        return digest
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"url": source.url, "sha256": digest, "size": size}) + "\n")
    logger.warning("sha256 of %s: %s (%d bytes); not pinned in s3prl_hf's registry, so it was recorded in %s and "
                   "is checked on every later read", source.url, digest, size, record)
    return digest


def forget(url: str) -> None:
    """Drop the recorded sha256 of `url` (its download was deleted as bad)."""
    record_path(url).unlink(missing_ok=True)


def _read_record(record: Path) -> str | None:
    try:
        return json.loads(record.read_text())["sha256"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable record is rewritten from the file

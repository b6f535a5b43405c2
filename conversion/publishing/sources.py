"""Fetch a name's original file(s) as `from_pretrained` would, and record what was fetched.

The same downloader as the package (`s3prl_hf.weights.download.fetch_file`: resumable, cached, `S3PRL_HF_MIRROR`
honoured) and the same checks (`s3prl_hf.weights.integrity.check_file`: the registry's pins, else the sha256 recorded
at the first download). Sources are tried in the registry's order: S3PRL's copy first, then the original release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s3prl_hf import registry
from s3prl_hf.weights.download import DownloadError, discard, fetch_file
from s3prl_hf.weights.integrity import IntegrityError, check_file, forget


@dataclass(frozen=True)
class FetchedFile:
    """One original file on this machine."""

    url: str
    path: Path
    sha256: str
    size: int

    def record(self) -> dict:
        """What the manifest and the pins keep of it."""
        return {"url": self.url, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class Release:
    """The complete set of original files of one listed source of a name."""

    release: str  # "s3prl" (S3PRL's copy, what its hub function downloads) or "original" (the authors' release)
    files: tuple[FetchedFile, ...]

    def records(self) -> list[dict]:
        return [f.record() for f in self.files]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class SourceError(OSError):
    """No listed source of a name could be fetched and checked."""


def fetch_release(spec: registry.UpstreamSpec) -> Release:
    """Download (or find in the cache) and check the original file(s) of `spec`, best source first.

    Raises:
        SourceError: every listed source failed; the message names each URL and why.

    Example:
        >>> fetch_release(registry.get_spec("hubert_base")).files[0].sha256  # doctest: +SKIP
        '1703cf8d2cdc76f8c046f5f6a9bcd224e0e6caf4744cad1a1f4199c32cac8c8d'
    """
    if not spec.download_options:
        raise SourceError(f"the registry lists no original checkpoint for '{spec.name}'")
    failures = []
    for index, option in enumerate(spec.download_options):
        fetched: list[FetchedFile] = []
        try:
            for source in option:
                path = fetch_file(source.url, expected_size=source.size)
                try:
                    digest = check_file(path, source)
                except IntegrityError:
                    discard(source.url, path)
                    forget(source.url)
                    raise
                fetched.append(FetchedFile(source.url, path, digest, path.stat().st_size))
        except (DownloadError, IntegrityError) as error:
            failures.append(f"{error.url}: {error.reason}")
            continue
        release = "s3prl" if tuple(s.url for s in option) == tuple(spec.s3prl_urls) else "original"
        return Release(release, tuple(fetched))
    raise SourceError(f"cannot fetch the original of '{spec.name}': {'; '.join(failures)}")

"""Folders of s3prl_hf's caches, under the Hugging Face cache root unless `S3PRL_HF_CACHE` says otherwise.

```
<HF_HOME>/s3prl_hf/
  downloads/<host>/<path>            original files from hosts other than huggingface.co (or from a mirror),
  downloads/<host>/<path>.sha256     and the sha256 recorded the first time each original file was read
  converted/<name>/<key>-c<version>/ one converted folder per (source files, converter version)
  locks/                             one lock file per name and per download
```
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

CACHE_ENV = "S3PRL_HF_CACHE"


def cache_root() -> Path:
    """The root of s3prl_hf's caches.

    Example:
        >>> cache_root().name  # doctest: +SKIP
        's3prl_hf'
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "s3prl_hf"


def download_path(url: str) -> Path:
    """Where a download of `url` (query dropped) is kept: `downloads/<host>/<path>`.

    Example:
        >>> download_path("https://www.dropbox.com/s/abc/states-200000.ckpt?dl=1").parts[-4:]  # doctest: +SKIP
        ('www.dropbox.com', 's', 'abc', 'states-200000.ckpt')
    """
    parts = urlsplit(url)
    segments = [_safe_segment(unquote(s)) for s in parts.path.split("/") if s]
    if not parts.hostname or not segments:
        raise ValueError(f"not a file URL: {url!r}")
    return cache_root().joinpath("downloads", _safe_segment(parts.hostname), *segments)


def lock_path(kind: str, key: str) -> Path:
    """A lock file for `key` (a name or a URL) under `locks/<kind>/`."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = cache_root() / "locks" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{_safe_segment(key)[-60:]}-{digest}.lock"


def converted_root(name: str) -> Path:
    """The folder that holds every conversion of upstream `name`."""
    return cache_root() / "converted" / name


def _safe_segment(text: str) -> str:
    # Keep file names readable but never let a URL climb out of the cache ("..", separators, control characters).
    cleaned = re.sub(r"[^A-Za-z0-9._+=-]", "_", text)
    return cleaned if cleaned.strip(".") else cleaned.replace(".", "_")

"""Fetch original checkpoint files: huggingface.co through `hf_hub_download`, other hosts resumably.

- Files on huggingface.co (`https://huggingface.co/<repo>/resolve|blob|raw/<revision>/<path>`) go through
  `huggingface_hub.hf_hub_download`: the standard cache, `HF_ENDPOINT`, offline mode, etags and resume. One quick
  metadata request without retries comes first, so a missing file or an unreachable endpoint fails in seconds.
- Other hosts (Dropbox, fbaipublicfiles, GitHub releases, Azure) are streamed with huggingface_hub's HTTP session
  into `downloads/<host>/<path>.incomplete`, with a progress bar, and renamed when complete. An interrupted
  download (a dropped connection, a killed process) resumes with an HTTP Range request where it stopped.
- `S3PRL_HF_MIRROR=<base URL>` fetches every original URL `https://HOST/PATH?QUERY` from `<base>/HOST/PATH`,
  huggingface.co included, for sites that mirror the originals and for tests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import FileLock

from .paths import download_path, lock_path

logger = logging.getLogger(__name__)

MIRROR_ENV = "S3PRL_HF_MIRROR"
HUB_HOST = "huggingface.co"
# Seconds to wait for a host to accept a connection.
CONNECT_TIMEOUT = float(os.environ.get("S3PRL_HF_CONNECT_TIMEOUT", "10"))
# Seconds to wait for the Hub's answer to a metadata request before falling through to the next source.
HUB_PROBE_TIMEOUT = float(os.environ.get("S3PRL_HF_HUB_TIMEOUT", "5"))
# Resume attempts after a connection drops mid-file, when the previous attempt made progress.
MAX_RESUMES = 5


class DownloadError(OSError):
    """An original file could not be fetched.

    Attributes:
        url: The file's URL as the registry lists it.
        reason: What went wrong, in a few words (HTTP status, connection refused, offline, ...).
    """

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


@dataclass(frozen=True)
class HubFile:
    """A file of a Hugging Face Hub repo, as parsed from its URL."""

    repo_id: str
    repo_type: str
    revision: str
    filename: str


def mirrored_url(url: str) -> str | None:
    """`url` on the mirror named by `S3PRL_HF_MIRROR` (query dropped), or None without a mirror.

    Example:
        >>> os.environ[MIRROR_ENV] = "http://127.0.0.1:8000/originals"
        >>> mirrored_url("https://www.dropbox.com/s/abc/states-200000.ckpt?dl=1")
        'http://127.0.0.1:8000/originals/www.dropbox.com/s/abc/states-200000.ckpt'
        >>> del os.environ[MIRROR_ENV]
    """
    base = os.environ.get(MIRROR_ENV)
    if not base:
        return None
    parts = urlsplit(url)
    return f"{base.rstrip('/')}/{parts.hostname}{parts.path}"


def parse_hub_url(url: str) -> HubFile | None:
    """The repo, revision and file of a huggingface.co file URL, or None for other URLs.

    Example:
        >>> parse_hub_url("https://huggingface.co/s3prl/converted_ckpts/resolve/main/hubert_base_ls960.pt")
        HubFile(repo_id='s3prl/converted_ckpts', repo_type='model', revision='main', filename='hubert_base_ls960.pt')
    """
    parts = urlsplit(url)
    if parts.hostname != HUB_HOST:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    repo_type = "model"
    if segments and segments[0] in ("datasets", "spaces"):
        repo_type, segments = segments[0][:-1], segments[1:]
    # <org>/<repo>/<resolve|blob|raw>/<revision>/<path...>: blob and raw name the same file as resolve
    if len(segments) < 5 or segments[2] not in ("resolve", "blob", "raw"):
        return None
    return HubFile(f"{segments[0]}/{segments[1]}", repo_type, segments[3], "/".join(segments[4:]))


def fetch_file(url: str, *, offline: bool = False, expected_size: int | None = None,
               token: str | bool | None = None) -> Path:
    """Return a local path holding the complete file at `url`, downloading it if needed.

    Args:
        url: The original URL, as the registry lists it.
        offline: Never touch the network; use what an earlier call downloaded.
        expected_size: The file's size in bytes, when known; another size is an error.
        token: Hugging Face token, for huggingface.co files.

    Raises:
        DownloadError: the file could not be fetched (the message says why).

    Example:
        >>> fetch_file("https://huggingface.co/s3prl/converted_ckpts/resolve/main/hubert_base_ls960.pt")  # doctest: +SKIP
        PosixPath('.../models--s3prl--converted_ckpts/snapshots/.../hubert_base_ls960.pt')
    """
    mirror = mirrored_url(url)
    hub_file = parse_hub_url(url) if mirror is None else None
    if hub_file is not None:
        return _fetch_from_hub(url, hub_file, offline, token)
    return _fetch_plain(url, mirror or url, download_path(url), offline, expected_size)


def discard(url: str, path: Path) -> None:
    """Delete a fetched file that proved bad, so that the next call downloads it again."""
    with contextlib.suppress(OSError):
        if path.is_symlink():  # huggingface_hub's cache: the snapshot link and the blob it points to
            target = path.resolve()
            path.unlink()
            target.unlink()
        else:
            path.unlink()
    logger.info("deleted %s (fetched from %s)", path, url)


# --- huggingface.co -------------------------------------------------------------------------------------------
def _fetch_from_hub(url: str, hub_file: HubFile, offline: bool, token) -> Path:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache

    where = dict(repo_id=hub_file.repo_id, filename=hub_file.filename, revision=hub_file.revision,
                 repo_type=hub_file.repo_type)
    cached = try_to_load_from_cache(**where)
    if isinstance(cached, str):
        return Path(cached)
    if offline:
        raise DownloadError(url, "not in the Hugging Face cache, and offline (HF_HUB_OFFLINE=1)")
    # hf_hub_download retries an unreachable endpoint for about 30 s; one metadata request without retries
    # tells in seconds whether the file is there.
    try:
        get_hf_file_metadata(hf_hub_url(**where), token=token, timeout=HUB_PROBE_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - every failure means "not from here", with its reason
        raise DownloadError(url, describe_error(error)) from None
    try:
        return Path(hf_hub_download(**where, token=token))
    except Exception as error:  # noqa: BLE001
        raise DownloadError(url, describe_error(error)) from None


# --- other hosts ------------------------------------------------------------------------------------------------
def _fetch_plain(url: str, fetch_url: str, destination: Path, offline: bool, expected_size: int | None) -> Path:
    if destination.is_file():
        return destination
    if offline:
        raise DownloadError(url, f"not downloaded before ({destination}), and offline (HF_HUB_OFFLINE=1)")
    with FileLock(lock_path("downloads", url)):
        if destination.is_file():  # another process finished it while this one waited
            return destination
        destination.parent.mkdir(parents=True, exist_ok=True)
        incomplete = destination.with_name(destination.name + ".incomplete")
        _stream(url, fetch_url, incomplete, expected_size)
        os.replace(incomplete, destination)
    return destination


def _stream(url: str, fetch_url: str, incomplete: Path, expected_size: int | None) -> None:
    """Download into `incomplete`, resuming from its current size; return when it holds the whole file."""
    from huggingface_hub.utils import get_session, tqdm

    httpx = _httpx()

    validator_file = incomplete.with_name(incomplete.name + ".json")
    timeout = httpx.Timeout(_read_timeout(), connect=CONNECT_TIMEOUT)
    resumes = 0
    while True:
        have = incomplete.stat().st_size if incomplete.exists() else 0
        validator = _read_json(validator_file) if have else {}
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if validator.get("etag") or validator.get("last_modified"):
                headers["If-Range"] = validator.get("etag") or validator["last_modified"]
        try:
            with get_session().stream("GET", fetch_url, headers=headers, timeout=timeout,
                                      follow_redirects=True) as response:
                if response.status_code == 416 and have:  # our partial file is no prefix of this one: restart
                    incomplete.unlink()
                    continue
                if response.status_code >= 400:
                    raise DownloadError(url, f"HTTP {response.status_code}" + _via(url, fetch_url))
                if have and response.status_code != 206:  # the server ignored the range, or the file changed
                    have = 0
                total = _total_size(response, have)
                if expected_size is not None and total is not None and total != expected_size:
                    raise DownloadError(url, f"the server offers {total} bytes, the registry expects "
                                             f"{expected_size}" + _via(url, fetch_url))
                _write_json(validator_file, {"etag": response.headers.get("ETag"),
                                             "last_modified": response.headers.get("Last-Modified"), "total": total})
                if not have:
                    logger.warning("downloading %s%s (%s) into %s", url, _via(url, fetch_url), human_size(total),
                                   incomplete.with_suffix(""))
                with open(incomplete, "r+b" if have else "wb") as handle, \
                        tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=incomplete.name.removesuffix(".incomplete")[-40:],
                             name="s3prl_hf.download") as bar:
                    handle.seek(have)
                    handle.truncate()
                    for chunk in response.iter_bytes():  # as received, so a killed download keeps what it had
                        handle.write(chunk)
                        bar.update(len(chunk))
        except httpx.TransportError as error:
            grown = incomplete.exists() and incomplete.stat().st_size > have
            if not grown or resumes >= MAX_RESUMES:
                raise DownloadError(url, describe_error(error) + _via(url, fetch_url)) from None
            resumes += 1
            logger.warning("connection to %s lost (%s); resuming", fetch_url, error)
            continue
        size = incomplete.stat().st_size
        if total is not None and size != total:
            if size > have and resumes < MAX_RESUMES:  # the body ended early but made progress: ask for the rest
                resumes += 1
                continue
            raise DownloadError(url, f"the server sent {size} of {total} bytes" + _via(url, fetch_url))
        validator_file.unlink(missing_ok=True)
        return


def _httpx():
    # huggingface_hub 2.x runs on httpx2, 1.x on httpx: take the exceptions of the one its session uses.
    try:
        import httpx2
        return httpx2
    except ImportError:  # pragma: no cover - huggingface_hub 1.x
        import httpx
        return httpx


def _total_size(response, have: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206 and "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return int(length) + (have if response.status_code == 206 else 0) if length is not None else None


def _read_timeout() -> float:
    from huggingface_hub import constants

    return float(constants.HF_HUB_DOWNLOAD_TIMEOUT)


def _via(url: str, fetch_url: str) -> str:
    return f" (via the mirror: {fetch_url})" if fetch_url != url else ""


def describe_error(error: BaseException) -> str:
    """A few words for a network or Hub error: 'HTTP 404', 'connection refused', ..."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return f"HTTP {status}"
    text = str(error) or type(error).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in type(error).__name__.lower():
        return "timed out"
    return text.splitlines()[0][:200]


def human_size(size: int | None) -> str:
    """1258909184 -> '1.26 GB'."""
    if size is None:
        return "size unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.3g} {unit}" if unit != "B" else f"{size} B"
        size /= 1000
    return f"{size} B"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value))


__all__ = ["DownloadError", "HubFile", "MIRROR_ENV", "discard", "fetch_file", "human_size", "mirrored_url",
           "parse_hub_url"]

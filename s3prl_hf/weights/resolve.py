"""From a name to something transformers can load: a local folder, or a Hub repo id at a revision.

See the package docstring for the order. Every entry point that takes a name goes through `locate_upstream`:
`AutoUpstream.from_pretrained`, the `S3PRLUpstream` drop-in, `s3prl-hf extract --model` and `s3prl-hf download`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from .. import registry
from . import conversion_cache
from .download import DownloadError, discard, fetch_file, human_size, mirrored_url
from .integrity import IntegrityError, check_file, forget
from .paths import converted_root, lock_path

logger = logging.getLogger(__name__)

SOURCES = ("auto", "hub", "original")
CONFIG_NAME = "config.json"
# How often a process waiting for another one's download and conversion says so.
LOCK_NOTICE_SECONDS = 30.0


class UpstreamNotAvailableError(OSError):
    """A known upstream could not be loaded: not on the Hub, not cached, and its original could not be had."""


@dataclass(frozen=True)
class Location:
    """What transformers loads: a local folder, or a Hub repo id (`revision`, cache only when `local_files_only`);
    no path for names built from their config alone."""

    path: str | None
    revision: str | None = None
    local_files_only: bool = False
    spec: registry.UpstreamSpec | None = None


def locate_upstream(spec: registry.UpstreamSpec, *, source: str = "auto", namespace: str | None = None,
                    revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                    local_files_only: bool = False, token: str | bool | None = None) -> Location:
    """Find, fetch or convert the weights of `spec` and say where they are.

    Args:
        spec: The upstream.
        source: "auto" (converted repo, else the original checkpoint), "hub" (converted repo only) or
            "original" (convert the original checkpoint, never the converted repo).
        namespace: Hub namespace of the converted repos.
        revision: Hub revision; defaults to the registry's pinned one.
        cache_dir: Hugging Face cache folder of the converted repos.
        local_files_only: Never touch the network (as `HF_HUB_OFFLINE=1`).
        token: Hugging Face token.

    Raises:
        UpstreamNotAvailableError: nothing could be loaded; the message lists what was tried and what to do.
    """
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: expected one of {', '.join(SOURCES)}")
    from huggingface_hub import constants, try_to_load_from_cache

    repo_id = spec.repo_id_for(namespace)
    revision = revision or spec.revision
    offline = constants.HF_HUB_OFFLINE or local_files_only
    if source != "original":
        cached = try_to_load_from_cache(repo_id, CONFIG_NAME, cache_dir=cache_dir, revision=revision)
        if isinstance(cached, str):
            return Location(repo_id, revision, local_files_only=True, spec=spec)
    if source != "hub":
        folder = conversion_cache.find_conversion(spec, _converter_version(spec))
        if folder is not None:
            return Location(str(folder), spec=spec)
    if offline:
        raise UpstreamNotAvailableError(_offline_message(spec, repo_id, revision, source))
    hub_problem = None
    if source != "original":
        hub_problem = probe_hub(repo_id, revision, token)
        if hub_problem is None:
            return Location(repo_id, revision, spec=spec)
        if source == "hub":
            raise UpstreamNotAvailableError(f"cannot load '{repo_id}' (revision {revision or 'main'}): "
                                            f"{hub_problem}. {_manual_hint(spec)}")
    why = f"{repo_id} is not on the Hub ({hub_problem})" if hub_problem else f"source='original' for {spec.name}"
    return Location(str(fetch_and_convert(spec, why=why, token=token)), spec=spec)


def probe_hub(repo_id: str, revision: str | None, token=None) -> str | None:
    """None if `repo_id` has a `config.json` at `revision` on the Hub, else why not (one request, no retries)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from .download import HUB_PROBE_TIMEOUT, describe_error

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, CONFIG_NAME, revision=revision), token=token,
                             timeout=HUB_PROBE_TIMEOUT)
    except RepositoryNotFoundError:
        return "no such repo, or a private one"
    except RevisionNotFoundError:
        return f"no revision {revision!r}"
    except EntryNotFoundError:
        return f"the repo has no {CONFIG_NAME}"
    except Exception as error:  # noqa: BLE001 - unreachable, timed out, server error: fall through
        return f"the Hub is unreachable: {describe_error(error)}"
    return None


def fetch_and_convert(spec: registry.UpstreamSpec, *, why: str = "", token=None) -> Path:
    """Download the original file(s) of `spec`, check and convert them into the conversion cache, once.

    Several processes may call this at once (torchrun ranks, dataloader workers, jobs on one node): one of them
    downloads and converts while the others wait on a file lock, then all load the same folder.

    Raises:
        UpstreamNotAvailableError: no listed source could be downloaded and converted; nothing is cached.
    """
    if not spec.download_options:
        raise UpstreamNotAvailableError(f"the registry lists no original checkpoint for '{spec.name}'")
    version = _converter_version(spec)
    with _name_lock(spec.name):
        folder = conversion_cache.find_conversion(spec, version)
        if folder is not None:  # another process converted it while this one waited
            return folder
        first = spec.download_options[0][0]
        size = f", {human_size(first.size)}" if first.size else ""
        logger.warning("%s; converting the original (%s%s) into %s, once", why or spec.name, first.url, size,
                       converted_root(spec.name))
        failures = []
        for option in spec.download_options:
            folder = _try_option(spec, version, option, failures, token)
            if folder is not None:
                logger.warning("converted %s into %s", spec.name, folder)
                return folder
    tried = "; ".join(f"{url}: {reason}" for url, reason in failures)
    raise UpstreamNotAvailableError(f"cannot get the original checkpoint of '{spec.name}' ({tried}). Nothing was "
                                    f"cached. {_manual_hint(spec)}")


def _try_option(spec, version, option, failures, token) -> Path | None:
    from ..conversion import CheckpointFormatError
    from ..conversion.convert import convert_checkpoint

    fetched, digests = [], []
    try:
        for source in option:
            path = fetch_file(source.url, expected_size=source.size, token=token)
            fetched.append((source, path))
            digests.append(check_file(path, source))
    except (DownloadError, IntegrityError) as error:
        failures.append((error.url, error.reason))
        if isinstance(error, IntegrityError):
            _discard(fetched[-1:])
        return None

    def convert(files, output):
        convert_checkpoint(spec.name, files[0], output, frontend_checkpoint=files[1] if len(files) > 1 else None,
                           source_sha256=digests[0])

    try:
        return conversion_cache.store_conversion(spec, version, [p for _, p in fetched], option, digests, convert)
    except (CheckpointFormatError, FileNotFoundError) as error:
        failures.append((" + ".join(s.url for s in option), f"not a convertible checkpoint: {error}"))
        # Unpinned files that do not convert are as likely truncated or replaced as anything: fetch them anew
        # next time. Pinned files are the right bytes; keep them.
        _discard([(s, p) for s, p in fetched if s.sha256 is None])
        return None


def _discard(fetched) -> None:
    for source, path in fetched:
        discard(source.url, path)
        forget(source.url)


def _name_lock(name: str):
    """The lock that serialises downloading and converting `name` across processes, with a notice while waiting."""
    lock = FileLock(lock_path("names", name))

    class _Waiting:
        def __enter__(self):
            while True:
                try:
                    lock.acquire(timeout=LOCK_NOTICE_SECONDS)
                    return lock
                except Timeout:
                    logger.warning("waiting for another process that downloads or converts %s (lock %s)", name,
                                   lock.lock_file)

        def __exit__(self, *exc):
            lock.release()

    return _Waiting()


def _converter_version(spec: registry.UpstreamSpec) -> int:
    from ..conversion.convert import converter_version

    return converter_version(spec.family)


def _manual_hint(spec: registry.UpstreamSpec) -> str:
    urls = [f.url for option in spec.download_options for f in option[:1]]
    where = " or ".join(dict.fromkeys(urls)) or "the original release"
    second = ""
    if spec.download_options and len(spec.download_options[0]) > 1:
        second = f" --frontend-checkpoint {spec.download_options[0][1].url.rsplit('/', 1)[-1].split('?')[0]}"
    return (f"To convert it by hand, download {where}, run `s3prl-hf convert --name {spec.name} --checkpoint FILE"
            f"{second} --output DIR` and load DIR.")


def _offline_message(spec, repo_id: str, revision: str | None, source: str) -> str:
    from huggingface_hub import constants

    looked = []
    if source != "original":
        looked.append(f"the Hugging Face cache ({constants.HF_HUB_CACHE}) has no copy of '{repo_id}' (revision "
                      f"{revision or 'main'})")
    if source != "hub":
        looked.append(f"the conversion cache ({converted_root(spec.name)}) has no conversion of its original")
    mirror = " (S3PRL_HF_MIRROR is set)" if mirrored_url("https://x/y") else ""
    return (f"cannot load '{spec.name}': the machine is offline (HF_HUB_OFFLINE=1 or local_files_only=True) and "
            f"{' and '.join(looked)}{mirror}. On a machine with network, run `s3prl-hf download {spec.name}` with the "
            f"same HF_HOME, then copy that cache here. {_manual_hint(spec)}")

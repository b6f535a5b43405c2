"""`s3prl-hf download` and `s3prl-hf cache`, and what `list`/`info` say about where weights come from.

Nothing here imports torch or transformers until a command needs a model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from .. import registry
from . import conversion_cache
from .paths import cache_root, download_path


def weights_origin(spec: registry.UpstreamSpec) -> str:
    """Where `spec`'s weights come from, in a few words, without touching the network.

    Example:
        >>> weights_origin(registry.get_spec("hubert"))  # doctest: +SKIP
        'original from huggingface.co, converted on first use'
    """
    if conversion_cache.list_conversions(spec.name):
        return "cached (converted from the original)"
    if spec.revision:
        return f"hub {spec.repo_id}@{spec.revision[:7]}"
    if not spec.has_weights:
        return "built in (no weights)"
    if not spec.download_options:
        return "no downloadable checkpoint"
    hosts = dict.fromkeys(urlsplit(f.url).hostname for f in spec.download_options[0])
    note = "" if spec.redistributable else "; not redistributable"
    return f"original from {', '.join(hosts)}, converted on first use{note}"


def fetch_originals(name: str) -> tuple[Path, Path | None]:
    """Download and check the original file(s) of `name` (S3PRL's copy first); (checkpoint, second file or None).

    Raises:
        UpstreamNotAvailableError: no listed source could be downloaded and checked.
    """
    from .download import DownloadError, discard, fetch_file
    from .integrity import IntegrityError, check_file, forget
    from .resolve import UpstreamNotAvailableError

    spec = registry.get_spec(name)
    failures = []
    for option in spec.download_options:
        paths = []
        try:
            for source in option:
                paths.append(fetch_file(source.url, expected_size=source.size))
                check_file(paths[-1], source)
        except (DownloadError, IntegrityError) as error:
            if isinstance(error, IntegrityError):
                discard(error.url, paths[-1])
                forget(error.url)
            failures.append(f"{error.url}: {error.reason}")
            continue
        return paths[0], (paths[1] if len(paths) > 1 else None)
    raise UpstreamNotAvailableError(f"cannot get the original checkpoint of '{spec.name}' ("
                                    f"{'; '.join(failures) or 'the registry lists none'})")


def cmd_download(args) -> int:
    from ..auto import AutoUpstream

    for name in args.names:
        spec = registry.get_spec(name)
        model = AutoUpstream.from_pretrained(spec.name, source=args.source)
        print(f"{spec.name}: ready ({model.num_layers} hidden states, {model.name_or_path})")
    return 0


def cmd_cache(args) -> int:
    if args.action == "clear":
        return _clear(args)
    entries = conversion_cache.list_conversions()
    if args.names:
        wanted = {registry.get_spec(n).name for n in args.names}
        entries = [e for e in entries if e.name in wanted]
    print(f"conversion cache: {cache_root() / 'converted'}")
    if not entries:
        print("  (empty)")
    for entry in entries:
        print(f"  {entry.name:<40} {_size(entry.size):>9}  converter v{entry.converter_version}  {entry.path}")
        for url, digest in zip(entry.urls, entry.sha256):
            print(f"    from {url} (sha256 {digest[:16]}...)")
    downloads = [p for p in (cache_root() / "downloads").rglob("*") if p.is_file() and p.suffix != ".sha256"
                 and not p.name.endswith(".incomplete.json")] if (cache_root() / "downloads").is_dir() else []
    print(f"downloaded originals: {cache_root() / 'downloads'} ({_size(sum(p.stat().st_size for p in downloads))} in "
          f"{len(downloads)} files; huggingface.co files live in the Hugging Face cache)")
    return 0


def _clear(args) -> int:
    if not args.names and not args.all:
        raise ValueError("name the upstreams to clear, or pass --all")
    specs = registry.UPSTREAMS if args.all else [registry.get_spec(n) for n in args.names]
    freed = 0
    for spec in specs:
        for entry in conversion_cache.list_conversions(spec.name):
            freed += entry.size
            conversion_cache.remove_conversion(entry)
        for option in spec.download_options:
            for source in option:
                path = download_path(source.url)
                for file in (path, path.with_name(path.name + ".sha256"), path.with_name(path.name + ".incomplete"),
                             path.with_name(path.name + ".incomplete.json")):
                    if file.is_file():
                        freed += file.stat().st_size
                        file.unlink()
    if args.all:
        shutil.rmtree(cache_root() / "converted", ignore_errors=True)
    print(f"freed {_size(freed)} (converted folders and downloaded originals; huggingface.co downloads stay in the "
          f"Hugging Face cache: `hf cache` manages those)")
    return 0


def add_parsers(sub) -> None:
    """Register `download` and `cache` on the `s3prl-hf` parser."""
    p = sub.add_parser("download", help="fetch (and convert) upstreams now, e.g. before going offline",
                       description="Fetch each upstream as AutoUpstream.from_pretrained would, so that compute "
                                   "nodes without network load it from the same HF_HOME with HF_HUB_OFFLINE=1.")
    p.add_argument("names", nargs="+", help="upstream names or aliases")
    p.add_argument("--source", choices=["auto", "hub", "original"], default="auto",
                   help="auto: the converted Hub repo, else the original checkpoint (default); hub: the repo only; "
                        "original: convert the original checkpoint")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("cache", help="list or clear converted upstreams and downloaded originals")
    p.add_argument("action", nargs="?", choices=["list", "clear"], default="list")
    p.add_argument("names", nargs="*", help="only these upstreams")
    p.add_argument("--all", action="store_true", help="with clear: everything")
    p.set_defaults(func=cmd_cache)


def _size(size: int) -> str:
    from .download import human_size

    return human_size(size)



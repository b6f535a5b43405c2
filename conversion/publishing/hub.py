"""Push built folders to the Hub and pin what was pushed in the registry.

For each redistributable name at parity: `create_repo`, `upload_folder` (the repo becomes exactly `DIR/<name>/`; the
commit message names the source file(s) and their sha256), a tag `converter-v<N>` on that commit, and the repo in
the Hub collection of the namespace. Then the registry's pins (`s3prl_hf/data/pins.json`) get the commit as
`revisions[name]` and the sha256 and size of each original file as `files[url]`, so `from_pretrained(name)` loads
exactly the verified commit and checks the originals it downloads. A name whose pushed content is unchanged is not
pushed again. Non-redistributable names are never pushed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .manifest import Manifest, write_json_atomic

logger = logging.getLogger(__name__)

COLLECTION_TITLE = "S3PRL upstreams for transformers"
COLLECTION_DESCRIPTION = ("Every S3PRL upstream converted to safetensors for s3prl_hf, each verified against the hidden "
                          "states of S3PRL 0.4.18 (s3prl-hf verify NAME).")


def tag_name(converter_version: int) -> str:
    """The tag of the commit made by a converter version.

    Example:
        >>> tag_name(1)
        'converter-v1'
    """
    return f"converter-v{converter_version}"


def commit_message(entry: dict) -> str:
    """The commit title: the name and each source file with its sha256.

    Example:
        >>> commit_message({"name": "hubert_base", "sources": [{"url": "https://x/hubert_base_ls960.pt",
        ...                 "sha256": "ab" * 32}]})[:60]
        'Convert hubert_base from hubert_base_ls960.pt (sha256 ababab'
    """
    files = " + ".join(f"{_file_name(s['url'])} (sha256 {s['sha256']})" for s in entry["sources"])
    return f"Convert {entry['name']} from {files}"


def commit_description(entry: dict) -> str:
    lines = [f"Source: {s['url']} ({s['size']} bytes, sha256 {s['sha256']})" for s in entry["sources"]]
    parity = entry["parity"]
    lines.append(f"Converter: s3prl_hf {entry['s3prl_hf_version']}, {entry['family']} converter "
                 f"v{entry['converter_version']}")
    lines.append(f"Verified against S3PRL {entry['reference'].get('s3prl')}: max relative difference "
                 f"{parity['max_relative_diff']:.2e} (tolerance {parity['tolerance']}); rerun: s3prl-hf verify "
                 f"{entry['name']}")
    return "\n".join(lines)


def push_names(api, manifest: Manifest, output: Path, names: list[str], namespace: str,
               pins_path: Path) -> dict[str, str]:
    """Push `names` (built and recorded in `manifest`) into `namespace`; {name: what happened}.

    A failure on one name is reported in its status and the others go on.
    """
    statuses = {}
    for name in names:
        entry = manifest.get(name)
        if entry is None:
            continue
        if not entry.get("redistributable"):
            statuses[name] = "not pushed: licence does not allow re-hosting"
            continue
        if not entry.get("parity", {}).get("ok"):
            statuses[name] = "not pushed: not verified at parity"
            continue
        repo_id = f"{namespace}/{name}"
        pushed = entry.get("push") or {}
        if pushed.get("repo_id") == repo_id and pushed.get("content_sha256") == entry["content_sha256"]:
            update_pins(pins_path, {name: pushed["commit"]}, entry["sources"])
            statuses[name] = f"already pushed ({pushed['commit'][:7]})"
            continue
        try:
            statuses[name] = _push_one(api, manifest, output, entry, repo_id, pins_path)
        except Exception as error:  # noqa: BLE001 - one name's failure is listed; the others go on
            statuses[name] = f"push failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    published = [entry["push"]["repo_id"] for entry in (manifest.get(n) for n in manifest.names())
                 if entry and entry.get("push", {}).get("repo_id", "").startswith(f"{namespace}/")]
    if published:
        try:
            update_collection(api, namespace, published)
        except Exception as error:  # noqa: BLE001
            statuses["(collection)"] = f"collection failed: {type(error).__name__}: {error}"
    return statuses


def _push_one(api, manifest: Manifest, output: Path, entry: dict, repo_id: str, pins_path: Path) -> str:
    import datetime

    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(output / entry["name"]),
                             commit_message=commit_message(entry), commit_description=commit_description(entry),
                             delete_patterns=["*"])  # the repo holds exactly the folder (.gitattributes is kept)
    commit = info.oid
    tag = tag_name(entry["converter_version"])
    _tag(api, repo_id, tag, commit, f"{entry['family']} converter v{entry['converter_version']}")
    entry["push"] = {"repo_id": repo_id, "commit": commit, "tag": tag, "content_sha256": entry["content_sha256"],
                     "pushed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    manifest.put(entry["name"], entry)
    update_pins(pins_path, {entry["name"]: commit}, entry["sources"])
    return f"pushed {commit[:7]}"


def _tag(api, repo_id: str, tag: str, commit: str, message: str) -> None:
    """Tag `commit`; an existing tag of the same converter version moves to it (the latest conversion it made)."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_tag(repo_id, tag=tag, revision=commit, tag_message=message, repo_type="model")
    except HfHubHTTPError as error:
        if getattr(error.response, "status_code", None) != 409:
            raise
        api.delete_tag(repo_id, tag=tag, repo_type="model")
        api.create_tag(repo_id, tag=tag, revision=commit, tag_message=message, repo_type="model")


def update_collection(api, namespace: str, repo_ids: list[str]) -> str:
    """Make sure the namespace's collection lists every repo in `repo_ids`; returns its slug."""
    collection = api.create_collection(COLLECTION_TITLE, namespace=namespace, description=COLLECTION_DESCRIPTION,
                                       exists_ok=True)
    present = {item.item_id for item in getattr(collection, "items", []) or []}
    for repo_id in sorted(repo_ids):
        if repo_id not in present:
            api.add_collection_item(collection.slug, item_id=repo_id, item_type="model", exists_ok=True)
    return collection.slug


def update_pins(path: Path, revisions: dict[str, str], sources: list[dict]) -> None:
    """Record pushed commits and the originals' sha256 / size in the registry's pins file (stable formatting)."""
    pins = json.loads(path.read_text(encoding="utf-8"))
    changed = dict(pins)
    changed["revisions"] = {**pins.get("revisions", {}), **revisions}
    files = dict(pins.get("files", {}))
    for source in sources:
        files[source["url"]] = {"sha256": source["sha256"], "size": source["size"]}
    changed["files"] = files
    if changed != pins:
        write_json_atomic(path, changed)


def _file_name(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or url

"""`s3prl-hf verify NAME_OR_FOLDER`: recompute a published upstream's stored inputs and compare with S3PRL's states.

A folder written by `conversion/publish.py`, and every published Hub repo, holds `verification/` (see
`s3prl_hf.verification.data`). This command loads the model exactly as `AutoUpstream.from_pretrained` does (a name
resolves to the converted repo at the registry's pinned revision), runs it on the stored inputs and prints, per
hidden state, the largest difference relative to S3PRL's values. Exit status 0 at parity, 1 otherwise.

Example::

    s3prl-hf verify hubert_large_ll60k
    s3prl-hf verify published/hubert_large_ll60k
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import registry
from .layout import FOLDER, INFO_FILE, INPUTS_FILE, STATES_FILE, VerificationDataError


@dataclass(frozen=True)
class Target:
    """What to load (`model`: a folder or repo id, at `revision`) and where its verification data are (`folder`)."""

    model: str
    folder: Path
    revision: str | None = None
    local_files_only: bool = False


def locate(target: str, *, source: str = "auto", namespace: str | None = None,
           revision: str | None = None) -> Target:
    """Resolve a folder, a name (as `AutoUpstream.from_pretrained` does) or a Hub repo id to its verification data.

    Raises:
        VerificationDataError: what was found holds no verification data (the message says why and what to do).
        registry.UnknownUpstreamError: neither a folder, a known name nor a repo id.

    Example:
        >>> locate("published/hubert_large_ll60k").folder  # doctest: +SKIP
        PosixPath('published/hubert_large_ll60k')
    """
    if os.path.isdir(target):
        return Target(target, Path(target), revision)
    try:
        spec = registry.get_spec(target)
    except registry.UnknownUpstreamError:
        if os.path.exists(target):
            raise FileNotFoundError(f"{target!r} is a file, not a published folder") from None
        if target.count("/") == 1 and not target.startswith((".", "/", "~")):
            return _hub_target(target, revision, local_files_only=False)  # a Hub repo id
        if "/" in target:
            raise FileNotFoundError(f"no such folder: {target!r}") from None
        raise
    if not spec.has_weights:
        raise VerificationDataError(f"'{spec.name}' has no weights (its S3PRL config is built in), so there is no "
                                    f"published repo to verify; its numbers are checked by the package's tests")
    from ..weights.resolve import locate_upstream

    location = locate_upstream(spec, source=source, namespace=namespace, revision=revision)
    if os.path.isdir(location.path):
        folder = Path(location.path)
        if not (folder / FOLDER / INFO_FILE).is_file():
            raise VerificationDataError(
                f"'{spec.name}' loads from {folder}, a conversion of its original checkpoint made on this machine, "
                f"which holds no verification data; the published repo carries it: `s3prl-hf verify {spec.name} "
                f"--source hub`")
        return Target(str(folder), folder)
    return _hub_target(location.path, location.revision, location.local_files_only)


def _hub_target(repo_id: str, revision: str | None, local_files_only: bool) -> Target:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    paths = []
    for name in (INFO_FILE, INPUTS_FILE, STATES_FILE):
        try:
            paths.append(Path(hf_hub_download(repo_id, f"{FOLDER}/{name}", revision=revision,
                                              local_files_only=local_files_only)))
        except EntryNotFoundError:
            raise VerificationDataError(f"{repo_id} (revision {revision or 'main'}) has no {FOLDER}/{name}: it was "
                                        f"not published by conversion/publish.py") from None
    return Target(repo_id, paths[0].parent.parent, revision, local_files_only)


def cmd_verify(args) -> int:
    from ..auto import AutoUpstream
    from .data import compare, read_info

    target = locate(args.target, source=args.source, namespace=args.namespace, revision=args.revision)
    info = read_info(target.folder)
    model = AutoUpstream.from_pretrained(target.model, revision=target.revision,
                                         local_files_only=target.local_files_only)
    reference = info.get("reference", {})
    where = target.model + (f"@{target.revision}" if target.revision else "")
    print(f"verifying {where} against S3PRL {reference.get('versions', {}).get('s3prl', '?')} "
          f"({reference.get('call', 'S3PRLUpstream')})")
    report = compare(model, target.folder, tolerance=args.tolerance)
    cases = sorted(report.cases)
    print(f"{'hidden state':>12}  " + "  ".join(f"{case:>10}" for case in cases) + "  max rel diff")
    for index, figure in enumerate(report.layers):
        row = "  ".join(f"{report.cases[case][index]:>10.2e}" for case in cases)
        print(f"{index:>12}  {row}  {figure:.2e}{'' if figure <= report.tolerance else '  FAIL'}")
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.ok:
        print(f"parity: {report.summary()}")
        return 0
    print(f"s3prl-hf verify: error: not at parity with S3PRL: {report.summary()}", file=sys.stderr)
    return 1


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `verify` sub-command."""
    p = subparsers.add_parser(
        "verify", help="check a published upstream against the S3PRL hidden states it ships with",
        description="Recompute the inputs stored in a published folder or Hub repo (verification/) with its "
                    "converted weights and compare every hidden state with the ones S3PRL 0.4.18 computed from the "
                    "original checkpoint. Exit status 0 at parity, 1 otherwise.")
    p.add_argument("target", help="upstream name or alias (resolved as AutoUpstream.from_pretrained does), Hub repo "
                                  "id, or a folder written by conversion/publish.py")
    p.add_argument("--source", choices=["auto", "hub"], default="auto",
                   help="for names: auto (as from_pretrained: cached or published repo) or hub (the published repo)")
    p.add_argument("--namespace", default=None, help="Hub namespace of the converted repos (names only)")
    p.add_argument("--revision", default=None, help="Hub revision (default: the registry's pinned one)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="relative tolerance (default: the one recorded with the data, 1e-4)")
    p.set_defaults(func=cmd_verify)
    return p


__all__ = ["Target", "add_parser", "cmd_verify", "locate"]

"""Inputs rewritten since an extraction was planned: which items changed and which shards hold stale features.

A plan records each file's size and modification time (its *stamp*). When a resumed or repeated `extract` finds
a file whose stamp differs, the shard that holds its features is stale: it is deleted and written again, and
the file's length in the plan is read again. A file that cannot be examined now (moved, or a relative path seen
from another directory) keeps its features; the read of a pending shard reports it as a bad input.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from .audio import AudioError


def file_stamps(paths: Sequence[str | None]) -> list[list[int] | None]:
    """`[size, mtime_ns]` of each local file, None for rows without a file or files that cannot be examined.

    Example:
        >>> file_stamps([None])
        [None]
    """
    stamps = []
    for path in paths:
        try:
            info = os.stat(path) if path is not None else None
        except (OSError, ValueError):  # missing, or not a local path (a URL in a dataset row)
            info = None
        stamps.append([info.st_size, info.st_mtime_ns] if info is not None else None)
    return stamps


@dataclass
class Refresh:
    """What changed inputs do to a plan: the shards to write again and the inputs that need a new one.

    Attributes:
        changed: Indices of the inputs whose files changed.
        stale_shards: Shards holding features of a changed input, to delete and write again.
        revived: Changed inputs the plan had as bad that read now: they need a new shard.
    """

    changed: list[int] = field(default_factory=list)
    stale_shards: set[int] = field(default_factory=set)
    revived: list[int] = field(default_factory=list)


def refresh_plan(plan: dict, items, reader) -> Refresh:
    """Bring `plan` up to date with the files' current stamps (in place) and say what must be recomputed.

    Changed inputs that are in a shard: that shard is stale (a now unreadable one is reported when the shard is
    written again). Changed inputs the plan had as bad and that read now are `revived`: the caller batches them
    into new shards.
    Plans written before stamps were recorded are left as they are.
    """
    old = plan["items"].get("stamps")
    refresh = Refresh()
    if old is None:
        return refresh
    new = file_stamps(items.paths)
    refresh.changed = [i for i, (before, now) in enumerate(zip(old, new)) if now is not None and before != now]
    if not refresh.changed:
        return refresh
    shard_of = {i: k for k, shard in enumerate(plan["shards"]) for batch in shard for i in batch}
    bad = {entry["index"]: entry for entry in plan["bad"]}
    for i, value in zip(refresh.changed, items.num_samples(refresh.changed, reader)):
        old[i] = new[i]
        readable = not isinstance(value, AudioError)
        plan["items"]["samples"][i] = value if readable else None
        if i in shard_of:
            refresh.stale_shards.add(shard_of[i])
        elif readable:
            bad.pop(i, None)
            refresh.revived.append(i)
        else:
            bad[i] = {"index": i, "id": items.ids[i], "path": value.source, "error": value.reason}
    plan["bad"] = [bad[i] for i in sorted(bad)]
    return refresh

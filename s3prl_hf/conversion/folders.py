"""Writing a converted folder without ever losing data: what `--force` may replace, and the atomic commit.

A converted folder is written into a temporary sibling and committed by one rename:

- without `force`, a rename onto a path that does not exist (`renameat2(RENAME_NOREPLACE)` on Linux, so that two
  processes converting into the same new folder cannot both succeed: the second one fails and its folder is
  dropped);
- with `force`, only onto an empty folder or a folder this library wrote, never the current directory, an
  ancestor of an input, or an input itself; the two folders are exchanged in one step where the system can
  (`RENAME_EXCHANGE`), else the old one is moved aside, the new one moved in, and the old one deleted. Readers see
  the old folder or the new one, never a half-deleted mix.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

# What a folder written by `s3prl-hf convert` (or the publish pipeline) may hold, and nothing else.
CONVERTED_FILES = {"config.json", "model.safetensors", "model.safetensors.index.json", "README.md", "source.json",
                   ".gitattributes"}
CONVERTED_PATTERNS = ("model-", "verification")  # shards model-0000i-of-0000n.safetensors, verification/ data

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


class OutputExistsError(FileExistsError):
    """The output exists and may not be replaced (or `force` was not given)."""


def check_output(output: Path, *, force: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse an output that a conversion may not write to, before any work is done.

    Raises:
        OutputExistsError: `output` exists without `force`, or exists and is not replaceable.
    """
    if output.is_symlink():
        raise OutputExistsError(f"{output} is a symbolic link; give the real folder (or a new path) as the output")
    resolved = output.resolve()
    if resolved == Path.cwd().resolve():
        raise OutputExistsError(f"{output} is the current directory; converting into it would replace it")
    for source in inputs:
        source = Path(source).resolve()
        if resolved == source or resolved in source.parents:
            raise OutputExistsError(f"{output} holds the input {source}; choose another output folder")
    if not output.exists():
        return
    if not force:
        raise OutputExistsError(f"{output} already exists; pass force=True (--force) to replace a converted folder")
    if not output.is_dir():
        raise OutputExistsError(f"{output} is a file, not a converted folder; --force replaces only those")
    if not is_converted_folder(output) and any(output.iterdir()):
        raise OutputExistsError(f"{output} is not a folder that s3prl_hf wrote (it holds other files); --force "
                                f"replaces only empty or converted folders")


def is_converted_folder(folder: Path) -> bool:
    """Whether `folder` holds only what a conversion writes, with an s3prl_hf `config.json`."""
    try:
        names = [entry.name for entry in folder.iterdir()]
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    if not str(config.get("model_type", "")).startswith("s3prl_"):
        return False
    return all(name in CONVERTED_FILES or name.startswith(CONVERTED_PATTERNS) for name in names)


def commit_folder(staging: Path, output: Path, *, force: bool) -> None:
    """Move the complete folder `staging` to `output` in one step (see the module docstring).

    Raises:
        OutputExistsError: `output` appeared meanwhile (without `force`) or is no longer replaceable.
    """
    if not force or not output.exists():
        try:
            rename_no_replace(staging, output)
            return
        except FileExistsError:
            if not force:
                raise OutputExistsError(f"{output} already exists (another process created it meanwhile); "
                                        f"nothing was replaced") from None
    check_output(output, force=True)
    if _renameat2(staging, output, _RENAME_EXCHANGE):
        shutil.rmtree(staging, ignore_errors=True)  # now the old folder
        return
    aside = output.with_name(f".{output.name}.replaced-{uuid.uuid4().hex[:8]}")
    os.rename(output, aside)
    try:
        rename_no_replace(staging, output)
    except BaseException:
        os.rename(aside, output)  # put the old folder back
        raise
    shutil.rmtree(aside, ignore_errors=True)


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename `source` to `target`, failing with FileExistsError if `target` exists (even as an empty folder)."""
    if _renameat2(source, target, _RENAME_NOREPLACE):
        return
    if os.path.lexists(target):  # no renameat2: a check and a rename, nearly as good
        raise FileExistsError(errno.EEXIST, "File exists", str(target))
    os.rename(source, target)


def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """renameat2(2) with `flags`; True if done, False where unsupported. Raises FileExistsError on EEXIST."""
    function = _libc_renameat2()
    if function is None:
        return False
    result = function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EEXIST, errno.ENOTEMPTY):
        raise FileExistsError(code, os.strerror(code), str(target))
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # old kernel or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(target))


_LIBC = None


def _libc_renameat2():
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True) if name else None
            _LIBC = getattr(libc, "renameat2", None) or False
        except OSError:
            _LIBC = False
        if _LIBC:
            _LIBC.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            _LIBC.restype = ctypes.c_int
    return _LIBC or None

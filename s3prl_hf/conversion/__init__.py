"""From original checkpoints to converted folders.

- `checkpoints`: safe reading of original checkpoints (no code runs), key-map renaming, exact loading.
- `fairseq`: reading fairseq's configs and the wav2vec 2.0-style key maps several families share.
- `release`: the files of one release, as a family's converter receives them.
- `convert`: `convert_checkpoint`, which runs a family's converter and writes the folder.
- `folders`: what `--force` may replace, and the atomic commit of a converted folder.
"""

import importlib

# Public name -> the module defining it, imported on first use: `weights` uses `folders` without loading torch, and
# `convert` imports every family, whose converters import this package.
_EXPORTS = {
    **dict.fromkeys(("CheckpointFormatError", "MethodMismatchError", "build_model", "file_sha256", "load_exact_state_dict",
                     "load_original_checkpoint", "namespace_to_dict", "parse_conv_layers", "rename_state_dict"),
                    "checkpoints"),
    **dict.fromkeys(("convert_checkpoint", "DEFAULT_MAX_SHARD_SIZE"), "convert"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

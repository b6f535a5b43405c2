"""Helpers shared by every family's converter: safe reading of original checkpoints and key renaming.

Original checkpoints are pickles. They are read with `torch.load(weights_only=True)`; the few foreign
classes a known format pickles (fairseq's `Dictionary`, numpy scalars in fairseq's training state) are
mapped to inert stand-ins that only keep their state, so no code from the file ever runs. Any other class
stops the conversion with an error that names it.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

# Globals that known original formats pickle and whose content no converter needs beyond their state.
# Prefix match on the fully qualified name.
INERT_GLOBAL_PREFIXES = (
    "fairseq.",  # fairseq.data.dictionary.Dictionary in HuBERT's task_state, fairseq criterions' state
    "numpy.core.multiarray.scalar",  # fairseq's extra_state / best checkpoint metrics
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "numpy.dtypes.",
    # S3PRL's pretrain runner (DistilHuBERT's and Mockingjay/TERA's checkpoints) saves its Lamb/BertAdam
    # optimizer state, whose param groups hold an LR-schedule object (optimizers.py: ConstantLR, Warmup*Schedule),
    # pickled from the top-level `optimizers` module of the S3PRL checkout it ran in (later `s3prl.optimizers`).
    "optimizers.ConstantLR",
    "optimizers.Warmup",
    "s3prl.optimizers.ConstantLR",
    "s3prl.optimizers.Warmup",
)


class CheckpointFormatError(ValueError):
    """The file is not a checkpoint of the format (or family) the converter was asked to read."""


class MethodMismatchError(CheckpointFormatError):
    """The checkpoint's own config says it is of another method than the name it is converted for.

    Attributes:
        methods: The methods the checkpoint can be, as its config tells (registry method names).
    """

    def __init__(self, message: str, methods):
        super().__init__(message)
        self.methods = frozenset(methods)


class InertObject:
    """Stand-in for a pickled class: records constructor arguments and state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.state = state


def _inert_class(qualified_name: str) -> type:
    module, _, name = qualified_name.rpartition(".")
    return type(name, (InertObject,), {"__module__": module, "__qualname__": name})


def file_sha256(path: str | Path, chunk_size: int = 1 << 24) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def load_original_checkpoint(path: str | Path) -> dict:
    """Read an original (pickled) checkpoint without running any code from it.

    Args:
        path: A `torch.save` file (zip or legacy format), with or without an extension.

    Returns:
        The top-level dict of the checkpoint, tensors on CPU.

    Raises:
        FileNotFoundError: `path` does not exist or is not a file.
        CheckpointFormatError: the file is not a readable PyTorch checkpoint, or it pickles a class that no
            known format uses.

    Example:
        >>> state = load_original_checkpoint("hubert_base_ls960.pt")  # doctest: +SKIP
        >>> sorted(state)  # doctest: +SKIP
        ['dictionaries_symbols', 'model_cfg', 'model_weight', 'task_cfg']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist or is not a file")
    allowed: list = [argparse.Namespace]
    # Zip files (torch >= 1.6) are memory-mapped: tensors are read from the file when used, so converting a
    # multi-GB checkpoint holds about one copy of the weights; the legacy format cannot be mapped.
    mmap = zipfile.is_zipfile(path)
    # torch names the first global it refuses; allow the inert ones one by one and retry. This works for
    # zip and legacy (non-zip) files alike.
    for _ in range(32):
        try:
            with torch.serialization.safe_globals(allowed):
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            break
        except pickle.UnpicklingError as error:
            match = re.search(r"GLOBAL ([\w.]+)", str(error))
            name = match.group(1) if match else None
            if name is None or not name.startswith(INERT_GLOBAL_PREFIXES):
                what = f"pickles {name!r}, which" if name else "holds an object that"
                raise CheckpointFormatError(
                    f"{path} {what} no supported checkpoint format contains; refusing to unpickle it. Is "
                    f"this an original S3PRL/fairseq upstream checkpoint?") from None
            allowed.append((_inert_class(name), name))
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except Exception as error:  # noqa: BLE001 - a text file gives KeyError, a wav IndexError, a truncated zip ...
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            reason = reason.splitlines()[0] if reason.strip() else type(error).__name__
            raise CheckpointFormatError(f"{path} is not a readable PyTorch checkpoint (a text or audio file, "
                                        f"truncated or corrupt?): {reason}") from error
    else:
        raise CheckpointFormatError(f"{path} pickles too many foreign classes to be an upstream checkpoint")
    if not isinstance(state, Mapping):
        raise CheckpointFormatError(f"{path} holds a {type(state).__name__}, expected a dict checkpoint")
    return dict(state)


def namespace_to_dict(value) -> dict:
    """Return the attributes of an argparse Namespace (or an inert stand-in), or a dict unchanged."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (argparse.Namespace, InertObject)):
        return {k: v for k, v in vars(value).items() if k not in ("args", "kwargs")}
    raise CheckpointFormatError(f"expected a config dict or argparse.Namespace, got {type(value).__name__}")


# Bounds of a `conv_feature_layers` string: its length, the layers it describes and each size in it. Evaluating is
# bounded too: a repetition whose result would be longer is refused before it is computed.
MAX_CONV_SPEC_CHARS = 10_000
MAX_CONV_LAYERS = 64
MAX_CONV_VALUE = 1 << 20


def parse_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """Evaluate fairseq's `conv_feature_layers` string without `eval`, within bounds.

    Only list/tuple displays of integers combined with `+` and `*` are accepted; no intermediate or final list
    may hold more than `MAX_CONV_LAYERS` entries, and no integer exceed `MAX_CONV_VALUE`, so a crafted string
    (`"[(16,10,5)] * 100000000"`) fails at once instead of building a huge list.

    Raises:
        CheckpointFormatError: not such an expression, or one out of bounds.

    Example:
        >>> parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 2")
        [(512, 10, 5), (512, 3, 2), (512, 3, 2)]
    """
    if not isinstance(spec, str) or len(spec) > MAX_CONV_SPEC_CHARS:
        shown = repr(spec)[:60]
        raise CheckpointFormatError(f"conv_feature_layers must be a string of at most {MAX_CONV_SPEC_CHARS} "
                                    f"characters, got {shown}")

    def too_big(what: str):
        return CheckpointFormatError(f"conv_feature_layers {spec[:80]!r} is out of bounds: {what}")

    def checked(value):
        if isinstance(value, int) and abs(value) > MAX_CONV_VALUE:
            raise too_big(f"{value} exceeds {MAX_CONV_VALUE}")
        if isinstance(value, (list, tuple)) and len(value) > MAX_CONV_LAYERS:
            raise too_big(f"a list of {len(value)} entries, more than {MAX_CONV_LAYERS}")
        return value

    def evaluate(node):
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return checked(node.value)
        if isinstance(node, ast.Tuple):
            return checked(tuple(evaluate(e) for e in node.elts))
        if isinstance(node, ast.List):
            return checked([evaluate(e) for e in node.elts])
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = evaluate(node.left), evaluate(node.right)
            if isinstance(node.op, ast.Mult):
                sequence, count = (left, right) if isinstance(left, (list, tuple)) else (right, left)
                if isinstance(sequence, (list, tuple)) and isinstance(count, int):
                    if len(sequence) * max(count, 0) > MAX_CONV_LAYERS:
                        raise too_big(f"repeating {len(sequence)} entries {count} times gives more than "
                                      f"{MAX_CONV_LAYERS}")
                return checked(left * right)
            return checked(left + right)
        raise CheckpointFormatError(f"unsupported expression in conv_feature_layers {spec[:80]!r}")

    try:
        layers = evaluate(ast.parse(spec, mode="eval"))
    except (SyntaxError, TypeError, RecursionError, MemoryError) as error:
        raise CheckpointFormatError(f"cannot parse conv_feature_layers {spec[:80]!r}: "
                                    f"{type(error).__name__}") from None
    if not isinstance(layers, list) or not layers or not all(
            isinstance(layer, tuple) and len(layer) == 3 and all(isinstance(v, int) and v > 0 for v in layer)
            for layer in layers):
        raise CheckpointFormatError(f"conv_feature_layers {spec[:80]!r} is not a list of (dim, kernel, stride)")
    return layers


def rename_state_dict(state_dict: Mapping[str, torch.Tensor],
                      key_map: Mapping[str, str | None]) -> dict[str, torch.Tensor]:
    """Rename original keys with an ordered regex table; a `None` target drops the key on purpose.

    Raises:
        CheckpointFormatError: some keys match no rule (listed in the message).
    """
    rules = [(re.compile(pattern), target) for pattern, target in key_map.items()]
    renamed, unknown = {}, []
    for key, tensor in state_dict.items():
        for pattern, target in rules:
            if pattern.search(key):
                if target is not None:
                    renamed[pattern.sub(target, key)] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointFormatError(f"{len(unknown)} weights of the checkpoint are not understood: "
                                    f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}")
    return renamed


def load_exact_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load weights that must match the model's keys and shapes exactly (no missing, extra or reshaped key).

    The model may live on the meta device; tensors are assigned, not copied.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    reshaped = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
                for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing[:10])}")
    if unexpected:
        problems.append(f"not used by the model: {', '.join(unexpected[:10])}")
    if reshaped:
        problems.append(f"shape mismatch: {'; '.join(reshaped[:10])}")
    if problems:
        raise CheckpointFormatError("the checkpoint's weights do not fit the architecture its config "
                                    "describes (" + "; ".join(problems) + ")")
    check_weight_values(state_dict, expected)
    dtype = next(iter(expected.values())).dtype if expected else torch.float32
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()},
                          strict=True, assign=True)


def check_weight_values(state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> None:
    """Refuse integer weights where the model has floating-point ones, and any NaN or infinite weight.

    A converted model with such weights would return garbage (or NaN) for every input; the checkpoint is corrupt or
    was written by something else.
    """
    for key, tensor in state_dict.items():
        if expected[key].is_floating_point() and not tensor.is_floating_point():
            raise CheckpointFormatError(f"weight {key} is {tensor.dtype}, the model's is floating point: the "
                                        f"checkpoint is corrupt or not an original upstream checkpoint")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointFormatError(f"weight {key} holds NaN or infinite values: the checkpoint is corrupt "
                                        f"(or diverged in training) and would give NaN features")


def build_model(model_class, config, weights: Mapping[str, torch.Tensor], post_load=None):
    """Instantiate `model_class(config)` on the meta device and assign `weights` (no copy, exact keys), in eval mode.

    The frontends' windows and filterbanks (buffers, not weights) are computed; `post_load(model)`, when given,
    makes what else a checkpoint does not hold (e.g. index buffers).
    """
    from ..frontends import materialize_frontend_buffers

    with torch.device("meta"):
        model = model_class(config)
    load_exact_state_dict(model, weights)
    materialize_frontend_buffers(model)
    if post_load is not None:
        post_load(model)
    return model.eval()

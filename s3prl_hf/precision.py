"""Compute dtypes: running an upstream in bfloat16 (or float16) with its numerically sensitive parts in float32.

The mechanism is reduced-precision *weights*, as `from_pretrained(dtype=torch.bfloat16)` loads them: the matrix
products, convolutions and attention run in bf16, and each family keeps in float32 what bf16 would spoil. Measured
against `torch.autocast("cpu", torch.bfloat16)` on hubert_base-size weights (benchmarks/extract_bf16.py), bf16
weights are faster (no per-call weight casts, half the weight traffic) and autocast also rounds what the families
deliberately compute in fp32 (the kaldi filterbank and STFT products, the tokenisers' distances), which moved some
fixtures' hidden states by 10-100 % where bf16 weights stay within 6 %.

Kept in float32 whatever the compute dtype (see the README's "Reduced precision" section):

- audio frontends: kaldi fbank / MFCC / spectrogram, mel and linear STFT features, their windows and filterbanks
  (`Float32BuffersModule`), CMVN, PASE+'s SincNet filters, resampling, waveform standardisation;
- wav2vec 2.0-style feature encoders' first GroupNorm, folded into the first conv from float64 statistics;
- fairseq's `Fp32GroupNorm`s (wav2vec, vq-wav2vec, MR-HuBERT's resamplers);
- recurrent states: the GRU / LSTM stacks of APC, VQ-APC, DeCoAR and Modified CPC run entirely in fp32, and
  PASE+'s QRNN accumulates its cell state in fp32 (a bf16 state loses a memory that gates hold for hundreds of
  frames);
- arg-max decisions: vq-wav2vec's feature extractor and quantiser, Discrete BERT's tokeniser, so the codes are
  those of the fp32 model.

LayerNorm, GroupNorm, BatchNorm, softmax and scaled-dot-product attention run on bf16 tensors but accumulate their
statistics in fp32 inside PyTorch's kernels; only their outputs are rounded.
"""

from __future__ import annotations

import copy
import logging
import re
import warnings
from functools import lru_cache

import torch
from torch import nn

logger = logging.getLogger(__name__)

COMPUTE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# /proc/cpuinfo flags of matrix / vector units that compute in bf16 or fp16 natively (x86; aarch64's "Features").
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
FP16_CPU_FLAGS = frozenset({"avx512_fp16", "amx_fp16"})

_warned: set[str] = set()


class SlowComputeDtypeWarning(RuntimeWarning):
    """bf16 requested on a CPU without native bf16 arithmetic, where it runs slower than fp32."""


def parse_compute_dtype(value: str | torch.dtype | None) -> torch.dtype | None:
    """The torch dtype of a compute dtype given by name ("float32", "bfloat16", "float16") or as a torch dtype.

    None stays None (the model's own dtype).

    Raises:
        ValueError: any other value.

    Example:
        >>> parse_compute_dtype("bfloat16")
        torch.bfloat16
    """
    if value is None:
        return None
    if isinstance(value, torch.dtype) and value in COMPUTE_DTYPES.values():
        return value
    if isinstance(value, str) and value in COMPUTE_DTYPES:
        return COMPUTE_DTYPES[value]
    raise ValueError(f"compute_dtype={value!r}: expected one of {sorted(COMPUTE_DTYPES)} (or the torch dtype)")


def dtype_name(dtype: torch.dtype) -> str:
    """'bfloat16' for torch.bfloat16, and so on."""
    return str(dtype).removeprefix("torch.")


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str] | None:
    """The CPU feature flags of /proc/cpuinfo, or None where there is none (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags) or None


def _torch_cpu_probe(name: str) -> bool:
    probe = getattr(torch.cpu, name, None)  # private in torch 2.x: absent is "unknown", read as no
    try:
        return bool(probe()) if probe is not None else False
    except Exception:
        return False


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16, AMX, or Arm's BF16 extension).

    Reads /proc/cpuinfo where there is one, else asks torch's own CPU probe.

    Example:
        >>> cpu_has_native_bf16()  # doctest: +SKIP
        True
    """
    flags = _cpu_flags()
    if flags is not None:
        return bool(flags & BF16_CPU_FLAGS)
    return _torch_cpu_probe("_is_avx512_bf16_supported") or _torch_cpu_probe("_is_amx_tile_supported")


def cpu_has_native_fp16() -> bool:
    """Whether this CPU multiplies fp16 natively (AVX-512 FP16 or AMX-FP16)."""
    flags = _cpu_flags()
    if flags is not None:
        return bool(flags & FP16_CPU_FLAGS)
    return _torch_cpu_probe("_is_amx_fp16_supported")


def check_compute_dtype(dtype: torch.dtype, device: torch.device | str) -> None:
    """Refuse fp16 on a CPU that has no fp16 arithmetic; warn once about bf16 on a CPU that has no bf16 arithmetic.

    Without native support torch emulates the reduced-precision products: fp16 matrix products then run tens of
    times slower than fp32, bf16 ones somewhat slower.

    Raises:
        ValueError: float16 on such a CPU (one line, naming what to use instead).

    Example:
        >>> check_compute_dtype(torch.bfloat16, "cpu")  # doctest: +SKIP
    """
    if torch.device(device).type != "cpu":
        return
    if dtype == torch.float16 and not cpu_has_native_fp16():
        raise ValueError("compute_dtype float16 is refused on this CPU: it has no fp16 arithmetic (AVX-512 FP16 or "
                         "AMX-FP16), so fp16 runs about 10x slower than float32; use bfloat16 or float32 on CPU, "
                         "float16 on a GPU")
    if dtype == torch.bfloat16 and not cpu_has_native_bf16() and "bf16" not in _warned:
        _warned.add("bf16")
        warnings.warn("compute_dtype bfloat16 on a CPU without native bf16 arithmetic (no AVX-512 BF16 or AMX in "
                      "/proc/cpuinfo): torch emulates it, which is usually slower than float32", SlowComputeDtypeWarning,
                      stacklevel=3)


def _float32_patterns(model: nn.Module, dtype: torch.dtype) -> list[str]:
    """The module-name patterns that `from_pretrained(dtype=dtype)` keeps in float32 for this model."""
    plan = getattr(model, "_get_dtype_plan", None)
    if plan is not None:
        return [pattern for pattern, kept in plan(dtype).items() if kept == torch.float32]
    return list(getattr(model, "_keep_in_fp32_modules_strict", None) or []) if dtype != torch.float32 else []


def kept_in_float32(model: nn.Module, dtype: torch.dtype):
    """A predicate on parameter / module names: whether `from_pretrained(dtype=dtype)` keeps that part in float32.

    Matches transformers' rule (each pattern searched in the dotted name, `*` as a wildcard).
    """
    patterns = [re.compile(p.replace("*", ".*")) for p in _float32_patterns(model, dtype)]
    return lambda name: any(p.search(name) for p in patterns)


def _target_dtypes(model: nn.Module, dtype: torch.dtype) -> dict[int, torch.dtype]:
    """id(parameter) -> the dtype a model computing in `dtype` holds it in (floating parameters only)."""
    kept = kept_in_float32(model, dtype)
    return {id(p): torch.float32 if kept(name) else dtype
            for name, p in model.named_parameters(remove_duplicate=True) if p.is_floating_point()}


def computes_in(model: nn.Module, dtype: torch.dtype) -> bool:
    """Whether every floating parameter of `model` already has the dtype a `dtype` model gives it.

    Example:
        >>> computes_in(AutoUpstream.from_pretrained(folder, dtype=torch.bfloat16), torch.bfloat16)  # doctest: +SKIP
        True
    """
    targets = _target_dtypes(model, dtype)
    return all(p.dtype == targets[id(p)] for p in model.parameters() if id(p) in targets)


def cast_model(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A model that computes in `dtype`: `model` itself when it already does, else a copy whose weights are cast.

    The copy is what `from_pretrained(folder, dtype=dtype)` would load: parts the family keeps in float32 stay float32
    (shared with `model`, not copied), the frontends' buffers stay float32, everything else is cast. `model` itself is
    never changed. Loading with `dtype=` directly avoids holding both copies.

    Example:
        >>> fast = cast_model(model, torch.bfloat16)  # doctest: +SKIP
        >>> fast(wavs, wavs_len).hidden_states[-1].dtype  # doctest: +SKIP
        torch.bfloat16
    """
    if computes_in(model, dtype):
        return model
    from .frontends.features import Float32BuffersModule

    targets = _target_dtypes(model, dtype)
    memo: dict[int, object] = {}
    for p in model.parameters():
        target = targets.get(id(p))
        if target is None or p.dtype == target:
            memo[id(p)] = p  # shared: the copy is read-only inference, and nothing is cast in place
        else:
            memo[id(p)] = nn.Parameter(p.detach().to(target), requires_grad=p.requires_grad)
    kept = kept_in_float32(model, dtype)
    for name, module in model.named_modules():
        for key, buffer in module._buffers.items():
            if buffer is None:
                continue
            cast = (buffer.is_floating_point() and buffer.dtype != dtype and not kept(f"{name}.{key}".lstrip("."))
                    and not isinstance(module, Float32BuffersModule))
            memo[id(buffer)] = buffer.to(dtype) if cast else buffer
    clone = copy.deepcopy(model, memo)
    if hasattr(clone, "config"):
        clone.config = copy.deepcopy(model.config)
        clone.config.dtype = dtype
    return clone


def resolve_compute_dtype(value: str | torch.dtype | None, device: torch.device | str) -> torch.dtype:
    """The compute dtype to run on `device`: None / "auto" is bfloat16 on CUDA and float32 elsewhere.

    Example:
        >>> resolve_compute_dtype("auto", "cpu")
        torch.float32
    """
    if value is None or value == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    return parse_compute_dtype(value)


def prepare_model(model: nn.Module, compute_dtype: str | torch.dtype | None, device: torch.device | str):
    """`(model, dtype)`: the model computing in the resolved compute dtype on `device` (checked, see
    `check_compute_dtype`), sharing its fp32 parts with `model`, and that dtype.

    With None / "auto", a model loaded in a reduced precision (`dtype=torch.bfloat16`) keeps it."""
    own = getattr(model, "dtype", torch.float32)
    if compute_dtype in (None, "auto") and own in (torch.bfloat16, torch.float16):
        dtype = own
    else:
        dtype = resolve_compute_dtype(compute_dtype, device)
    check_compute_dtype(dtype, device)
    return cast_model(model, dtype), dtype

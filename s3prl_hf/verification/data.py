"""Verification data: fixed inputs, S3PRL's hidden states on them, and the comparison with a converted model.

A published folder (and Hub repo) holds, next to its weights::

    verification/inputs.safetensors             the inputs, as 16-bit PCM: {case}.wavs_int16 (B, T), {case}.wavs_len (B,)
    verification/s3prl_hidden_states.safetensors S3PRL 0.4.18's S3PRLUpstream on them: {case}.hs.{i}, {case}.hs_len.{i}
    verification/info.json                      how they were made: S3PRL's entry and versions, sources, tolerance

`compare` recomputes the inputs with a converted model and measures, per hidden state, the largest difference on
valid frames relative to S3PRL's values: max |ours - S3PRL| / max(1, max |S3PRL|), lengths exactly equal. The folder
is at parity when every hidden state is within `TOLERANCE`.

Example:
    >>> from s3prl_hf import AutoUpstream
    >>> model = AutoUpstream.from_pretrained("published/hubert_large_ll60k")  # doctest: +SKIP
    >>> report = compare(model, "published/hubert_large_ll60k")  # doctest: +SKIP
    >>> report.ok, f"{report.max_relative_diff:.1e}"  # doctest: +SKIP
    (True, '2.4e-06')
"""

from __future__ import annotations

import json
import math
import os
import wave
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch

from .layout import (FOLDER, FORMAT_VERSION, INFO_FILE, INPUTS_FILE, STATES_FILE, TOLERANCE,  # noqa: F401
                     TOLERANCE_DEFINITION, VerificationDataError)  # the layout, re-exported with the data it describes

# The fixed inputs. `clip`: the first 2 s of the bundled espeak-ng sentence (s3prl_hf/demo/speech.wav, synthetic
# speech, no rights attached). `batch`: a zero-padded batch of synthetic noise + tones of mixed lengths, 700 samples
# being under S3PRL's 0.05 s minimum. Upstreams that need longer inputs (VGGish: 0.975 s per utterance) get every
# length lengthened by their minimum.
CLIP_SAMPLES = 32000
BATCH_LENGTHS = (16000, 12345, 4321, 700)
BATCH_SEED = 20250806
SAMPLING_RATE = 16000


@dataclass
class VerificationReport:
    """The comparison of a converted model with S3PRL's stored hidden states.

    Attributes:
        layers: Per hidden state, the largest relative difference over the inputs (`inf` where shapes, lengths or
            finiteness already fail).
        cases: Per input case, the same figure per hidden state.
        problems: What failed beyond the figures (layer count, shapes, lengths, non-finite values).
        tolerance: The bound each figure must stay within.
    """

    layers: list[float] = field(default_factory=list)
    cases: dict[str, list[float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    tolerance: float = TOLERANCE

    @property
    def max_relative_diff(self) -> float:
        """The largest figure over all hidden states and inputs (`inf` when a structural check failed)."""
        if self.problems and not self.layers:
            return math.inf
        return max(self.layers, default=math.inf)

    @property
    def ok(self) -> bool:
        """Whether every hidden state of every input is within the tolerance and nothing else failed."""
        return not self.problems and bool(self.layers) and self.max_relative_diff <= self.tolerance

    def summary(self) -> str:
        """One line: the figure and the verdict, or the first problem."""
        if self.problems:
            return self.problems[0] + (f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else "")
        worst = max(range(len(self.layers)), key=self.layers.__getitem__)
        verdict = "<=" if self.ok else ">"
        return (f"max relative difference {self.max_relative_diff:.2e} {verdict} {self.tolerance:.0e} "
                f"(worst: hidden state {worst}; {len(self.layers)} hidden states, {len(self.cases)} inputs)")

    def as_dict(self) -> dict:
        """A JSON-able record (for manifests and info.json)."""
        return {"max_relative_diff": _json_float(self.max_relative_diff), "tolerance": self.tolerance,
                "ok": self.ok, "per_hidden_state": [_json_float(x) for x in self.layers],
                "inputs": sorted(self.cases), "problems": list(self.problems)}


def make_inputs(min_input_samples: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The fixed inputs: {case: (wavs_int16 (B, T) zero-padded, wavs_len (B,))}.

    Args:
        min_input_samples: The model's shortest accepted utterance (`config.min_input_samples`, 0 if none); every
            length is lengthened by it so that the model runs.

    Example:
        >>> inputs = make_inputs()
        >>> inputs["batch"][1].tolist(), inputs["clip"][0].dtype
        ([16000, 12345, 4321, 700], torch.int16)
    """
    extra = int(min_input_samples or 0)
    clip = _speech_clip()[: max(CLIP_SAMPLES, extra)]
    generator = torch.Generator().manual_seed(BATCH_SEED)
    lengths = [n + extra for n in BATCH_LENGTHS]
    batch = torch.zeros(len(lengths), max(lengths), dtype=torch.int16)
    for row, n in enumerate(lengths):
        t = torch.arange(n, dtype=torch.float64) / SAMPLING_RATE
        x = 0.1 * torch.randn(n, generator=generator, dtype=torch.float64)
        for _ in range(3):
            freq, amp, phase = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
            x = x + (0.05 + 0.25 * amp) * torch.sin(2 * math.pi * (80.0 + 3920.0 * freq) * t + 2 * math.pi * phase)
        batch[row, :n] = (x * 32768).round().clamp(-32768, 32767).to(torch.int16)
    return {"clip": (clip[None].clone(), torch.tensor([len(clip)], dtype=torch.int64)),
            "batch": (batch, torch.tensor(lengths, dtype=torch.int64))}


def _speech_clip() -> torch.Tensor:
    with resources.as_file(resources.files("s3prl_hf") / "demo" / "speech.wav") as path, \
            wave.open(str(path), "rb") as handle:
        if (handle.getsampwidth(), handle.getnchannels(), handle.getframerate()) != (2, 1, SAMPLING_RATE):
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit PCM")
        frames = handle.readframes(handle.getnframes())
    return torch.frombuffer(bytearray(frames), dtype=torch.int16).clone()


def write_inputs(inputs: dict[str, tuple[torch.Tensor, torch.Tensor]], path: str | os.PathLike) -> None:
    """Write `inputs` ({case: (wavs_int16, wavs_len)}) as `inputs.safetensors`."""
    from safetensors.torch import save_file

    tensors = {}
    for case, (wavs, wavs_len) in inputs.items():
        if wavs.dtype != torch.int16:
            raise TypeError(f"inputs of case {case!r} must be int16 PCM, got {wavs.dtype}")
        tensors[f"{case}.wavs_int16"] = wavs.contiguous()
        tensors[f"{case}.wavs_len"] = wavs_len.to(torch.int64).contiguous()
    cases = {case: [int(n) for n in wavs_len] for case, (_, wavs_len) in inputs.items()}
    save_file(tensors, str(path), metadata={"format": "s3prl_hf.verification_inputs",
                                             "format_version": str(FORMAT_VERSION), "cases": json.dumps(cases)})


def read_inputs(path: str | os.PathLike) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{case: (wavs float32 in [-1, 1) = PCM / 32768, wavs_len)} from `inputs.safetensors`."""
    tensors = _load(path)
    cases = {}
    for key in tensors:
        case, _, field_name = key.rpartition(".")
        if field_name == "wavs_int16":
            if f"{case}.wavs_len" not in tensors:
                raise VerificationDataError(f"{path}: case {case!r} has no wavs_len")
            cases[case] = (tensors[key].to(torch.float32) / 32768, tensors[f"{case}.wavs_len"])
    if not cases:
        raise VerificationDataError(f"{path} holds no inputs")
    return cases


def read_states(path: str | os.PathLike) -> dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """{case: ([hidden states], [lengths])} from `s3prl_hidden_states.safetensors`."""
    tensors = _load(path)
    cases: dict[str, tuple[dict, dict]] = {}
    for key, value in tensors.items():
        parts = key.split(".")
        if len(parts) < 3 or parts[-2] not in ("hs", "hs_len") or not parts[-1].isdigit():
            raise VerificationDataError(f"{path}: unexpected tensor {key!r}")
        case = ".".join(parts[:-2])
        states, lengths = cases.setdefault(case, ({}, {}))
        (states if parts[-2] == "hs" else lengths)[int(parts[-1])] = value
    out = {}
    for case, (states, lengths) in cases.items():
        if sorted(states) != list(range(len(states))) or sorted(lengths) != sorted(states):
            raise VerificationDataError(f"{path}: case {case!r} has an incomplete set of hidden states")
        out[case] = ([states[i] for i in range(len(states))], [lengths[i] for i in range(len(states))])
    return out


def _load(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise VerificationDataError(f"{path} does not exist") from None
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types for bad files
        raise VerificationDataError(f"{path} is not a readable safetensors file: {error}") from None


def read_info(folder: str | os.PathLike) -> dict:
    """The `verification/info.json` of a published folder.

    Raises:
        VerificationDataError: the folder has no (readable) verification data.
    """
    folder = Path(folder)
    path = folder / FOLDER / INFO_FILE
    if not path.is_file():
        raise VerificationDataError(f"{folder} has no verification data ({FOLDER}/{INFO_FILE} is missing): only "
                                    f"folders written by conversion/publish.py and the published Hub repos carry it")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VerificationDataError(f"{path} is not readable JSON: {error}") from None
    for name in (INPUTS_FILE, STATES_FILE):
        if not (folder / FOLDER / name).is_file():
            raise VerificationDataError(f"{folder} has incomplete verification data ({FOLDER}/{name} is missing)")
    return info


@torch.no_grad()
def compare(model, folder: str | os.PathLike, tolerance: float | None = None) -> VerificationReport:
    """Run `model` on the folder's stored inputs and compare every hidden state with S3PRL's stored ones.

    Args:
        model: A loaded upstream (`AutoUpstream.from_pretrained`), in eval mode.
        folder: A folder holding `verification/`.
        tolerance: The bound; default: the one recorded in info.json, else `TOLERANCE`.

    Raises:
        VerificationDataError: the folder has no (readable) verification data.
    """
    folder = Path(folder)
    info = read_info(folder)
    recorded = info.get("tolerance", {}).get("relative") if isinstance(info.get("tolerance"), dict) else None
    report = VerificationReport(tolerance=float(next(t for t in (tolerance, recorded, TOLERANCE) if t is not None)))
    inputs = read_inputs(folder / FOLDER / INPUTS_FILE)
    expected = read_states(folder / FOLDER / STATES_FILE)
    if set(inputs) != set(expected):
        raise VerificationDataError(f"{folder}: the inputs ({sorted(inputs)}) and S3PRL's states ({sorted(expected)}) "
                                    f"cover different cases")
    per_layer: list[float] = []
    for case in sorted(inputs):
        wavs, wavs_len = inputs[case]
        ref_hs, ref_len = expected[case]
        out = model(wavs, wavs_len)
        figures = _compare_case(out.hidden_states, out.hidden_states_lengths, ref_hs, ref_len, case, report.problems)
        report.cases[case] = figures
        per_layer = [max(a, b) for a, b in zip(per_layer, figures)] if per_layer else list(figures)
    report.layers = per_layer
    return report


def _compare_case(got_hs, got_len, ref_hs, ref_len, case: str, problems: list[str]) -> list[float]:
    if len(got_hs) != len(ref_hs):
        problems.append(f"input {case!r}: the model returns {len(got_hs)} hidden states, S3PRL returned {len(ref_hs)}")
    figures = []
    for index, (ref, ref_n) in enumerate(zip(ref_hs, ref_len)):
        if index >= len(got_hs):
            figures.append(math.inf)
            continue
        hs, hs_n = got_hs[index].float().cpu(), got_len[index].cpu()
        where = f"input {case!r}, hidden state {index}"
        if tuple(hs.shape) != tuple(ref.shape):
            problems.append(f"{where}: shape {tuple(hs.shape)}, S3PRL's {tuple(ref.shape)}")
            figures.append(math.inf)
            continue
        if not torch.equal(hs_n.to(torch.int64), ref_n.to(torch.int64)):
            problems.append(f"{where}: lengths {hs_n.tolist()}, S3PRL's {ref_n.tolist()}")
            figures.append(math.inf)
            continue
        valid = torch.arange(ref.shape[1])[None, :] < ref_n[:, None]
        if not valid.any():
            figures.append(0.0)
            continue
        ours, theirs = hs[valid], ref[valid].float()
        if not torch.isfinite(ours).all():
            problems.append(f"{where}: non-finite values on valid frames")
            figures.append(math.inf)
            continue
        diff = (ours - theirs).abs().max().item()
        figures.append(diff / max(1.0, theirs.abs().max().item()))
    return figures


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else "inf"


__all__ = ["FOLDER", "INFO_FILE", "INPUTS_FILE", "STATES_FILE", "TOLERANCE", "VerificationDataError",
           "VerificationReport", "compare", "make_inputs", "read_info", "read_inputs", "read_states", "write_inputs"]

"""bf16 vs fp32 on CPU at hubert_base size (random weights): bare forward, `extract_to_dir` (what `s3prl-hf extract`
runs), and per-layer per-frame cosine of bf16 to fp32 hidden states (issue 18.1 / 18.3).

    PYTHONPATH=. python benchmarks/extract_bf16.py --minutes 8 --rounds 2

Synthetic clips of 2-15 s (seeded noise) totalling `--minutes`; rounds interleave the four measurements so a
shared machine's load hits them alike; the median round is reported. Writes benchmarks/extract_bf16.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from s3prl_hf import extract_to_dir
from s3prl_hf.models.hubert.configuration_hubert import S3prlHubertConfig
from s3prl_hf.models.hubert.modeling_hubert import S3prlHubertModel
from s3prl_hf.precision import cast_model, cpu_has_native_bf16

RATE = 16000


def clips(minutes: float, seed: int = 0) -> list[np.ndarray]:
    rng, out, total = np.random.default_rng(seed), [], 0.0
    while total < minutes * 60:
        seconds = float(rng.uniform(2, 15))
        out.append((rng.standard_normal(int(seconds * RATE)) * 0.1).astype(np.float32))
        total += seconds
    return out


def batches(wavs: list[np.ndarray], batch_seconds: float) -> list[list[np.ndarray]]:
    """Length-sorted batches of at most `batch_seconds` padded seconds (as extract_to_dir plans them)."""
    ordered, out, current = sorted(wavs, key=len), [], []
    for wav in ordered:
        if current and len(wav) * (len(current) + 1) > batch_seconds * RATE:
            out.append(current)
            current = []
        current.append(wav)
    return out + [current] if current else out


@torch.no_grad()
def bare_forward(model, planned) -> float:
    start = time.perf_counter()
    for group in planned:
        lengths = torch.tensor([len(w) for w in group])
        padded = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in group], batch_first=True)
        model(padded, lengths)
    return time.perf_counter() - start


def extraction(model, folder: Path, out: Path, compute_dtype: str, batch_seconds: float) -> float:
    start = time.perf_counter()
    extract_to_dir(folder, out, model, compute_dtype=compute_dtype, batch_seconds=batch_seconds, progress=False,
                   cpu=True)
    return time.perf_counter() - start


@torch.no_grad()
def cosines(full, half, wavs: list[np.ndarray]) -> list[dict]:
    group = [torch.from_numpy(w) for w in wavs]
    lengths = torch.tensor([len(w) for w in group])
    padded = torch.nn.utils.rnn.pad_sequence(group, batch_first=True)
    ref, got = full(padded, lengths), half(padded, lengths)
    layers = []
    for a, b, n in zip(got.hidden_states, ref.hidden_states, ref.hidden_states_lengths):
        valid = torch.arange(b.shape[1])[None, :] < n[:, None]
        cos = torch.nn.functional.cosine_similarity(a.float()[valid], b[valid], dim=-1)
        layers.append({"min": round(cos.min().item(), 5), "mean": round(cos.mean().item(), 5)})
    return layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-seconds", type=float, default=100.0)
    parser.add_argument("--output", default=str(Path(__file__).with_name("extract_bf16.json")))
    args = parser.parse_args()

    torch.manual_seed(0)
    full = S3prlHubertModel(S3prlHubertConfig()).eval()  # hubert_base architecture, random weights
    half = cast_model(full, torch.bfloat16)
    wavs = clips(args.minutes)
    planned = batches(wavs, args.batch_seconds)
    times: dict[str, list[float]] = {k: [] for k in ("forward_fp32", "forward_bf16", "extract_fp32", "extract_bf16")}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "wavs"
        folder.mkdir()
        for i, wav in enumerate(wavs):
            sf.write(folder / f"{i:04d}.wav", wav, RATE, subtype="FLOAT")
        cos = cosines(full, half, wavs[:4])
        for r in range(args.rounds):
            times["forward_fp32"].append(bare_forward(full, planned))
            times["forward_bf16"].append(bare_forward(half, planned))
            times["extract_fp32"].append(extraction(full, folder, Path(work) / f"fp32-{r}", "float32",
                                                    args.batch_seconds))
            times["extract_bf16"].append(extraction(full, folder, Path(work) / f"bf16-{r}", "bfloat16",
                                                    args.batch_seconds))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "audio_seconds": round(sum(len(w) for w in wavs) / RATE, 1), "clips": len(wavs), "rounds": args.rounds,
        "batch_seconds": args.batch_seconds, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "native_bf16": cpu_has_native_bf16(),
        "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "median_seconds": {k: round(v, 2) for k, v in median.items()},
        "speedups": {
            "extract_bf16_over_extract_fp32": round(median["extract_fp32"] / median["extract_bf16"], 3),
            "extract_fp32_over_forward_fp32": round(median["forward_fp32"] / median["extract_fp32"], 3),
            "forward_bf16_over_forward_fp32": round(median["forward_fp32"] / median["forward_bf16"], 3),
        },
        "per_layer_frame_cosine": cos,
        "min_frame_cosine": min(layer["min"] for layer in cos),
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["speedups"]), "min cosine", result["min_frame_cosine"])


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Side-by-side benchmark of S3PRL 0.4.18, transformers and s3prl_hf on the same random full-size weights.

Runs in the S3PRL reference environment (conversion/reference/setup_env.sh) with this repository importable:

    PYTHONPATH=. $REFENV/bin/python benchmarks/run_benchmarks.py --sizes hubert_base,hubert_large_ll60k \
        --out benchmarks/results.json

Every number is reported next to the same measurement of S3PRL in the same run (ratios), never against a fixed
threshold. Memory and load time are measured in fresh subprocesses, so one contender's allocations do not hide
another's peak. See benchmarks/README.md for the results and what each column means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "conversion" / "reference"))
sys.path.insert(0, str(REPO / "benchmarks"))

BATCH_SECONDS = (10, 8, 6, 4)  # the padded batch: 28 s of audio
SAMPLE_RATE = 16000
GEMM_SIZE = 2048  # the fp32 matrix product that model FLOP utilisation is measured against

# Benchmark size -> (S3PRL hub entry for a local file, registry name for the converter, transformers class name).
SIZES = {
    "hubert_base": ("hubert_custom", "hubert_base", "HubertModel"),
    "hubert_large_ll60k": ("hubert_custom", "hubert_large_ll60k", "HubertModel"),
    "wav2vec2_base_960": ("wav2vec2_custom", "wav2vec2_base_960", "Wav2Vec2Model"),
}


def memory_mb(field: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process in MiB.

    Not getrusage: its ru_maxrss survives fork + exec, so a child would report its parent's peak.
    """
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: writing 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def interleaved_median_times(runs: dict, repeats: int) -> dict:
    """Median seconds of each callable, timed in `repeats` interleaved rounds after one warm-up each.

    Every round runs every callable once, so a slow spell of a shared machine hits all of them alike and the
    ratios between them stay fair.
    """
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_gemm(threads: int, n: int = GEMM_SIZE, repeats: int = 5) -> float:
    """fp32 GEMM throughput of this machine, in GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = median_time(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


# ----------------------------------------------------------------------------------------------------------------
# Building the same random weights for all three contenders
# ----------------------------------------------------------------------------------------------------------------

def fairseq_config(config) -> dict:
    """The fairseq/S3PRL model config of a released architecture (an s3prl_hf reference config)."""
    conv = "[" + ", ".join(f"({d}, {k}, {s})" for d, k, s in zip(config.conv_dim, config.conv_kernel,
                                                                    config.conv_stride)) + "]"
    return dict(extractor_mode="layer_norm" if config.feat_extract_norm == "layer" else "default",
                encoder_layers=config.num_hidden_layers, encoder_embed_dim=config.hidden_size,
                encoder_ffn_embed_dim=config.intermediate_size, encoder_attention_heads=config.num_attention_heads,
                conv_feature_layers=conv, layer_norm_first=config.do_stable_layer_norm, conv_bias=config.conv_bias,
                conv_pos=config.num_conv_pos_embeddings, conv_pos_groups=config.num_conv_pos_embedding_groups,
                final_dim=256)


def s3prl_checkpoint(size: str, config) -> dict:
    """A random full-size checkpoint in the layout S3PRL hosts, built with S3PRL's own classes."""
    import s3prl_shim  # noqa: F401 (import shims before s3prl)

    model_cfg = fairseq_config(config)
    task_cfg = dict(sample_rate=16000, normalize=config.normalize_waveform)
    torch.manual_seed(0)
    if SIZES[size][0] == "hubert_custom":
        from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig

        model_cfg.update(_name="hubert", label_rate=50.0)
        task_cfg.update(_name="hubert_pretraining", label_rate=50.0)
        dicts = [["<s>", "<pad>", "</s>", "<unk>"] + [str(i) for i in range(500)]]
        model = HubertModel(HubertConfig(**{k: v for k, v in model_cfg.items() if k != "_name"}),
                            HubertPretrainingConfig(**{k: v for k, v in task_cfg.items() if k != "_name"}), dicts)
        return dict(task_cfg=task_cfg, model_cfg=model_cfg, model_weight=model.state_dict(),
                    dictionaries_symbols=dicts)
    from s3prl.upstream.wav2vec2.wav2vec2_model import Wav2Vec2Config, Wav2Vec2Model

    model_cfg.update(_name="wav2vec2")
    task_cfg.update(_name="audio_pretraining")
    model = Wav2Vec2Model(Wav2Vec2Config(**{k: v for k, v in model_cfg.items() if k != "_name"}))
    return dict(task_cfg=task_cfg, model_cfg=model_cfg, model_weight=model.state_dict())


def build_checkpoints(size: str, work: Path) -> dict:
    """Write a random full-size checkpoint in S3PRL's format, convert it, and lay it out for transformers."""
    import transformers

    from s3prl_hf import convert_checkpoint, reference_config

    checkpoint = work / f"{size}_s3prl.pt"
    torch.save(s3prl_checkpoint(size, reference_config(SIZES[size][1])), checkpoint)
    ours = work / f"{size}_s3prl_hf"
    convert_checkpoint(SIZES[size][1], checkpoint, ours)
    # transformers' HubertModel / Wav2Vec2Model use the same module names as s3prl_hf, so the converted weights
    # load into them as they are.
    theirs = work / f"{size}_transformers"
    theirs.mkdir()
    ours_config = json.loads((ours / "config.json").read_text())
    config_class = getattr(transformers, SIZES[size][2].replace("Model", "Config"))
    known = set(config_class().to_dict())
    hf_config = config_class(**{k: v for k, v in ours_config.items() if k in known and k != "model_type"},
                             mask_time_prob=0.0, layerdrop=0.0)
    hf_config.save_pretrained(theirs)
    os.link(ours / "model.safetensors", theirs / "model.safetensors")
    weights_mb = (ours / "model.safetensors").stat().st_size / 2**20
    return {"s3prl": str(checkpoint), "s3prl_hf": str(ours), "transformers": str(theirs), "weights_mb": weights_mb}


# ----------------------------------------------------------------------------------------------------------------
# Loading each contender (also used in subprocesses)
# ----------------------------------------------------------------------------------------------------------------

def load(contender: str, size: str, paths: dict):
    if contender == "s3prl":
        import s3prl_shim  # noqa: F401
        from s3prl.nn import S3PRLUpstream

        return S3PRLUpstream(SIZES[size][0], path_or_url=paths["s3prl"]).eval()
    if contender == "transformers":
        import transformers

        return getattr(transformers, SIZES[size][2]).from_pretrained(paths["transformers"]).eval()
    from s3prl_hf import AutoUpstream

    return AutoUpstream.from_pretrained(paths["s3prl_hf"])


def forward(contender: str, model, wavs: torch.Tensor, wavs_len: torch.Tensor, layers=None):
    with torch.no_grad():
        if contender == "transformers":
            mask = (torch.arange(wavs.shape[1])[None] < wavs_len[:, None]).long()
            return model(wavs, attention_mask=mask, output_hidden_states=True).hidden_states
        if contender == "s3prl":
            return model(wavs, wavs_len)[0]
        return model(wavs, wavs_len, layers=layers).hidden_states


def batch(seconds, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    lengths = [int(s * SAMPLE_RATE) for s in seconds]
    wavs = torch.zeros(len(lengths), max(lengths))
    for i, length in enumerate(lengths):
        wavs[i, :length] = torch.randn(length, generator=generator) * 0.1
    return wavs, torch.tensor(lengths)


def import_contender(contender: str) -> None:
    """Import a contender's libraries up front, so load time and memory count loading only."""
    import importlib

    modules = {"s3prl": ["s3prl_shim", "s3prl.nn"], "transformers": ["transformers"], "s3prl_hf": ["s3prl_hf"]}
    for module in modules[contender]:
        importlib.import_module(module)


def child(args) -> None:
    """Subprocess entry: load one contender (and optionally run one long utterance), print JSON."""
    torch.set_num_threads(args.threads)
    paths = json.loads(args.paths)
    import_contender(args.contender)
    reset_peak()
    before = memory_mb("VmRSS")
    start = time.perf_counter()
    model = load(args.contender, args.size, paths)
    load_s = time.perf_counter() - start
    result = {"load_s": load_s, "load_peak_mb": memory_mb("VmHWM") - before}
    if args.long_seconds:
        # a short forward first, so that weights a contender maps lazily (s3prl_hf's safetensors) are resident
        # before the peak is reset: the long utterance's peak then counts what that utterance needs
        forward(args.contender, model, *batch([1.0], seed=2))
        wavs, wavs_len = batch([args.long_seconds], seed=1)
        reset_peak()
        before = memory_mb("VmRSS")
        start = time.perf_counter()
        forward(args.contender, model, wavs, wavs_len)
        result.update(long_s=time.perf_counter() - start, long_peak_mb=memory_mb("VmHWM") - before)
    print(json.dumps(result))


def run_child(contender: str, size: str, paths: dict, threads: int, long_seconds: float = 0) -> dict:
    command = [sys.executable, __file__, "--child", contender, "--size", size, "--paths", json.dumps(paths),
               "--threads", str(threads), "--long-seconds", str(long_seconds)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------------------
# The measurements
# ----------------------------------------------------------------------------------------------------------------

def valid_audio_flops(model, wavs_len: torch.Tensor) -> float:
    """FLOPs of the s3prl_hf model on each utterance alone (no padding), summed."""
    from torch.utils.flop_counter import FlopCounterMode

    total = 0
    for length in wavs_len.tolist():
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, length).normal_(0, 0.1))
        total += counter.get_total_flops()
    return float(total)


def benchmark_size(size: str, work: Path, threads: int, repeats: int) -> dict:
    paths = build_checkpoints(size, work)
    result = {"weights_mb": paths["weights_mb"]}
    contenders = ("s3prl", "transformers", "s3prl_hf")

    for contender in contenders:  # load time / peak memory, then a 60 s utterance, in fresh processes
        result[contender] = run_child(contender, size, paths, threads)
        result[contender].update({k: v for k, v in run_child(contender, size, paths, threads, 60).items()
                                  if k.startswith("long")})

    torch.set_num_threads(threads)
    models = {c: load(c, size, paths) for c in contenders}
    model = models["s3prl_hf"]
    wavs, wavs_len = batch(BATCH_SECONDS)
    audio_seconds = sum(BATCH_SECONDS)
    first_ks = [max(1, round(fraction * (model.num_layers - 1))) for fraction in (0.25, 0.5)]
    gemm_a, gemm_b = torch.randn(GEMM_SIZE, GEMM_SIZE), torch.randn(GEMM_SIZE, GEMM_SIZE)

    def padded_batch():  # the same model without per-utterance skipping of padded frames
        model.config.skip_padding = False
        try:
            return forward("s3prl_hf", model, wavs, wavs_len)
        finally:
            model.config.skip_padding = True

    runs = {contender: (lambda c=contender: forward(c, models[c], wavs, wavs_len)) for contender in contenders}
    runs["padded"] = padded_batch
    # layers=[0] is the front end alone (CNN, projection, positional conv); layers=[k] the first k layers too
    runs.update({f"layers={k}": (lambda k=k: forward("s3prl_hf", model, wavs, wavs_len, layers=[k]))
                 for k in [0] + first_ks})
    runs["gemm"] = lambda: gemm_a @ gemm_b
    times = interleaved_median_times(runs, repeats)

    for contender in contenders:
        result[contender]["batch_s"] = times[contender]
        result[contender]["throughput"] = audio_seconds / times[contender]
    result["gemm_gflops"] = 2 * GEMM_SIZE**3 / times["gemm"] / 1e9

    # Parity of s3prl_hf with S3PRL on this run's batch, valid frames only.
    ours, ref = forward("s3prl_hf", model, wavs, wavs_len), forward("s3prl", models["s3prl"], wavs, wavs_len)
    hs_len = (wavs_len - 1) // 320 + 1
    valid = torch.arange(ref[0].shape[1])[None] < hs_len[:, None]
    result["parity_max_abs_diff"] = max((a - b).abs()[valid].max().item() for a, b in zip(ours, ref))

    flops = valid_audio_flops(model, wavs_len)
    result["gflop_per_audio_second"] = flops / audio_seconds / 1e9
    result["mfu_valid_audio"] = flops / times["s3prl_hf"] / 1e9 / result["gemm_gflops"]
    result["s3prl_hf_padded_batch_throughput"] = audio_seconds / times["padded"]

    # Only the first k of N layers: cost as a fraction of the full forward, and of the transformer encoder
    # alone (the forward minus what layers=[0] costs).
    full, front = times["s3prl_hf"], times["layers=0"]
    result["front_end_fraction"] = front / full
    result["first_k_layers"] = {
        f"{k}/{model.num_layers - 1}": {"of_forward": times[f"layers={k}"] / full,
                                        "of_encoder": (times[f"layers={k}"] - front) / (full - front)}
        for k in first_ks}
    return result


def environment() -> dict:
    import transformers

    import s3prl_hf

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        cpu = platform.processor()
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "s3prl_hf": s3prl_hf.__version__}
    try:
        from importlib.metadata import version

        versions["s3prl"] = version("s3prl")
    except Exception:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def ratio(value: float, reference: float) -> str:
    return f"{value:.3g} ({value / reference:.2f}x)"


def render_families(results: dict) -> list:
    """The one-row-per-model-type table (benchmarks/family_bench.py), s3prl_hf as a ratio to S3PRL."""
    table, info = results.get("families"), results.get("families_meta", {})
    if not table:
        return []
    seconds = ", ".join(map(str, info.get("batch_seconds", ())))
    lines = ["## Every model type: S3PRL vs s3prl_hf", "",
             "```bash", info.get("command", ""), "```", "",
             f"Each model type's parity-fixture checkpoint (`tests/fixtures/<fixture>`, built by "
             f"`conversion/reference/fixtures_<group>.py`): the same S3PRL-format random weights for both "
             f"contenders, converted with `s3prl_hf.conversion`. **These are the fixtures' reduced sizes, not the "
             f"released sizes** (the released-size hubert / wav2vec2 sections follow below). Batch: "
             f"{len(info.get('batch_seconds', ()))} utterances of {seconds} s, padded; median of "
             f"{info.get('repeats')} interleaved rounds after a warm-up. fp32 / bf16 throughput in audio-s/s; s3prl_hf "
             f"bf16 is `from_pretrained(folder, dtype=torch.bfloat16)`, S3PRL bf16 is "
             f"`torch.autocast(\"cpu\", dtype=torch.bfloat16)` around its forward. Load time, load peak and "
             f"forward peak memory (RSS high-water mark above the level before, MiB) from fresh processes with the "
             f"libraries imported beforehand. cos: per-layer min cosine of s3prl_hf bf16 vs fp32 over the frames of "
             f"the longest utterance. parity: max abs diff of s3prl_hf fp32 vs S3PRL on that utterance. Load "
             f"average at the start: {', '.join(f'{x:.1f}' for x in info.get('load_average', ()))} (2 cores, shared). "
             f"**Preliminary, not evidence of speed either way**: at these sizes (hidden width 16-36) a batch takes "
             f"milliseconds and Python overhead dominates, and the run shared 2 cores at load 4.6-6.2, so near-"
             f"identical networks (hubert vs wav2vec2) land at 1.32x and 0.41x. Model types marked not measured "
             f"need S3PRL's hub substitutions of the fixture generators (a local file for entries that only "
             f"download) or a working S3PRL path; name lookups other than loopback are refused.",
             "",
             "| model type (fixture) | fp32 S3PRL | fp32 s3prl_hf (x) | bf16 S3PRL | bf16 s3prl_hf (x) | load s S3PRL | "
             "load s s3prl_hf (x) | load MiB S3PRL / s3prl_hf | fwd MiB S3PRL / s3prl_hf | cos bf16 | parity |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in table.items():
        if "error" in r:
            lines.append(f"| {name} | not measured: {r['error'].replace('|', '/')} |||||||||")
            continue
        t, ref, ours = r["throughput"], r["s3prl"], r["s3prl_hf"]
        lines.append(
            f"| {name} ({r['fixture']}) | {t['s3prl']:.3g} | {ratio(t['s3prl_hf'], t['s3prl'])} | "
            f"{t['s3prl_bf16']:.3g} | {ratio(t['s3prl_hf_bf16'], t['s3prl_bf16'])} | {ref['load_s']:.3g} | "
            f"{ratio(ours['load_s'], ref['load_s'])} | {ref['load_peak_mb']:.0f} / {ours['load_peak_mb']:.0f} | "
            f"{ref['forward_peak_mb']:.0f} / {ours['forward_peak_mb']:.0f} | {r['bf16_min_cosine']:.4f} | "
            f"{r['parity_max_abs_diff']:.1g} |")
    return lines + [""]


def render_report(results: dict) -> str:
    """Markdown tables of one run, every contender as a ratio to S3PRL (and the targets of issue 8)."""
    env = results["environment"]
    lines = ["# Benchmarks", ""] + render_families(results) + [
             "## Released sizes: hubert and wav2vec2", "",
             "Generated by `benchmarks/run_benchmarks.py` from `benchmarks/results.json`; rerun with:",
             "", "```bash", results.get("sizes_command", results["command"]), "```", "",
             f"Machine: {env['cpu']}, {env['cores']} cores, {results['threads']} torch threads, fp32, CPU. "
             f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items())}. Measured GEMM: "
             f"{results.get('sizes_gemm_gflops') or results['gemm_gflops']:.0f} GFLOP/s (2048x2048 fp32, same run). Random full-size weights, the same "
             f"for the three contenders. Batch: {len(results['batch_seconds'])} utterances of "
             f"{', '.join(map(str, results['batch_seconds']))} s, padded; median of {results['repeats']} interleaved "
             f"rounds (each round runs every contender and measurement once, so a slow spell of the shared machine "
             f"hits all alike) after a warm-up. Load time and memory come from fresh processes, libraries imported beforehand. s3prl_hf "
             f"memory-maps its safetensors, so its load-time peak counts only what loading touches; the weights "
             f"become resident on first use; the 60 s utterance's time and memory are measured after a 1 s forward "
             f"(all weights resident, for every contender). Run with the S3PRL reference environment's Python "
             f"(`conversion/reference/setup_env.sh`), which has s3prl 0.4.18 next to transformers.", ""]
    for size, r in results.items():
        if not isinstance(r, dict) or "s3prl" not in r:
            continue
        ref, hf, ours = r["s3prl"], r["transformers"], r["s3prl_hf"]
        lines += [f"### {size}-sized ({r['weights_mb']:.0f} MiB of fp32 weights)", "",
                  "| measurement | S3PRL 0.4.18 | transformers (x S3PRL) | s3prl_hf (x S3PRL) |",
                  "|---|---:|---:|---:|"]
        rows = [("throughput, audio-s/s (higher is better)", "throughput"), ("load time, s", "load_s"),
                ("peak memory during load, MiB", "load_peak_mb"), ("one 60 s utterance, s", "long_s"),
                ("peak memory for the 60 s utterance, MiB", "long_peak_mb")]
        for label, key in rows:
            lines.append(f"| {label} | {ref[key]:.3g} | {ratio(hf[key], ref[key])} | {ratio(ours[key], ref[key])} |")
        lines += ["", f"- s3prl_hf vs transformers throughput: {ours['throughput'] / hf['throughput']:.2f}x; load "
                  f"time: {ours['load_s'] / hf['load_s']:.2f}x; peak load memory: "
                  f"{ours['load_peak_mb'] / r['weights_mb']:.2f}x the weights.",
                  f"- Parity in this run: max |diff| s3prl_hf vs S3PRL on valid frames {r['parity_max_abs_diff']:.2g}.",
                  f"- Cost: {r['gflop_per_audio_second']:.1f} GFLOP per second of valid audio; model FLOP "
                  f"utilisation on valid audio {100 * r['mfu_valid_audio']:.0f} % of the GEMM timed in the same "
                  f"rounds ({r.get('gemm_gflops', results['gemm_gflops']):.0f} GFLOP/s).",
                  f"- Per-utterance CNN front end and layers (`skip_padding`, the default on CPU) vs the padded "
                  f"batch: "
                  f"{ours['throughput']:.3g} vs {r['s3prl_hf_padded_batch_throughput']:.3g} audio-s/s "
                  f"({ours['throughput'] / r['s3prl_hf_padded_batch_throughput']:.2f}x).",
                  f"- Only the first k of N layers (`layers=[k]`), time as a fraction of the full forward / of the "
                  f"transformer encoder (the forward minus the {100 * r['front_end_fraction']:.0f} % spent before "
                  f"the first layer): " + ", ".join(f"{k}: {v['of_forward']:.2f} / {v['of_encoder']:.2f}"
                                                      for k, v in r["first_k_layers"].items()) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="hubert_base,hubert_large_ll60k")
    parser.add_argument("--families", default="",
                        help="comma-separated model types for the one-row-per-type table (benchmarks/family_bench.py), "
                             "'all' for every one; '' skips it")
    parser.add_argument("--family-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results.json")
    parser.add_argument("--report-only", action="store_true", help="rewrite README.md from --out, measure nothing")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--size", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--paths", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--long-seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.contender = args.child
        return child(args)
    if args.report_only:
        (REPO / "benchmarks" / "README.md").write_text(render_report(json.loads(args.out.read_text())))
        return None

    results = {"command": " ".join(["PYTHONPATH=.", "python", "benchmarks/run_benchmarks.py"] + sys.argv[1:]),
               "environment": environment(), "threads": args.threads, "repeats": args.repeats,
               "batch_seconds": BATCH_SECONDS}
    results["gemm_gflops"] = measure_gemm(args.threads)
    if args.out.exists():  # keep sections of a previous run that this run does not measure
        previous = json.loads(args.out.read_text())
        for key, value in previous.items():
            if key not in results and isinstance(value, dict):
                results[key] = value
        results["sizes_command"] = previous.get("sizes_command", previous.get("command"))
        results["sizes_gemm_gflops"] = previous.get("sizes_gemm_gflops", previous.get("gemm_gflops"))
    if any(args.sizes.split(",")):
        results["sizes_command"], results["sizes_gemm_gflops"] = results["command"], results["gemm_gflops"]
    with tempfile.TemporaryDirectory() as tmp:
        if args.families:
            import family_bench

            names = list(family_bench.FAMILIES) if args.families == "all" else args.families.split(",")
            table = results.setdefault("families", {})
            results["families_meta"] = {"batch_seconds": family_bench.FAMILY_SECONDS,
                                        "repeats": args.family_repeats, "load_average": os.getloadavg(),
                                        "command": results["command"]}
            for name in names:
                work = Path(tmp) / f"family_{name}"
                work.mkdir()
                try:
                    table[name] = family_bench.benchmark_family(name, work, args.threads, args.family_repeats)
                except Exception as error:  # one family's failure (e.g. ESPnet not installed) does not stop the rest
                    table[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
                print(json.dumps({name: table[name]}), flush=True)
                args.out.write_text(json.dumps(results, indent=1) + "\n")
        for size in [s for s in args.sizes.split(",") if s]:
            work = Path(tmp) / size
            work.mkdir()
            results[size] = benchmark_size(size, work, args.threads, args.repeats)
            print(json.dumps({size: results[size]}, indent=1), flush=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    (REPO / "benchmarks" / "README.md").write_text(render_report(results))


if __name__ == "__main__":
    main()

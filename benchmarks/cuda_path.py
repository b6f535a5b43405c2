"""The CUDA path (issue 18.3): s3prl_hf eager / compiled bf16, padded vs length-bucketed, against transformers.

One command on a CUDA machine (about 2-4 minutes on an H200; torch and transformers are all it imports besides
this package):

    PYTHONPATH=. python benchmarks/cuda_path.py --out benchmarks/cuda_results.json

and on CPU, to prove the script works (tiny model, a few short utterances; a test runs it):

    PYTHONPATH=. python benchmarks/cuda_path.py --smoke --out cuda_smoke.json

What it measures: a HuBERT model of hubert_large_ll60k's size with random weights (seed 0), 128 utterances of 2-16 s
(uniform, seed 0) in batches of 16, either in their drawn order ("padded": each batch padded to its longest) or
sorted by length ("bucketed"). Contenders, all in bf16 weights and activations:

- s3prl_hf eager: `model(wavs, wavs_len)`, all hidden states;
- s3prl_hf compiled: the same after `model.compile_body()` (torch.compile of the network, inductor; the forward's
  input checks stay eager). Every batch shape is compiled during the warm-up pass, which is not timed;
- transformers HubertModel (SDPA attention) with the same weights, `output_hidden_states=True`, given the same
  waveform normalisation (hubert_large's `normalize_waveform`, as its feature extractor would) inside the timed call.

Reported per contender and batching: audio seconds per second (valid audio only; median of `--repeats` passes over
all batches), the peak CUDA memory, and the minimum cosine similarity of any hidden state of any utterance (valid
frames) to the same contender in fp32 (eager) on the first two batches.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

SAMPLE_RATE = 16000


def build_models(smoke: bool, device: torch.device):
    import transformers

    from s3prl_hf import reference_config
    from s3prl_hf.models.hubert import S3prlHubertConfig, S3prlHubertModel

    values = reference_config("hubert_large_ll60k").to_dict()
    if smoke:
        values.update(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    values.pop("model_type", None)
    values.pop("transformers_version", None)
    config = S3prlHubertConfig(**values)
    torch.manual_seed(0)
    ours = S3prlHubertModel(config).eval()
    known = set(transformers.HubertConfig().to_dict())
    hf_config = transformers.HubertConfig(**{k: v for k, v in config.to_dict().items()
                                             if k in known and k not in ("model_type", "architectures")},
                                          mask_time_prob=0.0, layerdrop=0.0, attn_implementation="sdpa")
    theirs = transformers.HubertModel(hf_config).eval()
    missing, unexpected = theirs.load_state_dict(ours.state_dict(), strict=False)
    missing = [k for k in missing if k != "masked_spec_embed"]  # pretraining-only parameter
    if missing or unexpected:
        raise RuntimeError(f"weights do not map: missing {missing}, unexpected {unexpected}")
    return ours.to(device), theirs.to(device)


def utterances(count: int, low: float, high: float) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    seconds = torch.empty(count).uniform_(low, high, generator=generator)
    return [torch.randn(int(s * SAMPLE_RATE), generator=generator) * 0.1 for s in seconds.tolist()]


def batches(waves: list[torch.Tensor], size: int, bucketed: bool, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = sorted(range(len(waves)), key=lambda i: waves[i].shape[0]) if bucketed else list(range(len(waves)))
    out = []
    for start in range(0, len(order), size):
        chunk = [waves[i] for i in order[start:start + size]]
        lengths = torch.tensor([w.shape[0] for w in chunk])
        wavs = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True)
        out.append((wavs.to(device), lengths.to(device)))
    return out


def make_runner(kind: str, ours, theirs):
    from s3prl_hf.modeling_utils import normalize_waveforms

    if kind == "transformers":
        dtype = theirs.dtype

        def run(wavs, wavs_len):
            if theirs.config.feat_extract_norm == "layer":  # hubert_large normalises waveforms (S3PRL does too)
                wavs = normalize_waveforms(wavs, wavs_len)
            mask = (torch.arange(wavs.shape[1], device=wavs.device)[None] < wavs_len[:, None]).long()
            hs = theirs(wavs.to(dtype), attention_mask=mask, output_hidden_states=True).hidden_states
            return list(hs), [torch.div(wavs_len - 1, 320, rounding_mode="floor") + 1] * len(hs)
    else:
        def run(wavs, wavs_len):
            out = ours(wavs, wavs_len)
            return list(out.hidden_states), list(out.hidden_states_lengths)
    return run


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_passes(run, data, repeats: int, device) -> tuple[float, float | None]:
    """Median seconds of one pass over all batches, and the peak memory (MiB) over the timed passes."""
    with torch.inference_mode():
        for wavs, wavs_len in data:  # warm-up: cuDNN autotuning, compilation of every shape
            run(wavs, wavs_len)
        synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for wavs, wavs_len in data:
                run(wavs, wavs_len)
            synchronize(device)
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return statistics.median(times), peak


def min_cosine(run, reference, data) -> float:
    """Smallest cosine similarity of a hidden state (one utterance, its valid frames, flattened) to the fp32 one."""
    worst = 1.0
    with torch.inference_mode():
        for wavs, wavs_len in data:
            got, lens = run(wavs, wavs_len)
            want, _ = reference(wavs, wavs_len)
            for hs, hs_ref, hs_len in zip(got, want, lens):
                for row, length in enumerate(hs_len.tolist()):
                    a, b = hs[row, :length].float().flatten(), hs_ref[row, :length].float().flatten()
                    worst = min(worst, float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
    return worst


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--smoke", action="store_true", help="tiny model and inputs, on CPU unless --device")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--utterances", type=int, default=None, help="default 128 (8 with --smoke)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 (4 with --smoke)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes, default 3 (1 with --smoke)")
    parser.add_argument("--compile-backend", default=None, help="default inductor (eager with --smoke)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled contender")
    args = parser.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.smoke else "cpu"))
    count = args.utterances or (8 if args.smoke else 128)
    size = args.batch_size or (4 if args.smoke else 16)
    repeats = args.repeats or (1 if args.smoke else 3)
    backend = args.compile_backend or ("eager" if args.smoke else "inductor")
    low, high = (0.2, 1.6) if args.smoke else (2.0, 16.0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 references are fp32

    waves = utterances(count, low, high)
    audio_seconds = sum(w.shape[0] for w in waves) / SAMPLE_RATE
    ours, theirs = build_models(args.smoke, device)
    data = {"padded": batches(waves, size, False, device), "bucketed": batches(waves, size, True, device)}

    # fp32 references on the first two padded batches, before the models are cast
    check = data["padded"][:2]
    with torch.inference_mode():
        references = {name: [make_runner(name, ours, theirs)(w, l)[0] for w, l in check]
                      for name in ("s3prl_hf", "transformers")}
        references = {name: [[h.float().cpu() for h in hs] for hs in value] for name, value in references.items()}
    ours.to(torch.bfloat16)
    theirs.to(torch.bfloat16)

    def reference_of(name):
        outputs = iter(references[name])
        return lambda wavs, wavs_len: (next(outputs), None)

    contenders = [("s3prl_hf eager", "s3prl_hf"), ("transformers sdpa", "transformers")]
    if not args.no_compile:
        contenders.insert(1, ("s3prl_hf compiled", "s3prl_hf"))
    results = {}
    compile_seconds = None
    for label, name in contenders:
        if label == "s3prl_hf compiled":
            torch._dynamo.reset()
            ours.compile_body(backend=backend)
            start = time.perf_counter()
            with torch.inference_mode():  # compile the first shape here, so its cost is reported
                ours(*data["padded"][0])
            synchronize(device)
            compile_seconds = time.perf_counter() - start
        run = make_runner(name, ours, theirs)
        entry = {"min_cosine_to_fp32": min_cosine(run, reference_of(name), check)}
        for batching, batch_list in data.items():
            seconds, peak = time_passes(run, batch_list, repeats, device)
            entry[batching] = {"audio_s_per_s": round(audio_seconds / seconds, 1), "seconds": round(seconds, 4),
                               "peak_memory_mib": None if peak is None else round(peak, 1)}
        results[label] = entry
        print(label, json.dumps(entry), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    report = {
        "what": "HuBERT hubert_large_ll60k size" + (" (SMOKE: tiny size)" if args.smoke else "") +
                f", random weights, {count} utterances of {low}-{high} s, batches of {size}, bf16",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "python": sys.version.split()[0],
        "transformers": __import__("transformers").__version__,
        "audio_seconds": round(audio_seconds, 2), "repeats": repeats, "compile_backend": backend,
        "compile_first_shape_seconds": None if compile_seconds is None else round(compile_seconds, 2),
        "results": results,
    }
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    main()

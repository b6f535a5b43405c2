"""One row per model type: S3PRL vs s3prl_hf on each family's parity-fixture checkpoint (tests/fixtures).

The checkpoints are the fixture generators' (conversion/reference/fixtures_<group>.py) S3PRL-format random weights,
the same file for both contenders, converted with s3prl_hf.conversion. NB: these are the fixtures' reduced sizes
(not the released sizes); the released-size hubert/wav2vec2 sections of run_benchmarks.py are separate.
fp32 and bf16 throughput in interleaved rounds; bf16 is `from_pretrained(folder, dtype=torch.bfloat16)` for s3prl_hf
and `torch.autocast("cpu", dtype=torch.bfloat16)` around S3PRL's forward. Load time and load peak memory come from
fresh subprocesses. Cosine: per-layer min over frames of s3prl_hf bf16 vs fp32 on the batch's longest utterance.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def refuse_network() -> None:
    """Fail any name lookup but loopback: S3PRL entries that only take a download address must not reach out."""
    lookup = socket.getaddrinfo
    if getattr(lookup, "loopback_only", False):
        return

    def loopback_only(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise OSError(f"no network in benchmarks: S3PRL tried to reach {host} (its entry downloads the file)")
        return lookup(host, *args, **kwargs)

    loopback_only.loopback_only = True
    socket.getaddrinfo = loopback_only


refuse_network()
FIXTURES = REPO / "tests" / "fixtures"
FAMILY_SECONDS = (4, 3, 2, 1.5)

# model type -> representative fixture (the "_like" fixture of the released architecture it imitates)
FAMILIES = {
    "hubert": "hubert_base_like", "wav2vec2": "wav2vec2_base_like",
    "wav2vec2_conformer": "wav2vec2_conformer_rope_like", "data2vec": "data2vec_base_like",
    "wavlm": "wavlm_base_like", "unispeech_sat": "unispeech_sat_base_like", "distilhubert": "distilhubert_like",
    "wav2vec": "wav2vec_large_like", "vq_wav2vec": "vq_wav2vec_gumbel_like", "discretebert": "vq_wav2vec_kmeans_roberta_like",
    "apc": "apc_like", "vq_apc": "vq_apc_like", "npc": "npc_like", "modified_cpc": "modified_cpc_like",
    "decoar": "decoar_like", "decoar2": "decoar2_like", "mockingjay": "mockingjay_large_like",
    "tera": "tera_fbank_like", "audio_albert": "audio_albert_like", "ast": "ast_like", "ssast": "ssast_patch_like",
    "mae_ast": "mae_ast_frame_like", "byol_a": "byol_a_like", "byol_s": "byol_s_default_like",
    "pase_plus": "pase_plus_like", "vggish": "vggish_like", "passt": "passt_base_like",
    "lighthubert": "lighthubert_base_like", "multires_hubert": "multires_hubert_base_like",
    "espnet_hubert": "espnet_hubert_base_like", "spectral_fbank": "fbank_like", "spectral_mel": "mel_like",
    "spectral_mfcc": "mfcc_like", "spectral_linear": "linear_like",
}


def meta(fixture: str) -> dict:
    return json.loads((FIXTURES / fixture / "meta.json").read_text())


def convert(fixture: str, out: Path) -> Path:
    from s3prl_hf.conversion import convert_checkpoint

    m = meta(fixture)
    folder = FIXTURES / fixture
    frontend = m.get("frontend", {}).get("s3prl")
    convert_checkpoint(m["imitates"], folder / m.get("original", "original_s3prl.pt"), out,
                       frontend_checkpoint=folder / frontend if frontend else None,
                       converter_options=m.get("converter_options"))
    return out


def load(contender: str, fixture: str, converted: str | None, dtype=None):
    if contender == "s3prl":
        sys.path.insert(0, str(REPO / "conversion" / "reference"))
        import s3prl_shim  # noqa: F401
        from s3prl.nn import S3PRLUpstream

        m = meta(fixture)
        source = FIXTURES / fixture / m.get("original", "original_s3prl.pt")
        return S3PRLUpstream(m["hub_entry"], path_or_url=str(source), normalize=False).eval()
    from s3prl_hf import AutoUpstream

    kwargs = {} if dtype is None else {"dtype": dtype}
    return AutoUpstream.from_pretrained(converted, **kwargs).eval()


def forward(contender: str, model, wavs, wavs_len, bf16: bool = False):
    with torch.no_grad():
        if contender == "s3prl":
            if bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return model(wavs, wavs_len)[0]
            return model(wavs, wavs_len)[0]
        return model(wavs, wavs_len).hidden_states


def batch(seconds, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = [int(s * 16000) for s in seconds]
    wavs = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wavs[i, :n] = torch.randn(n, generator=g) * 0.1
    return wavs, torch.tensor(lengths)


def child(contender: str, fixture: str, converted: str, threads: int) -> None:
    from run_benchmarks import memory_mb, reset_peak

    torch.set_num_threads(threads)
    if contender == "s3prl":
        sys.path.insert(0, str(REPO / "conversion" / "reference"))
        import s3prl_shim  # noqa: F401
        import s3prl.nn  # noqa: F401
    else:  # the library and the family's modeling code imported up front, as S3PRL's are above
        import importlib

        import transformers.modeling_utils  # noqa: F401

        import s3prl_hf.auto  # noqa: F401
        model_type = json.loads((Path(converted) / "config.json").read_text()).get("model_type", "")
        for name in (model_type, model_type.replace("s3prl_", "")):
            try:
                importlib.import_module(f"s3prl_hf.models.{name}")
                break
            except ImportError:
                pass
    reset_peak()
    before = memory_mb("VmRSS")
    start = time.perf_counter()
    model = load(contender, fixture, converted)
    load_s = time.perf_counter() - start
    load_peak = memory_mb("VmHWM") - before
    wavs, wavs_len = batch(FAMILY_SECONDS)
    forward(contender, model, *batch([1.0], seed=2))
    reset_peak()
    before = memory_mb("VmRSS")
    forward(contender, model, wavs, wavs_len)
    print(json.dumps({"load_s": load_s, "load_peak_mb": load_peak, "forward_peak_mb": memory_mb("VmHWM") - before}))


def run_child(contender, fixture, converted, threads) -> dict:
    command = [sys.executable, __file__, contender, fixture, str(converted), str(threads)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'benchmarks'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "child failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def min_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float().reshape(-1, a.shape[-1]), b.float().reshape(-1, b.shape[-1])
    keep = (a.norm(dim=-1) > 0) & (b.norm(dim=-1) > 0)
    if not keep.any():
        return 1.0
    return torch.nn.functional.cosine_similarity(a[keep], b[keep], dim=-1).min().item()


def benchmark_family(family: str, work: Path, threads: int, repeats: int) -> dict:
    from run_benchmarks import interleaved_median_times

    fixture = FAMILIES[family]
    converted = convert(fixture, work / fixture)
    result = {"fixture": fixture, "imitates": meta(fixture)["imitates"],
              "weights_mb": sum(p.stat().st_size for p in converted.glob("*.safetensors")) / 2**20}
    for contender in ("s3prl", "s3prl_hf"):
        result[contender] = run_child(contender, fixture, converted, threads)
    torch.set_num_threads(threads)
    models = {"s3prl": load("s3prl", fixture, None), "s3prl_hf": load("s3prl_hf", fixture, str(converted)),
              "s3prl_hf_bf16": load("s3prl_hf", fixture, str(converted), dtype=torch.bfloat16)}
    wavs, wavs_len = batch(FAMILY_SECONDS)
    runs = {"s3prl": lambda: forward("s3prl", models["s3prl"], wavs, wavs_len),
            "s3prl_bf16": lambda: forward("s3prl", models["s3prl"], wavs, wavs_len, bf16=True),
            "s3prl_hf": lambda: forward("s3prl_hf", models["s3prl_hf"], wavs, wavs_len),
            "s3prl_hf_bf16": lambda: forward("s3prl_hf", models["s3prl_hf_bf16"], wavs, wavs_len)}
    times = interleaved_median_times(runs, repeats)
    audio = sum(FAMILY_SECONDS)
    result["throughput"] = {name: audio / t for name, t in times.items()}
    one = batch(FAMILY_SECONDS[:1])
    ours = forward("s3prl_hf", models["s3prl_hf"], *one)
    ours16 = forward("s3prl_hf", models["s3prl_hf_bf16"], *one)
    ref = forward("s3prl", models["s3prl"], *one)
    result["bf16_min_cosine"] = min(min_cosine(a, b) for a, b in zip(ours16, ours))
    result["parity_max_abs_diff"] = max((a.float() - b.float()).abs().max().item() for a, b in zip(ours, ref))
    return result


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

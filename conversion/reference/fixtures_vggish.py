"""VGGish parity fixtures, built and run with S3PRL's own classes (``upstream/vggish``).

The release is two files that S3PRL's hub entry downloads and combines: ``vggish-10086976.pth`` (the network's
state dict) and ``vggish_pca_params-970ea276.pth`` (``pca_eigen_vectors``, ``pca_means``). The generator

1. builds S3PRL's ``VGGish`` network with smaller sizes: ``make_layers``' channel list and the literals of
   ``VGG.__init__``'s three linear layers are replaced in their source, and ``vggish_params.EMBEDDING_SIZE`` is
   patched to the fixture's embedding size (meta.json ``s3prl_patches``); nothing else changes;
2. perturbs every weight, and sets PCA parameters that whiten the embeddings of the fixture's own inputs (means near
   their mean, eigen vectors scaled by their spread), so that the quantised levels spread over 0..255;
3. writes both release files into a scratch folder, points ``hubconf._urls_to_filepaths`` at them and runs
   ``S3PRLUpstream("vggish")``: the hub's own ``torch.load`` + ``UpstreamExpert(ckpt={"vggish", "pca"})``;
4. writes ``original_s3prl.pt`` = that combined ``{"vggish": state_dict, "pca": {...}}`` (one file, the object
   S3PRL's hub passes to the expert), ``expected.safetensors``, ``extra.safetensors`` and ``meta.json``.

``audio.py`` imports ``resampy`` on every call but only resamples when the rate is not 16 kHz, which S3PRL's expert
never passes. resampy (and its numba) are not installed: a stand-in module whose ``resample`` raises is registered,
so any call would fail the run.

VGGish fails in S3PRL on utterances shorter than one example (0.975 s) and when the longest utterance gives one
example for two expected frames (16001..30959 samples), so the fixtures use their own cases (``VGGISH_CASES``); the
generator records S3PRL's failures in meta.json ``s3prl_failures``. ``extra.safetensors`` holds S3PRL's float64
log-mel frames (numpy ``log_mel_spectrogram``) of the ``single`` input, the float32 examples of the first case's last
utterance, and the embeddings entering the postprocessor for the first case (for the quantisation margins).
"""
from __future__ import annotations

import contextlib
import inspect
import sys
import textwrap
import types
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch

from fixture_common import (FORMAT_VERSION, INPUT_SEED, FixtureFiles, make_wavs, perturb, run_s3prl_cases, sha256,
                            versions, write_expected, write_json, write_safetensors_canonical)
from native_fixture_helpers import assert_loaded, local_release, parameter_count, patched_attributes

URLS = {
    "vggish": "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
    "pca": "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth",
}
VGGISH_INPUT_SEED = INPUT_SEED + 17
# 32500: 2 examples for 3 expected frames (the last is repeated); 20000: 1 example for 2 valid frames (the second is
# the expert's zero padding); 15600: exactly one example, the shortest input S3PRL accepts.
VGGISH_CASES = {
    "batch": {"lengths": [32500, 20000, 15600], "options": {"normalize": False}},
    "single": {"lengths": [16000], "options": {"normalize": False}},
    "batch_normalize": {"lengths": [32500, 20000, 15600], "options": {"normalize": True}, "inputs_from": "batch"},
}
VARIANT_CASES = {"pair": {"lengths": [31000, 15999], "options": {"normalize": False}}}
FIXTURES = {
    "vggish_like": {
        "imitates": "vggish", "hub_entry": "vggish", "seed": 7101, "cases": VGGISH_CASES,
        "features": [4, "M", 8, "M", 8, 8, "M", 16, 16, "M"], "linear": [16 * 4 * 6, 32, 32, 128], "embedding": 128,
    },
    "vggish_variant": {
        # consecutive max-pools, none after the last conv, other linear sizes and a 16-dim embedding / PCA
        "imitates": "vggish", "hub_entry": "vggish", "seed": 7102, "cases": VARIANT_CASES,
        "features": [8, "M", 8, "M", "M", 4], "linear": [4 * 12 * 8, 24, 20, 16], "embedding": 16,
    },
}
RELEASED = {"features": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"], "linear": [512 * 4 * 6, 4096, 4096, 128],
            "embedding": 128}


def install_resampy_stub():
    """``audio.py`` runs ``import resampy`` unconditionally; S3PRL never resamples (16 kHz in, 16 kHz expected)."""
    if "resampy" in sys.modules:
        return
    stub = types.ModuleType("resampy")

    def resample(*args, **kwargs):
        raise RuntimeError("resampy stand-in: S3PRL's VGGish was not expected to resample")

    stub.resample = resample
    sys.modules["resampy"] = stub


def _recompiled(function, replacements):
    source = textwrap.dedent(inspect.getsource(function))
    for old, new in replacements:
        assert source.count(old) == 1, f"{function.__qualname__}: expected one {old!r}"
        source = source.replace(old, new)
    module = sys.modules[function.__module__]
    namespace = dict(vars(module))
    exec(compile(source, inspect.getsourcefile(function), "exec"), namespace)  # noqa: S102 (S3PRL's own source)
    return namespace[function.__name__]


@contextlib.contextmanager
def patched_vggish(spec):
    import s3prl.upstream.vggish.vggish as vggish
    import s3prl.upstream.vggish.vggish_params as vggish_params

    features = repr(spec["features"]).replace("'", '"')
    flat, h1, h2, emb = spec["linear"]
    make_layers = _recompiled(vggish.make_layers,
                              [('[64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]', features)])
    vgg_init = _recompiled(vggish.VGG.__init__, [
        ("nn.Linear(512 * 4 * 6, 4096)", f"nn.Linear({flat}, {h1})"),
        ("nn.Linear(4096, 4096)", f"nn.Linear({h1}, {h2})"),
        ("nn.Linear(4096, 128)", f"nn.Linear({h2}, {emb})"),
    ])
    with patched_attributes(vggish, make_layers=make_layers), patched_attributes(vggish.VGG, __init__=vgg_init), \
            patched_attributes(vggish_params, EMBEDDING_SIZE=spec["embedding"]):
        yield vggish


def make_inputs(cases):
    g = torch.Generator().manual_seed(VGGISH_INPUT_SEED)
    inputs = {case: make_wavs(spec["lengths"], g) for case, spec in cases.items() if "inputs_from" not in spec}
    for case, spec in cases.items():
        if "inputs_from" in spec:
            inputs[case] = inputs[spec["inputs_from"]]
    return inputs


def whitening_pca(embeddings: torch.Tensor, size: int, g: torch.Generator):
    """PCA parameters that map the embeddings mostly into [-2, 2]: noisy means and a scaled random rotation."""
    dim = embeddings.shape[1]
    means = embeddings.mean(dim=0) + 0.05 * torch.randn(dim, generator=g)
    spread = (embeddings - means).std().clamp_min(1e-3)
    eigen = torch.randn(size, dim, generator=g) / (dim ** 0.5) / spread * 0.8
    return {"pca_eigen_vectors": eigen.contiguous(), "pca_means": means.contiguous()}


def s3prl_failures(hub_entry: str, paths) -> dict:
    """What S3PRLUpstream raises on the inputs this project turns into ValueErrors."""
    from s3prl.nn import S3PRLUpstream

    failures = {}
    up = S3PRLUpstream(hub_entry)
    up.eval()
    for name, lengths in {"utterance_below_one_example": [20000, 15599],
                          "tiny_utterance": [16000, 200],
                          "longest_gives_one_example_for_two_frames": [20000, 16000]}.items():
        wavs = torch.randn(len(lengths), max(lengths), generator=torch.Generator().manual_seed(0)) * 0.1
        try:
            with torch.no_grad():
                up(wavs, torch.tensor(lengths))
            failures[name] = {"lengths": lengths, "raised": None}
        except Exception as error:  # noqa: BLE001 - recording what S3PRL raises
            failures[name] = {"lengths": lengths, "raised": type(error).__name__, "message": str(error)[:200]}
    return failures


def build_vggish(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    install_resampy_stub()
    import s3prl
    from s3prl.upstream.vggish import audio

    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        inputs = make_inputs(spec["cases"])
        with patched_vggish(spec) as vggish:
            torch.manual_seed(spec["seed"])
            net = perturb(vggish.VGG(vggish.make_layers()), seed=spec["seed"] + 1).eval()
            weights = OrderedDict((k, v.clone()) for k, v in net.state_dict().items())
            # embeddings of the fixture's inputs through S3PRL's own frontend and network, to set the PCA
            first_case = next(iter(spec["cases"]))
            wavs, lens = inputs[first_case]
            with torch.no_grad():
                embeddings = torch.cat([net(audio.waveform_to_examples(w[:n].numpy()).detach())
                                        for w, n in zip(wavs, lens.tolist())])
            pca = whitening_pca(embeddings, spec["embedding"], torch.Generator().manual_seed(spec["seed"] + 2))
            release = {"vggish": check_dir / f"{name}.vggish.pth", "pca": check_dir / f"{name}.pca.pth"}
            torch.save(weights, release["vggish"])
            torch.save(pca, release["pca"])
            torch.save({"vggish": weights, "pca": pca}, folder / "original_s3prl.pt")
            import s3prl.upstream.vggish.hubconf as hubconf

            with local_release(hubconf, URLS, release):
                from s3prl.nn import S3PRLUpstream

                expert = S3PRLUpstream(spec["hub_entry"]).upstream
                loaded = {k: v for k, v in expert.model.state_dict().items() if not k.startswith("pproc.")}
                assert_loaded(loaded, weights, f"{name}: S3PRL's loaded VGGish")
                assert torch.equal(expert.model.pproc.pca_eigen_vectors, pca["pca_eigen_vectors"])
                assert torch.equal(expert.model.pproc.pca_means, pca["pca_means"].reshape(-1, 1))
                tensors, info = run_s3prl_cases(spec["hub_entry"], folder / "original_s3prl.pt", inputs,
                                                spec["cases"])
                # what enters the postprocessor for each utterance of the first case (quantisation margins)
                with torch.no_grad():
                    pre = torch.cat([vggish.VGG.forward(expert.model, audio.waveform_to_examples(w[:n].numpy()))
                                     for w, n in zip(wavs, lens.tolist())])
                failures = s3prl_failures(spec["hub_entry"], release) if name == "vggish_like" else {}
            # S3PRL's float32 examples of the first case's last utterance, and its float64 log-mel of `single`
            last = len(lens) - 1
            extra = {f"{first_case}.examples.{last}": audio.waveform_to_examples(
                wavs[last, : int(lens[last])].numpy()).detach().contiguous()}
            if "single" in inputs:
                single = inputs["single"]
                extra["single.log_mel_float64"] = torch.from_numpy(audio.log_mel_spectrogram(
                    single[0][0, : int(single[1][0])].numpy(), audio_sample_rate=16000, log_offset=0.01,
                    window_length_secs=0.025, hop_length_secs=0.010, num_mel_bins=64, lower_edge_hertz=125,
                    upper_edge_hertz=7500)).contiguous()
            pca_applied = torch.mm(pca["pca_eigen_vectors"], pre.t() - pca["pca_means"][:, None]).t()
            scaled = (pca_applied.clamp(-2, 2) + 2) * (255.0 / 4)
            inside = (pca_applied.abs() < 2)
            margin = (scaled - scaled.floor() - 0.5).abs()[inside]
            extra[f"{first_case}.postprocessor_input"] = pre.contiguous()
        common_meta = {
            "format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name,
            "family": "vggish", "imitates": spec["imitates"], "hub_entry": spec["hub_entry"],
            "s3prl_version": s3prl.__version__, "torch_version": torch.__version__,
        }
        st_meta = write_expected(folder, tensors, common_meta, spec["cases"])
        write_safetensors_canonical(extra, folder / "extra.safetensors",
                                    {"fixture": name, "what": "S3PRL's log-mel, examples and postprocessor inputs"})
        files = ["original_s3prl.pt", "expected.safetensors", "extra.safetensors"]
        state = torch.load(folder / "original_s3prl.pt", map_location="cpu", weights_only=True)
        import json

        meta = {
            **common_meta,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "pca": spec["seed"] + 2,
                      "inputs": VGGISH_INPUT_SEED},
            "s3prl_upstream": info,
            "checkpoint_keys": sorted(state),
            "network_keys": sorted(state["vggish"]),
            "original_s3prl_pickled_globals": sorted(
                torch.serialization.get_unsafe_globals_in_checkpoint(str(folder / "original_s3prl.pt"))),
            "s3prl_patches": {"s3prl.upstream.vggish.vggish.make_layers": spec["features"],
                              "s3prl.upstream.vggish.vggish.VGG.__init__ linear sizes": spec["linear"],
                              "s3prl.upstream.vggish.vggish_params.EMBEDDING_SIZE": spec["embedding"],
                              "released": RELEASED},
            "s3prl_stubs": {"resampy": "stand-in module; resample raises (never called at 16 kHz)"},
            "s3prl_failures": failures,
            "checks": {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model),
                       "quantisation": {"values_inside_clamp": int(inside.sum()), "values": int(inside.numel()),
                                        "min_distance_to_rounding_boundary_in_levels": float(margin.min())
                                        if margin.numel() else None}},
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)} for f in files},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
    return produced

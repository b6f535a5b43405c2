"""PASE+ parity fixtures, built and run with PASE's own code through S3PRL's ``pase_plus`` hub entry.

S3PRL's expert imports ``pase.models.frontend.wf_builder`` from the external repositories ``s3prl/pase`` (commit
be11486c) and ``s3prl/pytorch-qrnn`` (commit 6510af2f, package ``torchqrnn``), which are on GitHub only (``pase`` on
PyPI is another project) and are not vendored here. Put checkouts of both on ``PYTHONPATH`` when generating::

    git clone https://github.com/s3prl/pase pase_src/pase                  # git checkout be11486c
    git clone https://github.com/s3prl/pytorch-qrnn pase_src/pytorch-qrnn  # git checkout 6510af2f
    PYTHONPATH=pase_src/pase:pase_src/pytorch-qrnn $REFENV/bin/python \\
        conversion/reference/make_fixtures.py --family pase_plus --out tests/fixtures

The generator checks the sha256 of the four source files it runs (``SOURCES``). Their imports need stand-ins on a
CPU-only box: ``torchqrnn/forget_mult.py`` imports ``cupy.cuda.function`` and ``pynvrtc.compiler.Program`` (the CUDA
kernel) unconditionally, and ``pase/models/frontend.py`` imports ``torchvision.models`` (only its ResNet frontend uses
it). Stand-in modules are registered for those that do not import; any use raises. With no CUDA, ``ForgetMult`` takes
its pure-torch ``CPUForgetMult`` loop, the path this project reimplements.

For each fixture the generator

1. builds ``WaveFe`` from a small JSON cfg with ``wf_builder`` (the released cfg's structure, fewer channels; the
   variant exercises the other options: an even, strided SincNet kernel at another ``sr``, a dilated and an
   even-width stride-1 block, 9 blocks so one dense skip is not hooked, two QRNN layers, ``rnn_dim != emb_dim``,
   ``tanh_out`` without ``norm_out``);
2. perturbs every tensor (fixture_common.perturb), and sets the SincNet frequencies to plausible random values, some
   negative (``SincConv_fast`` takes ``abs``) and one filter clamped at ``sr / 2``;
3. writes the release's two files (the checkpoint: a raw state dict, or PASE ``Saver``'s ``{"step", "state_dict"}``
   for the variant; the JSON cfg) into a scratch folder, points the hub's ``_urls_to_filepaths`` at them and runs
   ``S3PRLUpstream("pase_plus")``: the hub's hooks on ``denseskips[0..6]``, ``W`` and the model, ``wf_builder`` and
   ``load_pretrained(load_last=True)``;
4. writes ``original_s3prl.pt`` = ``{"cfg": <cfg dict>, "ckpt": <checkpoint contents>}`` (what the project's converter
   takes, ``convert_pase_plus.load_release``), ``expected.safetensors`` and ``meta.json``; the first fixture's
   meta.json also records PASE's parameter count and state-dict shapes of the released cfg (``cfg/frontend/PASE+.cfg``).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch

from fixture_common import FixtureFiles, perturb
from native_fixture_helpers import (BASE_CASES, WITH_NORMALIZE, assert_loaded, local_release, parameter_count,
                                    s3prl_expert, write_fixture)

URLS = {
    "ckpt": "https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1",
    "cfg": "https://www.dropbox.com/s/2p3ouod1k0ekfxn/PASE%2B.cfg?dl=1",
}
# module -> sha256 of its source file at s3prl/pase be11486c and s3prl/pytorch-qrnn 6510af2f
SOURCES = {
    "pase.models.frontend": "0a14ac18996b2b23b8726cf3eb0dd688af9cbdf0e0e186df5d7729265f9e7096",
    "pase.models.modules": "e8dd05ea77c03b4867f90b9c3b4eb9b5624d4931bc9677c23bde97cfe1985225",
    "torchqrnn.qrnn": "d39669b8e4927833de6c66379b51f470d9b453ef7c4f264b8799999c6875f2f3",
    "torchqrnn.forget_mult": "504314cd37b9289e4c9cfbe9631fa8e3ef7f3d27932f46178ffd72a5477d5a57",
}
STUBBED = ("cupy", "cupy.cuda", "cupy.cuda.function", "pynvrtc", "pynvrtc.compiler", "torchvision",
           "torchvision.models")
# The repository's cfg/frontend/PASE+.cfg (the Dropbox copy S3PRL downloads could not be read here).
RELEASED_CFG = {"kwidths": [251, 20, 11, 11, 11, 11, 11, 11], "strides": [1, 10, 2, 1, 2, 1, 2, 2],
                "fmaps": [64, 64, 128, 128, 256, 256, 512, 512], "rnn_dim": 512, "denseskips": True,
                "norm_out": True, "rnn_pool": True, "rnn_layers": 1}
FIXTURES = {
    "pase_plus_like": {
        "imitates": "pase_plus", "hub_entry": "pase_plus", "seed": 7201, "cases": WITH_NORMALIZE,
        "ckpt_layout": "state_dict",
        "cfg": {**RELEASED_CFG, "fmaps": [8, 8, 16, 16, 16, 16, 24, 24], "rnn_dim": 16, "emb_dim": 16},
    },
    "pase_plus_variant": {
        "imitates": "pase_plus", "hub_entry": "pase_plus", "seed": 7202, "cases": BASE_CASES,
        "ckpt_layout": "saver",
        "cfg": {"sincnet": True, "kwidths": [64, 5, 5, 5, 4, 3, 5, 3, 3], "strides": [2, 5, 2, 1, 1, 2, 2, 2, 1],
                "dilations": [1, 1, 1, 2, 1, 1, 1, 1, 1], "fmaps": [6, 8, 8, 8, 8, 12, 12, 12, 16], "sr": 8000,
                "emb_dim": 12, "rnn_dim": 20, "rnn_layers": 2, "rnn_type": "qrnn", "activation": "prelu",
                "pad_mode": "reflect", "norm_type": "bnorm", "denseskips": True, "densemerge": "sum",
                "rnn_pool": True, "norm_out": False, "tanh_out": True},
    },
}


def install_stubs() -> List[str]:
    """Stand-ins for the CUDA-only and unused imports of PASE / torchqrnn that do not import here."""

    def stand_in(module_name):
        def module_getattr(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)

            def fail(*args, **kwargs):
                raise RuntimeError(f"{module_name}.{attr} stand-in: not available in the PASE+ fixture generator")

            return fail

        return module_getattr

    stubbed = []
    for name in STUBBED:
        top = name.split(".")[0]
        if name in sys.modules or (top not in stubbed and importlib.util.find_spec(top) is not None):
            continue
        module = types.ModuleType(name)
        module.__getattr__ = stand_in(name)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        stubbed.append(name)
    return stubbed


def import_pase():
    """PASE's frontend and modules from PYTHONPATH, checked against the pinned sources."""
    try:
        frontend = importlib.import_module("pase.models.frontend")
        modules = importlib.import_module("pase.models.modules")
    except ImportError as error:
        raise SystemExit(f"cannot import PASE ({error}): put checkouts of github.com/s3prl/pase (be11486c) and "
                         f"github.com/s3prl/pytorch-qrnn (6510af2f) on PYTHONPATH, see fixtures_pase.py") from error
    for name, digest in SOURCES.items():
        got = hashlib.sha256(Path(importlib.import_module(name).__file__).read_bytes()).hexdigest()
        if got != digest:
            raise SystemExit(f"{name} ({importlib.import_module(name).__file__}) is not the pinned source: sha256 "
                             f"{got}, expected {digest}")
    if modules.QRNN is None:
        raise SystemExit("pase.models.modules could not import torchqrnn.QRNN")
    if torch.cuda.is_available():
        raise SystemExit("CUDA is available: torchqrnn would take its cupy kernel; generate on a CPU-only torch")
    return frontend


def randomise_sinc(conv: torch.nn.Module, sample_rate: int, seed: int):
    """Plausible random SincNet edges: the mel initialisation scaled by 0.7..1.3, two negated (SincConv_fast takes
    abs), and the last filter's band reaching past sr / 2 (clamped)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        channels = conv.low_hz_.shape[0]
        low = conv.low_hz_ * (0.7 + 0.6 * torch.rand(channels, 1, generator=g))
        band = conv.band_hz_ * (0.7 + 0.6 * torch.rand(channels, 1, generator=g))
        low[1] = -low[1]
        band[2] = -band[2]
        low[-1] = sample_rate / 2 - 150
        band[-1] = 400.0
        conv.low_hz_.copy_(low)
        conv.band_hz_.copy_(band)


def released_architecture(frontend) -> dict:
    """PASE's own numbers for the released cfg: parameter count and state-dict shapes (random init, CPU)."""
    torch.manual_seed(0)
    fe = frontend.wf_builder(dict(RELEASED_CFG))
    return {"cfg": RELEASED_CFG, "parameters": parameter_count(fe),
            "state_dict_shapes": {k: list(v.shape) for k, v in fe.state_dict().items()}}


def build_pase_plus(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    stubbed = install_stubs()
    frontend = import_pase()
    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        cfg = spec["cfg"]
        torch.manual_seed(spec["seed"])
        fe = frontend.wf_builder(json.loads(json.dumps(cfg)))
        perturb(fe, seed=spec["seed"] + 1)
        randomise_sinc(fe.blocks[0].conv, cfg.get("sr", 16000), seed=spec["seed"] + 2)
        fe.eval()
        weights = OrderedDict((k, v.clone()) for k, v in fe.state_dict().items())
        ckpt = weights if spec["ckpt_layout"] == "state_dict" else {"step": 199, "state_dict": weights}
        release = {"ckpt": check_dir / f"{name}.FE.ckpt", "cfg": check_dir / f"{name}.PASE+.cfg"}
        torch.save(ckpt, release["ckpt"])
        release["cfg"].write_text(json.dumps(cfg, indent=1) + "\n")
        torch.save({"cfg": cfg, "ckpt": ckpt}, folder / "original_s3prl.pt")
        import s3prl.upstream.pase.hubconf as hubconf

        with local_release(hubconf, URLS, release):
            expert = s3prl_expert(spec["hub_entry"], folder / "original_s3prl.pt")
            assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded WaveFe")
            s3prl_parameters = parameter_count(expert.model)
            extra_meta = {
                "pase_sources": {"repositories": {"s3prl/pase": "be11486c907db4bd2887ba96d656edc3f8fffec4",
                                                  "s3prl/pytorch-qrnn": "6510af2f6af896a30b6176acd8438f77388667a8"},
                                 "sha256": SOURCES},
                "s3prl_stubs": {m: "stand-in module; any attribute use raises" for m in stubbed},
                "pase_cfg": cfg,
                "ckpt_layout": spec["ckpt_layout"],
                "seeds_sinc": spec["seed"] + 2,
                "checks": {"s3prl_loaded_every_weight": True, "s3prl_parameters": s3prl_parameters},
            }
            if name == "pase_plus_like":
                extra_meta["released"] = released_architecture(frontend)
            produced.append(write_fixture(out_root, name, spec, case_inputs, family="pase_plus",
                                          extra_meta=extra_meta))
    return produced

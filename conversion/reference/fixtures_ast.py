"""AST and SSAST parity fixtures, built and run with S3PRL's own classes (timm 0.4.5).

* **timm**: S3PRL builds its ViTs with ``timm.create_model`` (timm 0.4.5, asserted). ``import timm`` pulls in
  ``timm.data``, which imports torchvision and PIL at module level; none of that runs for a ViT, so
  ``import_timm`` registers empty stand-in modules for them (only if they are not installed).
* **Sizes**: S3PRL builds DeiT-base (``vit_deit_base_distilled_patch16_384``: width 768, 12 blocks, 12 heads,
  mlp ratio 4). While a fixture is built and run, timm's ``_create_vision_transformer`` gets smaller width, depth and
  mlp ratio (12 heads kept: no weight records them); meta.json records it (``s3prl_patches``).
* **AST** (``upstream/ast/ast_models.py``): the audioset branch of ``ASTModel.__init__`` hard-codes the release's
  positional grid as literals (``input_tdim=1024`` of the inner model, ``reshape(1, 1212, 768)``,
  ``reshape(1, 768, 12, 101)``, ``t_dim < 101``, ``50 - int(t_dim / 2)``, ``reshape(1, 768, num_patches)``). The
  class source is recompiled with these literals replaced by the small model's values (each must occur exactly
  once); nothing else changes. S3PRL re-creates ``mlp_head`` randomly after loading; the fixture copies the
  checkpoint's ``module.mlp_head.*`` into it after construction (recorded), so the default ``feature_selection="cls"``
  output is S3PRL's computation with the checkpoint's head, which the converter keeps.
* **Download**: the hub entries (``ast``, ``ssast_frame_base``, ``ssast_patch_base``) have no ``_local`` variant and
  download their release; ``hubconf._urls_to_filepaths`` is pointed at the fixture's file (the URL is asserted).

Cases: the shared ones plus, for SSAST, ``long`` (up to 2.06 s: several 1 s windows and the frame drift; every case
is one 10.24 s window for AST). ``extra.safetensors``
holds S3PRLUpstream's output for other ``extra_conf`` options (AST ``feature_selection="hidden_states"``, shorter and
overlapping windows), which tests/test_ast.py checks with the matching config.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import sys
import textwrap
import types
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch

import native_fixture_helpers
from fixture_common import CASES, FixtureFiles, make_wavs, perturb, run_s3prl_cases, sha256, write_safetensors_canonical
from native_fixture_helpers import BASE_CASES, parameter_count, patched_attributes, write_fixture

TIMM_VERSION = "0.4.5"
AST_URL = "https://www.dropbox.com/s/ca0b1v2nlxzyeb4/audioset_10_10_0.4593.pth?dl=1"
SSAST_URLS = {
    "ssast_frame_base": "https://www.dropbox.com/s/nx6nl4d4bl71sm8/SSAST-Base-Frame-400.pth?dl=1",
    "ssast_patch_base": "https://www.dropbox.com/s/ewrzpco95n9jdz6/SSAST-Base-Patch-400.pth?dl=1",
}
# Family-specific input: several SSAST windows (1 s each) and a tail shorter than a window.
LONG_SEED = 7101
OWN_CASES = {"long": {"lengths": [33000, 16500], "options": {"normalize": False}}}
CASE_LIST = BASE_CASES + ["long"]
WITH_NORMALIZE = CASE_LIST + ["batch_normalize"]

AST_FIXTURES = {
    "ast_like": {
        "imitates": "ast", "hub_entry": "ast", "seed": 7201, "cases": BASE_CASES + ["batch_normalize"],
        "timm": {"embed_dim": 24, "depth": 2, "mlp_ratio": 2.0, "num_classes": 10},
        "input_tdim": 256,  # the release's 1024 frames -> a 12 x 25 positional grid (release: 12 x 101)
        "extra": {
            # every block's patch tokens, 10.24 s windows (positional grid interpolated 25 -> 101)
            "hidden_states": {"feature_selection": "hidden_states"},
            # 1 s windows every 0.5 s (grid cut 25 -> 9; overlapping windows, S3PRL trims the extra frames)
            "hidden_states_1s": {"feature_selection": "hidden_states", "window_secs": 1.0, "stride_secs": 0.5},
            # the head on 0.5 s windows every 0.25 s: several windows per utterance
            "cls_short_windows": {"window_secs": 0.5, "stride_secs": 0.25},
        },
    },
}
SSAST_FIXTURES = {
    "ssast_frame_like": {
        "imitates": "ssast_frame_base", "hub_entry": "ssast_frame_base", "seed": 7301, "cases": WITH_NORMALIZE,
        "timm": {"embed_dim": 24, "depth": 2, "mlp_ratio": 2.0, "num_classes": 10},
        # pretraining input 128 x 256 in 128 x 2 patches: a 1 x 128 grid, cut to the window's 99
        "pretrain": {"fshape": 128, "tshape": 2, "input_fdim": 128, "input_tdim": 256},
    },
    "ssast_patch_like": {
        "imitates": "ssast_patch_base", "hub_entry": "ssast_patch_base", "seed": 7302, "cases": CASE_LIST,
        "timm": {"embed_dim": 24, "depth": 2, "mlp_ratio": 2.0, "num_classes": 10},
        # 16 x 16 patches: an 8 x 16 grid, time cut to 9, frequency interpolated to 12
        "pretrain": {"fshape": 16, "tshape": 16, "input_fdim": 128, "input_tdim": 256},
    },
    "ssast_frame_variant": {
        "imitates": "ssast_frame_base", "hub_entry": "ssast_frame_base", "seed": 7303, "cases": CASE_LIST,
        "timm": {"embed_dim": 24, "depth": 3, "mlp_ratio": 1.5, "qkv_bias": False, "num_classes": 10},
        # a 1 x 80 grid, shorter than the window's 99: S3PRL interpolates to (8, 99), then back to (1, 99)
        "pretrain": {"fshape": 128, "tshape": 2, "input_fdim": 128, "input_tdim": 160},
    },
}
DEIT = "vit_deit_base_distilled_patch16_384"


def import_timm():
    """``import timm`` (0.4.5) without torchvision / PIL: stand-ins for the modules ``timm.data`` imports, present only
    while timm is imported (transformers, imported by ``s3prl.hub`` first, probes for the real packages)."""
    import s3prl.hub  # noqa: F401  (before the stand-ins exist)

    installed = {top: importlib.util.find_spec(top) is not None for top in ("torchvision", "PIL")}
    stand_ins = [name for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "PIL",
                                   "PIL.Image", "PIL.ImageOps", "PIL.ImageEnhance", "PIL.ImageChops")
                 if not installed[name.split(".")[0]] and name not in sys.modules]
    for name in stand_ins:
        module = types.ModuleType(name)
        module.__path__ = []
        module.__version__ = "8.1.0"  # timm/data/auto_augment.py parses PIL.__version__ at import
        module.__getattr__ = lambda attr, _name=name: _StandIn(f"{_name}.{attr}").__getattr__(None)
        sys.modules[name] = module
    try:
        import timm
    finally:
        for name in stand_ins:
            del sys.modules[name]
    assert timm.__version__ == TIMM_VERSION, f"S3PRL needs timm {TIMM_VERSION}, found {timm.__version__}"
    return timm


class _StandIn:
    """Any attribute of a stand-in module: itself a stand-in, callable (timm.data's module-level constants)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        if attr is None:
            return self
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _StandIn(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        return _StandIn(f"{self._name}()")


@contextlib.contextmanager
def small_deit(sizes: dict):
    """timm builds ``vit_deit_base_distilled_patch16_384`` with the fixture's width / depth / mlp ratio."""
    import timm.models.vision_transformer as vit

    original = vit._create_vision_transformer

    def create(variant, pretrained=False, distilled=False, **kwargs):
        assert variant == DEIT, f"S3PRL asked timm for {variant}, the fixture shrinks {DEIT} only"
        assert not pretrained
        return original(variant, pretrained=pretrained, distilled=distilled, **{**kwargs, **sizes})

    with patched_attributes(vit, _create_vision_transformer=create):
        yield


@contextlib.contextmanager
def local_download(hubconf, url: str, path: Path):
    def urls_to_filepaths(*urls, refresh=False, **_):
        assert urls == (url,), urls
        return str(path)

    with patched_attributes(hubconf, _urls_to_filepaths=urls_to_filepaths):
        yield


def _ast_literals(input_tdim: int, width: int) -> dict:
    t0 = (input_tdim - 16) // 10 + 1
    return {
        "input_fdim=128,\n                input_tdim=1024,":
            f"input_fdim=128,\n                input_tdim={input_tdim},",
        ".reshape(1, 1212, 768)": f".reshape(1, {12 * t0}, {width})",
        ".reshape(1, 768, 12, 101)": f".reshape(1, {width}, 12, {t0})",
        "if t_dim < 101:": f"if t_dim < {t0}:",
        ":, :, :, 50 - int(t_dim / 2) : 50 - int(t_dim / 2) + t_dim":
            f":, :, :, {t0 // 2} - int(t_dim / 2) : {t0 // 2} - int(t_dim / 2) + t_dim",
        "new_pos_embed.reshape(1, 768, num_patches)": f"new_pos_embed.reshape(1, {width}, num_patches)",
    }


def patched_ast_class(ast_models, literals: dict):
    """``ASTModel`` recompiled with the literals replaced, copying the checkpoint's head into ``mlp_head``."""
    source = textwrap.dedent(inspect.getsource(ast_models.ASTModel))
    for old, new in literals.items():
        assert source.count(old) == 1, f"ASTModel: expected one '{old}'"
        source = source.replace(old, new)
    namespace = dict(vars(ast_models))
    exec(compile(source, inspect.getsourcefile(ast_models), "exec"), namespace)  # noqa: S102 (S3PRL's own source)
    cls = namespace["ASTModel"]
    original_init = cls.__init__

    def __init__(self, *args, **kwargs):  # noqa: N807
        original_init(self, *args, **kwargs)
        if kwargs.get("audioset_pretrain"):
            sd = torch.load(kwargs["pretrained_ckpt"], map_location="cpu", weights_only=True)
            head = {k[len("module.mlp_head."):]: v for k, v in sd.items() if k.startswith("module.mlp_head.")}
            self.mlp_head.load_state_dict(head, strict=True)

    cls.__init__ = __init__
    return cls


def _case_inputs(case_inputs: dict) -> dict:
    g = torch.Generator().manual_seed(LONG_SEED)
    return {**case_inputs, **{case: make_wavs(spec["lengths"], g) for case, spec in OWN_CASES.items()}}


def _assert_vit_loaded(v: torch.nn.Module, ckpt: dict, what: str):
    """S3PRL's ViT holds the checkpoint's tensors (its loaders are non-strict); the positional embedding's special
    tokens are checked, its grid S3PRL cuts or interpolates."""
    loaded = v.state_dict()
    expected = {k[len("module.v."):]: t for k, t in ckpt.items() if k.startswith("module.v.")}
    assert sorted(loaded) == sorted(expected), f"{what}: key sets differ: {sorted(set(loaded) ^ set(expected))}"
    for key, value in expected.items():
        if key == "pos_embed":
            assert torch.equal(loaded[key][:, :2], value[:, :2]), f"{what}: pos_embed tokens not loaded"
        else:
            assert torch.equal(loaded[key], value), f"{what}: {key} was not loaded from the checkpoint"


def _write_extra(folder: Path, name: str, hub_entry: str, path: Path, case_inputs: dict, extra: dict) -> dict:
    """S3PRLUpstream's output on the ``batch`` inputs for each ``extra_conf`` (``extra.safetensors``); returns each
    case's options and what S3PRLUpstream reported for them."""
    tensors, infos = {}, {}
    for case, conf in extra.items():
        cases = {case: {"lengths": CASES["batch"]["lengths"], "inputs_from": "batch",
                        "options": {"normalize": False, "extra_conf": conf}}}
        out, info = run_s3prl_cases(hub_entry, path, {case: case_inputs["batch"]}, cases)
        tensors.update(out)
        infos[case] = {"extra_conf": conf, "inputs_from": "batch", "s3prl_upstream": info}
    write_safetensors_canonical(tensors, folder / "extra.safetensors",
                                {"fixture": name, "what": "S3PRLUpstream outputs with other extra_conf options",
                                 "cases": json.dumps(infos, sort_keys=True)})
    return infos


def _used_parameters(model: torch.nn.Module, unused: tuple) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(unused))


def release_parameter_counts_ast(ast_models) -> dict:
    """Parameters of the release's architecture as S3PRL's code builds it (the inner model the checkpoint is loaded
    into: DeiT-base distilled, 12 x 101 grid) that the ``ast`` hidden states use: all but timm's ImageNet heads."""
    torch.manual_seed(0)
    inner = ast_models.ASTModel(label_dim=527, fstride=10, tstride=10, input_fdim=128, input_tdim=1024,
                                imagenet_pretrain=False, audioset_pretrain=False, model_size="base384", verbose=False)
    return {"ast": {"feature_selection=cls": _used_parameters(inner, ("v.head.", "v.head_dist.")),
                    "feature_selection=hidden_states": _used_parameters(inner, ("v.head.", "v.head_dist.", "v.norm.",
                                                                               "mlp_head."))}}


def release_parameter_counts_ssast(ast_models) -> dict:
    """Parameters of the SSAST releases' ViT as S3PRL's code builds it ("base", pretraining input 128 x 1024) that the
    hidden states use: the blocks and embeddings (not the heads, the pretext layers or the final LayerNorm)."""
    counts = {}
    for name, (fshape, tshape) in {"ssast_frame_base": (128, 2), "ssast_patch_base": (16, 16)}.items():
        torch.manual_seed(0)
        model = ast_models.ASTModel(fshape=fshape, tshape=tshape, fstride=fshape, tstride=tshape, input_fdim=128,
                                    input_tdim=1024, model_size="base", pretrain_stage=True)
        counts[name] = _used_parameters(model.v, ("head.", "head_dist.", "norm."))
    return counts


def build_ast(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import_timm()
    import s3prl.upstream.ast.ast_models as ast_models
    import s3prl.upstream.ast.hubconf as hubconf

    inputs = _case_inputs(case_inputs)
    release_counts = release_parameter_counts_ast(ast_models)
    produced = []
    for name, spec in AST_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        literals = _ast_literals(spec["input_tdim"], spec["timm"]["embed_dim"])
        patched_class = patched_ast_class(ast_models, literals)
        with small_deit(spec["timm"]), patched_attributes(ast_models, ASTModel=patched_class), \
                local_download(hubconf, AST_URL, path), \
                patched_attributes(native_fixture_helpers, CASES={**CASES, **OWN_CASES}):
            torch.manual_seed(spec["seed"])
            # the inner model S3PRL loads the release into (audioset branch), with the release's head
            inner = ast_models.ASTModel(label_dim=527, fstride=10, tstride=10, input_fdim=128,
                                        input_tdim=spec["input_tdim"], imagenet_pretrain=False,
                                        audioset_pretrain=False, model_size="base384", verbose=False)
            perturb(inner, seed=spec["seed"] + 1)
            ckpt = OrderedDict(("module." + k, v.clone()) for k, v in inner.state_dict().items())
            torch.save(ckpt, path)
            from s3prl.nn import S3PRLUpstream

            expert = S3PRLUpstream(spec["hub_entry"], path_or_url=str(path)).upstream
            _assert_vit_loaded(expert.model.v, ckpt, f"{name}: S3PRL's AST")
            for key in ("0.weight", "0.bias", "1.weight", "1.bias"):
                assert torch.equal(expert.model.mlp_head.state_dict()[key], ckpt[f"module.mlp_head.{key}"])
            extra = _write_extra(folder, name, spec["hub_entry"], path, inputs, spec["extra"])
            patches = {
                "timm.models.vision_transformer._create_vision_transformer": {DEIT: spec["timm"]},
                "s3prl.upstream.ast.ast_models.ASTModel.__init__ literals": literals,
                "s3prl.upstream.ast.ast_models.ASTModel.__init__ mlp_head": "loaded from module.mlp_head.* after "
                                                                            "construction (S3PRL: random)",
                "s3prl.upstream.ast.hubconf._urls_to_filepaths": "returns original_s3prl.pt",
            }
            produced.append(write_fixture(out_root, name, spec, inputs, family="ast", extra_meta={
                "s3prl_patches": patches, "extra_cases": extra, "release_parameter_counts": release_counts,
                "own_cases": OWN_CASES,
                "seeds_own_cases": LONG_SEED, "timm_version": TIMM_VERSION,
                "checks": {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model)},
                "files_extra": {"extra.safetensors": {"bytes": (folder / "extra.safetensors").stat().st_size,
                                                      "sha256": sha256(folder / "extra.safetensors")}}}))
    return produced


def build_ssast(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import_timm()
    import s3prl.upstream.ssast.ast_models as ast_models
    import s3prl.upstream.ssast.hubconf as hubconf

    inputs = _case_inputs(case_inputs)
    release_counts = release_parameter_counts_ssast(ast_models)
    produced = []
    for name, spec in SSAST_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        pre = spec["pretrain"]
        with small_deit(spec["timm"]), local_download(hubconf, SSAST_URLS[spec["hub_entry"]], path), \
                patched_attributes(native_fixture_helpers, CASES={**CASES, **OWN_CASES}):
            torch.manual_seed(spec["seed"])
            model = ast_models.ASTModel(fshape=pre["fshape"], tshape=pre["tshape"], fstride=pre["fshape"],
                                        tstride=pre["tshape"], input_fdim=pre["input_fdim"],
                                        input_tdim=pre["input_tdim"], model_size="base", pretrain_stage=True)
            # every float parameter (p_input_fdim / p_input_tdim are integer sizes)
            floats = torch.nn.ParameterList([p for p in model.parameters() if p.is_floating_point()])
            perturb(floats, seed=spec["seed"] + 1)
            ckpt = OrderedDict(("module." + k, v.clone()) for k, v in model.state_dict().items())
            torch.save(ckpt, path)
            from s3prl.nn import S3PRLUpstream

            expert = S3PRLUpstream(spec["hub_entry"], path_or_url=str(path)).upstream
            _assert_vit_loaded(expert.model.v, ckpt, f"{name}: S3PRL's SSAST")
            patches = {
                "timm.models.vision_transformer._create_vision_transformer": {DEIT: spec["timm"]},
                "s3prl.upstream.ssast.hubconf._urls_to_filepaths": "returns original_s3prl.pt",
            }
            produced.append(write_fixture(out_root, name, spec, inputs, family="ssast", extra_meta={
                "s3prl_patches": patches, "pretraining": pre, "release_parameter_counts": release_counts,
                "own_cases": OWN_CASES, "seeds_own_cases": LONG_SEED,
                "timm_version": TIMM_VERSION,
                "checks": {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model)}}))
    return produced

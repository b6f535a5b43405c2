"""BYOL-A and BYOL-S parity fixtures, built and run with S3PRL's own classes (reference environment only).

Both families save a raw state dict (BYOL-A: AudioNTT2020's, github.com/nttcslab/byol-a pretrained_weights; BYOL-S:
one of serab-byols' networks) and their hub entries only take a URL (S3PRLUpstream's ``path_or_url`` cannot reach
them: the entry overwrites ``ckpt`` with its URL, or passes it twice). While a fixture is built, the builders
replace the imitated entry of ``s3prl.hub`` (e.g. ``byol_a_2048``) by one that does exactly what the hubconf does,
with the local file instead of the download (``byol_a.expert.UpstreamExpert(ckpt, DEFAULT_CONFIG_PATH, feature_d)``;
``byol_s.expert.UpstreamExpert(ckpt=ckpt, model_name=...)``), and run ``S3PRLUpstream(name, path_or_url=file)``.

Sizes are shrunk only where S3PRL's code or config fixes them (each patch recorded in meta.json ``s3prl_patches``):

* BYOL-A: ``feature_d`` is the hub's argument (2048 / 1024 / 512); the fixtures use 32 and 24. The variant also
  recompiles ``AudioNTT2020Task6`` with its literal 64 channels replaced by 16, and wraps its weights as a training
  checkpoint (``{"state_dict": {"model.features.0.weight": ...}}``) so S3PRL's ``load_weight`` key surgery is
  exercised.
* BYOL-S: ``serab_byols/config.yaml`` is read through a patched ``load_yaml_config`` (default: feature_d 32; cvt:
  embed_dims 8/16/24, depths 1/2/1, mlp_mults 4/2/3), CvT gets heads 1/1/2 (code defaults 1/3/6), and ResNetish
  is recompiled with its literal widths 64/64/128/256/512 replaced by 8/8/8/16/16 (ResNet-34's 3/4/6/3 blocks kept).

Every parameter and BatchNorm statistic is perturbed; S3PRL loads strictly, and the builders also check that the
loaded network holds exactly the file's tensors. Besides the shared cases, a ``long`` case (2 s) covers
several BYOL-A windows. The first fixture of each family records the parameter counts of the released networks as
S3PRL builds them (``checks.s3prl_parameters_released``).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import textwrap
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch

import fixture_common
from fixture_common import FixtureFiles, make_wavs, perturb
from native_fixture_helpers import assert_loaded, parameter_count, patched_attributes, write_fixture

# one more case: three 1 s BYOL-A windows, and one sample past a window
LONG_CASE = {"lengths": [33000, 16001], "options": {"normalize": False}}
LONG_SEED = 20250614
CASES = ["batch", "short", "single", "long"]
# S3PRLUpstream fails on BYOL-S for "short": padded to 800 samples, the expert gives 800 // 800 + 1 = 2 frames where
# S3PRLUpstream expects 1, and its _match_length asserts 2 // 1 == 1 (an AssertionError for any batch whose longest
# utterance is at most 800 samples).
BYOL_S_CASES = ["batch", "single", "long"]

BYOL_A_FIXTURES = {
    "byol_a_like": {"imitates": "byol_a_2048", "hub_entry": "byol_a_2048", "seed": 7101,
                    "cases": CASES + ["batch_normalize"], "feature_d": 32, "channels": None, "wrap": False},
    "byol_a_variant": {"imitates": "byol_a_512", "hub_entry": "byol_a_512", "seed": 7102, "cases": CASES,
                       "feature_d": 24, "channels": 16, "wrap": True},
}
BYOL_S_FIXTURES = {
    "byol_s_default_like": {"imitates": "byol_s_default", "hub_entry": "byol_s_default", "seed": 7201,
                            "cases": BYOL_S_CASES + ["batch_normalize"], "model_name": "default",
                            "cfg": {"feature_d": 32}},
    "byol_s_resnetish_like": {"imitates": "byol_s_resnetish34", "hub_entry": "byol_s_resnetish34", "seed": 7202,
                              "cases": BYOL_S_CASES, "model_name": "resnetish34", "cfg": {},
                              "widths": {"stem": 8, "layer1": 8, "layer2": 8, "layer3": 16, "layer4": 16}},
    "byol_s_cvt_like": {"imitates": "byol_s_cvt", "hub_entry": "byol_s_cvt", "seed": 7203, "cases": BYOL_S_CASES,
                        "model_name": "cvt",
                        "cfg": {"embed_dims": [8, 16, 24], "depths": [1, 2, 1], "mlp_mults": [4, 2, 3]},
                        "heads": {"s1_heads": 1, "s2_heads": 1, "s3_heads": 2}},
}
# ResNetish.__init__ literals -> format templates (each must occur exactly once in the class source)
RESNET_LITERALS = {"stem": ("self.inplanes = 64", "self.inplanes = {}"),
                   "layer1": ("block, 64, layers[0]", "block, {}, layers[0]"),
                   "layer2": ("            128,\n", "            {},\n"),
                   "layer3": ("            256,\n", "            {},\n"),
                   "layer4": ("            512,\n", "            {},\n")}


@contextlib.contextmanager
def hub_entry(name: str, function):
    """Replace the entry ``s3prl.hub.<name>`` (that S3PRLUpstream calls) for the duration of the block."""
    from s3prl import hub

    with patched_attributes(hub, **{name: function}):
        yield


@contextlib.contextmanager
def long_case(case_inputs: dict):
    """Add the ``long`` case to fixture_common.CASES (and its inputs) for the duration of the block."""
    assert "long" not in fixture_common.CASES
    fixture_common.CASES["long"] = LONG_CASE
    inputs = dict(case_inputs, long=make_wavs(LONG_CASE["lengths"], torch.Generator().manual_seed(LONG_SEED)))
    try:
        yield inputs
    finally:
        del fixture_common.CASES["long"]


def _recompile(module, names, replace=None):
    """``module.<name>`` for each name, recompiled from its source (in order, in one namespace) after replacing
    literals: {name: [(old, new), ...]} (each old must occur exactly once)."""
    namespace = dict(vars(module))
    for name in names:
        source = textwrap.dedent(inspect.getsource(getattr(module, name)))
        for old, new in (replace or {}).get(name, []):
            assert source.count(old) == 1 if not old.startswith("ALL:") else True, f"{name}: '{old}'"
            if old.startswith("ALL:"):
                source = source.replace(old[4:], new)
            else:
                source = source.replace(old, new)
        exec(compile(source, inspect.getsourcefile(module), "exec"), namespace)  # noqa: S102 (S3PRL's own source)
    return namespace


def _byol_a_released_parameters():
    from s3prl.upstream.byol_a.byol_a import AudioNTT2020

    return {f"byol_a_{d}": parameter_count(AudioNTT2020(d=d)) for d in (2048, 1024, 512)}


def build_byol_a(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl.upstream.byol_a.byol_a as byol_a
    import s3prl.upstream.byol_a.expert as expert_module
    from s3prl.upstream.byol_a.hubconf import DEFAULT_CONFIG_PATH

    produced = []
    released = _byol_a_released_parameters()
    with long_case(case_inputs) as inputs:
        for name, spec in BYOL_A_FIXTURES.items():
            folder = out_root / name
            folder.mkdir()
            path = folder / "original_s3prl.pt"
            patches = {"s3prl.upstream.byol_a.hubconf feature_d": {"fixture": spec["feature_d"],
                                                                   "released": [2048, 1024, 512]}}
            network = byol_a.AudioNTT2020
            if spec["channels"]:
                namespace = _recompile(byol_a, ["AudioNTT2020Task6", "AudioNTT2020"],
                                       {"AudioNTT2020Task6": [("ALL:64", str(spec["channels"]))]})
                network = namespace["AudioNTT2020"]
                patches["s3prl.upstream.byol_a.byol_a.AudioNTT2020Task6.__init__"] = {
                    "channels": spec["channels"], "released": 64}
            torch.manual_seed(spec["seed"])
            model = perturb(network(d=spec["feature_d"]), seed=spec["seed"] + 1)
            weights = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
            saved = weights
            if spec["wrap"]:  # a training checkpoint: S3PRL unwraps "state_dict" and strips the prefix
                saved = {"state_dict": OrderedDict((f"model.{k}", v) for k, v in weights.items()),
                         "epoch": torch.tensor(100)}
            torch.save(saved, path)

            def entry(ckpt, refresh=False, _d=spec["feature_d"]):
                return expert_module.UpstreamExpert(ckpt, DEFAULT_CONFIG_PATH, _d)

            with patched_attributes(expert_module, AudioNTT2020=network), hub_entry(spec["hub_entry"], entry):
                expert = entry(str(path))
                assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded AudioNTT2020")
                checks = {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model)}
                if not produced:
                    checks["s3prl_parameters_released"] = released
                produced.append(write_fixture(out_root, name, spec, inputs, family="byol_a",
                                              extra_meta={"s3prl_patches": patches, "checks": checks,
                                                          "hub_entry_does": "byol_a.expert.UpstreamExpert(ckpt, "
                                                          "DEFAULT_CONFIG_PATH, feature_d)"}))
    return produced


def _byol_s_released_parameters():
    from s3prl.upstream.byol_s.byol_a.common import load_yaml_config
    from s3prl.upstream.byol_s.serab_byols import serab

    cfg = load_yaml_config(Path(serab.__file__).parent / "config.yaml")
    return {f"byol_s_{name}": parameter_count(serab.get_model(name, cfg)) for name in ("default", "resnetish34", "cvt")}


def build_byol_s(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl.upstream.byol_s.byol_a.models.resnetish as resnetish
    import s3prl.upstream.byol_s.expert as expert_module
    from s3prl.upstream.byol_s.byol_a.common import load_yaml_config
    from s3prl.upstream.byol_s.serab_byols import serab

    produced = []
    released = _byol_s_released_parameters()
    with long_case(case_inputs) as inputs:
        for name, spec in BYOL_S_FIXTURES.items():
            folder = out_root / name
            folder.mkdir()
            path = folder / "original_s3prl.pt"

            def patched_cfg(cfg_path, _overrides=spec["cfg"]):
                cfg = load_yaml_config(cfg_path)
                for key, value in _overrides.items():
                    setattr(cfg, key, value)
                return cfg

            replacements = {"load_yaml_config": patched_cfg}
            patches = {"s3prl.upstream.byol_s.serab_byols/config.yaml": spec["cfg"]} if spec["cfg"] else {}
            if "heads" in spec:
                replacements["CvT"] = functools.partial(serab.CvT, **spec["heads"])
                patches["s3prl.upstream.byol_s.byol_a.models.cvt.CvT heads"] = {
                    "fixture": spec["heads"], "released": {"s1_heads": 1, "s2_heads": 3, "s3_heads": 6}}
            if "widths" in spec:
                edits = [(RESNET_LITERALS[k][0], RESNET_LITERALS[k][1].format(v)) for k, v in spec["widths"].items()]
                namespace = _recompile(resnetish, ["ResNetish", "_resnetish", "resnetish34"], {"ResNetish": edits})
                replacements["resnetish34"] = namespace["resnetish34"]
                patches["s3prl.upstream.byol_s.byol_a.models.resnetish.ResNetish.__init__"] = {
                    "fixture": spec["widths"],
                    "released": {"stem": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}}

            def entry(ckpt, refresh=False, _model_name=spec["model_name"]):
                return expert_module.UpstreamExpert(ckpt=ckpt, model_name=_model_name)

            with patched_attributes(serab, **replacements), hub_entry(spec["hub_entry"], entry):
                cfg = serab.load_yaml_config(Path(serab.__file__).parent / "config.yaml")
                torch.manual_seed(spec["seed"])
                model = perturb(serab.get_model(spec["model_name"], cfg), seed=spec["seed"] + 1)
                weights = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
                torch.save(weights, path)
                expert = entry(str(path))
                assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded network")
                checks = {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model)}
                if not produced:
                    checks["s3prl_parameters_released"] = released
                produced.append(write_fixture(out_root, name, spec, inputs, family="byol_s",
                                              extra_meta={"s3prl_patches": patches, "checks": checks,
                                                          "hub_entry_does": "byol_s.expert.UpstreamExpert(ckpt=ckpt, "
                                                          f"model_name={spec['model_name']!r})"}))
    return produced

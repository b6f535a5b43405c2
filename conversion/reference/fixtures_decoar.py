"""DeCoAR (decoar_layers, decoar) and DeCoAR 2.0 parity fixtures, built and run with S3PRL's own classes.

S3PRL fixes both architectures in code, and the checkpoints (``{"model": state_dict}``, the layout of
huggingface.co/s3prl/converted_ckpts) hold no config. The fixtures shrink the documented sizes only, while S3PRL
builds its model, and the fixture's meta.json records each patch (``s3prl_patches``):

* DeCoAR: ``Decoar.__init__`` hard-codes ``d = 1024`` and ``self.encoder_layers = 4`` as literals. The generator
  recompiles the class source with those two literals replaced (nothing else changes; the source must contain each
  exactly once) in ``upstream/decoar/decoar.py`` (the multi-layer LSTM naming of the released file) and
  ``upstream/decoar_layers/decoar.py`` (the model the ``decoar_layers`` expert runs).
* DeCoAR 2.0: ``Decoar2()`` reads the module-level dict ``upstream/decoar2/decoar2.py:args``; the generator updates
  its sizes (width, depth, feed-forward, positional conv) and restores it afterwards. The 12 attention heads are
  kept: no weight shape records them.

S3PRL loads both non-strictly, so the builders check that its model holds every tensor of the file. Every parameter
is perturbed. ``decoar_like`` runs S3PRL's registered ``decoar`` hub function itself (the older expert, last layer
only), with ``upstream/decoar/hubconf.py:_urls_to_filepaths`` pointing its release URL at the fixture's file.
"""
from __future__ import annotations

import contextlib
import inspect
import re
import textwrap
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch

from fixture_common import FixtureFiles, perturb
from native_fixture_helpers import (BASE_CASES, WITH_NORMALIZE, assert_loaded, local_release, parameter_count,
                                    patched_attributes, s3prl_expert, write_fixture)

DECOAR_FIXTURES = {
    "decoar_layers_like": {
        # the released file's naming: one 4-layer nn.LSTM per direction (forward_lstm.weight_ih_l{k})
        "imitates": "decoar_layers", "hub_entry": "decoar_layers_local", "seed": 6201, "cases": BASE_CASES,
        "constants": {"d": 12, "encoder_layers": 4}, "naming": "multi_layer",
    },
    "decoar_layers_variant": {
        # S3PRL's converted naming (forward_lstms.{k}.weight_ih_l0), three layers
        "imitates": "decoar_layers", "hub_entry": "decoar_layers_local", "seed": 6202, "cases": BASE_CASES,
        "constants": {"d": 8, "encoder_layers": 3}, "naming": "per_layer",
    },
    "decoar_like": {
        # S3PRL's `decoar` hub function itself (upstream/decoar: one 4-layer nn.LSTM per direction, the last layer's
        # state only), its release URL served from the fixture file; the released naming, as that expert needs
        "imitates": "decoar", "hub_entry": "decoar", "seed": 6203, "cases": WITH_NORMALIZE,
        "constants": {"d": 12, "encoder_layers": 4}, "naming": "multi_layer",
        "release_url": "https://huggingface.co/s3prl/converted_ckpts/resolve/main/checkpoint_decoar.pt",
    },
}
DECOAR2_FIXTURES = {
    "decoar2_like": {
        "imitates": "decoar2", "hub_entry": "decoar2_local", "seed": 6301, "cases": WITH_NORMALIZE,
        "args": {"encoder_embed_dim": 24, "encoder_layers": 2, "encoder_ffn_embed_dim": 48, "conv_pos": 16,
                 "conv_pos_groups": 4},
    },
}
# The literals Decoar.__init__ hard-codes, as they appear in its source.
DECOAR_LITERALS = {"d": ("d = 1024", "d = {}"), "encoder_layers": ("self.encoder_layers = 4",
                                                                   "self.encoder_layers = {}")}


def _patched_class(module, name: str, constants: dict):
    """``module.<name>`` recompiled from its source with the hard-coded size literals replaced."""
    source = textwrap.dedent(inspect.getsource(getattr(module, name)))
    for key, value in constants.items():
        literal, template = DECOAR_LITERALS[key]
        assert source.count(literal) == 1, f"{module.__name__}.{name}: expected one '{literal}'"
        source = source.replace(literal, template.format(value))
    namespace = dict(vars(module))
    exec(compile(source, inspect.getsourcefile(module), "exec"), namespace)  # noqa: S102 (S3PRL's own source)
    return namespace[name]


@contextlib.contextmanager
def patched_decoar(constants: dict):
    import s3prl.upstream.decoar.decoar as decoar
    import s3prl.upstream.decoar.expert as decoar_expert
    import s3prl.upstream.decoar_layers.decoar as decoar_layers
    import s3prl.upstream.decoar_layers.expert as decoar_layers_expert

    multi_layer_class = _patched_class(decoar, "Decoar", constants)
    layers_class = _patched_class(decoar_layers, "Decoar", constants)
    with patched_attributes(decoar, Decoar=multi_layer_class), \
            patched_attributes(decoar_expert, Decoar=multi_layer_class), \
            patched_attributes(decoar_layers, Decoar=layers_class), \
            patched_attributes(decoar_layers_expert, Decoar=layers_class):
        yield multi_layer_class


@contextlib.contextmanager
def served_release(spec: dict, path: Path):
    """For a fixture of a registered hub function (``release_url``), its download returns the fixture's file."""
    if "release_url" not in spec:
        yield
        return
    import s3prl.upstream.decoar.hubconf as hubconf

    with local_release(hubconf, {"ckpt": spec["release_url"]}, {"ckpt": path}):
        yield


def _name_convert(key: str) -> str:
    """S3PRL's decoar_layers ``name_convert`` (upstream/decoar_layers/expert.py)."""
    result = re.search(r"(forward|backward)_lstm\.(.+)(\d+)", key)
    if result is None:
        return key
    direction, name, layer = result.groups()
    return f"{direction}_lstms.{layer}.{name}0"


def _last_state_difference(path: Path, case_inputs: dict) -> float:
    """max |decoar - decoar_layers' last state| on the batch case: S3PRL's two experts on one checkpoint."""
    from fixture_common import CASES, run_s3prl_cases

    cases = {"batch": CASES["batch"]}
    last, _ = run_s3prl_cases("decoar", path, case_inputs, cases)
    layers, info = run_s3prl_cases("decoar_layers_local", path, case_inputs, cases)
    difference = (last["batch.hs.0"] - layers[f"batch.hs.{info['num_layers'] - 1}"]).abs().max().item()
    assert difference < 1e-5, difference
    return difference


def build_decoar(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    produced = []
    for name, spec in DECOAR_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        with patched_decoar(spec["constants"]) as multi_layer_class:
            torch.manual_seed(spec["seed"])
            model = perturb(multi_layer_class(), seed=spec["seed"] + 1)
            weights = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
            if spec["naming"] == "per_layer":
                weights = OrderedDict((_name_convert(k), v) for k, v in weights.items())
            torch.save({"model": weights}, path)
            with served_release(spec, path):
                expert = s3prl_expert(spec["hub_entry"], path)
                # decoar_layers renames the released names to its per-layer LSTMs; decoar loads them as they are
                renamed = weights if spec["hub_entry"] == "decoar" else {_name_convert(k): v for k, v in weights.items()}
                assert_loaded(expert.model.state_dict(), renamed, f"{name}: S3PRL's loaded Decoar")
                patches = {"s3prl.upstream.decoar.decoar.Decoar.__init__": spec["constants"],
                           "s3prl.upstream.decoar_layers.decoar.Decoar.__init__": spec["constants"],
                           "released": {"d": 1024, "encoder_layers": 4}}
                checks = {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model)}
                if "release_url" in spec:
                    patches["s3prl.upstream.decoar.hubconf._urls_to_filepaths"] = {spec["release_url"]:
                                                                                    "original_s3prl.pt"}
                    checks["decoar_layers_last_state_max_abs_diff"] = _last_state_difference(path, case_inputs)
                produced.append(write_fixture(out_root, name, spec, case_inputs, family="decoar",
                                              extra_meta={"s3prl_patches": patches, "naming": spec["naming"],
                                                          "checks": checks}))
    return produced


def build_decoar2(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl.upstream.decoar2.decoar2 as decoar2

    produced = []
    for name, spec in DECOAR2_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        released = dict(decoar2.args)
        with patched_attributes(decoar2, args={**released, **spec["args"]}):
            torch.manual_seed(spec["seed"])
            model = perturb(decoar2.Decoar2(), seed=spec["seed"] + 1)
            weights = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
            torch.save({"model": weights}, path)
            expert = s3prl_expert(spec["hub_entry"], path)
            assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded Decoar2")
            patches = {"s3prl.upstream.decoar2.decoar2.args": spec["args"],
                       "released": {k: released[k] for k in spec["args"]}}
            produced.append(write_fixture(out_root, name, spec, case_inputs, family="decoar2",
                                          extra_meta={"s3prl_patches": patches,
                                                      "checks": {"s3prl_loaded_every_weight": True,
                                                                 "s3prl_parameters": parameter_count(expert.model)}}))
    return produced

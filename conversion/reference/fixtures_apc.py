"""APC, VQ-APC and NPC parity fixtures, built and run with S3PRL's own classes.

Each checkpoint has the layout of huggingface.co/leo19941227/apc_series (what S3PRL's apc / npc experts read):
``{"config": {"model": {"paras": ...}, "task": ..., "data": {"audio": ...}}, "model": state_dict}``, the config being
S3PRL's pretraining recipe (``pretrain/{apc,vq_apc,npc}/config_model.yaml``) with tiny sizes. S3PRL's loaders are
strict, and the builders check again that the expert holds every tensor of the file. Every parameter and BatchNorm
statistic is perturbed; NPC's ``conv_mask`` buffers stay the masks S3PRL builds.

Every fixture also stores, in ``extra.safetensors``, what S3PRL's own VQ layers (eval mode, arg-max codes; VQ models
only) and ``postnet`` make of the first frames of the ``batch`` case's last hidden state, so that the weights no
hidden state depends on are checked too.

``native_recipes/recipes.json`` (``--family native_recipes``) holds each released name's S3PRL config and the
parameter count of S3PRL's own model built from it: APC, VQ-APC, NPC, Modified CPC, DeCoAR and DeCoAR 2.0.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import List

import torch

from fixture_common import FixtureFiles, perturb
from native_fixture_helpers import (BASE_CASES, WITH_NORMALIZE, assert_loaded, parameter_count, s3prl_expert,
                                    write_fixture, write_recipes)

# pretrain/apc/config_model.yaml, pretrain/vq_apc/config_model.yaml and pretrain/npc/config_model.yaml (s3prl/s3prl
# on GitHub; not shipped in the pip package).
TASK = {"sequence_length": 1500, "n_future": 5}
AUDIO = {"feat_type": "fbank", "feat_dim": 80, "frame_length": 25, "frame_shift": 10, "decode_wav": False}
APC_PARAS = {"num_layers": 3, "hidden_size": 512, "dropout": 0.1, "residual": True}
VQ_APC_VQ = {"codebook_size": [512], "code_dim": [512], "gumbel_temperature": 0.5}
NPC_PARAS = {"kernel_size": 15, "mask_size": 5, "n_blocks": 4, "hidden_size": 512, "dropout": 0.1, "residual": True,
             "batch_norm": True, "activate": "relu", "disable_cross_layer": False,
             "vq": {"codebook_size": [64, 64, 64, 64], "code_dim": [128, 128, 128, 128], "gumbel_temperature": 1.0}}
RECIPES = {
    "apc_360hr": ("apc/config_model.yaml", {"model": {"paras": APC_PARAS}, "task": TASK, "data": {"audio": AUDIO}}),
    "vq_apc_360hr": ("vq_apc/config_model.yaml", {"model": {"paras": {**APC_PARAS, "vq": VQ_APC_VQ}}, "task": TASK,
                                                  "data": {"audio": {**AUDIO, "cmvn": True}}}),
    "npc_360hr": ("npc/config_model.yaml", {"model": {"paras": NPC_PARAS}, "task": TASK,
                                            "data": {"audio": {**AUDIO, "cmvn": True}}}),
}
RECIPES["apc_960hr"], RECIPES["vq_apc_960hr"], RECIPES["npc_960hr"] = (
    RECIPES["apc_360hr"], RECIPES["vq_apc_360hr"], RECIPES["npc_360hr"])


# Frames of the batch case's last hidden state that extra.safetensors holds S3PRL's VQ / postnet outputs for.
EXTRA_FRAMES = 16


def _config(paras: dict, audio: dict) -> dict:
    return {"model": {"paras": paras}, "task": dict(TASK), "data": {"audio": audio}}


FIXTURES = {
    "apc": {
        "apc_like": {
            "imitates": "apc_360hr", "hub_entry": "apc_local", "seed": 6001, "cases": WITH_NORMALIZE,
            "config": _config({**APC_PARAS, "hidden_size": 16}, dict(AUDIO)),  # no cmvn key: S3PRL's default True
        },
        "apc_variant": {
            # not a released model: 4 GRU layers (S3PRL still returns 3 states), no residual, 40 mel bins over 20 ms
            # windows from 40 Hz, no CMVN
            "imitates": "apc_960hr", "hub_entry": "apc_local", "seed": 6002, "cases": BASE_CASES,
            "config": _config({**APC_PARAS, "num_layers": 4, "hidden_size": 20, "residual": False},
                              {**AUDIO, "feat_dim": 40, "frame_length": 20, "low_freq": 40.0, "cmvn": False}),
        },
    },
    "vq_apc": {
        "vq_apc_like": {
            # two VQ groups instead of the release's one, to exercise the group split
            "imitates": "vq_apc_360hr", "hub_entry": "apc_local", "seed": 6003, "cases": WITH_NORMALIZE,
            "config": _config({**APC_PARAS, "hidden_size": 16,
                               "vq": {"codebook_size": [8, 6], "code_dim": [10, 6], "gumbel_temperature": 0.5}},
                              {**AUDIO, "cmvn": True}),
        },
    },
    "npc": {
        "npc_like": {
            "imitates": "npc_360hr", "hub_entry": "npc_local", "seed": 6004, "cases": BASE_CASES,
            "config": _config({**NPC_PARAS, "hidden_size": 16,
                               "vq": {"codebook_size": [8, 8, 8, 8], "code_dim": [4, 4, 4, 4],
                                      "gumbel_temperature": 1.0}}, {**AUDIO, "cmvn": True}),
        },
        "npc_variant": {
            # not a released model: masked conv after the last block only, a bottleneck instead of VQ, tanh, no
            # BatchNorm, no residual, 40 mel bins without CMVN
            "imitates": "npc_960hr", "hub_entry": "npc_local", "seed": 6005, "cases": BASE_CASES,
            "config": _config({"kernel_size": 11, "mask_size": 3, "n_blocks": 3, "hidden_size": 12, "dropout": 0.1,
                               "residual": False, "batch_norm": False, "activate": "tanh",
                               "disable_cross_layer": True, "dim_bottleneck": 8},
                              {**AUDIO, "feat_dim": 40, "cmvn": False}),
        },
    },
}


def _build_model(family: str, config: dict, seed: int) -> torch.nn.Module:
    from s3prl.upstream.apc.apc import APC
    from s3prl.upstream.npc.npc import NPC

    torch.manual_seed(seed)
    model_class = NPC if family == "npc" else APC
    return model_class(config["data"]["audio"]["feat_dim"], **copy.deepcopy(config["model"]["paras"]))


def _vq_outputs(expert, hs_last: torch.Tensor) -> dict:
    """S3PRL's own VQ layers (testing=True) and postnet on a hidden state: what no hidden state shows."""
    model = expert.model
    out = {}
    with torch.no_grad():
        features = hs_last
        if getattr(model, "apply_vq", False):
            codes, offset = [], 0
            for layer, dim in zip(model.vq_layers, model.vq_code_dims):
                codes.append(layer(hs_last[:, :, offset : offset + dim], True)[1])
                offset += dim
            features = out["batch.vq_codes"] = torch.cat(codes, dim=-1)
        out["batch.postnet"] = model.postnet(features)
    return out


def _build(family: str, out_root: Path, case_inputs: dict) -> List[FixtureFiles]:
    from fixture_common import CASES, run_s3prl_cases

    produced = []
    for name, spec in FIXTURES[family].items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        model = perturb(_build_model(family, spec["config"], spec["seed"]), seed=spec["seed"] + 1)
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        torch.save({"config": copy.deepcopy(spec["config"]), "model": weights}, path)

        expert = s3prl_expert(spec["hub_entry"], path)
        assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded model")
        tensors, info = run_s3prl_cases(spec["hub_entry"], path, {"batch": case_inputs["batch"]},
                                        {"batch": CASES["batch"]})
        # the first frames suffice to check those weights and keep the file small
        extra = _vq_outputs(expert.eval(), tensors[f"batch.hs.{info['num_layers'] - 1}"][:, :EXTRA_FRAMES])
        produced.append(write_fixture(out_root, name, spec, case_inputs, family=family, extra_tensors=extra,
                                      extra_meta={"config": spec["config"],
                                                  "checks": {"s3prl_loaded_every_weight": True,
                                                             "s3prl_parameters": parameter_count(expert.model)}}))
    return produced


def build_apc(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    return _build("apc", out_root, case_inputs)


def build_vq_apc(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    return _build("vq_apc", out_root, case_inputs)


def build_npc(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    return _build("npc", out_root, case_inputs)


def build_native_recipes(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """S3PRL's own models of every released name, built on the meta device and counted."""
    import argparse

    import s3prl.upstream.decoar2.decoar2 as decoar2
    from s3prl.upstream.cpc.cpc_default_config import get_default_cpc_config
    from s3prl.upstream.cpc.feature_loader import getAR, getEncoder
    from s3prl.upstream.cpc.model import CPCModel
    from s3prl.upstream.decoar.decoar import Decoar as MultiLayerDecoar
    from s3prl.upstream.decoar_layers.decoar import Decoar

    recipes = {}
    for name, (recipe, config) in RECIPES.items():
        family = "npc" if name.startswith("npc") else "apc"
        with torch.device("meta"):
            model = _build_model(family, config, 0)
        recipes[name] = {"recipe": f"s3prl/pretrain/{recipe}", "config": config,
                         "s3prl_parameters": parameter_count(model)}
    args = get_default_cpc_config()
    with torch.device("meta"):
        cpc = CPCModel(getEncoder(args), getAR(args))
        decoar = Decoar()
        multi_layer_decoar = MultiLayerDecoar()
        decoar2_model = decoar2.Decoar2()
    recipes["modified_cpc"] = {"recipe": "s3prl/upstream/cpc/cpc_default_config.py (CPC_audio's defaults)",
                               "config": vars(argparse.Namespace(**vars(args))),
                               "s3prl_parameters": parameter_count(cpc)}
    recipes["decoar_layers"] = {"recipe": "s3prl/upstream/decoar_layers/decoar.py (hard-coded)",
                                "config": {"embed": decoar.embed, "d": decoar.post_extract_proj.out_features,
                                           "encoder_layers": decoar.encoder_layers},
                                "s3prl_parameters": parameter_count(decoar)}
    recipes["decoar"] = {"recipe": "s3prl/upstream/decoar/decoar.py (hard-coded)",
                         "config": {"embed": multi_layer_decoar.embed,
                                    "d": multi_layer_decoar.post_extract_proj.out_features,
                                    "encoder_layers": multi_layer_decoar.encoder_layers},
                         "s3prl_parameters": parameter_count(multi_layer_decoar)}
    recipes["decoar2"] = {"recipe": "s3prl/upstream/decoar2/decoar2.py (module-level args)",
                          "config": dict(decoar2.args), "s3prl_parameters": parameter_count(decoar2_model)}
    return [write_recipes(out_root, "native_recipes", recipes)]

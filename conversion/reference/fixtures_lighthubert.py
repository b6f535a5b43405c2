"""LightHuBERT parity fixtures: supernet checkpoints built with S3PRL's own LightHuBERT classes.

The released files (huggingface.co/mechanicalsea/lighthubert: lighthubert_{base,small,stage1}.pt, 381 MB each, whose
pickles hold only ``OrderedDict`` and float tensors) are fairseq-style ``{"cfg": {"model": ..., ...}, "model":
state_dict}`` files of the whole 768-wide supernet. S3PRL's ``upstream/lighthubert/expert.py`` builds
``LightHuBERT(LightHuBERTConfig(cfg["model"]))``, loads the weights non-strictly and fixes one subnet:

* ``_name == "hubert_pruner"``: ``supernet.subnet`` of the supernet type its ``pruner_supernet`` path ends with
  (``...small.yaml`` / ``...base.yaml``, else the cfg's ``supernet_type``);
* ``_name == "student_hubert"`` (stage 1): ``supernet.max_subnet`` of the cfg's ``supernet_type`` (default base).

S3PRL fixes those subnets in code (``LightHuBERTSupernetConfig``: the base subnet is 640 wide with 10 heads and a
2560 FFN, the small one 384 / 6 / 1536, in 12 layers), and its encoder asserts 12 layers, so a checkpoint they fit
is hundreds of MB. The fixtures shrink the documented sizes only, while S3PRL builds and runs its model, and
``meta.json`` records each patch (``s3prl_patches``):

* the head width, the literal ``64`` of ``heads * 64`` in ``LightHuBERT.__init__``, ``LightHuBERTSupernetConfig``
  (max / min / sampled subnets), ``STransformerSentenceEncoderLayer.set_sample_config`` and
  ``SMHA.set_sample_config``, becomes 2: the four classes are recompiled from their source with that literal
  replaced (each occurrence counted) and restored afterwards;
* the ``supernet`` / ``search_space`` / ``subnet`` tables of ``LightHuBERTSupernetConfig`` become the released ones
  with every width divided by 32 (768 -> 24, 640 -> 20, 384 -> 12; head counts, FFN ratios and depths kept), or, for
  the variants, other subnets of the same kind (per-layer heads and FFN ratios, 10 of 12 layers).

The subnet S3PRL then set (read back from the expert) goes to ``meta.json`` as ``converter_options.subnet``: the
converter's own choice follows S3PRL's unpatched tables, so a fixture tells it the patched one. The choice itself is
checked at the released sizes by the ``lighthubert_subnets`` record: S3PRL's expert built from weightless
checkpoints with real-size configs (its non-strict load accepts an empty state dict), what it chose, the hidden
states it reports and its parameter count.

Every parameter is perturbed; S3PRL's loaded model is checked to hold exactly the checkpoint's tensors.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import logging
import textwrap
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List

import torch

from fixture_common import FixtureFiles, perturb, versions, write_json
from native_fixture_helpers import BASE_CASES, WITH_NORMALIZE, assert_loaded, s3prl_expert, write_fixture

HUB_ENTRY = "lighthubert_local"
CONV16 = "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2"  # total stride 320, as the expert hard-codes
HEAD_DIM = 2  # S3PRL's 64, divided by 32 like every width


def _uniform(layers: int, embed: int, heads: int, ffn: int, ratio: float) -> dict:
    """A subnet table entry in S3PRL's layout (``LightHuBERTSupernetConfig.subnet``)."""
    return {"atten_dim": [heads * HEAD_DIM] * layers, "embed_dim": embed, "ffn_ratio": [ratio] * layers,
            "ffn_embed": [ffn] * layers, "heads_num": [heads] * layers, "layer_num": layers,
            "slide_wsz": ["global"] * layers}


# S3PRL's LightHuBERTSupernetConfig tables with every width divided by 32.
SUPERNET = {"atten_dim": 24, "embed_dim": 24, "ffn_ratio": 4.0, "heads_num": 12, "layer_num": 12}
TABLES = {
    "base": {"supernet": SUPERNET,
             "search_space": {"atten_dim": [16, 20, 24], "embed_dim": [16, 20, 24], "ffn_ratio": [3.5, 4.0],
                              "heads_num": [8, 10, 12], "layer_num": [12]},
             "subnet": _uniform(12, 20, 10, 80, 4.0)},
    "small": {"supernet": SUPERNET,
              "search_space": {"atten_dim": [8, 12, 16], "embed_dim": [8, 12, 16], "ffn_ratio": [3.0, 3.5, 4.0],
                               "heads_num": [4, 6, 8], "layer_num": [10, 11, 12]},
              "subnet": _uniform(12, 12, 6, 48, 4.0)},
}
RELEASED_TABLES = {
    "base": {"supernet": {"atten_dim": 768, "embed_dim": 768, "ffn_ratio": 4.0, "heads_num": 12, "layer_num": 12},
             "search_space": {"atten_dim": [512, 640, 768], "embed_dim": [512, 640, 768], "ffn_ratio": [3.5, 4.0],
                              "heads_num": [8, 10, 12], "layer_num": [12]},
             "subnet": "640 wide, 10 heads of 64, FFN 2560, 12 layers"},
    "small": {"supernet": {"atten_dim": 768, "embed_dim": 768, "ffn_ratio": 4.0, "heads_num": 12, "layer_num": 12},
              "search_space": {"atten_dim": [256, 384, 512], "embed_dim": [256, 384, 512],
                               "ffn_ratio": [3.0, 3.5, 4.0], "heads_num": [4, 6, 8], "layer_num": [10, 11, 12]},
              "subnet": "384 wide, 6 heads of 64, FFN 1536, 12 layers"},
}

# A subnet of the small search space with per-layer heads and FFN ratios in 10 of the 12 layers (S3PRL's depth map
# for 10 keeps supernet layers 0-6 and 8-10). FFN ratios 3.0 / 3.5 take non-contiguous row blocks of fc1.
_MIXED_HEADS = [4, 8, 6, 8, 4, 6, 8, 4, 6, 8]
_MIXED_RATIOS = [3.0, 3.5, 4.0, 3.5, 3.0, 4.0, 3.5, 3.0, 4.0, 3.5]
MIXED_SUBNET = {"atten_dim": [h * HEAD_DIM for h in _MIXED_HEADS], "embed_dim": 16, "ffn_ratio": _MIXED_RATIOS,
                "ffn_embed": [int(r * 16) for r in _MIXED_RATIOS], "heads_num": _MIXED_HEADS, "layer_num": 10,
                "slide_wsz": ["global"] * 10}

# The supernet: LightHuBERTConfig's defaults (a HuBERT Base network) with the widths divided by 32 and a narrow CNN.
SUPERNET_CFG = dict(encoder_layers=12, encoder_embed_dim=24, encoder_ffn_embed_dim=96, encoder_attention_heads=12,
                    teacher_embed_dim=24, conv_feature_layers=CONV16, conv_pos=16, conv_pos_groups=4)
# fairseq training-config keys of HubertPruner / StudentHubert that S3PRL's LightHuBERTConfig does not know (ignored)
TRAINING_KEYS = dict(final_dim=8, untie_final_proj=False, logit_temp=0.1)
PRUNER_YAML = "/workspace/lighthubert/config/supernet/Supernet-{}.yaml"

LIGHTHUBERT_FIXTURES: Dict[str, dict] = {
    "lighthubert_base_like": {
        "imitates": "lighthubert_base", "seed": 8101, "cases": WITH_NORMALIZE, "tables": TABLES,
        "cfg": dict(_name="hubert_pruner", pruner_supernet=PRUNER_YAML.format("Base"), **SUPERNET_CFG),
    },
    "lighthubert_small_like": {
        "imitates": "lighthubert_small", "seed": 8102, "cases": BASE_CASES, "tables": TABLES,
        "cfg": dict(_name="hubert_pruner", pruner_supernet=PRUNER_YAML.format("Small"), **SUPERNET_CFG),
    },
    "lighthubert_stage1_like": {
        # stage 1 (the supernet after the first of the two distillation stages) is a student_hubert without
        # supernet_type: the base max subnet, the whole 24-wide supernet
        "imitates": "lighthubert_stage1", "seed": 8103, "cases": BASE_CASES, "tables": TABLES,
        "cfg": dict(_name="student_hubert", **SUPERNET_CFG),
    },
    "lighthubert_variant": {
        # a pruner whose yaml name matches neither suffix, so the cfg's supernet_type picks the small tables, patched
        # to the mixed subnet; group-norm extractor with conv bias, relu
        "imitates": "lighthubert_small", "seed": 8104, "cases": BASE_CASES,
        "tables": {**TABLES, "small": {**TABLES["small"], "subnet": MIXED_SUBNET}},
        "cfg": dict(_name="hubert_pruner", pruner_supernet="/workspace/supernet.yaml", supernet_type="small",
                    **SUPERNET_CFG, extractor_mode="default", conv_bias=True, activation_fn="relu"),
    },
    "lighthubert_prenorm_variant": {
        # a student of the small supernet: its max subnet (16 wide, 8 heads, FFN 64); pre-LN layers, a 2-conv
        # positional stack (kernel 8: even) and tanh-approximated GELU
        "imitates": "lighthubert_stage1", "seed": 8105, "cases": BASE_CASES, "tables": TABLES,
        "cfg": dict(_name="student_hubert", supernet_type="small", **SUPERNET_CFG, layer_norm_first=True,
                    pos_conv_depth=2, activation_fn="gelu_accurate"),
    },
}

# Weightless checkpoints of the released sizes (LightHuBERTConfig's defaults): which subnet S3PRL picks.
SUBNET_RECORDS: Dict[str, dict] = {
    "lighthubert_base": dict(_name="hubert_pruner", pruner_supernet=PRUNER_YAML.format("Base")),
    "lighthubert_small": dict(_name="hubert_pruner", pruner_supernet=PRUNER_YAML.format("Small")),
    "lighthubert_stage1": dict(_name="student_hubert"),
    "student_of_small_supernet": dict(_name="student_hubert", supernet_type="small"),
    "pruner_named_by_supernet_type": dict(_name="hubert_pruner", pruner_supernet="/workspace/supernet.yaml",
                                          supernet_type="small"),
}

LIGHTHUBERT_MODULE = "s3prl.upstream.lighthubert.lighthubert.lighthubert"
# module -> {class: (the head-width literal as it appears, occurrences)}
HEAD_WIDTH_LITERALS = {
    "s3prl.upstream.lighthubert.lighthubert.modules.scaling_multihead": {
        "SMHA": ("sample_num_heads * 64", 1)},
    "s3prl.upstream.lighthubert.lighthubert.modules.scaling_transformer": {
        "STransformerSentenceEncoderLayer": ("sample_heads_num * 64", 1)},
    LIGHTHUBERT_MODULE: {
        "LightHuBERTSupernetConfig": ("heads_num[i] * 64", 3),  # max, min and sampled subnets
        "LightHuBERT": ("cfg.encoder_attention_heads * 64", 1)},
}
# other modules' references to the recompiled classes
ALSO_REFERENCED = {"SMHA": ("s3prl.upstream.lighthubert.lighthubert.modules.scaling_transformer", LIGHTHUBERT_MODULE),
                   "LightHuBERT": ("s3prl.upstream.lighthubert.expert",)}


def _recompiled(module, name: str, literal: str, count: int, head_dim: int):
    """``module.<name>`` recompiled from its source, in the module's namespace, with the head width replaced."""
    source = textwrap.dedent(inspect.getsource(getattr(module, name)))
    assert source.count(literal) == count, f"{module.__name__}.{name}: expected {count} x '{literal}'"
    source = source.replace(literal, literal.replace("64", str(head_dim)))
    namespace = vars(module)
    original = namespace[name]
    exec(compile(source, inspect.getsourcefile(module), "exec"), namespace)  # noqa: S102 (S3PRL's own source)
    patched, namespace[name] = namespace[name], original
    return patched


@contextlib.contextmanager
def patched_lighthubert(tables: dict, head_dim: int = HEAD_DIM):
    """S3PRL's LightHuBERT with heads ``head_dim`` wide and these supernet tables; everything restored on exit."""
    saved = []
    try:
        # in dependency order, so that each recompiled class's module already sees the ones before it
        for module_name, classes in HEAD_WIDTH_LITERALS.items():
            module = importlib.import_module(module_name)
            for name, (literal, count) in classes.items():
                new = _recompiled(module, name, literal, count, head_dim)
                if name == "LightHuBERTSupernetConfig":
                    for table in ("supernet", "search_space", "subnet"):
                        setattr(new, table, property(
                            lambda self, table=table: copy.deepcopy(tables[self.supernet_type][table])))
                for target in (module_name, *ALSO_REFERENCED.get(name, ())):
                    target_module = importlib.import_module(target)
                    saved.append((target_module, name, getattr(target_module, name)))
                    setattr(target_module, name, new)
        yield
    finally:
        for target_module, name, value in reversed(saved):
            setattr(target_module, name, value)


# what the released cfg's other sections hold is not known; S3PRL reads cfg["model"] only
COMMON_CFG = {"fp16": True, "seed": 1337}
TASK_CFG = {"_name": "compress_hubert_pretraining", "data": "/data/librispeech", "labels": ["km"], "label_rate": 50,
            "sample_rate": 16000, "normalize": True}
# pretraining heads the released files hold and S3PRL's non-strict load skips (the authors' notebook lists them as
# unexpected keys): shapes are the fixture's own
PRETRAINING_HEADS = {"label_embs_concat": (10, 8), "final_proj.weight": (8, 24), "final_proj.bias": (8,)}
SUBNET_FIELDS = ("atten_dim", "embed_dim", "ffn_embed", "heads_num", "layer_num", "slide_wsz")


def _lighthubert_module():
    return importlib.import_module(LIGHTHUBERT_MODULE)


def _model_cfg(overrides: dict) -> dict:
    """LightHuBERTConfig's attributes (its defaults) with the overrides; ``supernet_type`` only where given."""
    cfg = {**_lighthubert_module().LightHuBERTConfig().__dict__, **TRAINING_KEYS, **overrides}
    if "supernet_type" not in overrides:
        del cfg["supernet_type"]
    for key, value in cfg.items():
        assert value is None or isinstance(value, (str, int, float, bool)), (key, value)
    return cfg


def chosen_subnet(expert) -> dict:
    """The subnet S3PRL's expert set, read back from its model (``set_sample_config``'s fields)."""
    model = expert.model
    return {field: copy.deepcopy(getattr(model, f"sample_{field}")) for field in SUBNET_FIELDS}


def build_lighthubert(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    produced = []
    for name, spec in LIGHTHUBERT_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        cfg = _model_cfg(spec["cfg"])
        with patched_lighthubert(spec["tables"]):
            lighthubert = _lighthubert_module()
            torch.manual_seed(spec["seed"])
            model = perturb(lighthubert.LightHuBERT(lighthubert.LightHuBERTConfig(cfg)), seed=spec["seed"] + 1)
            weights = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
            g = torch.Generator().manual_seed(spec["seed"] + 2)
            heads = OrderedDict((k, torch.randn(shape, generator=g)) for k, shape in PRETRAINING_HEADS.items())
            torch.save({"cfg": {"common": COMMON_CFG, "model": cfg, "task": TASK_CFG},
                        "model": OrderedDict([*weights.items(), *heads.items()])}, path)
            assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []  # as the release

            expert = s3prl_expert(HUB_ENTRY, path)
            assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded LightHuBERT")
            subnet = chosen_subnet(expert)
            patches = {
                "head_width": {"released": 64, "fixture": HEAD_DIM,
                               "recompiled": {f"{module}.{cls}": literal
                                              for module, classes in HEAD_WIDTH_LITERALS.items()
                                              for cls, (literal, _) in classes.items()}},
                f"{LIGHTHUBERT_MODULE}.LightHuBERTSupernetConfig": spec["tables"],
                "released": RELEASED_TABLES,
            }
            produced.append(write_fixture(
                out_root, name, {**spec, "hub_entry": HUB_ENTRY}, case_inputs, family="lighthubert",
                extra_meta={"model_cfg": cfg, "converter_options": {"subnet": subnet}, "s3prl_patches": patches,
                            "pretraining_heads": sorted(PRETRAINING_HEADS),
                            "checks": {"s3prl_loaded_every_weight": True,
                                       "s3prl_sampled_parameters": expert.model.calc_sampled_param_num()}}))
    produced.append(build_subnet_records(out_root, check_dir))
    return produced


def build_subnet_records(out_root: Path, check_dir: Path) -> FixtureFiles:
    """``lighthubert_subnets/subnets.json``: what S3PRL's expert makes of released-size configs (no weights)."""
    from s3prl.nn import S3PRLUpstream

    records = {}
    for name, overrides in SUBNET_RECORDS.items():
        path = check_dir / f"lighthubert_{name}.pt"
        torch.save({"cfg": {"model": _model_cfg(overrides)}, "model": OrderedDict()}, path)
        upstream = S3PRLUpstream(HUB_ENTRY, path_or_url=str(path))
        records[name] = {
            "cfg": overrides,
            "subnet": chosen_subnet(upstream.upstream),
            "s3prl_upstream": {"num_layers": upstream.num_layers, "hidden_sizes": list(upstream.hidden_sizes),
                               "downsample_rates": list(upstream.downsample_rates)},
            "s3prl_sampled_parameters": upstream.upstream.model.calc_sampled_param_num(),
        }
        logging.getLogger("make_fixtures").warning("lighthubert_subnets/%s: %s", name, records[name]["s3prl_upstream"])
    folder = out_root / "lighthubert_subnets"
    folder.mkdir()
    meta = {"format": "s3prl_hf.lighthubert_subnets", "hub_entry": HUB_ENTRY, "versions": versions(),
            "model_cfg_defaults": _model_cfg({}), "records": records}
    write_json(folder / "subnets.json", meta)
    return FixtureFiles(name="lighthubert_subnets", folder=folder, meta=meta)

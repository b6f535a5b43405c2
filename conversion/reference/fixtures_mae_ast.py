"""MAE-AST parity fixtures (``mae_ast_frame`` / ``mae_ast_patch``), built and run with S3PRL's own classes.

S3PRL's expert (``upstream/mae_ast/expert.py``) reads a fairseq(-hydra) training checkpoint: ``cfg.model`` (the
``MAE_AST_Config`` fields) and ``cfg.task`` (``MAE_AST_Pretraining_Config``), and loads ``model`` strictly into
``MAE_AST``. Each fixture is written in fairseq's trainer layout (``Trainer.state_dict``: ``args`` None, ``cfg`` as
plain containers with each group's ``_name``, ``model``, ``criterion``, ``optimizer_history``, ``task_state``,
``extra_state``, ``last_optimizer_state``), with every config field at its dataclass default except the fixture's
overrides, as a training run records it. Every parameter and the BatchNorm statistics are perturbed; the sinusoidal
``pe`` buffers stay as built (S3PRL's own values, which the converter recomputes and checks).

Cases: S3PRL's MAE-AST fails (``S3PRLUpstream._match_length`` asserts) on batches whose longest utterance gives
under half the expected frames: the shared ``short`` case (0.05 s) for both tokenisations, and for 16-frame patches
any batch under 5360 samples. The frame fixtures replace ``short`` by ``short_frame`` (1300 + 700
samples), and the fixture's meta.json records S3PRL's error on ``short`` (``s3prl_fails``), which the tests compare
with the project's error.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Dict, List

import torch

from fixture_common import (CASES, FORMAT_VERSION, INPUT_SEED, FixtureFiles, make_wavs, perturb, run_s3prl_cases,
                            sha256, versions, write_expected, write_json)
from native_fixture_helpers import assert_loaded, parameter_count, s3prl_expert

# Inputs of the MAE-AST-only cases, from their own generator (the shared inputs stay as they are).
MAE_INPUT_SEED = INPUT_SEED + 405
MAE_CASES: Dict[str, dict] = {
    # a short batch S3PRL's frame model runs: 1300 samples = 7 fbank frames = 3 tokens for 5 expected frames
    "short_frame": {"lengths": [1300, 700], "options": {"normalize": False}},
}
FRAME = {"ast_kernel_size_chan": 128, "ast_kernel_size_time": 2, "ast_kernel_stride_chan": 128,
         "ast_kernel_stride_time": 2}
PATCH = {"ast_kernel_size_chan": 16, "ast_kernel_size_time": 16, "ast_kernel_stride_chan": 16,
         "ast_kernel_stride_time": 16}
SMALL = {"encoder_embed_dim": 32, "decoder_embed_dim": 32, "encoder_ffn_embed_dim": 64, "encoder_attention_heads": 4,
         "encoder_layers": 2, "decoder_layers": 1}
FIXTURES = {
    "mae_ast_frame_like": {
        # the release's config (AlanBaade/MAE-AST-Public config/pretrain/mae_ast.yaml, frame) at a tiny width
        "imitates": "mae_ast_frame", "hub_entry": "mae_ast_local", "seed": 6501,
        "cases": ["batch", "short_frame", "single", "batch_normalize"], "fails": ["short"],
        "model": {**FRAME, **SMALL, "enc_sine_pos": True, "dec_sine_pos": True, "max_token_length": 160},
        "task": {"feature_dim": 128, "feature_type": "fbank", "mask_type": "random_mask", "deltas": False},
    },
    "mae_ast_patch_like": {
        "imitates": "mae_ast_patch", "hub_entry": "mae_ast_local", "seed": 6502,
        "cases": ["batch", "single"], "fails": ["short", "short_frame"],
        "model": {**PATCH, **SMALL, "enc_sine_pos": True, "dec_sine_pos": True, "max_token_length": 160},
        "task": {"feature_dim": 128, "feature_type": "fbank", "mask_type": "chunk_mask", "deltas": False},
    },
    "mae_ast_variant": {
        # not a released model: 80 mel bins (S3PRL's padding mask still assumes 128), overlapping 4x16 patches
        # with a time stride of 2, pre-LN layers, tanh-GELU, the convolutional positional embedding before the
        # sinusoidal one, a decoder behind a projection
        "imitates": "mae_ast_frame", "hub_entry": "mae_ast_local", "seed": 6503,
        "cases": ["batch", "single"], "fails": ["short", "short_frame"],
        "model": {"ast_kernel_size_chan": 16, "ast_kernel_size_time": 4, "ast_kernel_stride_chan": 16,
                  "ast_kernel_stride_time": 2, "encoder_embed_dim": 16, "decoder_embed_dim": 8,
                  "use_post_enc_proj": True, "encoder_ffn_embed_dim": 40, "encoder_attention_heads": 2,
                  "encoder_layers": 3, "decoder_layers": 1, "layer_norm_first": True,
                  "activation_fn": "gelu_accurate", "enc_conv_pos": True, "conv_pos": 8, "conv_pos_groups": 4,
                  "enc_sine_pos": True, "dec_sine_pos": True, "max_token_length": 700},
        "task": {"feature_dim": 80, "feature_type": "fbank", "mask_type": "random_mask", "deltas": False},
    },
}


def _defaults(dataclass_type) -> dict:
    out = {}
    for f in dataclasses.fields(dataclass_type):
        if f.default is not dataclasses.MISSING:
            value = f.default
        else:
            value = None
        out[f.name] = str(value) if not isinstance(value, (int, float, str, bool, type(None))) else value
    return out


def _checkpoint(spec: dict, weights: dict) -> dict:
    """fairseq's Trainer.state_dict layout (cfg as plain containers, as fairseq >= 0.10.2 writes it)."""
    from s3prl.upstream.mae_ast.load_model import MAE_AST_Pretraining_Config
    from s3prl.upstream.mae_ast.mae_ast import MAE_AST_Config

    model_cfg = {"_name": "mae_ast", **_defaults(MAE_AST_Config), **spec["model"]}
    task_cfg = {"_name": "mae_ast_pretraining", **_defaults(MAE_AST_Pretraining_Config), "data": "/data/manifests",
                **spec["task"]}
    cfg = {"_name": None, "common": {"_name": None, "seed": 1337, "fp16": True},
           "model": model_cfg, "task": task_cfg, "criterion": {"_name": "mae_ast"},
           "optimization": {"_name": None, "max_update": 600000, "lr": [0.0001]}}
    return {
        "args": None, "cfg": cfg, "model": weights, "criterion": {},
        "optimizer_history": [{"criterion_name": "MAE_AST_Criterion", "optimizer_name": "FairseqAdam",
                               "lr_scheduler_state": {"best": None}, "num_updates": 600000}],
        "task_state": {}, "extra_state": {"epoch": 1, "train_iterator": {"epoch": 1, "iterations_in_epoch": 0},
                                          "previous_training_time": 1.0},
        "last_optimizer_state": None,
    }


def _release_parameters(spec: dict) -> dict:
    """S3PRL's parameter counts of the released architecture the fixture imitates (built on CPU, not perturbed):
    all of ``MAE_AST`` and the part every hidden state depends on (input projection and encoder)."""
    from types import SimpleNamespace

    from s3prl.upstream.mae_ast.mae_ast import MAE_AST, MAE_AST_Config

    kernels = FRAME if spec["imitates"] == "mae_ast_frame" else PATCH
    model_cfg = {**_defaults(MAE_AST_Config), **kernels, "enc_sine_pos": True, "dec_sine_pos": True}
    task_cfg = {"feature_dim": 128, "feature_type": "fbank", "mask_type": "random_mask"}
    torch.manual_seed(0)
    model = MAE_AST(SimpleNamespace(**model_cfg), SimpleNamespace(**task_cfg))
    return {"config": kernels, "s3prl_parameters": parameter_count(model),
            "s3prl_encoder_parameters": parameter_count(model.encoder) + parameter_count(model.post_extract_proj)}


def _case_inputs(case_inputs: dict) -> dict:
    g = torch.Generator().manual_seed(MAE_INPUT_SEED)
    extra = {case: make_wavs(spec["lengths"], g) for case, spec in MAE_CASES.items()}
    return {**case_inputs, **extra}


def _s3prl_failure(hub_entry: str, path: Path, wavs, wavs_len) -> str:
    from s3prl.nn import S3PRLUpstream

    up = S3PRLUpstream(hub_entry, path_or_url=str(path))
    up.eval()
    try:
        with torch.no_grad():
            up(wavs.clone(), wavs_len.clone())
    except Exception as error:  # what S3PRL raises is recorded, not judged
        return f"{type(error).__name__}: {error}"
    raise AssertionError("S3PRL was expected to fail on this case but ran")


def build_mae_ast(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl
    from types import SimpleNamespace

    from s3prl.upstream.mae_ast.mae_ast import MAE_AST

    all_inputs = _case_inputs(case_inputs)
    all_cases = {**CASES, **MAE_CASES}
    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        torch.manual_seed(spec["seed"])
        probe = _checkpoint(spec, {})
        model = MAE_AST(SimpleNamespace(**probe["cfg"]["model"]), SimpleNamespace(**probe["cfg"]["task"]))
        pe_before = {k: v.clone() for k, v in model.state_dict().items() if k.endswith(".pe")}
        perturb(model, seed=spec["seed"] + 1)
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        assert all(torch.equal(weights[k], v) for k, v in pe_before.items())
        torch.save(_checkpoint(spec, weights), path)

        expert = s3prl_expert(spec["hub_entry"], path)
        assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded MAE_AST")

        cases = {case: all_cases[case] for case in spec["cases"]}
        tensors, info = run_s3prl_cases(spec["hub_entry"], path, {c: all_inputs[c] for c in cases}, cases)
        fails = {case: {"lengths": all_cases[case]["lengths"],
                        "error": _s3prl_failure(spec["hub_entry"], path, *all_inputs[case])}
                 for case in spec["fails"]}
        common_meta = {
            "format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name,
            "family": "mae_ast", "imitates": spec["imitates"], "hub_entry": spec["hub_entry"],
            "s3prl_version": s3prl.__version__, "torch_version": torch.__version__,
        }
        st_meta = write_expected(folder, tensors, common_meta, cases)
        files = ["original_s3prl.pt", "expected.safetensors"]
        state = torch.load(path, map_location="cpu", weights_only=True)
        meta = {
            **common_meta,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED,
                      "mae_ast_inputs": MAE_INPUT_SEED},
            "s3prl_upstream": info,
            "s3prl_fails": fails,
            "checkpoint_keys": sorted(state),
            "original_s3prl_pickled_globals": sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))),
            "config": {"model": spec["model"], "task": spec["task"]},
            **({"release": {spec["imitates"]: _release_parameters(spec)}} if name.endswith("_like") else {}),
            "checks": {"s3prl_loaded_every_weight": True, "pe_buffers_as_built": True,
                       "s3prl_parameters": parameter_count(expert.model),
                       "s3prl_encoder_parameters": parameter_count(expert.model.encoder)
                       + parameter_count(expert.model.post_extract_proj)
                       + (parameter_count(expert.model.enc_conv_pos_embed)
                          if spec["model"].get("enc_conv_pos") else 0)},
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)} for f in files},
        }
        write_json(folder / "meta.json", meta)
        logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s", name, info["num_layers"],
                                                   info["hidden_sizes"])
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
    return produced

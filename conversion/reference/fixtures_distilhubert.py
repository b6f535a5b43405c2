"""DistilHuBERT parity fixtures: S3PRL pretrain-runner checkpoints built with S3PRL's own Distiller classes.

The released ``distilhubert_ls960_4-8-12.ckpt`` is the checkpoint S3PRL's pretrain runner writes
(``s3prl/pretrain/runner.py`` + ``pretrain/distiller/pretrain_expert.py:add_state_to_save``)::

    {"Optimizer": optimizer.state_dict(), "Step": int, "Args": argparse.Namespace, "Runner": runner config,
     "Distiller": DistillerModel.state_dict(), "Config": {"distiller": ..., "teacher": ..., ...}}

The runner's optimizer (``AdamW_with_schedule`` in ``pretrain/distiller/config_runner.yaml``) is S3PRL's ``Lamb``,
whose param groups hold an LR-schedule object. DistilHuBERT was trained from the ``s3prl/`` folder, where that module
was the top-level ``optimizers``, so the file pickles ``optimizers.WarmupLinearSchedule`` (which is why
``upstream/distiller/builder.py`` aliases ``sys.modules["optimizers"]`` before loading). The generator imports
S3PRL's ``optimizers.py`` under that same top-level name, so the fixture pickles exactly those globals. No
optimisation step is taken (the optimizer state is empty, which keeps the file small).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List

import torch

from fixture_common import (FORMAT_VERSION, INPUT_SEED, FixtureFiles, perturb, run_s3prl_cases, sha256, versions,
                            write_expected, write_json)

CONV16 = "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2"  # total stride 320, as the expert hard-codes

# s3prl/pretrain/distiller/config_model.yaml (the distiller section, DistilHuBERT's 4-8-12 heads) with tiny dims
BASE_DISTILLER = dict(
    extractor_mode="default", extractor_conv_feature_layers=CONV16, extractor_dropout=0.0, feature_grad_mult=0.1,
    conv_pos=16, conv_pos_groups=4, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
    encoder_attention_heads=4, activation_fn="gelu", layer_norm_first=False, attention_type="original",
    dropout=0.1, attention_dropout=0.1, activation_dropout=0.1, encoder_layerdrop=0.0, final_dim=32,
    out_layer_type="expand-last", n_tasks=3, task_emb_type="expand-last", loss_type="l1", feat_pen_loss=0.0,
    cosine_loss=1.0, pred_layer_id=[4, 8, 12], init_teacher_conv_layers=True, init_teacher_encoder_layers=True,
)

DISTILHUBERT_FIXTURES: Dict[str, dict] = {
    "distilhubert_like": {"imitates": "distilhubert_base", "seed": 4001, "distiller": BASE_DISTILLER},
    "distilhubert_variant": {
        # not a released model: layer-norm extractor, pre-LN, no post_extract_proj (embed dim == conv dim),
        # a single layer, relu, odd pos-conv kernel, and one prediction head (S3PRL's SplitLinear is then a plain
        # Linear) narrower than the model with its own intermediate width
        "imitates": "distilhubert_base",
        "seed": 4002,
        "distiller": {**BASE_DISTILLER, "extractor_mode": "layer_norm",
                      "extractor_conv_feature_layers": "[(24,10,5)] + [(24,3,2)] * 4 + [(24,2,2)] * 2",
                      "conv_pos": 9, "conv_pos_groups": 3, "encoder_layers": 1, "encoder_embed_dim": 24,
                      "encoder_ffn_embed_dim": 40, "encoder_attention_heads": 2, "activation_fn": "relu",
                      "layer_norm_first": True, "final_dim": 20, "out_layer_inter_dim": 16, "n_tasks": 1,
                      "pred_layer_id": [12]},
    },
}

# s3prl/pretrain/distiller/config_runner.yaml, data paths replaced by placeholders
RUNNER_CONFIG = {
    "runner": {"n_epochs": -1, "total_steps": 200000, "gradient_clipping": 5.0, "gradient_accumulate_steps": 1,
               "log_step": 50, "save_step": 10000, "max_keep": 10, "fp16": True},
    "optimizer": {"name": "AdamW_with_schedule", "lr": 2.0e-4, "warmup_proportion": 0.07, "betas": [0.9, 0.98],
                  "eps": 1.0e-6, "weight_decay": 1.0e-6},
    "pretrain_expert": {"datarc": {"num_workers": 24, "train_batch_size": 24, "max_timestep": 0,
                                   "libri_root": "/data/LibriSpeech/", "file_path": "/data/len_for_bucket",
                                   "sets": ["train-clean-100", "train-clean-360", "train-other-500"]}},
}


def _legacy_optimizers_module():
    """S3PRL's optimizers.py imported as the top-level ``optimizers`` module, as DistilHuBERT's training ran it."""
    import s3prl.optimizers

    spec = importlib.util.spec_from_file_location("optimizers", s3prl.optimizers.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runner_args(name: str) -> argparse.Namespace:
    """The Namespace of run_pretrain.py's get_pretrain_args for ``-u distiller -n <name>``."""
    return argparse.Namespace(
        past_exp=None, override=None, config="pretrain/distiller/config_runner.yaml", upstream="distiller",
        upstream_config="pretrain/distiller/config_model.yaml", expname=name, expdir=f"result/pretrain/{name}",
        auto_resume=False, seed=1337, device="cuda", multi_gpu=False, init_ckpt=None,
    )


def build_distilhubert(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl
    from s3prl.upstream.distiller.model import DistillerConfig, DistillerModel

    optimizers = _legacy_optimizers_module()
    produced = []
    for name, spec in DISTILHUBERT_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        config = {"distiller": dict(spec["distiller"]), "teacher": {"model": "hubert_base", "n_layers": 12},
                  "task": {"sequence_length": 250000}, "audio": {"target_level": "None"}}

        # ---- the random model, built with S3PRL's own classes, every parameter perturbed
        torch.manual_seed(spec["seed"])
        model = perturb(DistillerModel(DistillerConfig(config["distiller"])), seed=spec["seed"] + 1)
        model.eval()
        conv_dim = eval(config["distiller"]["extractor_conv_feature_layers"])[-1][0]
        assert (model.post_extract_proj is None) == (conv_dim == config["distiller"]["encoder_embed_dim"])

        # ---- the pretrain runner's checkpoint, with the runner's optimizer (no step taken)
        sys.modules["optimizers"] = optimizers
        try:
            optimizer = optimizers.get_optimizer([model], RUNNER_CONFIG["runner"]["total_steps"],
                                                 RUNNER_CONFIG["optimizer"])
            all_states = {"Optimizer": optimizer.state_dict(), "Step": 0, "Args": _runner_args(name),
                          "Runner": RUNNER_CONFIG}
            all_states["Distiller"] = model.float().state_dict()  # add_state_to_save
            all_states["Config"] = config
            torch.save(all_states, path)
        finally:
            del sys.modules["optimizers"]
        pickled_globals = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        assert pickled_globals == ["argparse.Namespace", "optimizers.WarmupLinearSchedule"], pickled_globals

        # ---- expected hidden states through S3PRLUpstream (the builder loads the file strictly)
        tensors, info = run_s3prl_cases("distiller_local", path, case_inputs)
        n_layers, n_tasks = config["distiller"]["encoder_layers"], config["distiller"]["n_tasks"]
        assert info["num_layers"] == 1 + n_layers + n_tasks, info
        common_meta = {
            "format": "s3prl_hf.parity_fixture",
            "format_version": FORMAT_VERSION,
            "fixture": name,
            "family": "distilhubert",
            "imitates": spec["imitates"],
            "hub_entry": "distiller_local",
            "s3prl_version": s3prl.__version__,
            "torch_version": torch.__version__,
        }
        st_meta = write_expected(folder, tensors, common_meta)
        meta = {
            **common_meta,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
            "s3prl_upstream": info,
            "config": config,
            "top_level_keys": list(all_states),
            "original_s3prl_pickled_globals": pickled_globals,
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                      for f in ("original_s3prl.pt", "expected.safetensors")},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
        logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s", name, info["num_layers"],
                                                   info["hidden_sizes"])
    return produced

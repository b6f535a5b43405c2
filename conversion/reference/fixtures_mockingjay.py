"""Mockingjay / TERA / Audio ALBERT parity fixtures, built and run with S3PRL's own classes.

Each fixture is a small random pretraining checkpoint saved the way S3PRL's pretraining runner saves one
(``pretrain/runner.py`` + ``pretrain/mockingjay/pretrain_expert.py:add_state_to_save``): the Transformer and SpecHead
state dicts, the upstream config, the runner config, the argparse ``Args`` and the Lamb ("AdamW_with_schedule")
optimizer state, whose param groups pickle an LR-schedule object. ``mockingjay_variant`` uses the legacy layout
(``Config`` holds the upstream config), TF-style ``gamma``/``beta`` LayerNorm names and an optimizer pickled from the
top-level ``optimizers`` module, as old releases did; S3PRL's loader handles all three. ``spec_augment_like`` is the
layout the runner of February 2021 saved S3PRL's ``spec_augment`` checkpoint in (legacy ``Config``, a ``Runner`` entry,
``Args``, weight/bias names, the top-level ``optimizers`` pickles), with that recipe's task, run through S3PRL's
``spec_augment`` hub function (which S3PRL 0.4.18's ``s3prl.hub`` leaves out; see ``_hub_entry_for``).

Besides the shared cases, most fixtures have ``alone_<i>`` cases: utterance i of the ``batch`` case run by itself.
S3PRL's features depend on the batch (padding before the STFT, CMVN length rounding, chunk boundaries), so these are
the reference of ``batch_invariant=True``.

``mockingjay_recipes/recipes.json`` holds, for every canonical name, the upstream config of its S3PRL pretraining
recipe and the parameter count of S3PRL's ``TransformerModel`` built from it.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import sys
from pathlib import Path
from typing import List

import torch

from fixture_common import (CASES, FORMAT_VERSION, INPUT_SEED, FixtureFiles, assert_state_dicts_equal, perturb,
                            run_s3prl_cases, sha256, versions, write_expected, write_json)

# ------------------------------------------------------------------------------------------------------------------
# Configs, transcribed from S3PRL's pretraining recipes (s3prl/s3prl on GitHub; not shipped in the pip package)
# ------------------------------------------------------------------------------------------------------------------

# pretrain/tera/exp_model_config/logMelBase-T.yaml (the "task" fields that the recipes share)
TASK = {"loss": "L1", "sequence_length": 1500, "position_encoding_size": 768, "mask_proportion": 0.15,
        "mask_consecutive_min": 7, "mask_consecutive_max": 7, "mask_allow_overlap": True, "mask_bucket_ratio": 1.5,
        "mask_frequency": 0, "noise_proportion": 0.0}
# TERA's recipes alter frequency (F) and magnitude (M) besides time: logMelBase-T-F.yaml and fbankBase-T-F.yaml
# mask up to 20% of the bands, logMelBase-T-F-M.yaml also adds noise to 15% of the inputs. These are the values
# that tell a TERA checkpoint from a Mockingjay one (time masking only).
TERA_T_F = {"mask_frequency": 0.2, "noise_proportion": 0.0}
TERA_T_F_M = {"mask_frequency": 0.2, "noise_proportion": 0.15}
TRANSFORMER = {"input_dim": -1, "hidden_size": 768, "num_hidden_layers": 3, "num_attention_heads": 12,
               "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.3,
               "attention_probs_dropout_prob": 0.3, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
               "share_layer": False, "pre_layer_norm": False}
AUDIO_LOGMEL = {"target_level": -25, "win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80, "n_mfcc": 13,
                "input": {"feat_type": "mel", "channel": 0, "log": True, "delta": 0, "cmvn": True},
                "target": {"feat_type": "mel", "channel": 1, "log": True, "delta": 0, "cmvn": True}}
# pretrain/mockingjay/config_model_large.yaml: log-mel input, linear target
AUDIO_LOGMEL_LINEAR = {**AUDIO_LOGMEL, "target": {"feat_type": "linear", "channel": 1, "log": True, "delta": 0,
                                                  "cmvn": True}}
# pretrain/tera/exp_model_config/fbankBase-T-F.yaml
AUDIO_FBANK = {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80, "frame_length": 25.0,
                                                         "frame_shift": 10.0, "use_log_fbank": True}},
               "delta": {"order": 2, "win_length": 5}, "cmvn": {"use_cmvn": True}}
# pretrain/mockingjay/config_runner.yaml (data paths replaced by placeholders)
RUNNER = {"runner": {"n_epochs": -1, "total_steps": 1000000, "gradient_clipping": 5.0, "gradient_accumulate_steps": 4,
                     "log_step": 50000, "save_step": 50000, "max_keep": 5, "fp16": False},
          "optimizer": {"name": "AdamW_with_schedule", "lr": 2.0e-4, "warmup_proportion": 0.07},
          "pretrain_expert": {"datarc": {"num_workers": 8, "train_batch_size": 8, "max_timestep": -200,
                                         "libri_root": "/data/LibriSpeech/", "file_path": "data/len_for_bucket",
                                         "sets": ["train-clean-100", "train-clean-360", "train-other-500"]}}}

DROP1 = {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}

# pretrain/spec_augment/config_model.yaml (February 2021, unchanged since but for comments): the Base transformer with
# dropout 0.1 on log-mel, and a task of its own (SpecAugment's LD masking policy instead of Mockingjay's masking)
SPEC_AUGMENT_TASK = {"loss": "L1", "sequence_length": 1500, "position_encoding_size": 768, "mask_T": 100, "mask_F": 9,
                     "num_T": 2, "num_F": 2, "p": 1.0}
# pretrain/spec_augment/config_runner.yaml at the commit that added the upstream (71364fab; data path a placeholder)
SPEC_AUGMENT_RUNNER = {
    "runner": {"n_epochs": -1, "total_steps": 1000000, "gradient_clipping": 5.0, "gradient_accumulate_steps": 1,
               "log_step": 50000, "save_step": 50000, "max_keep": 5},
    "optimizer": {"name": "AdamW_with_schedule", "lr": 2.0e-4, "warmup_proportion": 0.07},
    "pretrain_expert": {"datarc": {"num_workers": 8, "train_batch_size": 32, "max_timestep": 0,
                                   "libri_root": "/data/LibriSpeech/", "file_path": "data/len_for_bucket",
                                   "sets": ["train-clean-100", "train-clean-360", "train-other-500"]}}}
# run_pretrain.py's argparse Namespace at that commit (no auto_resume / override options yet)
SPEC_AUGMENT_ARGS = dict(past_exp=None, config="pretrain/spec_augment/config_runner.yaml", upstream="spec_augment",
                         upstream_config="pretrain/spec_augment/config_model.yaml", expname="fixture",
                         expdir="result/pretrain/fixture", seed=1337, device="cuda", multi_gpu=False)
SPEC_AUGMENT_URL = "https://www.dropbox.com/s/spz3yulaye8ppgr/states-100000.ckpt?dl=1"


def _recipe(transformer=None, task=None, audio=AUDIO_LOGMEL):
    return {"transformer": {**TRANSFORMER, **(transformer or {})}, "task": {**TASK, **(task or {})},
            "audio": copy.deepcopy(audio)}


# canonical name -> (recipe file, upstream config); "drop1" and "seq3k" are the names' documented differences.
RECIPES = {
    "mockingjay_logMelBase_T_AdamW_b32_200k_100hr": ("tera/exp_model_config/logMelBase-T.yaml", _recipe()),
    "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1": (
        "mockingjay/config_model_large.yaml",
        _recipe({"num_hidden_layers": 12, **DROP1}, {"sequence_length": 500}, AUDIO_LOGMEL_LINEAR)),
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr": ("tera/exp_model_config/logMelBase-T.yaml", _recipe()),
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1": ("tera/exp_model_config/logMelBase-T.yaml + drop1",
                                                         _recipe(DROP1)),
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k": ("tera/exp_model_config/logMelBase-T.yaml + seq3k",
                                                         _recipe(task={"sequence_length": 3000})),
    "tera_logMelBase_T_F_AdamW_b32_200k_100hr": ("tera/exp_model_config/logMelBase-T-F.yaml", _recipe(task=TERA_T_F)),
    "tera_logMelBase_T_F_M_AdamW_b32_200k_100hr": ("tera/exp_model_config/logMelBase-T-F-M.yaml",
                                                   _recipe(task=TERA_T_F_M)),
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr": ("tera/exp_model_config/logMelBase-T-F.yaml", _recipe(task=TERA_T_F)),
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1": ("tera/exp_model_config/logMelBase-T-F.yaml + drop1",
                                                     _recipe(DROP1, TERA_T_F)),
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k": ("tera/exp_model_config/logMelBase-T-F.yaml + seq3k",
                                                     _recipe(task={**TERA_T_F, "sequence_length": 3000})),
    "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1": ("tera/exp_model_config/logMelBase-T-F-M.yaml + drop1",
                                                       _recipe(DROP1, TERA_T_F_M)),
    "tera_fbankBase_T_F_AdamW_b32_200k_100hr": ("tera/exp_model_config/fbankBase-T-F.yaml",
                                                _recipe(task=TERA_T_F, audio=AUDIO_FBANK)),
    "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1": ("audio_albert/config_model.yaml",
                                                                 _recipe({"share_layer": True, **DROP1})),
    "spec_augment": ("spec_augment/config_model.yaml", {**_recipe(DROP1), "task": dict(SPEC_AUGMENT_TASK)}),
}

# ------------------------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------------------------

TINY = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
# The batch's shorter utterances alone (the longest alone sees exactly what it sees in the batch).
ALONE = {f"alone_{i}": i for i in (1, 2, 3)}
BASE_CASES = ["batch", "short", "single"]

FIXTURES = {
    "mockingjay_logmel_base_like": {
        "imitates": "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1", "hub_entry": "mockingjay_local",
        "seed": 2001, "layout": "current", "cases": BASE_CASES + ["batch_normalize"] + list(ALONE),
        "config": _recipe(TINY),
    },
    "mockingjay_large_like": {
        "imitates": "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1", "hub_entry": "mockingjay_local",
        "seed": 2002, "layout": "current", "cases": BASE_CASES,
        "config": _recipe({**TINY, "num_hidden_layers": 3}, {"sequence_length": 500}, AUDIO_LOGMEL_LINEAR),
    },
    "tera_fbank_like": {
        "imitates": "tera_fbankBase_T_F_AdamW_b32_200k_100hr", "hub_entry": "tera_local",
        "seed": 2003, "layout": "current", "cases": BASE_CASES + list(ALONE),
        "config": _recipe(TINY, TERA_T_F, audio=AUDIO_FBANK),
    },
    "audio_albert_like": {
        "imitates": "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1", "hub_entry": "audio_albert_local",
        "seed": 2004, "layout": "current", "cases": BASE_CASES + list(ALONE),
        "config": _recipe({**TINY, "num_hidden_layers": 3, "share_layer": True}),
    },
    "tera_chunked_like": {
        # sequence_length 30 frames: the 101-frame batch is cut into 4 chunks of 26, 26, 26 and 23 frames; alone,
        # the 78-frame utterance gets 3 chunks of 26 and the 28-frame one none.
        "imitates": "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1", "hub_entry": "tera_local",
        "seed": 2005, "layout": "current", "cases": BASE_CASES + list(ALONE),
        "config": _recipe(TINY, {**TERA_T_F_M, "sequence_length": 30}),
    },
    "mockingjay_variant": {
        # not a released model: legacy layout, gamma/beta names, pre-LN, relu, log-linear input with a delta and
        # no CMVN (so padded frames are non-zero and nothing is masked), one layer
        "imitates": "mockingjay_logMelBase_T_AdamW_b32_200k_100hr", "hub_entry": "mockingjay_local",
        "seed": 2006, "layout": "legacy", "cases": BASE_CASES,
        "config": _recipe({**TINY, "num_hidden_layers": 1, "num_attention_heads": 2, "hidden_act": "relu",
                           "pre_layer_norm": True},
                          audio={**AUDIO_LOGMEL, "input": {"feat_type": "linear", "channel": 0, "log": True,
                                                           "delta": 1, "cmvn": False}}),
    },
    "spec_augment_like": {
        # S3PRL's `spec_augment` hub function itself (s3prl.hub does not export it: registered there for the run),
        # its Dropbox URL served from the fixture file; the recipe's task, and the layout the runner of February 2021
        # saved (upstream config under "Config", runner config under "Runner", its Args, the LR schedule pickled
        # from the then top-level `optimizers` module)
        "imitates": "spec_augment", "hub_entry": "spec_augment", "family": "mockingjay", "seed": 2007,
        "layout": "legacy_args", "cases": BASE_CASES + ["batch_normalize"],
        "config": {**_recipe(TINY), "task": dict(SPEC_AUGMENT_TASK)},
    },
}

# run_pretrain.py's argparse Namespace, as the runner pickles it under "Args"
ARGS = dict(config="pretrain/mockingjay/config_runner.yaml", upstream="mockingjay",
            upstream_config="pretrain/mockingjay/config_model.yaml", expname="fixture",
            expdir="result/pretrain/fixture", auto_resume=False, past_exp=None, override=None, seed=1337,
            device="cuda", multi_gpu=False)


class MaskedAcousticModel(torch.nn.Module):
    """The two modules S3PRL's TransformerForMaskedAcousticModel holds (its module cannot be imported from the pip
    package: it imports ``upstream.mockingjay.model`` relative to a source checkout)."""

    def __init__(self, config, input_dim, output_dim):
        super().__init__()
        from s3prl.upstream.mockingjay.model import TransformerModel, TransformerSpecPredictionHead

        self.Transformer = TransformerModel(config, input_dim)
        self.SpecHead = TransformerSpecPredictionHead(config, output_dim if output_dim is not None else input_dim)


def _feature_dims(audio: dict):
    """(input_dim, output_dim) exactly as pretrain_expert computes them (get_preprocessor fills audio's channels)."""
    from s3prl.upstream.baseline.extracter import get_extracter
    from s3prl.upstream.baseline.preprocessor import get_preprocessor

    if "kaldi" in audio:
        return get_extracter(audio)[1], None
    _, input_dim, output_dim = get_preprocessor(audio)
    return input_dim, output_dim


def _save_legacy(state: dict, path: Path):
    """torch.save with the LR-schedule classes pickled from the top-level ``optimizers`` module, as checkpoints
    saved from an old S3PRL checkout (where optimizers.py was top level) have them."""
    import s3prl.optimizers as optimizers

    classes = [getattr(optimizers, n) for n in dir(optimizers) if n.startswith(("Warmup", "ConstantLR"))]
    modules = {cls: cls.__module__ for cls in classes}
    sys.modules["optimizers"] = optimizers
    try:
        for cls in classes:
            cls.__module__ = "optimizers"
        torch.save(state, path)
    finally:
        for cls, module in modules.items():
            cls.__module__ = module
        del sys.modules["optimizers"]


@contextlib.contextmanager
def _hub_entry_for(spec: dict, path: Path):
    """`spec_augment`: S3PRL 0.4.18's s3prl.hub never imports upstream/spec_augment/hubconf.py, so S3PRLUpstream cannot
    find the name. For the run, its hub functions are set on s3prl.hub (exactly as the star import would bind them)
    and the hubconf's downloader returns the fixture's file for the Dropbox URL. Other fixtures: nothing to do."""
    if spec["hub_entry"] != "spec_augment":
        yield
        return
    import s3prl.hub as hub
    import s3prl.upstream.spec_augment.hubconf as hubconf

    functions = {n: getattr(hubconf, n) for n in ("spec_augment", "spec_augment_local", "spec_augment_url")}
    assert not any(hasattr(hub, n) for n in functions), "s3prl.hub exports spec_augment now: drop this stand-in"

    def urls_to_filepaths(url, refresh=False):
        assert url == SPEC_AUGMENT_URL, url
        return str(path)

    original = hubconf._urls_to_filepaths
    hubconf._urls_to_filepaths = urls_to_filepaths
    for n, function in functions.items():
        setattr(hub, n, function)
    try:
        yield
    finally:
        hubconf._urls_to_filepaths = original
        for n in functions:
            delattr(hub, n)


def _case_specs(spec: dict, case_inputs: dict):
    cases, inputs = {}, {}
    for case in spec["cases"]:
        if case in ALONE:
            wavs, wavs_len = case_inputs["batch"]
            i = ALONE[case]
            n = int(wavs_len[i])
            cases[case] = {"lengths": [n], "options": {"normalize": False}}
            inputs[case] = (wavs[i : i + 1, :n].clone(), wavs_len[i : i + 1].clone())
        else:
            cases[case] = CASES[case]
            inputs[case] = case_inputs[case]
    return cases, inputs


def build_mockingjay(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl
    from s3prl.optimizers import get_optimizer
    from s3prl.upstream.mockingjay.model import TransformerConfig

    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        upstream_config = copy.deepcopy(spec["config"])
        input_dim, output_dim = _feature_dims(upstream_config["audio"])  # mutates audio as pretraining does

        torch.manual_seed(spec["seed"])
        model_config = TransformerConfig(upstream_config["transformer"])
        model = perturb(MaskedAcousticModel(model_config, input_dim, output_dim), seed=spec["seed"] + 1)
        optimizer = get_optimizer([model], RUNNER["runner"]["total_steps"], RUNNER["optimizer"])
        transformer = {k: v.clone() for k, v in model.Transformer.state_dict().items()}
        if spec["layout"] == "current":
            state = {"Optimizer": optimizer.state_dict(), "Step": 0, "Args": argparse.Namespace(**ARGS),
                     "Config": copy.deepcopy(RUNNER), "SpecHead": model.SpecHead.state_dict(),
                     "Transformer": transformer, "Upstream_Config": upstream_config}
            torch.save(state, path)
        elif spec["layout"] == "legacy_args":
            state = {"Optimizer": optimizer.state_dict(), "Step": 0, "Args": argparse.Namespace(**SPEC_AUGMENT_ARGS),
                     "Runner": copy.deepcopy(SPEC_AUGMENT_RUNNER), "SpecHead": model.SpecHead.state_dict(),
                     "Transformer": transformer, "Config": upstream_config}
            _save_legacy(state, path)
        else:
            renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                       for k, v in transformer.items()}
            state = {"Optimizer": optimizer.state_dict(), "Step": 0, "Config": upstream_config,
                     "Runner": copy.deepcopy(RUNNER), "SpecHead": model.SpecHead.state_dict(), "Transformer": renamed}
            _save_legacy(state, path)

        # ---- S3PRL's expert must load every weight (its loader ignores missing / unexpected keys)
        from s3prl.nn import S3PRLUpstream

        with _hub_entry_for(spec, path):
            upstream = S3PRLUpstream(spec["hub_entry"], path_or_url=str(path))
            loaded = upstream.upstream.transformer.model.state_dict()
            assert_state_dicts_equal(loaded, model.Transformer.state_dict(), f"{name}: S3PRL's loaded Transformer")
            parameters = sum(p.numel() for p in upstream.upstream.transformer.model.parameters())

            cases, inputs = _case_specs(spec, case_inputs)
            tensors, info = run_s3prl_cases(spec["hub_entry"], path, inputs, cases)
        checks = {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameters}
        for case, i in ALONE.items():
            if case in cases:
                # how much S3PRL's batch changes this utterance (why batch_invariant exists)
                n = -(-int(inputs[case][1][0]) // 160)
                diff = max(float((tensors[f"batch.hs.{k}"][i, :n] - tensors[f"{case}.hs.{k}"][0, :n]).abs().max())
                           for k in range(info["num_layers"]))
                checks[f"batch_vs_{case}_max_abs_diff"] = diff
        common_meta = {
            "format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name,
            "family": spec.get("family", spec["hub_entry"].replace("_local", "")), "imitates": spec["imitates"],
            "hub_entry": spec["hub_entry"], "s3prl_version": s3prl.__version__, "torch_version": torch.__version__,
        }
        st_meta = write_expected(folder, tensors, common_meta, cases)
        meta = {
            **common_meta,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
            "s3prl_upstream": info,
            "layout": spec["layout"],
            **({"s3prl_patches": {"s3prl.hub": "spec_augment, spec_augment_local, spec_augment_url set from "
                                               "s3prl.upstream.spec_augment.hubconf",
                                  "s3prl.upstream.spec_augment.hubconf._urls_to_filepaths":
                                      {SPEC_AUGMENT_URL: "original_s3prl.pt"}}}
               if spec["hub_entry"] == "spec_augment" else {}),
            "upstream_config": upstream_config,
            "checkpoint_keys": sorted(state),
            "original_s3prl_pickled_globals": sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))),
            "checks": checks,
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                      for f in ("original_s3prl.pt", "expected.safetensors")},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
        logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s checks=%s", name,
                                                   info["num_layers"], info["hidden_sizes"], checks)

    produced.append(_build_recipes(out_root))
    return produced


def _build_recipes(out_root: Path) -> FixtureFiles:
    """Every canonical name's recipe config and the size of S3PRL's TransformerModel built from it (on meta)."""
    from s3prl.upstream.mockingjay.model import TransformerConfig, TransformerModel

    folder = out_root / "mockingjay_recipes"
    folder.mkdir()
    recipes = {}
    for name, (recipe, upstream_config) in RECIPES.items():
        upstream_config = copy.deepcopy(upstream_config)
        input_dim, _ = _feature_dims(copy.deepcopy(upstream_config["audio"]))
        with torch.device("meta"):
            model = TransformerModel(TransformerConfig(upstream_config["transformer"]), input_dim)
        recipes[name] = {"recipe": f"s3prl/pretrain/{recipe}", "upstream_config": upstream_config,
                         "input_dim": input_dim, "s3prl_parameters": sum(p.numel() for p in model.parameters())}
    meta = {"format": "s3prl_hf.mockingjay_recipes", "versions": versions(), "recipes": recipes}
    write_json(folder / "recipes.json", meta)
    return FixtureFiles(name="mockingjay_recipes", folder=folder, meta=meta)

"""HuBERT parity fixtures: S3PRL-format and fairseq-format checkpoints built with S3PRL's and fairseq's own classes,
and HuBERT networks of other projects (ContentVec) run through their S3PRL hub functions."""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import List

import torch

from fixture_common import (FORMAT_VERSION, INPUT_SEED, FixtureFiles, assert_state_dicts_equal, perturb,
                            run_s3prl_cases, sha256, versions, write_expected, write_json)

# ------------------------------------------------------------------------------------------------------------------
# HuBERT
# ------------------------------------------------------------------------------------------------------------------

CONV16 = "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2"  # total stride 320, as the expert hard-codes

HUBERT_FIXTURES = {
    "hubert_base_like": {
        "imitates": "hubert_base",
        "seed": 1001,
        "recipe": "hubert_base_librispeech.yaml",
        "labels": {"km": 10},
        "model": dict(extractor_mode="default", layer_norm_first=False, conv_bias=False,
                      conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                      encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, final_dim=16),
        "task": dict(normalize=False),
    },
    "hubert_large_like": {
        "imitates": "hubert_large_ll60k",
        "seed": 1002,
        "recipe": "hubert_large_librivox.yaml",
        "labels": {"km": 10, "km2": 6},
        "model": dict(extractor_mode="layer_norm", layer_norm_first=True, conv_bias=True,
                      conv_feature_layers=CONV16, encoder_layers=3, encoder_embed_dim=48, encoder_ffn_embed_dim=96,
                      encoder_attention_heads=4, conv_pos=15, conv_pos_groups=3, final_dim=16,
                      untie_final_proj=True),
        "task": dict(normalize=True),
    },
    "hubert_variant": {
        # not a released model: no post_extract_proj (embed dim == last conv dim), conv dims varying per layer,
        # relu, conv bias with group norm, a single post-LN layer, 2 heads, even pos-conv kernel, tied final_proj
        "imitates": "hubert_base",
        "seed": 1003,
        "recipe": "hubert_base_librispeech.yaml",
        "labels": {"km": 12},
        "model": dict(extractor_mode="default", layer_norm_first=False, conv_bias=True, activation_fn="relu",
                      conv_feature_layers="[(24,10,5),(24,3,2),(24,3,2),(24,3,2),(24,3,2),(32,2,2),(32,2,2)]",
                      encoder_layers=1, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=2,
                      conv_pos=8, conv_pos_groups=2, final_dim=16, untie_final_proj=False),
        "task": dict(normalize=False),
    },
}

# HuBERT networks trained by other code, run by S3PRL's hubert_custom through their own hub functions. ContentVec
# (auspicious3000/contentvec): its recipe's model section (contentvec/config/contentvec/contentvec.yaml) and the extra
# fields of its ContentvecConfig and ContentvecPretrainingConfig, under its own model and task names, on the
# representation-only ("legacy") weights that S3PRL hosts: S3PRL drops what its HubertConfig lacks and ignores the
# names. Only the S3PRL layout exists (fairseq cannot build a "contentvec" model without the authors' code).
CONTENTVEC_FIXTURES = {
    "contentvec_like": {
        "imitates": "contentvec_km100",
        "hub_entry": "contentvec",
        "release_url": "https://huggingface.co/s3prl/converted_ckpts/resolve/main/contentvec_km100.pt",
        "seed": 1004,
        "labels": {"km": 10},
        "model": dict(_name="contentvec", label_rate=50, skip_masked=False, skip_nomask=False, mask_prob=0.80,
                      extractor_mode="default", conv_feature_layers=CONV16, final_dim=16, encoder_layerdrop=0.05,
                      dropout_input=0.1, dropout_features=0.1, dropout=0.1, attention_dropout=0.1,
                      feature_grad_mult=0.1, untie_final_proj=True, activation_dropout=0.0, encoder_layers_1=1,
                      logit_temp_ctr=1.0, ctr_layers=[-1], num_negatives=100, cross_sample_negatives=0,
                      encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
                      conv_pos=16, conv_pos_groups=4),
        "task": dict(_name="contentvec_pretraining", data="/data/contentvec/metadata",
                     label_dir="/data/contentvec/labels", labels=["km"], label_rate=50, sample_rate=16000,
                     max_sample_size=250000, min_sample_size=32000, pad_audio=False, random_crop=True, crop=False,
                     normalize=False, spk2info="/data/contentvec/metadata/spk2info.dict", fine_tuning=False,
                     single_target=False, enable_padding=False, max_keep_size=None),
    },
}

# Placeholders for the training-data paths a real release records (no path of this machine ends up in a file).
HUBERT_DATA_PLACEHOLDER = "/data/librispeech/manifest"
HUBERT_LABEL_PLACEHOLDER = "/data/librispeech/labels"


def _hubert_fairseq_cfg(spec: dict):
    """The full fairseq cfg, built as fairseq-hydra-train builds it: FairseqConfig schema + fairseq's own HuBERT
    pretraining recipe yaml + overrides, registry defaults added (add_defaults), resolved to plain containers.

    Overrides besides the tiny dimensions: single-process fp32 CPU training (the trainer that writes the checkpoint
    runs here; fp16 would halve the weights), fixed data placeholders, and every host-dependent default pinned."""
    import fairseq
    from fairseq.dataclass.configs import FairseqConfig
    from fairseq.dataclass.initialize import add_defaults
    from fairseq.dataclass.utils import omegaconf_no_object_check
    from omegaconf import OmegaConf

    recipe_path = Path(fairseq.__file__).parent / "examples/hubert/config/pretrain" / spec["recipe"]
    recipe = OmegaConf.load(recipe_path)
    del recipe["hydra"]
    recipe.task.data = HUBERT_DATA_PLACEHOLDER
    recipe.task.label_dir = HUBERT_LABEL_PLACEHOLDER
    recipe.task.labels = list(spec["labels"])
    recipe.task.update(spec["task"])
    recipe.model.label_rate = 50
    recipe.model.update(spec["model"])
    recipe.common.update(fp16=False, cpu=True)
    # defaults computed from the host (torch.cuda.device_count(), $LOCAL_RANK) are pinned
    recipe.distributed_training.update(distributed_world_size=1, distributed_num_procs=1, nprocs_per_node=1,
                                       device_id=0)
    cfg = OmegaConf.merge(OmegaConf.structured(FairseqConfig), recipe)
    add_defaults(cfg)
    with omegaconf_no_object_check():
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    OmegaConf.set_struct(cfg, True)
    return cfg


def _hubert_dictionaries(spec: dict):
    """fairseq Dictionary objects exactly as HubertPretrainingTask.load_dictionaries makes them from
    ``dict.{label}.txt`` files ("<symbol> <count>" lines); read from memory instead of files."""
    from fairseq.data.dictionary import Dictionary

    dicts = []
    for label, n in spec["labels"].items():
        text = "".join(f"{i} {1000 - 7 * i}\n" for i in range(n))
        dicts.append(Dictionary.load(io.StringIO(text)))
    return dicts


def _assert_plain(obj, local_paths, where="cfg"):
    """Only python primitives / lists / dicts, and no path of this machine."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), where
            _assert_plain(v, local_paths, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _assert_plain(v, local_paths, f"{where}[{i}]")
    else:
        assert obj is None or isinstance(obj, (str, int, float, bool)), f"{where}: {type(obj)}"
        if isinstance(obj, str):
            for bad in local_paths:
                assert bad not in obj, f"{where} holds a local path: {obj!r}"


def build_hubert(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl
    from fairseq import checkpoint_utils, metrics, tasks
    from fairseq import utils as fairseq_utils
    from fairseq.data.dictionary import Dictionary
    from fairseq.trainer import Trainer
    from omegaconf import OmegaConf
    from s3prl.upstream.hubert.convert import load_and_convert_fairseq_ckpt, load_converted_model
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig
    from s3prl.upstream.utils import merge_with_parent

    produced = []
    for name, spec in HUBERT_FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        s3prl_path = folder / "original_s3prl.pt"
        fairseq_path = folder / "original_fairseq.pt"

        # ---- configs (plain dicts, exactly what fairseq's trainer stores and S3PRL's converter copies)
        cfg = _hubert_fairseq_cfg(spec)
        cfg_container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        _assert_plain(cfg_container, [str(out_root.parent.parent), str(check_dir)])  # destination, scratch
        dictionaries = _hubert_dictionaries(spec)
        symbols = [list(d.symbols) for d in dictionaries]

        # ---- the random model, built with S3PRL's own classes, every parameter perturbed
        torch.manual_seed(spec["seed"])
        model_cfg = merge_with_parent(HubertConfig, cfg_container["model"])
        task_cfg = merge_with_parent(HubertPretrainingConfig, cfg_container["task"])
        model = perturb(HubertModel(model_cfg, task_cfg, symbols), seed=spec["seed"] + 1)
        model.eval()
        if spec["model"]["encoder_embed_dim"] == eval(spec["model"]["conv_feature_layers"])[-1][0]:
            assert model.post_extract_proj is None, "expected no post_extract_proj"
        else:
            assert model.post_extract_proj is not None
        weights = model.state_dict()

        # ---- (a) S3PRL-hosted format, as s3prl/upstream/hubert/convert.py:load_and_convert_fairseq_ckpt writes it
        torch.save(
            {"task_cfg": cfg_container["task"], "model_cfg": cfg_container["model"], "model_weight": weights,
             "dictionaries_symbols": symbols},
            s3prl_path,
        )
        a = torch.load(s3prl_path, map_location="cpu", weights_only=True)
        assert_state_dicts_equal(a["model_weight"], weights, "original_s3prl.pt")

        # ---- (b) the true fairseq release layout, written by fairseq's own Trainer.state_dict
        metrics.reset()
        task = tasks.setup_task(cfg.task)
        task.load_state_dict({"dictionaries": dictionaries})  # what load_model_ensemble_and_task does
        fs_model = task.build_model(cfg.model)
        fs_model.load_state_dict(weights, strict=True)
        criterion = task.build_criterion(cfg.criterion)
        trainer = Trainer(cfg, task, fs_model, criterion)
        trainer.consolidate_optimizer()  # as checkpoint_utils.save_checkpoint does before state_dict()
        state = fairseq_utils.move_to_cpu(trainer.state_dict())
        # checkpoint_utils.save_checkpoint's extra_state for a checkpoint taken before the first update
        state["extra_state"].update(
            {"train_iterator": {"version": 2, "epoch": 1, "iterations_in_epoch": 0, "shuffle": True},
             "val_loss": None}
        )
        # the only wall-clock value in the state: seconds between Trainer() and state_dict()
        assert isinstance(state["extra_state"]["previous_training_time"], float)
        state["extra_state"]["previous_training_time"] = 0.0
        assert state["cfg"] == cfg_container
        assert_state_dicts_equal(state["model"], weights, "fairseq trainer state")
        checkpoint_utils.torch_persistent_save(state, str(fairseq_path))

        # ---- prove (b) is a real fairseq checkpoint: fairseq loads it and computes what S3PRL computes
        with torch.serialization.safe_globals([Dictionary]):  # torch>=2.6 loads weights_only by default
            models, fs_cfg, fs_task = checkpoint_utils.load_model_ensemble_and_task([str(fairseq_path)])
            (fs_loaded,) = models
            fs_loaded.eval()
            assert [d.symbols for d in fs_task.dictionaries] == symbols
            assert_state_dicts_equal(fs_loaded.state_dict(), weights, "fairseq reload")
            s3_loaded, _ = load_converted_model(str(s3prl_path))
            s3_loaded.eval()
            wavs, wavs_len = case_inputs["batch"]
            pad = ~(torch.arange(wavs.size(1))[None, :] < wavs_len[:, None])
            with torch.no_grad():
                fs_out, fs_pad = fs_loaded.extract_features(wavs, padding_mask=pad, mask=False)
                s3_out, s3_pad = s3_loaded.extract_features(wavs, padding_mask=pad, mask=False)
            assert torch.equal(fs_pad, s3_pad)
            fairseq_vs_s3prl = float((fs_out - s3_out).abs().max())
            assert fairseq_vs_s3prl <= 1e-6, f"fairseq vs s3prl max |diff| {fairseq_vs_s3prl}"

            # ---- and S3PRL's own converter turns (b) into exactly (a)
            conv_dir = check_dir / name
            conv_dir.mkdir(parents=True)
            load_and_convert_fairseq_ckpt(str(fairseq_path), str(conv_dir / "original_s3prl.pt"))
        converted = torch.load(conv_dir / "original_s3prl.pt", map_location="cpu", weights_only=True)
        assert list(converted) == list(a)
        for k in ("task_cfg", "model_cfg", "dictionaries_symbols"):
            assert converted[k] == a[k], k
        assert_state_dicts_equal(converted["model_weight"], a["model_weight"], "S3PRL converter output")
        converter_bytes_identical = sha256(conv_dir / "original_s3prl.pt") == sha256(s3prl_path)
        assert converter_bytes_identical, "S3PRL's converter output differs in bytes from original_s3prl.pt"

        # ---- (c) expected hidden states through S3PRLUpstream
        tensors, info = run_s3prl_cases("hubert_custom", s3prl_path, case_inputs)
        common_meta = {
            "format": "s3prl_hf.parity_fixture",
            "format_version": FORMAT_VERSION,
            "fixture": name,
            "family": "hubert",
            "imitates": spec["imitates"],
            "hub_entry": "hubert_custom",
            "s3prl_version": s3prl.__version__,
            "torch_version": torch.__version__,
        }
        st_meta = write_expected(folder, tensors, common_meta)

        unsafe_globals = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(fairseq_path)))
        meta = {
            **common_meta,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
            "s3prl_upstream": info,
            "model_cfg": cfg_container["model"],
            "task_cfg": cfg_container["task"],
            "dictionaries_symbols": symbols,
            "fairseq_recipe": f"fairseq/examples/hubert/config/pretrain/{spec['recipe']}",
            "original_fairseq_pickled_globals": unsafe_globals,
            "checks": {
                "fairseq_load_model_ensemble_and_task_vs_s3prl_max_abs_diff": fairseq_vs_s3prl,
                "s3prl_converter_output_bytes_identical_to_original_s3prl": converter_bytes_identical,
            },
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                      for f in ("original_s3prl.pt", "original_fairseq.pt", "expected.safetensors")},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
        logging.getLogger("make_fixtures").warning(
            "%s: num_layers=%d hidden_sizes=%s fairseq-vs-s3prl=%.3g", name, info["num_layers"],
            info["hidden_sizes"], fairseq_vs_s3prl)
    produced += [_build_hub_function_fixture(out_root, name, spec, case_inputs)
                 for name, spec in CONTENTVEC_FIXTURES.items()]
    return produced


def _build_hub_function_fixture(out_root: Path, name: str, spec: dict, case_inputs: dict) -> FixtureFiles:
    """An S3PRL-layout HuBERT checkpoint run through a registered hub function, its release URL served from the
    fixture's file (``upstream/hubert/hubconf.py:_urls_to_filepaths``)."""
    import s3prl
    import s3prl.upstream.hubert.hubconf as hubconf
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig
    from s3prl.upstream.utils import merge_with_parent

    from native_fixture_helpers import local_release

    folder = out_root / name
    folder.mkdir()
    path = folder / "original_s3prl.pt"
    symbols = [list(d.symbols) for d in _hubert_dictionaries(spec)]
    model_cfg, task_cfg = dict(spec["model"]), dict(spec["task"])
    _assert_plain({"model": model_cfg, "task": task_cfg}, [str(out_root.parent.parent)])
    dropped = sorted((set(model_cfg) - set(HubertConfig.__dataclass_fields__))
                     | {f"task.{k}" for k in set(task_cfg) - set(HubertPretrainingConfig.__dataclass_fields__)})

    torch.manual_seed(spec["seed"])
    model = perturb(HubertModel(merge_with_parent(HubertConfig, model_cfg),
                                merge_with_parent(HubertPretrainingConfig, task_cfg), symbols), seed=spec["seed"] + 1)
    weights = model.state_dict()
    torch.save({"task_cfg": task_cfg, "model_cfg": model_cfg, "model_weight": weights,
                "dictionaries_symbols": symbols}, path)
    with local_release(hubconf, {"ckpt": spec["release_url"]}, {"ckpt": path}):
        tensors, info = run_s3prl_cases(spec["hub_entry"], path, case_inputs)
        from s3prl.nn import S3PRLUpstream

        loaded = S3PRLUpstream(spec["hub_entry"]).upstream.model.state_dict()
    assert_state_dicts_equal(loaded, weights, f"{name}: S3PRL's loaded HubertModel")

    common_meta = {"format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name,
                   "family": "hubert", "imitates": spec["imitates"], "hub_entry": spec["hub_entry"],
                   "s3prl_version": s3prl.__version__, "torch_version": torch.__version__}
    st_meta = write_expected(folder, tensors, common_meta)
    meta = {
        **common_meta,
        "cases": json.loads(st_meta["cases"]),
        "versions": versions(),
        "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
        "s3prl_upstream": info,
        "model_cfg": model_cfg,
        "task_cfg": task_cfg,
        "dictionaries_symbols": symbols,
        "s3prl_patches": {"s3prl.upstream.hubert.hubconf._urls_to_filepaths": {spec["release_url"]:
                                                                               "original_s3prl.pt"}},
        "checks": {"s3prl_loaded_every_weight": True, "config_keys_s3prl_drops": dropped},
        "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                  for f in ("original_s3prl.pt", "expected.safetensors")},
    }
    write_json(folder / "meta.json", meta)
    logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s, S3PRL drops %s", name,
                                               info["num_layers"], info["hidden_sizes"], dropped)
    return FixtureFiles(name=name, folder=folder, meta=meta)


# ------------------------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------------------------

"""wav2vec 1.0, vq-wav2vec and Discrete BERT parity fixtures, built with S3PRL's and fairseq's own classes.

Every wav2vec 1.0 / vq-wav2vec fixture holds the same random weights in two layouts:

* ``original_fairseq.pt``: the true fairseq release layout, written by fairseq's own ``Trainer.state_dict``. The
  ``*_like`` fixtures have the ``args`` layout of the 2019 releases (wav2vec_large.pt, vq-wav2vec.pt,
  vq-wav2vec_kmeans.pt): ``{"args": argparse.Namespace, "model": ..., ...}``, the namespace being what fairseq's
  training parser makes of the README command (examples/wav2vec/README.md) with tiny sizes, completed by fairseq
  0.10's ``base_wav2vec_architecture`` (fairseq <= 0.10 stored every option; 0.12's parser omits unset ones);
  wav2vec_large_like's namespace lacks the options the vq-wav2vec release added later (``activation``, ``vq_*``), so
  fairseq's dataclass defaults fill them in when it loads the file. The ``*_variant`` fixtures have the hydra-era
  ``cfg`` layout.
* ``original_s3prl.pt``: what S3PRL hosts, written by S3PRL's own ``upstream/wav2vec/convert.py`` from the fairseq
  file (``{task_cfg, model_cfg, model_weight}``).

The model options are set on fairseq's parsed namespace, not passed as flags: fairseq 0.12's parser turns every
boolean option whose dataclass default is True into a ``store_false`` flag, so the README's
``--skip-connections-agg --log-compression`` would switch both off.

Discrete BERT (``vq_wav2vec_kmeans_roberta``) needs two checkpoints: the RoBERTa and the vq-wav2vec k-means model
that tokenises the waveform. Its fixtures hold ``original_s3prl.pt`` (S3PRL's RoBERTa layout, ``{task_cfg,
model_cfg: argparse.Namespace, model_weight, text_dictionary}``, written by S3PRL's ``upstream/roberta/convert.py``),
``original_fairseq.pt`` + ``dict.txt`` (the content of fairseq's bert_kmeans.tar: the 2019 ``args`` layout with the
key names of fairseq 0.9's RoBERTa, ``decoder.sentence_encoder.*`` and ``emb_layer_norm``; the variant has the
older fused ``in_proj_weight`` attention too), and ``frontend_s3prl.pt`` / ``frontend_fairseq.pt``, the vq-wav2vec
checkpoint in both layouts (k-means as the release's; the variant's is a Gumbel model, which S3PRL's pipeline takes
as well). ``extra.safetensors`` holds the tokens S3PRL feeds RoBERTa for the batch case. S3PRL has no entry for a
local Discrete BERT; the generator registers
``discretebert_local`` as its ``vq_wav2vec_kmeans_roberta`` hub function builds the expert, with the local
k-means checkpoint in place of the download.

Run through make_fixtures.py (``--family wav2vec | vq_wav2vec | discretebert``), or this file directly with the
same arguments. See README.md in this folder.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from fixture_common import (CASES, FORMAT_VERSION, INPUT_SEED, FixtureFiles, assert_state_dicts_equal,  # noqa: E402
                            make_wavs, perturb, run_s3prl_cases, sha256, versions, write_expected, write_json,
                            write_safetensors_canonical)
from fixtures_hubert import _assert_plain  # noqa: E402
from fixtures_wav2vec2 import _fairseq_trainer_state  # noqa: E402

DATA_PLACEHOLDER = "/data/librispeech/manifest"  # no path of this machine ends up in a file
SAVE_DIR_PLACEHOLDER = "/checkpoints/wav2vec"

# The README's feature extractors with tiny widths: total stride 160, as S3PRL's expert hard-codes, receptive field
# 465 samples. vq-wav2vec adds a third 1x1 conv.
FEAT7 = "[(20, 10, 5), (20, 8, 4), (20, 4, 2), (20, 4, 2), (20, 4, 2), (20, 1, 1), (20, 1, 1)]"
FEAT8 = "[(16, 10, 5), (16, 8, 4), (16, 4, 2), (16, 4, 2), (16, 4, 2), (16, 1, 1), (16, 1, 1), (16, 1, 1)]"
# The README's context network has 12 layers of kernels 2..13; four keep the fixtures small.
AGG4_20 = "[(20, 2, 1), (20, 3, 1), (20, 4, 1), (20, 5, 1)]"
AGG4_16 = "[(16, 2, 1), (16, 3, 1), (16, 4, 1), (16, 5, 1)]"

# The README's non-model options (fp16 off: the trainer that writes the checkpoint runs here on the CPU, and fp16
# would halve the weights; single process).
README_OPTIONS = ["--save-dir", SAVE_DIR_PLACEHOLDER, "--num-workers", "6", "--max-update", "400000",
                  "--save-interval", "1", "--no-epoch-checkpoints", "--task", "audio_pretraining",
                  "--min-lr", "1e-06", "--stop-min-lr", "1e-09", "--optimizer", "adam", "--lr-scheduler", "cosine",
                  "--warmup-init-lr", "1e-07", "--criterion", "wav2vec", "--num-negatives", "10",
                  "--max-sample-size", "150000", "--skip-invalid-size-inputs-valid-test", "--cpu",
                  "--distributed-world-size", "1", "--device-id", "0"]
WAV2VEC_OPTIONS = README_OPTIONS + ["--lr", "0.005", "--warmup-updates", "500", "--max-tokens", "1500000"]
VQ_OPTIONS = README_OPTIONS + ["--lr", "1e-05", "--warmup-updates", "1000", "--max-tokens", "300000",
                               "--cross-sample-negatives", "0", "--update-freq", "1", "--seed", "2",
                               "--log-keys", '["prob_perplexity","code_perplexity","temp"]']
# Options fairseq's wav2vec gained with vq-wav2vec, after the wav2vec_large release.
VQ_ERA_OPTIONS = ("activation", "vq_type", "vq_vars", "vq_groups", "vq_dim", "vq_depth", "combine_groups",
                  "vq_temp", "vq_gamma")

# The README's vq-wav2vec model options (tiny codebook: 8 codewords per group).
VQ_README = dict(conv_feature_layers=FEAT8, conv_aggregator_layers=AGG4_16, activation="gelu", offset="auto",
                 skip_connections_agg=True, residual_scale=0.5, log_compression=False, vq_groups=2, vq_depth=2,
                 combine_groups=True, vq_vars=8, vq_temp="(2,0.5,0.999995)", prediction_steps=12)

# fixture -> spec. "layout": args (2019 releases) | cfg (hydra era); "model": options set on the parsed namespace;
# "absent": options removed from it (they did not exist when the release was trained).
WAV2VEC1_FIXTURES = {
    "wav2vec_large_like": {
        "family": "wav2vec", "imitates": "wav2vec_large", "seed": 3001, "layout": "args", "options": WAV2VEC_OPTIONS,
        "model": dict(conv_feature_layers=FEAT7, conv_aggregator_layers=AGG4_20, skip_connections_agg=True,
                      residual_scale=0.5, log_compression=True),
        "absent": VQ_ERA_OPTIONS,
    },
    "wav2vec_variant": {
        # not a released model: skip connections in the feature extractor (where the widths match, with the
        # residual subsampled), a 13-wide first conv (receptive field 468 samples: S3PRLUpstream's length matching
        # needs at least 3 frames from its 800-sample minimum, so at most 480), a context network that widens (1x1
        # residual projection), residual scale 0.3, GELU, no log compression, GroupNorms without affine, context convs
        # without bias, zero padding, dropout, and a separate target network (project_features="new") whose
        # weights no hidden state uses
        "family": "wav2vec", "imitates": "wav2vec_large", "seed": 3002, "layout": "cfg", "options": WAV2VEC_OPTIONS,
        "model": dict(conv_feature_layers="[(12, 13, 5), (16, 8, 4), (16, 4, 2), (16, 4, 2), (16, 4, 2), "
                                          "(16, 1, 1), (16, 1, 1)]",
                      conv_aggregator_layers="[(16, 3, 1), (24, 2, 1), (24, 5, 1)]", skip_connections_feat=True,
                      skip_connections_agg=True, residual_scale=0.3, log_compression=False, activation="gelu",
                      non_affine_group_norm=True, no_conv_bias=True, agg_zero_pad=True, project_features="new",
                      dropout=0.1, dropout_features=0.1, offset="3"),
    },
    "vq_wav2vec_gumbel_like": {
        "family": "vq_wav2vec", "imitates": "vq_wav2vec_gumbel", "seed": 3011, "layout": "args",
        "options": VQ_OPTIONS, "model": dict(VQ_README, vq_type="gumbel"),
    },
    "vq_wav2vec_kmeans_like": {
        # the README: "for k-means training, set vq-type with "kmeans" and add --loss-weights [1]"
        "family": "vq_wav2vec", "imitates": "vq_wav2vec_kmeans", "seed": 3012, "layout": "args",
        "options": VQ_OPTIONS + ["--loss-weights", "[1]"], "model": dict(VQ_README, vq_type="kmeans"),
    },
    "vq_wav2vec_gumbel_variant": {
        # not a released model: 4 groups of 6 codewords each with its own codebook, a one-layer logit projection,
        # explicit vq_dim, ReLU, log compression, no skip connections in the context network
        "family": "vq_wav2vec", "imitates": "vq_wav2vec_gumbel", "seed": 3013, "layout": "cfg", "options": VQ_OPTIONS,
        "model": dict(VQ_README, vq_type="gumbel", conv_feature_layers=FEAT8.replace("16", "24"),
                      conv_aggregator_layers="[(24, 3, 1), (16, 2, 1), (16, 4, 1)]", vq_groups=4, vq_vars=6,
                      vq_depth=1, vq_dim=24, combine_groups=False, activation="relu", log_compression=True,
                      skip_connections_agg=False, vq_temp="(1.5,0.5,0.999995)"),
    },
    "vq_wav2vec_kmeans_variant": {
        # not a released model: 4 groups of 5 codewords each with its own codebook, a 2-layer context network
        "family": "vq_wav2vec", "imitates": "vq_wav2vec_kmeans", "seed": 3014, "layout": "cfg",
        "options": VQ_OPTIONS + ["--loss-weights", "[1]"],
        "model": dict(VQ_README, vq_type="kmeans", conv_feature_layers=FEAT8.replace("16", "24"),
                      conv_aggregator_layers="[(24, 2, 1), (24, 6, 1)]", vq_groups=4, vq_vars=5,
                      combine_groups=False),
    },
}
HUB_ENTRIES = {"wav2vec": "wav2vec_custom", "vq_wav2vec": "vq_wav2vec_custom"}


# ------------------------------------------------------------------------------------------------------------------
# wav2vec 1.0 / vq-wav2vec
# ------------------------------------------------------------------------------------------------------------------


def _train_args(spec: dict) -> argparse.Namespace:
    """The flat namespace fairseq-train stores: its parser on the README's options, then the model's options."""
    from fairseq import options

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, input_args=[DATA_PLACEHOLDER, "--arch", "wav2vec", *spec["options"]])
    for key, value in spec["model"].items():
        setattr(args, key, value)
    if spec["layout"] == "args":
        # fairseq <= 0.10 stored every model option: its parser had defaults and its `base_wav2vec_architecture`
        # filled the rest (S3PRL keeps a copy for its legacy expert); fairseq 0.12's parser omits unset options
        from s3prl.upstream.wav2vec.expert import base_wav2vec_architecture

        base_wav2vec_architecture(args)
        for key in spec.get("absent", ()):
            delattr(args, key)
    return args


def _cfg_from_args(args: argparse.Namespace):
    """What fairseq makes of the namespace: fairseq-train's config, and the config load_checkpoint_to_cpu gives an
    args-era checkpoint (the one S3PRL's converter stores)."""
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from omegaconf import OmegaConf

    cfg = convert_namespace_to_omegaconf(argparse.Namespace(**vars(args)))
    return cfg, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def _args_layout(state: dict, args: argparse.Namespace) -> dict:
    """The same checkpoint as fairseq <= 0.10's trainer wrote it: ``args`` instead of ``cfg``, no task_state or
    criterion entries, the optimizer history of those versions."""
    return {
        "args": args,
        "model": state["model"],
        "optimizer_history": [{k: v for k, v in entry.items() if k in ("criterion_name", "optimizer_name",
                                                                       "lr_scheduler_state", "num_updates")}
                              for entry in state["optimizer_history"]],
        "extra_state": state["extra_state"],
        "last_optimizer_state": state["last_optimizer_state"],
    }


def _fairseq_release(fairseq_path: Path, spec: dict, args, cfg, weights: dict):
    """Write the weights as fairseq's trainer saves them, in the spec's layout."""
    from fairseq import checkpoint_utils

    state = _fairseq_trainer_state(cfg, weights, {"kind": "wav2vec1"})
    assert_state_dicts_equal(state["model"], weights, "fairseq trainer state")
    if spec["layout"] == "args":
        state = _args_layout(state, args)
    checkpoint_utils.torch_persistent_save(state, str(fairseq_path))


def _wav2vec_outputs(model, wavs):
    """z, quantised features, codes and c of a fairseq / S3PRL Wav2VecModel on a padded batch."""
    with torch.no_grad():
        z = model.feature_extractor(wavs)
        q, codes = z, None
        if model.vector_quantizer is not None:
            out = model.vector_quantizer(z, produce_targets=True)
            q, codes = out["x"], out["targets"]
        c = model.feature_aggregator(q)
    return z, q, codes, c


def build_wav2vec(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """wav2vec 1.0 fixtures (registry family wav2vec)."""
    return _build_family("wav2vec", out_root, case_inputs, check_dir)


def build_vq_wav2vec(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """vq-wav2vec fixtures (registry family vq_wav2vec)."""
    return _build_family("vq_wav2vec", out_root, case_inputs, check_dir)


def _build_family(family: str, out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    produced = []
    for name, spec in WAV2VEC1_FIXTURES.items():
        if spec["family"] == family:
            # torch>=2.6 loads weights_only by default: fairseq's loaders must be allowed the args-era Namespace
            with torch.serialization.safe_globals([argparse.Namespace]):
                produced.append(_build_wav2vec_one(name, spec, out_root, case_inputs, check_dir))
    return produced


def _make_wav2vec_checkpoints(spec: dict, folder: Path, check_dir: Path, s3prl_name: str, fairseq_name: str):
    """Both layouts of one random wav2vec / vq-wav2vec model; returns (weights, args, cfg container, checks)."""
    from fairseq import checkpoint_utils
    from s3prl.upstream.utils import merge_with_parent
    from s3prl.upstream.wav2vec.convert import load_and_convert_fairseq_ckpt, load_converted_model
    from s3prl.upstream.wav2vec.wav2vec_model import Wav2VecConfig, Wav2VecModel

    s3prl_path, fairseq_path = folder / s3prl_name, folder / fairseq_name
    args = _train_args(spec)
    cfg, cfg_container = _cfg_from_args(args)
    _assert_plain(cfg_container, [str(folder.parent.parent), str(check_dir)])
    for key, value in spec["model"].items():
        if key in Wav2VecConfig.__dataclass_fields__:
            expected = [float(v) for v in value.strip("()").split(",")] if key == "vq_temp" else value
            assert cfg_container["model"][key] == expected, (key, cfg_container["model"][key], value)

    # ---- the random model, built with S3PRL's own classes, every parameter perturbed
    torch.manual_seed(spec["seed"])
    model = perturb(Wav2VecModel(merge_with_parent(Wav2VecConfig, cfg_container["model"])), seed=spec["seed"] + 1)
    model.eval()
    weights = model.state_dict()

    # ---- (b) the true fairseq release layout, then (a) S3PRL's hosted file, made by S3PRL's converter from it
    _fairseq_release(fairseq_path, spec, args, cfg, weights)
    load_and_convert_fairseq_ckpt(str(fairseq_path), str(s3prl_path))
    hosted = torch.load(s3prl_path, map_location="cpu", weights_only=True)
    assert sorted(hosted) == ["model_cfg", "model_weight", "task_cfg"]
    assert hosted["model_cfg"] == cfg_container["model"], "S3PRL stores fairseq's model cfg"
    assert_state_dicts_equal(dict(hosted["model_weight"]), weights, s3prl_name)

    # ---- prove (b) is a real fairseq checkpoint: fairseq loads it and computes what S3PRL computes
    s3_loaded, _ = load_converted_model(str(s3prl_path))
    s3_loaded.eval()
    fs_models, _, _ = checkpoint_utils.load_model_ensemble_and_task([str(fairseq_path)])
    fs_model = fs_models[0].eval()
    return weights, args, cfg_container, hosted, s3_loaded, fs_model


def _build_wav2vec_one(name: str, spec: dict, out_root: Path, case_inputs: dict, check_dir: Path) -> FixtureFiles:
    import s3prl

    folder = out_root / name
    folder.mkdir()
    fairseq_path = folder / "original_fairseq.pt"
    weights, args, cfg_container, hosted, s3_loaded, fs_model = _make_wav2vec_checkpoints(
        spec, folder, check_dir, "original_s3prl.pt", "original_fairseq.pt")
    if spec["layout"] == "args":
        for key in spec.get("absent", ()):
            assert not hasattr(args, key), key
    wavs, wavs_len = case_inputs["batch"]
    fs_out, s3_out = _wav2vec_outputs(fs_model, wavs), _wav2vec_outputs(s3_loaded, wavs)
    fairseq_vs_s3prl = 0.0
    for a, b in zip(fs_out, s3_out):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            fairseq_vs_s3prl = max(fairseq_vs_s3prl, float((a.float() - b.float()).abs().max()))
    assert fairseq_vs_s3prl == 0.0, f"{name}: fairseq vs s3prl max |diff| {fairseq_vs_s3prl}"

    # ---- (c) expected hidden states through S3PRLUpstream
    family = spec["family"]
    hub_entry = HUB_ENTRIES[family]
    tensors, info = run_s3prl_cases(hub_entry, folder / "original_s3prl.pt", case_inputs)
    common_meta = _common_meta(name, family, spec["imitates"], hub_entry, s3prl.__version__)
    st_meta = write_expected(folder, tensors, common_meta)

    # ---- what S3PRL's expert returns besides the hidden states: z, and vq-wav2vec's codewords / codeids
    extra_note = None
    if s3_loaded.vector_quantizer is not None:
        extra = _expert_extras(hub_entry, folder / "original_s3prl.pt", wavs, wavs_len)
        write_safetensors_canonical(extra, folder / "extra.safetensors", {**common_meta, "case": "batch"})
        extra_note = ("extra.safetensors: S3PRL's expert on the batch case (a list of unpadded waveforms): z, "
                      "codewords (B, T, C) and codeids (B, T, groups)")

    unsafe_globals = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(fairseq_path)))
    meta = {
        **common_meta,
        "cases": json.loads(st_meta["cases"]),
        "versions": versions(),
        "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
        "s3prl_upstream": info,
        "model_cfg": hosted["model_cfg"],
        "task_cfg": hosted["task_cfg"],
        "fairseq_recipe": "fairseq/examples/wav2vec/README.md (training command, tiny sizes)",
        "fairseq_layout": spec["layout"],
        "fairseq_args_absent": list(spec.get("absent", ())),
        "original_fairseq_pickled_globals": unsafe_globals,
        "checks": {
            "fairseq_vs_s3prl_max_abs_diff (z, quantised, codes, c)": fairseq_vs_s3prl,
            "s3prl_converter": "original_s3prl.pt written by S3PRL's converter from original_fairseq.pt",
        },
        "files": _files(folder),
    }
    if extra_note:
        meta["extra"] = extra_note
    write_json(folder / "meta.json", meta)
    logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s", name, info["num_layers"],
                                               info["hidden_sizes"])
    return FixtureFiles(name=name, folder=folder, meta=meta)


def _expert_extras(hub_entry: str, ckpt: Path, wavs: torch.Tensor, wavs_len: torch.Tensor) -> dict:
    import s3prl.hub as hub

    expert = getattr(hub, hub_entry)(str(ckpt)).eval()
    with torch.no_grad():
        result = expert([w[:n] for w, n in zip(wavs, wavs_len.tolist())])
    return {"batch.z": result["z"].contiguous(), "batch.codewords": result["codewords"].contiguous(),
            "batch.codeids": result["codeids"].to(torch.int64).contiguous()}


# ------------------------------------------------------------------------------------------------------------------
# Discrete BERT
# ------------------------------------------------------------------------------------------------------------------

ROBERTA_DATA_PLACEHOLDER = "/data/librispeech/vq_kmeans_tokens"
# fairseq's RoBERTa recipe (examples/roberta/README.pretraining.md), as the vq-wav2vec README points to it, tiny.
ROBERTA_OPTIONS = ["--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base",
                   "--sample-break-mode", "complete", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)",
                   "--adam-eps", "1e-6", "--clip-norm", "0.0", "--lr-scheduler", "polynomial_decay", "--lr", "0.0005",
                   "--warmup-updates", "10000", "--total-num-update", "125000", "--dropout", "0.1",
                   "--attention-dropout", "0.1", "--weight-decay", "0.01", "--batch-size", "16",
                   "--update-freq", "16", "--max-update", "125000", "--log-format", "simple", "--log-interval", "1",
                   "--cpu", "--distributed-world-size", "1", "--device-id", "0", "--save-dir", SAVE_DIR_PLACEHOLDER]
# Besides the shared cases: longer utterances, so every fixture cuts its tokens into chunks of max_positions.
DISCRETEBERT_EXTRA_CASES = {"long_batch": {"lengths": [40000, 9000, 23000], "options": {"normalize": False}}}
DISCRETEBERT_EXTRA_INPUT_SEED = 20250615

DISCRETEBERT_FIXTURES = {
    "vq_wav2vec_kmeans_roberta_like": {
        # the release: a k-means frontend as vq_wav2vec_kmeans (2 groups sharing one codebook), RoBERTa base with
        # 64 positions (the batch case's 102 tokens are cut into 2 chunks), fairseq 0.9's key names; dict.txt
        # lacks a few code pairs (they become <unk>) and lists the rest by decreasing count, as fairseq writes it
        "imitates": "vq_wav2vec_kmeans_roberta", "seed": 3101, "legacy_keys": "fairseq_0.9",
        "frontend": {"layout": "args", "options": VQ_OPTIONS + ["--loss-weights", "[1]"],
                     "model": dict(VQ_README, vq_type="kmeans")},
        "roberta": ["--encoder-layers", "2", "--encoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
                    "--encoder-attention-heads", "4", "--tokens-per-sample", "64", "--max-positions", "64"],
        "missing_pairs": 10, "overwrite": False,
    },
    "discretebert_variant": {
        # not a released model: a Gumbel frontend with 2 groups of 6 own codewords (hydra-era cfg), 3 layers,
        # tanh-approximated GELU, untied LM head, scaled token embeddings (no_scale_embedding off), 128 positions,
        # fused in_proj attention weights (fairseq < 0.9), and a dict.txt with an overwritten word
        "imitates": "vq_wav2vec_kmeans_roberta", "seed": 3102, "legacy_keys": "fairseq_0.8",
        "frontend": {"layout": "cfg", "options": VQ_OPTIONS,
                     "model": dict(VQ_README, vq_type="gumbel", vq_vars=6, combine_groups=False, vq_depth=1)},
        "roberta": ["--encoder-layers", "3", "--encoder-embed-dim", "24", "--encoder-ffn-embed-dim", "40",
                    "--encoder-attention-heads", "3", "--tokens-per-sample", "128", "--max-positions", "128"],
        "roberta_set": dict(activation_fn="gelu_accurate", untie_weights_roberta=True, no_scale_embedding=False),
        "missing_pairs": 4, "overwrite": True,
    },
}


def _dictionary_text(num_vars: int, missing: int, overwrite: bool, seed: int) -> str:
    """dict.txt of code pairs: every pair but `missing` random ones, by decreasing random count (fairseq's order)."""
    g = torch.Generator().manual_seed(seed)
    pairs = [f"{i}-{j}" for i in range(num_vars) for j in range(num_vars)]
    order = torch.randperm(len(pairs), generator=g).tolist()
    kept = [pairs[k] for k in order[missing:]]
    lines = [f"{pair} {1000 * (len(kept) - n) + 7}" for n, pair in enumerate(kept)]
    if overwrite:
        # a word listed twice; the second entry wins (its new index), as fairseq's add_symbol(overwrite=True) does
        lines.append(f"{kept[0]} 3 #fairseq:overwrite")
    return "".join(line + "\n" for line in lines)


def _roberta_train_args(spec: dict, data_dir: Path) -> argparse.Namespace:
    from fairseq import options

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, input_args=[str(data_dir), *ROBERTA_OPTIONS, *spec["roberta"]])
    for key, value in spec.get("roberta_set", {}).items():  # set, not parsed: see _train_args
        assert hasattr(args, key), key
        setattr(args, key, value)
    return args


def _legacy_roberta_weights(weights: dict, legacy: str) -> dict:
    """The key names of older fairseq RoBERTa checkpoints (fairseq's load_state_dict upgrades them):
    fairseq 0.9: the model's encoder was its `decoder`, the embedding LayerNorm `emb_layer_norm`, and the sentence
    encoder had no `version` buffer; fairseq 0.8 also fused q/k/v into `in_proj_weight` / `in_proj_bias`."""
    out = {}
    for key, value in weights.items():
        if key == "encoder.sentence_encoder.version":
            continue
        new = "decoder." + key[len("encoder."):] if key.startswith("encoder.") else key
        new = new.replace(".layernorm_embedding.", ".emb_layer_norm.")
        out[new] = value
    if legacy == "fairseq_0.8":
        for key in [k for k in out if k.endswith("self_attn.q_proj.weight") or k.endswith("self_attn.q_proj.bias")]:
            prefix, kind = key.rsplit(".q_proj.", 1)
            fused = torch.cat([out.pop(f"{prefix}.{p}_proj.{kind}") for p in ("q", "k", "v")], dim=0)
            out[f"{prefix}.in_proj_{kind}"] = fused
    return out


def build_discretebert(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """Discrete BERT fixtures (registry family discretebert)."""
    generator = torch.Generator().manual_seed(DISCRETEBERT_EXTRA_INPUT_SEED)
    case_inputs = {**case_inputs, **{case: make_wavs(spec["lengths"], generator)
                                     for case, spec in DISCRETEBERT_EXTRA_CASES.items()}}
    produced = []
    for name, spec in DISCRETEBERT_FIXTURES.items():
        with torch.serialization.safe_globals([argparse.Namespace]):
            produced.append(_build_discretebert_one(name, spec, out_root, case_inputs, check_dir))
    return produced


def _register_discretebert_local():
    """S3PRL has no entry for a local Discrete BERT: this is its vq_wav2vec_kmeans_roberta hub function with local
    files (`_UpstreamExpert(ckpt, _vq_wav2vec_codeids_wrapper(vq_wav2vec))`, the frontend from vq_wav2vec_custom)."""
    import s3prl.hub as hub
    from s3prl.upstream.roberta.expert import UpstreamExpert
    from s3prl.upstream.roberta.hubconf import _vq_wav2vec_codeids_wrapper

    def discretebert_local(ckpt, vq_ckpt, refresh=False, **kwargs):
        return UpstreamExpert(ckpt, _vq_wav2vec_codeids_wrapper(hub.vq_wav2vec_custom(vq_ckpt)))

    hub.discretebert_local = discretebert_local


def _build_discretebert_one(name: str, spec: dict, out_root: Path, case_inputs: dict, check_dir: Path) -> FixtureFiles:
    import s3prl
    from fairseq import checkpoint_utils
    from s3prl.upstream.roberta.convert import load_and_convert_fairseq_ckpt, load_converted_model
    from s3prl.upstream.roberta.dictionary import Dictionary
    from s3prl.upstream.roberta.roberta_model import RobertaEncoder, RobertaModel

    folder = out_root / name
    folder.mkdir()
    _register_discretebert_local()

    # ---- the frontend: a vq-wav2vec model in both layouts (frontend_s3prl.pt is what S3PRL's hub function loads)
    frontend_spec = {**spec["frontend"], "seed": spec["seed"] + 10}
    _, _, _, frontend_hosted, _, _ = _make_wav2vec_checkpoints(
        frontend_spec, folder, check_dir, "frontend_s3prl.pt", "frontend_fairseq.pt")
    num_vars = frontend_hosted["model_cfg"]["vq_vars"]

    # ---- dict.txt and the RoBERTa args, as fairseq-train's masked_lm task reads / stores them
    text = _dictionary_text(num_vars, spec["missing_pairs"], spec["overwrite"], spec["seed"] + 2)
    (folder / "dict.txt").write_text(text, encoding="utf-8")
    # ---- the random RoBERTa, built with S3PRL's own classes from fairseq-train's args, every parameter perturbed;
    # (b) fairseq's release: the 2019 args layout with that era's key names, beside dict.txt
    with tempfile.TemporaryDirectory(dir=check_dir) as data_dir:
        shutil.copy(folder / "dict.txt", Path(data_dir) / "dict.txt")
        args = _roberta_train_args(spec, Path(data_dir))
        cfg, _ = _cfg_from_args(args)
        dictionary = Dictionary.load(str(folder / "dict.txt"))
        dictionary.add_symbol("<mask>")
        torch.manual_seed(spec["seed"])
        model_args = argparse.Namespace(**vars(args))
        model = perturb(RobertaModel(model_args, RobertaEncoder(model_args, dictionary)), seed=spec["seed"] + 1)
        model.eval()
        weights = model.state_dict()
        state = _fairseq_trainer_state(cfg, weights, {"kind": "roberta"})
    assert_state_dicts_equal(state["model"], weights, "fairseq trainer state")
    args.data = ROBERTA_DATA_PLACEHOLDER  # the stored args name no path of this machine
    assert str(out_root.parent) not in repr(vars(args)) and str(check_dir) not in repr(vars(args))
    state = _args_layout(state, args)
    state["model"] = _legacy_roberta_weights(weights, spec["legacy_keys"])
    fairseq_path = folder / "original_fairseq.pt"
    checkpoint_utils.torch_persistent_save(state, str(fairseq_path))

    # ---- (a) S3PRL's hosted file, made by S3PRL's converter from the release (a folder with dict.txt + one .pt)
    s3prl_path = folder / "original_s3prl.pt"
    release_dir = check_dir / name / "bert_kmeans"
    release_dir.mkdir(parents=True)
    shutil.copy(fairseq_path, release_dir / "bert_kmeans.pt")
    shutil.copy(folder / "dict.txt", release_dir / "dict.txt")
    load_and_convert_fairseq_ckpt(str(release_dir), str(s3prl_path))
    hosted = torch.load(s3prl_path, map_location="cpu", weights_only=True)
    assert sorted(hosted) == ["model_cfg", "model_weight", "task_cfg", "text_dictionary"]
    assert hosted["text_dictionary"] == text and isinstance(hosted["model_cfg"], argparse.Namespace)
    assert_state_dicts_equal(dict(hosted["model_weight"]), state["model"], "original_s3prl.pt")

    # ---- prove (b) is a real fairseq checkpoint: fairseq loads it (upgrading the keys) and computes what S3PRL does
    s3_roberta, _ = load_converted_model(str(s3prl_path))
    s3_roberta.eval()
    fs_models, _, _ = checkpoint_utils.load_model_ensemble_and_task([str(release_dir / "bert_kmeans.pt")],
                                                                    arg_overrides={"data": str(release_dir)})
    fs_model = fs_models[0].eval()
    g = torch.Generator().manual_seed(spec["seed"] + 3)
    tokens = torch.randint(4, len(dictionary), (3, 50), generator=g)
    tokens[1, 30:] = dictionary.pad()
    with torch.no_grad():
        _, fs_extra = fs_model(tokens, features_only=True, return_all_hiddens=True)
        _, s3_extra = s3_roberta(tokens, features_only=True, return_all_hiddens=True)
    valid = tokens.ne(dictionary.pad()).T[..., None]
    fairseq_vs_s3prl = max(float(((a - b) * valid).abs().max())
                           for a, b in zip(fs_extra["inner_states"], s3_extra["inner_states"]))
    assert fairseq_vs_s3prl <= 1e-5, f"{name}: fairseq vs s3prl max |diff| {fairseq_vs_s3prl}"

    # ---- (c) expected hidden states through S3PRLUpstream("discretebert_local")
    hub_entry = "discretebert_local"
    cases = {**CASES, **DISCRETEBERT_EXTRA_CASES}
    run_cases = {case: {**c, "options": {**c["options"], "extra_conf": {"vq_ckpt": str(folder / "frontend_s3prl.pt")}}}
                 for case, c in cases.items()}
    tensors, info = run_s3prl_cases(hub_entry, s3prl_path, case_inputs, run_cases)
    meta_cases = {case: {**c, "options": {**c["options"], "extra_conf": {"vq_ckpt": "frontend_s3prl.pt"}}}
                  for case, c in cases.items()}
    common_meta = _common_meta(name, "discretebert", spec["imitates"], hub_entry, s3prl.__version__)
    st_meta = write_expected(folder, tensors, common_meta, meta_cases)

    # ---- the tokens S3PRL's expert feeds RoBERTa for the batch case
    extra = _discretebert_tokens(s3prl_path, folder / "frontend_s3prl.pt", *case_inputs["batch"])
    write_safetensors_canonical(extra, folder / "extra.safetensors", {**common_meta, "case": "batch"})

    unsafe_globals = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(fairseq_path)))
    meta = {
        **common_meta,
        "cases": json.loads(st_meta["cases"]),
        "versions": versions(),
        "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "dictionary": spec["seed"] + 2,
                  "frontend_init": spec["seed"] + 10, "inputs": INPUT_SEED,
                  "extra_inputs": DISCRETEBERT_EXTRA_INPUT_SEED},
        "s3prl_upstream": info,
        "frontend": {"imitates": "vq_wav2vec_kmeans", "s3prl": "frontend_s3prl.pt", "fairseq": "frontend_fairseq.pt",
                     "fairseq_layout": spec["frontend"]["layout"], "model_cfg": frontend_hosted["model_cfg"]},
        "model_cfg": {k: v for k, v in sorted(vars(hosted["model_cfg"]).items())
                      if isinstance(v, (str, int, float, bool, type(None)))},
        "task_cfg": hosted["task_cfg"],
        "dictionary": {"file": "dict.txt", "tokens": len(dictionary), "missing_pairs": spec["missing_pairs"],
                       "overwrite": spec["overwrite"]},
        "fairseq_recipe": "fairseq/examples/roberta/README.pretraining.md (tiny sizes)",
        "fairseq_layout": "args",
        "fairseq_legacy_keys": spec["legacy_keys"],
        "original_fairseq_pickled_globals": unsafe_globals,
        "checks": {
            "fairseq_vs_s3prl_roberta_inner_states_max_abs_diff (valid tokens)": fairseq_vs_s3prl,
            "s3prl_converter": "original_s3prl.pt written by S3PRL's converter from original_fairseq.pt + dict.txt",
        },
        "extra": "extra.safetensors: the tokens S3PRL's expert feeds RoBERTa for the batch case (<pad> = 1)",
        "files": _files(folder),
    }
    write_json(folder / "meta.json", meta)
    logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s fairseq-vs-s3prl=%.3g", name,
                                               info["num_layers"], info["hidden_sizes"], fairseq_vs_s3prl)
    return FixtureFiles(name=name, folder=folder, meta=meta)


def _discretebert_tokens(ckpt: Path, vq_ckpt: Path, wavs: torch.Tensor, wavs_len: torch.Tensor) -> dict:
    """The padded token rows S3PRL's roberta expert builds (its forward, up to the RoBERTa call)."""
    import s3prl.hub as hub
    from torch.nn.utils.rnn import pad_sequence

    expert = hub.discretebert_local(str(ckpt), str(vq_ckpt)).eval()
    wav_list = [w[:n] for w, n in zip(wavs, wavs_len.tolist())]
    with torch.no_grad():
        strings = expert.frontend_model(wav_list)
    tokens = [expert.dictionary.encode_line(s, append_eos=False, add_if_not_exist=False).long() for s in strings]
    tokens = pad_sequence(tokens, batch_first=True, padding_value=expert.dictionary.pad())
    return {"batch.tokens": tokens.contiguous()}


def _common_meta(name: str, family: str, imitates: str, hub_entry: str, s3prl_version: str) -> dict:
    return {
        "format": "s3prl_hf.parity_fixture",
        "format_version": FORMAT_VERSION,
        "fixture": name,
        "family": family,
        "imitates": imitates,
        "hub_entry": hub_entry,
        "s3prl_version": s3prl_version,
        "torch_version": torch.__version__,
    }


def _files(folder: Path) -> dict:
    return {p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in sorted(folder.iterdir())
            if p.name != "meta.json"}


if __name__ == "__main__":
    import make_fixtures

    make_fixtures.FAMILIES.update({
        "wav2vec": "fixtures_wav2vec1:build_wav2vec",
        "vq_wav2vec": "fixtures_wav2vec1:build_vq_wav2vec",
        "discretebert": "fixtures_wav2vec1:build_discretebert",
    })
    make_fixtures.main()

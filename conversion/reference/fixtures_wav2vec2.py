"""wav2vec 2.0 / wav2vec 2.0 Conformer / data2vec parity fixtures, built with S3PRL's and fairseq's own classes.

Every fixture holds the same random weights in two layouts:

* ``original_s3prl.pt``: what S3PRL hosts (``{task_cfg, model_cfg, model_weight}``, made by
  ``s3prl/upstream/{wav2vec2,data2vec}/convert.py``);
* ``original_fairseq.pt`` (``original_fairseq`` without extension for the conformers, as their release URLs have
  none): the true fairseq release layout, written by fairseq's own ``Trainer.state_dict``. One fixture
  (``wav2vec2_base_like``) is written in the older ``args`` layout of the 2020 releases (wav2vec_small.pt,
  libri960_big.pt, xlsr_53_56k.pt): ``{"args": argparse.Namespace, "model": ..., ...}``, and its
  ``original_s3prl.pt`` is what S3PRL's own converter makes of it.

data2vec: fairseq's file holds ``final_proj.*`` and the EMA teacher ``_ema`` (built at the first
``set_num_updates``); S3PRL's converter copies both, and its loader deletes ``_ema`` (so it must exist) and ignores
``final_proj``. The conformers need two shims for fairseq-fixed (``_patch_fairseq_conformer``). Besides the shared
``CASES``, every fixture has ``tiny_in_batch`` (``EXTRA_CASES``). See README.md in this folder.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import List

import torch

from fixture_common import (CASES, FORMAT_VERSION, INPUT_SEED, FixtureFiles, assert_state_dicts_equal, make_wavs,
                            perturb, run_s3prl_cases, sha256, versions, write_expected, write_json)
from fixtures_hubert import _assert_plain

CONV16 = "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2"  # total stride 320, as the experts hard-code

W2V_BASE = "wav2vec/config/pretraining/wav2vec2_base_librispeech.yaml"
W2V_LARGE = "wav2vec/config/pretraining/wav2vec2_large_librivox.yaml"
CONFORMER_LARGE = "wav2vec/config/pretraining/wav2vec2_conformer_large_librivox.yaml"
D2V_BASE = "data2vec/config/audio/pretraining/base_librispeech.yaml"
# a small quantizer / final projection: pretraining heads are in the weights but in no hidden state
W2V_HEADS = dict(final_dim=16, latent_vars=8, latent_groups=2)

# fixture -> spec. "kind": wav2vec2 | conformer | data2vec; "layout": cfg (hydra era) | args (2020 releases).
WAV2VEC2_FIXTURES = {
    "wav2vec2_base_like": {
        "kind": "wav2vec2", "imitates": "wav2vec2_base_960", "seed": 2001, "recipe": W2V_BASE, "layout": "args",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                      encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, **W2V_HEADS),
        "task": dict(normalize=False),
    },
    "wav2vec2_large_like": {
        # pre-LN, layer-norm extractor with conv bias, waveform normalisation (wav2vec2_large_ll60k, xlsr, xls_r)
        "kind": "wav2vec2", "imitates": "wav2vec2_large_ll60k", "seed": 2002, "recipe": W2V_LARGE, "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=3, encoder_embed_dim=40, encoder_ffn_embed_dim=80,
                      encoder_attention_heads=4, conv_pos=15, conv_pos_groups=5, **W2V_HEADS),
        "task": dict(normalize=True),
    },
    "wav2vec2_variant": {
        # not a released model: no post_extract_proj (embed dim == last conv dim), conv dims varying per layer,
        # relu, group norm with conv bias, odd pos-conv kernel, 2 heads, and crop_seq_to_multiple=2, which drops
        # the last frame of odd-length batches (S3PRLUpstream then repeats the new last frame)
        "kind": "wav2vec2", "imitates": "wav2vec2_base_960", "seed": 2003, "recipe": W2V_BASE, "layout": "cfg",
        "model": dict(conv_feature_layers="[(24,10,5),(24,3,2),(24,3,2),(24,3,2),(24,3,2),(32,2,2),(32,2,2)]",
                      conv_bias=True, activation_fn="relu", encoder_layers=2, encoder_embed_dim=32,
                      encoder_ffn_embed_dim=48, encoder_attention_heads=2, conv_pos=7, conv_pos_groups=2,
                      crop_seq_to_multiple=2, **W2V_HEADS),
        "task": dict(normalize=False),
    },
    "wav2vec2_conformer_relpos_like": {
        "kind": "conformer", "imitates": "wav2vec2_conformer_relpos", "seed": 2011, "recipe": CONFORMER_LARGE,
        "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                      encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, depthwise_conv_kernel_size=5,
                      pos_enc_type="rel_pos", max_positions=40, **W2V_HEADS),  # max_positions < frames: extended
        "task": dict(normalize=True),
    },
    "wav2vec2_conformer_rope_like": {
        "kind": "conformer", "imitates": "wav2vec2_conformer_rope", "seed": 2012, "recipe": CONFORMER_LARGE,
        "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=3, encoder_embed_dim=36, encoder_ffn_embed_dim=48,
                      encoder_attention_heads=3, conv_pos=16, conv_pos_groups=4, depthwise_conv_kernel_size=7,
                      pos_enc_type="rope", max_positions=100, **W2V_HEADS),
        "task": dict(normalize=True),
    },
    "wav2vec2_conformer_variant": {
        # not a released model: post-LN encoder (LayerNorm before the layers, none after), group-norm extractor
        # without bias, no post_extract_proj, rel-pos with 2 heads, depthwise kernel 3
        "kind": "conformer", "imitates": "wav2vec2_conformer_relpos", "seed": 2013, "recipe": CONFORMER_LARGE,
        "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, extractor_mode="default", layer_norm_first=False, conv_bias=False,
                      encoder_layers=2, encoder_embed_dim=16, encoder_ffn_embed_dim=40, encoder_attention_heads=2,
                      conv_pos=8, conv_pos_groups=2, depthwise_conv_kernel_size=3, pos_enc_type="rel_pos",
                      max_positions=100, **W2V_HEADS),
        "task": dict(normalize=False),
    },
    # The other conformers S3PRL's Wav2Vec2Model runs (fairseq's speech-to-speech "Conformer LARGE" encoders do not
    # say their pos_enc_type / attn_type): "abs" runs conformer layers in the transformer encoder (positional conv,
    # no positions in the attention, padding to required_seq_len_multiple frames, which the depthwise convs see)
    "wav2vec2_conformer_abs_variant": {
        # the large recipe with pos_enc_type=abs: ESPnet attention without positions, padding to 2 frames
        "kind": "conformer", "imitates": "wav2vec2_conformer_large_s2st_en_librilight", "seed": 2014,
        "recipe": CONFORMER_LARGE, "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                      encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, depthwise_conv_kernel_size=5,
                      pos_enc_type="abs", **W2V_HEADS),
        "task": dict(normalize=True),
    },
    "wav2vec2_conformer_fairseq_attention_variant": {
        # fairseq's own attention (attn_type unset), post-LN with the group-norm extractor, a 2-deep positional conv
        # stack, padding to a multiple of 3 frames
        "kind": "conformer", "imitates": "wav2vec2_conformer_large_s2st_es_voxpopuli", "seed": 2015,
        "recipe": CONFORMER_LARGE, "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, extractor_mode="default", layer_norm_first=False, conv_bias=False,
                      encoder_layers=2, encoder_embed_dim=24, encoder_ffn_embed_dim=40, encoder_attention_heads=2,
                      conv_pos=8, pos_conv_depth=2, conv_pos_groups=2, depthwise_conv_kernel_size=3,
                      pos_enc_type="abs", attn_type="", required_seq_len_multiple=3, **W2V_HEADS),
        "task": dict(normalize=False),
    },
    "wav2vec2_conformer_rope_fairseq_attention_variant": {
        # rope with fairseq's own attention: ConformerEncoder, whose layers then see no position at all
        "kind": "conformer", "imitates": "wav2vec2_conformer_rope", "seed": 2016, "recipe": CONFORMER_LARGE,
        "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=48,
                      encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, depthwise_conv_kernel_size=5,
                      pos_enc_type="rope", attn_type="", **W2V_HEADS),
        "task": dict(normalize=True),
    },
    "data2vec_base_like": {
        "kind": "data2vec", "imitates": "data2vec_base_960", "seed": 2021, "recipe": D2V_BASE, "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                      encoder_attention_heads=4, conv_pos=95, conv_pos_groups=16, average_top_k_layers=2),
        "task": dict(normalize=True),
    },
    "data2vec_large_like": {
        # data2vec's large recipe is not in fairseq; the released vox_pretrained.pt is post-LN like base
        # (transformers' facebook/data2vec-audio-large), 24 x 1024, 16 heads
        "kind": "data2vec", "imitates": "data2vec_large_ll60k", "seed": 2022, "recipe": D2V_BASE, "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, conv_bias=True, encoder_layers=3, encoder_embed_dim=32,
                      encoder_ffn_embed_dim=48, encoder_attention_heads=8, conv_pos=95, conv_pos_groups=16,
                      average_top_k_layers=3),
        "task": dict(normalize=True),
    },
    "data2vec_variant": {
        # not a released model: pre-LN encoder, 2-deep positional conv stack with an even kernel (8 // 2 = 4)
        "kind": "data2vec", "imitates": "data2vec_base_960", "seed": 2023, "recipe": D2V_BASE, "layout": "cfg",
        "model": dict(conv_feature_layers=CONV16, layer_norm_first=True, encoder_layers=2, encoder_embed_dim=16,
                      encoder_ffn_embed_dim=32, encoder_attention_heads=2, conv_pos=8, pos_conv_depth=2,
                      conv_pos_groups=2, average_top_k_layers=2),
        "task": dict(normalize=False),
    },
}

# Besides the shared CASES: utterances shorter than the CNN's receptive field (400 samples) in a padded batch. fairseq
# marks frame `conv_len - 1` of the frame mask with Python indexing, so conv_len 0 (300 samples) wraps around to
# the last frame (every frame valid) and conv_len -1 (7 samples) to the one before it.
EXTRA_CASES = {"tiny_in_batch": {"lengths": [4000, 300, 7], "options": {"normalize": False}}}
EXTRA_INPUT_SEED = 20250614
WAV2VEC2_CASES = {**CASES, **EXTRA_CASES}

DATA_PLACEHOLDER = "/data/librispeech/manifest"  # no path of this machine ends up in a file
HUB_ENTRIES = {"wav2vec2": "wav2vec2_custom", "conformer": "wav2vec2_custom", "data2vec": "data2vec_custom"}
FAMILIES = {"wav2vec2": "wav2vec2", "conformer": "wav2vec2_conformer", "data2vec": "data2vec"}


def _import_data2vec():
    """Register fairseq's data2vec_audio model (its user dir's __init__ also imports vision tasks -> torchvision)."""
    import fairseq.examples.data2vec.models.data2vec_audio  # noqa: F401


def _patch_fairseq_conformer():
    """fairseq-fixed 0.12.3.1 (fairseq 3d262bb2) calls ``build_encoder_layer(args, layer_idx=...)`` and
    ``extract_features(..., corpus_key=...)``, which ``ConformerEncoder``'s overrides do not accept, so no conformer
    can be built or run. The conformer releases predate those changes; drop the arguments, which only the
    transformer layers use."""
    from fairseq.models.wav2vec import wav2vec2 as fairseq_wav2vec2

    encoder = fairseq_wav2vec2.ConformerEncoder
    if getattr(encoder, "_s3prl_hf_patched", False):
        return
    build_encoder_layer, extract_features = encoder.build_encoder_layer, encoder.extract_features
    encoder.build_encoder_layer = lambda self, args, **_: build_encoder_layer(self, args)
    encoder.extract_features = lambda self, x, padding_mask=None, tgt_layer=None, **_: extract_features(
        self, x, padding_mask, tgt_layer)
    encoder._s3prl_hf_patched = True


def _fairseq_cfg(spec: dict):
    """The full fairseq cfg as fairseq-hydra-train builds it: FairseqConfig schema + fairseq's own recipe yaml +
    overrides, registry defaults added, resolved to plain containers. Single-process fp32 CPU training (fp16 would
    halve the weights), placeholder data path, host-dependent defaults pinned."""
    import fairseq
    from fairseq.dataclass.configs import FairseqConfig
    from fairseq.dataclass.initialize import add_defaults
    from fairseq.dataclass.utils import omegaconf_no_object_check
    from omegaconf import OmegaConf

    recipe = OmegaConf.load(Path(fairseq.__file__).parent / "examples" / spec["recipe"])
    if "hydra" in recipe:
        del recipe["hydra"]
    recipe.task.data = DATA_PLACEHOLDER
    recipe.task.update(spec["task"])
    recipe.model.update(spec["model"])
    recipe.common.update(fp16=False, cpu=True)
    recipe.distributed_training.update(distributed_world_size=1, distributed_num_procs=1, nprocs_per_node=1,
                                       device_id=0)
    cfg = OmegaConf.merge(OmegaConf.structured(FairseqConfig), recipe)
    add_defaults(cfg)
    with omegaconf_no_object_check():
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    OmegaConf.set_struct(cfg, True)
    return cfg


def _args_namespace(cfg_container: dict) -> argparse.Namespace:
    """The flat argparse namespace a 2020 (pre-hydra) fairseq-train run stored in ``args``: every option of the
    chosen task / arch / criterion / optimizer / scheduler plus the common ones, at one level."""
    args = {}
    for section in ("common", "common_eval", "distributed_training", "dataset", "optimization", "checkpoint",
                    "bmuf", "criterion", "optimizer", "lr_scheduler", "task", "model"):
        for key, value in (cfg_container.get(section) or {}).items():
            if key != "_name":
                args[key] = value
    args.update(arch=cfg_container["model"]["_name"], task=cfg_container["task"]["_name"],
                criterion=cfg_container["criterion"]["_name"], optimizer=cfg_container["optimizer"]["_name"],
                lr_scheduler=cfg_container["lr_scheduler"]["_name"])
    return argparse.Namespace(**dict(sorted(args.items())))


def _s3prl_model(spec: dict, model_cfg: dict):
    from s3prl.upstream.utils import merge_with_parent

    if spec["kind"] == "data2vec":
        from s3prl.upstream.data2vec.data2vec_model import Data2VecAudioConfig, Data2VecAudioModel

        return Data2VecAudioModel(merge_with_parent(Data2VecAudioConfig, model_cfg))
    from s3prl.upstream.wav2vec2.wav2vec2_model import Wav2Vec2Config, Wav2Vec2Model

    return Wav2Vec2Model(merge_with_parent(Wav2Vec2Config, model_cfg))


def _fairseq_trainer_state(cfg, weights: dict, spec: dict) -> dict:
    """Trainer.state_dict() of a fairseq run holding ``weights``, before its first update."""
    from fairseq import metrics, tasks
    from fairseq import utils as fairseq_utils
    from fairseq.trainer import Trainer

    metrics.reset()
    task = tasks.setup_task(cfg.task)
    fs_model = task.build_model(cfg.model)
    fs_model.load_state_dict(weights, strict=True)
    if spec["kind"] == "data2vec":
        # data2vec builds its EMA teacher at the first set_num_updates; every release holds it as "_ema"
        fs_model.set_num_updates(0)
        assert fs_model.ema is not None
    criterion = task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, fs_model, criterion)
    trainer.consolidate_optimizer()  # as checkpoint_utils.save_checkpoint does before state_dict()
    state = fairseq_utils.move_to_cpu(trainer.state_dict())
    # checkpoint_utils.save_checkpoint's extra_state for a checkpoint taken before the first update
    state["extra_state"].update(
        {"train_iterator": {"version": 2, "epoch": 1, "iterations_in_epoch": 0, "shuffle": True}, "val_loss": None})
    # the only wall-clock value in the state: seconds between Trainer() and state_dict()
    assert isinstance(state["extra_state"]["previous_training_time"], float)
    state["extra_state"]["previous_training_time"] = 0.0
    return state


def _to_args_layout(state: dict, cfg_container: dict) -> dict:
    """The same checkpoint as fairseq <= 0.10's Trainer wrote it: ``args`` instead of ``cfg``, no task_state /
    criterion entries, the optimizer history of those versions."""
    return {
        "args": _args_namespace(cfg_container),
        "model": state["model"],
        "optimizer_history": [{k: v for k, v in entry.items() if k in ("criterion_name", "optimizer_name",
                                                                       "lr_scheduler_state", "num_updates")}
                              for entry in state["optimizer_history"]],
        "extra_state": state["extra_state"],
        "last_optimizer_state": state["last_optimizer_state"],
    }


def _extract(model, wavs, pad):
    with torch.no_grad():
        out = model.extract_features(wavs, padding_mask=pad, mask=False)
    return out["x"], out["padding_mask"]


def build_wav2vec2(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """wav2vec 2.0 / XLSR / XLS-R fixtures (registry family wav2vec2)."""
    return _build("wav2vec2", out_root, case_inputs, check_dir)


def build_wav2vec2_conformer(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """wav2vec 2.0 Conformer fixtures (registry family wav2vec2_conformer)."""
    return _build("conformer", out_root, case_inputs, check_dir)


def build_data2vec(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    """data2vec fixtures (registry family data2vec)."""
    return _build("data2vec", out_root, case_inputs, check_dir)


def _build(only_kind: str, out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    _import_data2vec()
    _patch_fairseq_conformer()
    generator = torch.Generator().manual_seed(EXTRA_INPUT_SEED)
    case_inputs = {**case_inputs, **{case: make_wavs(spec["lengths"], generator) for case, spec in EXTRA_CASES.items()}}
    produced = []
    for name, spec in WAV2VEC2_FIXTURES.items():
        if spec["kind"] == only_kind:
            # torch>=2.6 loads weights_only by default: fairseq's loaders must be allowed the args-era Namespace
            with torch.serialization.safe_globals([argparse.Namespace]):
                produced.append(_build_one(name, spec, out_root, case_inputs, check_dir))
    return produced


def _build_one(name: str, spec: dict, out_root: Path, case_inputs: dict, check_dir: Path) -> FixtureFiles:
    import s3prl
    from fairseq import checkpoint_utils, tasks
    from omegaconf import OmegaConf
    from s3prl.upstream.data2vec.convert import load_and_convert_fairseq_ckpt as d2v_convert
    from s3prl.upstream.data2vec.convert import load_converted_model as d2v_load
    from s3prl.upstream.wav2vec2.convert import load_and_convert_fairseq_ckpt as w2v_convert
    from s3prl.upstream.wav2vec2.convert import load_converted_model as w2v_load

    kind = spec["kind"]
    folder = out_root / name
    folder.mkdir()
    s3prl_path = folder / "original_s3prl.pt"
    fairseq_path = folder / ("original_fairseq" if kind == "conformer" else "original_fairseq.pt")
    load_converted = d2v_load if kind == "data2vec" else w2v_load

    # ---- configs (plain dicts, exactly what fairseq's trainer stores and S3PRL's converter copies)
    cfg = _fairseq_cfg(spec)
    cfg_container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    _assert_plain(cfg_container, [str(out_root.parent.parent), str(check_dir)])

    # ---- the random model, built with S3PRL's own classes, every parameter (and BatchNorm stat) perturbed
    torch.manual_seed(spec["seed"])
    model = perturb(_s3prl_model(spec, cfg_container["model"]), seed=spec["seed"] + 1)
    model.eval()
    conv_dim = eval(spec["model"]["conv_feature_layers"])[-1][0]
    has_proj = kind == "data2vec" or conv_dim != spec["model"]["encoder_embed_dim"]
    assert (model.post_extract_proj is not None) == has_proj
    weights = model.state_dict()

    # ---- (b) the true fairseq release layout, written by fairseq's own Trainer.state_dict
    state = _fairseq_trainer_state(cfg, weights, spec)
    assert state["cfg"] == cfg_container
    if kind == "data2vec":
        ema = state["model"].pop("_ema")
        assert_state_dicts_equal(state["model"], weights, "fairseq trainer state")
        state["model"]["_ema"] = ema
    else:
        assert_state_dicts_equal(state["model"], weights, "fairseq trainer state")
    if spec["layout"] == "args":
        state = _to_args_layout(state, cfg_container)
    checkpoint_utils.torch_persistent_save(state, str(fairseq_path))

    # ---- (a) the S3PRL-hosted format
    conv_dir = check_dir / name
    conv_dir.mkdir(parents=True)
    converted_path = conv_dir / "original_s3prl.pt"
    if kind == "data2vec":
        # S3PRL's converter copies fairseq's weights, final_proj and the EMA teacher "_ema" included. Its loader
        # deletes "_ema" (so it must exist) and ignores final_proj (a module it set to None before a strict load,
        # which torch does not report as unexpected): the hosted file is the converter's output as is.
        d2v_convert(str(fairseq_path), str(s3prl_path))
        converter_check = "original_s3prl.pt written by S3PRL's converter from original_fairseq.pt"
    elif spec["layout"] == "args":
        # the 2020 releases went through S3PRL's converter: the hosted file is its output
        w2v_convert(str(fairseq_path), str(s3prl_path))
        converter_check = "original_s3prl.pt written by S3PRL's converter from original_fairseq.pt"
    else:
        torch.save({"task_cfg": cfg_container["task"], "model_cfg": cfg_container["model"],
                    "model_weight": weights}, s3prl_path)
        w2v_convert(str(fairseq_path), str(converted_path))
        assert sha256(converted_path) == sha256(s3prl_path), "S3PRL's converter output differs in bytes"
        converter_check = "s3prl converter output bytes identical to original_s3prl.pt"
    hosted = torch.load(s3prl_path, map_location="cpu", weights_only=True)
    assert sorted(hosted) == ["model_cfg", "model_weight", "task_cfg"]
    hosted_weights = dict(hosted["model_weight"])
    if kind == "data2vec":
        assert isinstance(hosted_weights.pop("_ema"), dict) and "final_proj.weight" in hosted_weights
        assert_state_dicts_equal(hosted_weights, weights, "original_s3prl.pt")
    else:
        assert_state_dicts_equal(hosted_weights, weights, "original_s3prl.pt")

    # ---- prove (b) is a real fairseq checkpoint: fairseq loads it and computes what S3PRL computes
    s3_loaded, task_cfg = load_converted(str(s3prl_path))
    s3_loaded.eval()
    assert task_cfg.normalize == spec["task"]["normalize"]
    fs_state = checkpoint_utils.load_checkpoint_to_cpu(str(fairseq_path))
    fs_task = tasks.setup_task(fs_state["cfg"].task)
    fs_model = fs_task.build_model(fs_state["cfg"].model)
    if kind == "data2vec":
        fs_model.remove_pretraining_modules()  # what fairseq's fine-tuning does with a data2vec release
        fs_weights = {k: v for k, v in fs_state["model"].items() if k != "_ema" and not k.startswith("final_proj")}
    else:
        fs_weights = fs_state["model"]
    fs_model.load_state_dict(fs_weights, strict=True)
    fs_model.eval()
    wavs, wavs_len = case_inputs["batch"]
    pad = ~(torch.arange(wavs.size(1))[None, :] < wavs_len[:, None])
    fs_out, fs_pad = _extract(fs_model, wavs, pad)
    s3_out, s3_pad = _extract(s3_loaded, wavs, pad)
    assert torch.equal(fs_pad, s3_pad)
    fairseq_vs_s3prl = float((fs_out - s3_out).abs().max())
    assert fairseq_vs_s3prl <= 1e-5, f"{name}: fairseq vs s3prl max |diff| {fairseq_vs_s3prl}"

    # ---- (c) expected hidden states through S3PRLUpstream
    hub_entry = HUB_ENTRIES[kind]
    tensors, info = run_s3prl_cases(hub_entry, s3prl_path, case_inputs, WAV2VEC2_CASES)
    common_meta = {
        "format": "s3prl_hf.parity_fixture",
        "format_version": FORMAT_VERSION,
        "fixture": name,
        "family": FAMILIES[kind],
        "imitates": spec["imitates"],
        "hub_entry": hub_entry,
        "s3prl_version": s3prl.__version__,
        "torch_version": torch.__version__,
    }
    st_meta = write_expected(folder, tensors, common_meta, WAV2VEC2_CASES)

    unsafe_globals = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(fairseq_path)))
    meta = {
        **common_meta,
        "cases": json.loads(st_meta["cases"]),
        "versions": versions(),
        "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED,
                  "extra_inputs": EXTRA_INPUT_SEED},
        "s3prl_upstream": info,
        "model_cfg": hosted["model_cfg"],
        "task_cfg": hosted["task_cfg"],
        "fairseq_recipe": f"fairseq/examples/{spec['recipe']}",
        "fairseq_layout": spec["layout"],
        "original_fairseq_pickled_globals": unsafe_globals,
        "checks": {
            "fairseq_extract_features_vs_s3prl_max_abs_diff": fairseq_vs_s3prl,
            "s3prl_converter": converter_check,
        },
        "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                  for f in ("original_s3prl.pt", fairseq_path.name, "expected.safetensors")},
    }
    write_json(folder / "meta.json", meta)
    logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s fairseq-vs-s3prl=%.3g", name,
                                               info["num_layers"], info["hidden_sizes"], fairseq_vs_s3prl)
    return FixtureFiles(name=name, folder=folder, meta=meta)

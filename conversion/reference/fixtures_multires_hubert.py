"""MR-HuBERT parity fixtures: S3PRL-format and fairseq-format checkpoints built with S3PRL's and fairseq's own classes.

fairseq-fixed 0.12.3.1 (the reference environment's fairseq) predates MR-HuBERT. The fairseq release layout is
therefore written with fairseq's MR-HuBERT model and task from a checkout of facebookresearch/fairseq (MIT
licence), loaded into the installed fairseq, whose ``TransformerEncoder`` gets the two arguments the same commit
added (``_patch_fairseq_transformer_encoder``); the fetched files are not vendored here. Point ``FAIRSEQ_SRC`` at the
checkout when generating::

    git clone https://github.com/facebookresearch/fairseq fairseq_src   # git checkout 34973a94
    FAIRSEQ_SRC=fairseq_src $REFENV/bin/python \\
        conversion/reference/make_fixtures.py --family multires_hubert --out tests/fixtures

The generator checks the sha256 of the files it reads (``FAIRSEQ_FILES``: the model, the task and the two
pretraining recipes, unchanged from commit 34973a94, "Multires hubert (#5363)", to at least 3d262bb2).

Per fixture, as for HuBERT (``fixtures_hubert.py``): the cfg is fairseq's own MR-HuBERT recipe merged into the
``FairseqConfig`` schema with tiny overrides; S3PRL's ``MultiresHubertModel`` is built and every parameter perturbed;
``original_s3prl.pt`` is written as S3PRL's ``load_and_convert_fairseq_ckpt`` writes it and ``original_fairseq.pt`` by
fairseq's ``Trainer.state_dict``. Checks: fairseq reloads the release; S3PRL's converter turns it into a file
byte-identical to ``original_s3prl.pt``; fairseq's ``extract_features`` equals S3PRL's for two resolutions. With three
or more, S3PRL's copy of the model runs the upsamplers in the opposite order to fairseq's (``upsample_modules[i]``
at decoder step i, fairseq ``[label_nums - 2 - i]``), so the two differ: the generator asserts that they differ and
records by how much. The expected states come from ``S3PRLUpstream("multires_hubert_custom")``.

Fixtures: ``multires_hubert_base_like`` (the base recipe: 2 layers per block, one (1, 2) ratio, kernel-1
resamplers), ``multires_hubert_large_like`` (the large recipe: pre-LN, layer-norm extractor, normalised input),
``multires_hubert_variant`` (three resolutions with non-geometric strides [1, 2, 1, 3], so S3PRL's lcm rule repeats
states by wrong factors; per-block depths with an empty decoder block; kernel-3 resamplers; relu; no
``post_extract_proj``; one label set per resolution and target GLUs) and ``multires_hubert_plain_variant`` (plain
strided / transposed resamplers, ratio (1, 3) with an odd, ignored trailing ratio entry, an even kernel, conv bias,
gelu_accurate).
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import List

import torch

from fixture_common import (FORMAT_VERSION, INPUT_SEED, FixtureFiles, assert_state_dicts_equal, perturb,
                            run_s3prl_cases, sha256, versions, write_expected, write_json)
from fixtures_hubert import _assert_plain

FAIRSEQ_COMMIT = "34973a94d09ecc12092a5ecc8afece5e536b7692"
# path in the fairseq checkout -> sha256 at FAIRSEQ_COMMIT
FAIRSEQ_FILES = {
    "fairseq/tasks/multires_hubert_pretraining.py": "5c0466503f260c597f06df335f8412f616bd3ce245b2a5ad7e699e0ea5d58ab0",
    "fairseq/models/multires_hubert/multires_hubert.py":
        "bc24e1c06cb7df111205224c3125f4c7ad4a3f8a467d170066cad63ccee54cda",
    "examples/mr_hubert/config/pretrain/mrhubert_base_librispeech.yaml":
        "e920d59b9e1899fc4bb4841ae8c2541dd1787746be2f838b1366c079af12e232",
    "examples/mr_hubert/config/pretrain/mrhubert_large_librilight.yaml":
        "0e8fc1bf9052d973522bd1feb17cef4321fbcd8d0a61097b7e1530cfa0ecbeda",
}
# module name the fetched sources are imported under (the model file imports the task from here)
FAIRSEQ_MODULES = {
    "fairseq.tasks.multires_hubert_pretraining": "fairseq/tasks/multires_hubert_pretraining.py",
    "fairseq.models.multires_hubert.multires_hubert": "fairseq/models/multires_hubert/multires_hubert.py",
}
RECIPES = "examples/mr_hubert/config/pretrain"

CONV16 = "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2"  # total stride 320, as the expert hard-codes
CONV24 = "[(24,10,5)] + [(24,3,2)] * 4 + [(24,2,2)] * 2"

FIXTURES = {
    "multires_hubert_base_like": {
        "imitates": "multires_hubert_base",
        "seed": 3101,
        "recipe": "mrhubert_base_librispeech.yaml",
        "labels": {"km": 10},
        "label_rate_ratios": [1, 2],
        "model": dict(conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=24, encoder_ffn_embed_dim=48,
                      encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, final_dim=16),
        "task": dict(normalize=False),
    },
    "multires_hubert_large_like": {
        "imitates": "multires_hubert_large",
        "seed": 3102,
        "recipe": "mrhubert_large_librilight.yaml",
        "labels": {"km": 12},
        "label_rate_ratios": [1, 2],
        "model": dict(conv_feature_layers=CONV16, encoder_layers=1, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                      encoder_attention_heads=4, conv_pos=15, conv_pos_groups=4, final_dim=16),
        "task": dict(normalize=True),
    },
    "multires_hubert_variant": {
        # not a released model: three resolutions (strides 320, 640, 1920), depths 1-2-1-0-2, relu, no projection
        # (embed dim == conv dim), one label set per resolution, target GLUs
        "imitates": "multires_hubert_base",
        "seed": 3103,
        "recipe": "mrhubert_base_librispeech.yaml",
        "labels": {"km50": 10, "km25": 8, "km8": 6},
        "label_rate_ratios": [1, 2, 1, 3],
        "model": dict(conv_feature_layers=CONV24, encoder_layers=3, override_encoder_layers="[1,2,1,0,2]",
                      encoder_embed_dim=24, encoder_ffn_embed_dim=40, encoder_attention_heads=2, activation_fn="relu",
                      conv_pos=8, conv_pos_groups=2, final_dim=16, conv_adapator_kernal=3, layer_norm_first=True,
                      use_single_target=False, target_glu=True),
        "task": dict(normalize=False),
    },
    "multires_hubert_plain_variant": {
        # not a released model: plain resamplers down / up by 3 (the trailing 5 is ignored, as fairseq reads ratios
        # two by two), an even kernel, conv bias with the group-norm extractor, gelu_accurate, a single prediction
        "imitates": "multires_hubert_base",
        "seed": 3104,
        "recipe": "mrhubert_base_librispeech.yaml",
        "labels": {"km": 9},
        "label_rate_ratios": [1, 3, 5],
        "model": dict(conv_feature_layers=CONV16, encoder_layers=1, encoder_embed_dim=18, encoder_ffn_embed_dim=28,
                      encoder_attention_heads=3, activation_fn="gelu_accurate", conv_pos=12, conv_pos_groups=3,
                      final_dim=8, conv_adapator_kernal=4, use_plain_updownsample=True, conv_bias=True,
                      use_single_prediction=True),
        "task": dict(normalize=False),
    },
}

DATA_PLACEHOLDER = "/data/librispeech/manifest"
LABEL_PLACEHOLDER = "/data/librispeech/labels"


def _fairseq_src() -> Path:
    """The fairseq checkout named by $FAIRSEQ_SRC, its files checked against FAIRSEQ_FILES."""
    if "FAIRSEQ_SRC" not in os.environ:
        raise SystemExit("set FAIRSEQ_SRC to a checkout of facebookresearch/fairseq (commit "
                         f"{FAIRSEQ_COMMIT[:8]} or later with the same MR-HuBERT files); see {__file__}")
    root = Path(os.environ["FAIRSEQ_SRC"]).resolve()
    for relative, digest in FAIRSEQ_FILES.items():
        actual = hashlib.sha256((root / relative).read_bytes()).hexdigest()
        assert actual == digest, f"{root / relative}: sha256 {actual}, expected {digest} (fairseq {FAIRSEQ_COMMIT})"
    return root


class _NoPositionalConv(torch.nn.Module):
    """Stands for a skipped positional conv while a block runs: adds nothing (``x + 0`` is ``x``)."""

    def forward(self, x):
        return torch.zeros_like(x)


def _patch_fairseq_transformer_encoder():
    """fairseq's MR-HuBERT commit also gave wav2vec 2.0's ``TransformerEncoder`` two arguments, ``skip_pos_conv``
    (``pos_conv = None``, and ``extract_features`` skips it) and ``override_encoder_layer`` (another depth), which
    fairseq-fixed 0.12.3.1 lacks. Add them with the same effect and the same module tree (so the state dict and its
    metadata are those of fairseq's model): the skipped conv is None, swapped for a zero stand-in only while
    ``extract_features`` runs; the layers are rebuilt at the given depth."""
    from fairseq.models.wav2vec import wav2vec2 as fairseq_wav2vec2

    encoder = fairseq_wav2vec2.TransformerEncoder
    if getattr(encoder, "_s3prl_hf_multires_patched", False):
        return
    init, extract_features = encoder.__init__, encoder.extract_features

    def __init__(self, args, skip_pos_conv=False, override_encoder_layer=None):
        init(self, args)
        if skip_pos_conv and getattr(args, "pos_conv_depth", 1) <= 1:
            self.pos_conv = None
        if override_encoder_layer is not None:
            self.layers = torch.nn.ModuleList(
                [self.build_encoder_layer(args, layer_idx=i) for i in range(override_encoder_layer)])

    def extract_features_skipping_none(self, x, *args, **kwargs):
        if self.pos_conv is not None:
            return extract_features(self, x, *args, **kwargs)
        self._modules["pos_conv"] = _NoPositionalConv()
        try:
            return extract_features(self, x, *args, **kwargs)
        finally:
            self._modules["pos_conv"] = None

    encoder.__init__ = __init__
    encoder.extract_features = extract_features_skipping_none
    encoder._s3prl_hf_multires_patched = True


def _register_fairseq_multires(root: Path):
    """Import fairseq's MR-HuBERT task and model into the installed fairseq (registers them)."""
    import fairseq.models  # noqa: F401  (registries first)
    import fairseq.tasks  # noqa: F401

    _patch_fairseq_transformer_encoder()

    for name, relative in FAIRSEQ_MODULES.items():
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, root / relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


def _fairseq_cfg(root: Path, spec: dict):
    """The full fairseq cfg, as fairseq-hydra-train builds it from fairseq's MR-HuBERT recipe (see
    fixtures_hubert._hubert_fairseq_cfg: single-process fp32 CPU, data placeholders, host defaults pinned)."""
    from fairseq.dataclass.configs import FairseqConfig
    from fairseq.dataclass.initialize import add_defaults
    from fairseq.dataclass.utils import omegaconf_no_object_check
    from omegaconf import OmegaConf

    recipe = OmegaConf.load(root / RECIPES / spec["recipe"])
    del recipe["hydra"]
    recipe.task.data = DATA_PLACEHOLDER
    recipe.task.label_dir = LABEL_PLACEHOLDER
    recipe.task.labels = list(spec["labels"])
    recipe.task.label_rate_ratios = list(spec["label_rate_ratios"])
    recipe.task.update(spec["task"])
    recipe.model.label_rate = 50
    recipe.model.update(spec["model"])
    recipe.common.update(fp16=False, memory_efficient_fp16=False, cpu=True)
    recipe.distributed_training.update(distributed_world_size=1, distributed_num_procs=1, nprocs_per_node=1,
                                       device_id=0)
    cfg = OmegaConf.merge(OmegaConf.structured(FairseqConfig), recipe)
    add_defaults(cfg)
    with omegaconf_no_object_check():
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    OmegaConf.set_struct(cfg, True)
    return cfg


def _dictionaries(spec: dict):
    """fairseq Dictionary objects as the task's load_dictionaries makes them from dict.{label}.txt."""
    from fairseq.data.dictionary import Dictionary

    return [Dictionary.load(io.StringIO("".join(f"{i} {1000 - 7 * i}\n" for i in range(n))))
            for n in spec["labels"].values()]


def build_multires_hubert(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl
    from fairseq import checkpoint_utils, metrics, tasks
    from fairseq import utils as fairseq_utils
    from fairseq.data.dictionary import Dictionary
    from fairseq.trainer import Trainer
    from omegaconf import OmegaConf
    from s3prl.upstream.multires_hubert.convert import load_and_convert_fairseq_ckpt, load_converted_model
    from s3prl.upstream.multires_hubert.expert import UpstreamExpert as MultiresExpert
    from s3prl.upstream.multires_hubert.hubert_model import (MultiresHubertConfig, MultiresHubertModel,
                                                             MultiresHubertPretrainingConfig)
    from s3prl.upstream.utils import merge_with_parent

    root = _fairseq_src()
    _register_fairseq_multires(root)
    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        s3prl_path = folder / "original_s3prl.pt"
        fairseq_path = folder / "original_fairseq.pt"

        cfg = _fairseq_cfg(root, spec)
        cfg_container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        _assert_plain(cfg_container, [str(out_root.parent.parent), str(check_dir), str(root)])
        dictionaries = _dictionaries(spec)
        symbols = [list(d.symbols) for d in dictionaries]

        # ---- the random model, built with S3PRL's own classes, every parameter perturbed
        torch.manual_seed(spec["seed"])
        model_cfg = merge_with_parent(MultiresHubertConfig, cfg_container["model"])
        task_cfg = merge_with_parent(MultiresHubertPretrainingConfig, cfg_container["task"])
        model = perturb(MultiresHubertModel(model_cfg, task_cfg, symbols), seed=spec["seed"] + 1)
        model.eval()
        weights = model.state_dict()

        # ---- (a) S3PRL-hosted format, as s3prl/upstream/multires_hubert/convert.py writes it
        torch.save({"task_cfg": cfg_container["task"], "model_cfg": cfg_container["model"], "model_weight": weights,
                    "dictionaries_symbols": symbols}, s3prl_path)
        a = torch.load(s3prl_path, map_location="cpu", weights_only=True)
        assert_state_dicts_equal(a["model_weight"], weights, "original_s3prl.pt")

        # ---- (b) the fairseq release layout, written by fairseq's own Trainer.state_dict
        metrics.reset()
        task = tasks.setup_task(cfg.task)
        task.load_state_dict({"dictionaries": dictionaries})
        fs_model = task.build_model(cfg.model)
        fs_model.load_state_dict(weights, strict=True)
        trainer = Trainer(cfg, task, fs_model, task.build_criterion(cfg.criterion))
        trainer.consolidate_optimizer()
        state = fairseq_utils.move_to_cpu(trainer.state_dict())
        state["extra_state"].update(
            {"train_iterator": {"version": 2, "epoch": 1, "iterations_in_epoch": 0, "shuffle": True},
             "val_loss": None})
        assert isinstance(state["extra_state"]["previous_training_time"], float)
        state["extra_state"]["previous_training_time"] = 0.0
        assert state["cfg"] == cfg_container
        assert_state_dicts_equal(state["model"], weights, "fairseq trainer state")
        checkpoint_utils.torch_persistent_save(state, str(fairseq_path))

        # ---- fairseq reloads (b); its forward equals S3PRL's, except where S3PRL reorders the upsamplers
        with torch.serialization.safe_globals([Dictionary]):
            models, _, fs_task = checkpoint_utils.load_model_ensemble_and_task([str(fairseq_path)])
            (fs_loaded,) = models
            fs_loaded.eval()
            assert [d.symbols for d in fs_task.dictionaries] == symbols
            assert_state_dicts_equal(fs_loaded.state_dict(), weights, "fairseq reload")
            s3_loaded, _ = load_converted_model(str(s3prl_path))
            s3_loaded.eval()
            wavs, wavs_len = case_inputs["batch"]
            pad = ~(torch.arange(wavs.size(1))[None, :] < wavs_len[:, None])
            with torch.no_grad():
                fs_out, _ = fs_loaded.extract_features(wavs, padding_mask=pad, mask=False)
                s3_out, _ = s3_loaded.extract_features(wavs, padding_mask=pad, mask=False)
            fairseq_vs_s3prl = max(float((f[:, : s.size(1)] - s[:, : f.size(1)]).abs().max())
                                   for f, s in zip(fs_out, s3_out))
            if len(spec["label_rate_ratios"]) // 2 == 1:
                assert fairseq_vs_s3prl <= 1e-6, f"fairseq vs s3prl max |diff| {fairseq_vs_s3prl}"
            else:
                assert fairseq_vs_s3prl > 1e-3, "expected S3PRL's upsampler order to change the decoder outputs"

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
        tensors, info = run_s3prl_cases("multires_hubert_custom", s3prl_path, case_inputs)
        common_meta = {
            "format": "s3prl_hf.parity_fixture",
            "format_version": FORMAT_VERSION,
            "fixture": name,
            "family": "multires_hubert",
            "imitates": spec["imitates"],
            "hub_entry": "multires_hubert_custom",
            "s3prl_version": s3prl.__version__,
            "torch_version": torch.__version__,
        }
        st_meta = write_expected(folder, tensors, common_meta)

        # S3PRL's repeat factor of each hidden state (its expert's lcm rule)
        final_factors = [int(f) for f in MultiresExpert(ckpt=str(s3prl_path)).final_factors]
        assert len(final_factors) == info["num_layers"]
        meta = {
            **common_meta,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
            "s3prl_upstream": info,
            "s3prl_feature_ds_rates": [int(r) for r in s3_loaded.feature_ds_rates],
            "s3prl_final_factors": final_factors,
            "model_cfg": cfg_container["model"],
            "task_cfg": cfg_container["task"],
            "dictionaries_symbols": symbols,
            "fairseq_source": {"repository": "https://github.com/facebookresearch/fairseq", "commit": FAIRSEQ_COMMIT,
                               "licence": "MIT", "files": FAIRSEQ_FILES},
            "fairseq_recipe": f"fairseq/{RECIPES}/{spec['recipe']}",
            "original_fairseq_pickled_globals": sorted(
                torch.serialization.get_unsafe_globals_in_checkpoint(str(fairseq_path))),
            "checks": {
                "fairseq_extract_features_vs_s3prl_max_abs_diff": fairseq_vs_s3prl,
                "s3prl_converter_output_bytes_identical_to_original_s3prl": converter_bytes_identical,
            },
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                      for f in ("original_s3prl.pt", "original_fairseq.pt", "expected.safetensors")},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
        logging.getLogger("make_fixtures").warning(
            "%s: num_layers=%d fairseq-vs-s3prl=%.3g", name, info["num_layers"], fairseq_vs_s3prl)
    return produced

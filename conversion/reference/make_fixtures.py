#!/usr/bin/env python
"""Generate the S3PRL parity fixtures under ``tests/fixtures/`` (reference environment only).

Run with the reference environment built by ``setup_env.sh`` (see README.md in this folder)::

    /work/refenv/bin/python conversion/reference/make_fixtures.py --family hubert --out tests/fixtures

For every fixture this writes ``<out>/<fixture>/``:

* ``original_s3prl.pt``   the checkpoint in the format S3PRL hosts (``{task_cfg, model_cfg, model_weight, ...}``,
                          plain python containers, loads with ``torch.load(weights_only=True)``);
* ``original_fairseq.pt`` the same weights in the true fairseq release layout (``Trainer.state_dict``), written with
                          fairseq itself (only for fairseq-family upstreams);
* ``expected.safetensors`` inputs and the hidden states + lengths of ``s3prl.nn.S3PRLUpstream`` (eval mode) for the
                          cases in ``CASES``, with provenance in the safetensors header metadata;
* ``meta.json``           the same provenance, human-readable, plus what S3PRLUpstream reports
                          (num_layers / hidden_sizes / downsample_rates) and the model / task configs.

Everything is written to a temporary folder first and moved into place only when every fixture of the family was
built and checked, so a failing run leaves the old fixtures untouched. The output is byte-for-byte reproducible
(same environment, same bytes): all randomness comes from fixed seeds, torch runs single-threaded, wall-clock values
that fairseq's trainer records are pinned, and the safetensors header metadata is written in sorted order.

Families are registered in ``FAMILIES`` (family name -> builder). Only ``hubert`` exists so far; a new family adds
a builder that returns ``{fixture_name: FixtureFiles}`` and reuses ``run_s3prl_cases`` / ``write_expected``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

# The shims must be imported before anything from s3prl (see s3prl_shim.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import s3prl_shim  # noqa: E402,F401

import torch  # noqa: E402

SAMPLE_RATE = 16000
FORMAT_VERSION = "2"  # 2: inputs stored once, as int16 PCM (wavs = wavs_int16 / 32768)

# ------------------------------------------------------------------------------------------------------------------
# Inputs and cases (shared by all families)
# ------------------------------------------------------------------------------------------------------------------

INPUT_SEED = 20250613
# case name -> {"lengths": utterance lengths, "options": S3PRLUpstream kwargs besides name / path_or_url,
#               "inputs_from": (optional) the case whose inputs it reuses}. Inputs never use the global RNG:
#               S3PRLUpstream.__init__ reseeds it (random.seed(0); torch.manual_seed(0)).
CASES: Dict[str, dict] = {
    # a padded batch of different lengths; 700 samples < 800 = S3PRL's MIN_SECOND (0.05 s) * 16 kHz
    "batch": {"lengths": [16000, 12345, 4321, 700], "options": {"normalize": False}},
    # every utterance below 0.05 s: S3PRLUpstream right-pads the batch to 800 samples
    "short": {"lengths": [500, 320], "options": {"normalize": False}},
    "single": {"lengths": [16000], "options": {"normalize": False}},
    # the `batch` inputs through S3PRLUpstream(normalize=True) (F.layer_norm on every hidden state)
    "batch_normalize": {"lengths": [16000, 12345, 4321, 700], "options": {"normalize": True}, "inputs_from": "batch"},
}


def make_wavs(lengths: List[int], generator: torch.Generator):
    """A zero-padded batch: normal noise * 0.1 plus three sines of random frequency / amplitude / phase."""
    wavs = torch.zeros(len(lengths), max(lengths), dtype=torch.float32)
    for i, n in enumerate(lengths):
        t = torch.arange(n, dtype=torch.float64) / SAMPLE_RATE
        x = 0.1 * torch.randn(n, generator=generator, dtype=torch.float64)
        for _ in range(3):
            freq, amp, phase = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
            x = x + (0.05 + 0.25 * amp) * torch.sin(2 * math.pi * (80.0 + 3920.0 * freq) * t + 2 * math.pi * phase)
        # On the 16-bit PCM grid, like real audio: stored as int16, the fixture is half the size and exact.
        wavs[i, :n] = (x * 32768).round().clamp(-32768, 32767).to(torch.float32) / 32768
    return wavs, torch.tensor(lengths, dtype=torch.int64)


def make_case_inputs():
    g = torch.Generator().manual_seed(INPUT_SEED)
    inputs = {}
    for case, spec in CASES.items():
        if "inputs_from" in spec:
            continue
        inputs[case] = make_wavs(spec["lengths"], g)
    for case, spec in CASES.items():
        if "inputs_from" in spec:
            inputs[case] = inputs[spec["inputs_from"]]
    return inputs


# ------------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------------


def perturb(model: torch.nn.Module, seed: int, scale: float = 0.1) -> torch.nn.Module:
    """Add scaled noise to EVERY parameter (LayerNorm/GroupNorm weights != 1, biases != 0, weight-norm g/v
    exercised) and randomise BatchNorm running stats, so a weight that fails to load shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
        for n, b in model.named_buffers():
            if n.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif n.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_state_dicts_equal(a: dict, b: dict, what: str):
    assert list(a.keys()) == list(b.keys()), f"{what}: key lists differ"
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, f"{what}: {k} dtype/shape differ"
        assert torch.equal(a[k], b[k]), f"{what}: {k} differs"


def versions() -> Dict[str, str]:
    import s3prl
    import torchaudio

    out = {"python": platform.python_version(), "torch": torch.__version__, "torchaudio": torchaudio.__version__,
           "s3prl": s3prl.__version__}
    try:
        from importlib.metadata import version

        out["fairseq-fixed"] = version("fairseq-fixed")
        out["omegaconf"] = version("omegaconf")
        out["hydra-core"] = version("hydra-core")
        out["safetensors"] = version("safetensors")
    except Exception:  # pragma: no cover - informative only
        pass
    return out


def run_s3prl_cases(hub_entry: str, ckpt_path: Path, case_inputs: dict):
    """Run S3PRLUpstream (eval mode, no_grad) on every case; return tensors + what S3PRLUpstream reports."""
    from s3prl.nn import S3PRLUpstream

    tensors: Dict[str, torch.Tensor] = {}
    info = None
    upstreams = {}
    for case, spec in CASES.items():
        key = json.dumps(spec["options"], sort_keys=True)
        if key not in upstreams:
            # NB: S3PRLUpstream.__init__ reseeds the global RNGs and ends in train mode.
            up = S3PRLUpstream(hub_entry, path_or_url=str(ckpt_path), **spec["options"])
            up.eval()
            upstreams[key] = up
        up = upstreams[key]
        this_info = {"num_layers": up.num_layers, "hidden_sizes": list(up.hidden_sizes),
                     "downsample_rates": list(up.downsample_rates)}
        assert info is None or info == this_info, (info, this_info)
        info = this_info
        wavs, wavs_len = case_inputs[case]
        with torch.no_grad():
            all_hs, all_hs_len = up(wavs.clone(), wavs_len.clone())
            # eval-mode determinism, as in s3prl's own tests
            again, again_len = up(wavs.clone(), wavs_len.clone())
        assert len(all_hs) == up.num_layers
        if "inputs_from" not in spec:  # reused inputs are stored once, under their own case
            pcm = (wavs * 32768).round().to(torch.int16)
            assert torch.equal(pcm.to(torch.float32) / 32768, wavs), "inputs must lie on the int16 grid"
            tensors[f"{case}.wavs_int16"] = pcm.contiguous()
            tensors[f"{case}.wavs_len"] = wavs_len.clone().contiguous()
        for i, (h, hl, h2, hl2) in enumerate(zip(all_hs, all_hs_len, again, again_len)):
            assert torch.equal(h, h2) and torch.equal(hl, hl2), f"{case}: eval forward not deterministic"
            assert torch.isfinite(h).all(), f"{case}: non-finite hidden state {i}"
            tensors[f"{case}.hs.{i}"] = h.detach().to(torch.float32).contiguous()
            tensors[f"{case}.hs_len.{i}"] = hl.detach().to(torch.int64).contiguous()
    return tensors, info


def write_safetensors_canonical(tensors: Dict[str, torch.Tensor], path: Path, metadata: Dict[str, str]):
    """safetensors.torch.save_file, then rewrite the JSON header with the metadata keys sorted.

    The Rust writer stores ``__metadata__`` from a HashMap, whose iteration order is randomised per process, so two
    runs give different bytes. Permuting keys keeps the header length, so only the header bytes are replaced."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header_bytes = bytes(raw[8 : 8 + n])
    header = json.loads(header_bytes)
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stripped = header_bytes.rstrip(b" ")
    assert len(new) == len(stripped), "unexpected safetensors header serialisation"
    raw[8 : 8 + len(new)] = new
    path.write_bytes(bytes(raw))
    # read back: same tensors, same metadata
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == metadata
        assert sorted(f.keys()) == sorted(tensors)
        for k in tensors:
            assert torch.equal(f.get_tensor(k), tensors[k]), k


def write_expected(out_dir: Path, tensors, common_meta: Dict[str, str]):
    cases_json = json.dumps(
        {case: {"name": common_meta["hub_entry"], "path_or_url": "original_s3prl.pt", **spec["options"],
                "lengths": spec["lengths"], **({"inputs_from": spec["inputs_from"]} if "inputs_from" in spec else {})}
         for case, spec in CASES.items()},
        sort_keys=True,
    )
    metadata = {**common_meta, "cases": cases_json}
    write_safetensors_canonical(tensors, out_dir / "expected.safetensors", metadata)
    return metadata


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@dataclass
class FixtureFiles:
    """What a family builder produced for one fixture (the folder already holds the files)."""

    name: str
    folder: Path
    meta: dict = field(default_factory=dict)


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
    return produced


# ------------------------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------------------------

FAMILIES: Dict[str, Callable[[Path, dict, Path], List[FixtureFiles]]] = {
    "hubert": build_hubert,
}


def main(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, choices=sorted(FAMILIES) + ["all"])
    parser.add_argument("--out", required=True, type=Path, help="fixtures root, e.g. tests/fixtures")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    for noisy in ("fairseq", "s3prl", "hydra"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    torch.set_num_threads(1)  # reproducible float results whatever the core count
    torch.use_deterministic_algorithms(True)

    families = sorted(FAMILIES) if args.family == "all" else [args.family]
    out_root = args.out.resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    case_inputs = make_case_inputs()

    # build everything in a temporary folder next to the destination, then move into place
    work = Path(tempfile.mkdtemp(prefix=".make_fixtures.", dir=out_root))
    try:
        staged = work / "out"
        checks = work / "checks"
        staged.mkdir()
        checks.mkdir()
        produced: List[FixtureFiles] = []
        for fam in families:
            produced += FAMILIES[fam](staged, case_inputs, checks)
        for fx in produced:
            dest = out_root / fx.name
            if dest.exists():
                old = work / f"old.{fx.name}"
                dest.rename(old)
            fx.folder.rename(dest)
            total = sum(p.stat().st_size for p in dest.iterdir())
            print(f"{dest}: " + ", ".join(f"{p.name} {p.stat().st_size}" for p in sorted(dest.iterdir()))
                  + f" (total {total} bytes)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

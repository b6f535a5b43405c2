"""ESPnet HuBERT parity fixtures, built by ESPnet itself and run through S3PRL's ``espnet_hubert`` hub entries.

Needs ESPnet on top of the reference environment (``setup_env_espnet.sh``)::

    bash conversion/reference/setup_env.sh $REFENV_ESPNET
    bash conversion/reference/setup_env_espnet.sh $REFENV_ESPNET
    $REFENV_ESPNET/bin/python conversion/reference/make_fixtures.py --family espnet_hubert --out tests/fixtures

A release is what ESPnet's trainer writes: ``config.yaml`` (``yaml.dump(vars(args))``) and a ``.pth`` state dict. For
each fixture the generator

1. writes a training config in the layout of ESPnet's LibriSpeech recipes
   (``egs2/librispeech/ssl1/conf/tuning/train_ssl_torchaudiohubert_*.yaml``: ``encoder: torchaudio_hubert``,
   ``model: torchaudio``, ``input_size: 1``, no frontend / normalize / specaug) with small ``encoder_conf`` sizes, and
   a k-means token list, then runs ``HubertTask.main(--dry_run true)`` in a scratch folder: ESPnet parses the
   arguments, builds the model and dumps ``exp/<dir>/config.yaml`` exactly as a training run does (relative paths
   only), and stops;
2. builds the model from that file (``HubertTask.build_model_from_file(config.yaml, None)``) with a fixed seed,
   perturbs every parameter (fixture_common.perturb) and saves ``model.state_dict()`` as the trainer saves
   ``<n>epoch.pth``. The *like* fixtures store the positional conv's weight norm as ``weight_g`` / ``weight_v``, the
   names older torchaudio gave them (``nn.utils.weight_norm``, checked in 2.0.2): the releases were saved with
   torch 1.13 / 2.0 (their ``meta.yaml``); the variant keeps torchaudio 2.11's ``parametrizations.weight.original0/1``;
3. runs S3PRLUpstream: the like fixtures through the named hub entry they imitate, its two downloads pointed at the
   files (named as S3PRL's cache names them, ``<sha256(url)>.<file name>``, so the config comes from the argument);
   the variant through ``espnet_hubert_custom`` on the fixture's ``original_s3prl.pt``, so ESPnet reads the
   ``config.yaml`` beside it (S3PRL's ``espnet_hubert_custom`` passes no config);
4. checks that S3PRL's model holds exactly the saved tensors (ESPnet loads non-strictly) and writes
   ``original_s3prl.pt`` (the ``.pth``, byte for byte), ``config.yaml``, ``expected.safetensors`` and ``meta.json``;
   the like fixtures' meta.json also records the parameter count and shapes of the released architecture's network
   as ESPnet builds it (``released``).

Besides the shared cases every fixture has ``tiny_in_batch`` (4000, 300 and 7 samples): utterances with no valid frame
(under the CNN's 400-sample receptive field) in a padded batch, whose attention keys torchaudio all masks.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import json
import os
import shutil
import sys
import types
from pathlib import Path
from typing import List

import torch
import yaml

from fixture_common import (CASES, FORMAT_VERSION, INPUT_SEED, FixtureFiles, make_wavs, perturb, run_s3prl_cases,
                            sha256, versions, write_expected, write_json)
from native_fixture_helpers import assert_loaded, parameter_count

EXTRA_CASES = {"tiny_in_batch": {"lengths": [4000, 300, 7], "options": {"normalize": False}}}
EXTRA_INPUT_SEED = 20250615
ESPNET_CASES = {**CASES, **EXTRA_CASES}

# What ESPnet's LibriSpeech torchaudio-HuBERT recipes set (train_ssl_torchaudiohubert_base_960h_pretrain_it0.yaml at
# espnet 753f40d6, the commit the espnet_hubert_base_iter0 card names), minus the GPU-only use_amp.
RECIPE = {
    "grad_clip": 5.0, "batch_type": "numel", "batch_bins": 48000000, "num_workers": 64, "accum_grad": 2,
    "max_epoch": 250, "patience": None, "init": None, "best_model_criterion": [["valid", "loss", "min"]],
    "keep_nbest_models": 10, "unused_parameters": True, "input_size": 1,
    "collate_fn_conf": {"label_downsampling": 2, "pad": False, "rand_crop": True},
    "encoder": "torchaudio_hubert",
    "encoder_conf": {"encoder_projection_dropout": 0.1, "encoder_attention_dropout": 0.1,
                     "encoder_ff_interm_dropout": 0.0, "encoder_dropout": 0.1, "encoder_layer_drop": 0.05},
    "model": "torchaudio", "optim": "adam", "optim_conf": {"lr": 0.0005}, "scheduler": "warmuplr",
    "scheduler_conf": {"warmup_steps": 32000}, "frontend": None, "normalize": None, "specaug": None,
}
_CONV_32 = [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]]
FIXTURES = {
    # the base recipe: group-norm extractor, post-LN; fewer channels, layers and a smaller positional conv
    "espnet_hubert_base_like": {
        "imitates": "espnet_hubert_base_iter0", "hub_entry": "espnet_hubert_base_iter0", "seed": 8101,
        "pos_conv_names": "weight_norm", "num_classes": 8,
        "tag": "hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0",
        "encoder_conf": {"extractor_conv_layer_config": _CONV_32, "encoder_embed_dim": 32, "encoder_num_layers": 3,
                         "encoder_num_heads": 4, "encoder_ff_interm_features": 64, "encoder_pos_conv_kernel": 16,
                         "encoder_pos_conv_groups": 4, "final_dim": 16},
    },
    # torchaudio's HuBERT Large options (hubert_pretrain_large): layer-norm extractor, pre-LN layers
    "espnet_hubert_large_like": {
        "imitates": "wavlablm_ek_40k", "hub_entry": "wavlablm_ek_40k", "seed": 8102,
        "pos_conv_names": "weight_norm", "num_classes": 8,
        "tag": "hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont",
        "encoder_conf": {"extractor_mode": "layer_norm", "extractor_conv_bias": False,
                         "extractor_conv_layer_config": _CONV_32, "encoder_embed_dim": 48, "encoder_num_layers": 3,
                         "encoder_num_heads": 4, "encoder_ff_interm_features": 96, "encoder_pos_conv_kernel": 16,
                         "encoder_pos_conv_groups": 4, "encoder_layer_norm_first": True, "final_dim": 16},
    },
    # other options: conv bias, another 320-stride stack whose last width equals the model width (torchaudio still
    # projects), an odd positional kernel, 5 heads; torchaudio 2.11's weight-norm names; read through the
    # espnet_hubert_custom entry (config.yaml beside the checkpoint)
    "espnet_hubert_variant": {
        "imitates": "espnet_hubert_base_iter0", "hub_entry": "espnet_hubert_custom", "seed": 8103,
        "pos_conv_names": "parametrizations", "num_classes": 5,
        "tag": "hubert_iter1_train_ssl_torchaudiohubert_variant",
        "encoder_conf": {"extractor_mode": "group_norm", "extractor_conv_bias": True,
                         "extractor_conv_layer_config": [[24, 10, 5], [32, 8, 4], [32, 4, 4], [40, 2, 2], [40, 2, 2]],
                         "encoder_embed_dim": 40, "encoder_num_layers": 2, "encoder_num_heads": 5,
                         "encoder_ff_interm_features": 56, "encoder_pos_conv_kernel": 15,
                         "encoder_pos_conv_groups": 5, "encoder_layer_norm_first": False, "final_dim": 12},
    },
}
# The released architectures, as ESPnet builds them: the base recipes' encoder_conf (dropouts only, the rest
# TorchAudioHuBERTPretrainEncoder's defaults), and torchaudio's HuBERT Large options (hubert_pretrain_large), which the
# large releases' names point to (their config.yaml could not be read here). Recorded in the like fixtures' meta.json.
RELEASED = {
    "espnet_hubert_base_like": ("espnet_hubert_base_iter0", {}),
    "espnet_hubert_large_like": ("wavlablm_ek_40k", {
        "extractor_mode": "layer_norm", "extractor_conv_bias": False, "encoder_embed_dim": 1024,
        "encoder_num_layers": 24, "encoder_num_heads": 16, "encoder_ff_interm_features": 4096,
        "encoder_layer_norm_first": True}),
}
# S3PRL 0.4.18's download URLs of the imitated releases (s3prl/upstream/espnet_hubert/hubconf.py)
URLS = {
    "espnet_hubert_base_iter0": (
        "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/resolve/main/exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/valid.loss.ave.pth",
        "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/raw/main/exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/config.yaml",
    ),
    "wavlablm_ek_40k": (
        "https://huggingface.co/espnet/WavLabLM-EK-40k/resolve/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9/5epoch.pth",
        "https://huggingface.co/espnet/WavLabLM-EK-40k/raw/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9/config.yaml",
    ),
}
# espnet2/text/phoneme_tokenizer.py imports g2p_en at module level, and importing g2p_en downloads NLTK data; the
# hubert path never tokenises text, so an inert module stands in (any attribute use raises).
STUBBED = ("g2p_en",)


def install_stubs() -> List[str]:
    stubbed = []
    for name in STUBBED:
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)

        def module_getattr(attr, _name=name):
            if attr.startswith("__"):
                raise AttributeError(attr)
            raise RuntimeError(f"{_name}.{attr}: stand-in module of the espnet_hubert fixture generator")

        module.__getattr__ = module_getattr
        sys.modules[name] = module
        stubbed.append(name)
    return stubbed


@contextlib.contextmanager
def working_directory(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def espnet_config(name: str, spec: dict, scratch: Path) -> Path:
    """Run ESPnet's HubertTask argument parsing and model building in dry-run mode; return its config.yaml."""
    from espnet2.tasks.hubert import HubertTask

    root = scratch / name
    recipe = json.loads(json.dumps(RECIPE))
    recipe["encoder_conf"].update(spec["encoder_conf"])
    conf = Path("conf/tuning") / f"train_ssl_{spec['tag'].split('train_ssl_')[1]}.yaml"
    tokens = Path(f"data/en_token_list_km{spec['num_classes']}/word/tokens.txt")
    output_dir = Path("exp") / f"{spec['tag']}_raw"
    for path in (conf, tokens):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / conf).write_text(yaml.safe_dump(recipe, sort_keys=False))
    (root / tokens).write_text("".join(f"{i}\n" for i in range(spec["num_classes"])))
    with working_directory(root):
        HubertTask.main(cmd=["--config", str(conf), "--token_list", str(tokens), "--output_dir", str(output_dir),
                             "--num_classes", str(spec["num_classes"]), "--dry_run", "true"])
    path = root / output_dir / "config.yaml"
    text = path.read_text()
    assert str(scratch) not in text and os.getcwd() not in text, "a local path leaked into config.yaml"
    return path


def release_state_dict(model: torch.nn.Module, pos_conv_names: str) -> dict:
    """``model.state_dict()`` as ESPnet's trainer saves it, the positional conv's weight norm named as asked."""
    state = model.state_dict()
    if pos_conv_names == "parametrizations":
        return state
    assert pos_conv_names == "weight_norm"
    renames = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
    out = type(state)()
    for key, value in state.items():
        for new, old in ((new, old) for old, new in renames.items() if key.endswith(old)):
            key = key[: -len(old)] + new
        out[key] = value
    assert sum(k.endswith(("weight_g", "weight_v")) for k in out) == 2, "expected one weight-normed conv"
    return out


def released_architecture(name: str) -> dict:
    """ESPnet's encoder for a released architecture: its wav2vec2 parameter count and shapes (torchaudio's init does
    not run on the meta device, so it is built on the CPU, then dropped)."""
    from espnet2.asr.encoder.hubert_encoder import TorchAudioHuBERTPretrainEncoder

    imitates, overrides = RELEASED[name]
    conf = {**RECIPE["encoder_conf"], **overrides}
    encoder = TorchAudioHuBERTPretrainEncoder(input_size=1, num_classes=500, **conf)
    wav2vec2 = encoder.hubert_pretrain_model.wav2vec2
    return {"name": imitates, "encoder_conf": conf, "wav2vec2_parameters": parameter_count(wav2vec2),
            "wav2vec2_state_dict_shapes": {k: list(v.shape) for k, v in wav2vec2.state_dict().items()}}


@contextlib.contextmanager
def cached_release(hub_entry: str, pth: Path, config: Path, cache: Path):
    """Point the hub entry's two downloads at the files, named as S3PRL's cache names them."""
    import s3prl.upstream.espnet_hubert.hubconf as hubconf

    cache.mkdir(parents=True, exist_ok=True)
    by_url = {}
    for url, source in zip(URLS[hub_entry], (pth, config)):
        target = cache / f"{hashlib.sha256(url.encode()).hexdigest()}.{Path(url).name}"
        shutil.copyfile(source, target)
        by_url[url] = str(target)

    def urls_to_filepaths(*urls, refresh=False, download=True):
        paths = [by_url[url] for url in urls]
        return paths if len(paths) > 1 else paths[0]

    old = hubconf._urls_to_filepaths
    hubconf._urls_to_filepaths = urls_to_filepaths
    try:
        yield
    finally:
        hubconf._urls_to_filepaths = old


def build_espnet_hubert(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    stubbed = install_stubs()
    import espnet
    import s3prl
    from espnet2.tasks.hubert import HubertTask
    from s3prl.nn import S3PRLUpstream

    generator = torch.Generator().manual_seed(EXTRA_INPUT_SEED)
    case_inputs = {**case_inputs, **{case: make_wavs(spec["lengths"], generator) for case, spec in EXTRA_CASES.items()}}
    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        config_path = espnet_config(name, spec, check_dir / "espnet")
        torch.manual_seed(spec["seed"])
        model, _ = HubertTask.build_model_from_file(config_path, None, "cpu")
        perturb(model, seed=spec["seed"] + 1)
        model.eval()
        pth_name = Path(URLS.get(spec["hub_entry"], ("valid.loss.ave.pth",))[0]).name
        pth = check_dir / name / pth_name
        pth.parent.mkdir(parents=True)
        torch.save(release_state_dict(model, spec["pos_conv_names"]), pth)
        shutil.copyfile(pth, folder / "original_s3prl.pt")
        shutil.copyfile(config_path, folder / "config.yaml")

        expected = {k: v.clone() for k, v in model.encoder.hubert_pretrain_model.state_dict().items()}
        if spec["hub_entry"] == "espnet_hubert_custom":
            context = contextlib.nullcontext()
        else:
            context = cached_release(spec["hub_entry"], pth, config_path, check_dir / name / "s3prl_cache")
        with context:
            expert = S3PRLUpstream(spec["hub_entry"], path_or_url=str(folder / "original_s3prl.pt")).upstream
            assert_loaded(expert.model.state_dict(), expected, f"{name}: S3PRL's ESPnet model")
            tensors, info = run_s3prl_cases(spec["hub_entry"], folder / "original_s3prl.pt", case_inputs, ESPNET_CASES)
        produced.append(_write(folder, name, spec, tensors, info, extra_meta={
            "espnet_version": espnet.__version__,
            "s3prl_stubs": {m: "stand-in module; any attribute use raises" for m in stubbed},
            "encoder_conf": spec["encoder_conf"], "num_classes": spec["num_classes"],
            "pos_conv_weight_norm_names": spec["pos_conv_names"],
            "checks": {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model),
                       "wav2vec2_parameters": parameter_count(expert.model.wav2vec2)},
            **({"released": released_architecture(name)} if name in RELEASED else {}),
        }, s3prl_version=s3prl.__version__))
    return produced


def _write(folder: Path, name: str, spec: dict, tensors: dict, info: dict, extra_meta: dict,
           s3prl_version: str) -> FixtureFiles:
    common_meta = {
        "format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name,
        "family": "espnet_hubert", "imitates": spec["imitates"], "hub_entry": spec["hub_entry"],
        "s3prl_version": s3prl_version, "torch_version": torch.__version__,
    }
    st_meta = write_expected(folder, tensors, common_meta, ESPNET_CASES)
    files = ["original_s3prl.pt", "config.yaml", "expected.safetensors"]
    state = torch.load(folder / "original_s3prl.pt", map_location="cpu", weights_only=True)
    meta = {
        **common_meta,
        "cases": json.loads(st_meta["cases"]),
        "versions": versions(),
        "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED,
                  "extra_inputs": EXTRA_INPUT_SEED},
        "s3prl_upstream": info,
        "checkpoint_keys": sorted(state),
        "original_s3prl_pickled_globals": sorted(
            torch.serialization.get_unsafe_globals_in_checkpoint(str(folder / "original_s3prl.pt"))),
        **extra_meta,
        "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)} for f in files},
    }
    write_json(folder / "meta.json", meta)
    return FixtureFiles(name=name, folder=folder, meta=meta)

"""WavLM and UniSpeech-SAT parity fixtures: ``{cfg, model}`` checkpoints built with S3PRL's own WavLM classes.

Both families use the official WavLM checkpoint format (microsoft/unilm, and the files S3PRL hosts in
``s3prl/converted_ckpts``): ``{"cfg": dict, "model": state_dict}``, loaded by S3PRL's ``upstream/wavlm/expert.py`` and
``upstream/unispeech_sat/expert.py`` as ``WavLM(WavLMConfig(cfg)).load_state_dict(model)`` (strict). UniSpeech-SAT is
the same ``WavLM`` class with ``relative_position_embedding=False, gru_rel_pos=False`` (plain attention).

The cfg is the attribute dict of S3PRL's ``WavLMConfig`` with the overrides of each fixture, as the official files
hold the full training config. ``num_buckets`` / ``max_distance`` differ from both S3PRL's defaults (320 / 1280) and
transformers' (320 / 800), and the ``max_distance`` of the large-like fixture is below the longest relative position
of the cases, so a converter that ignores the checkpoint's values fails the fixture.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List

import torch

from fixture_common import (FORMAT_VERSION, INPUT_SEED, FixtureFiles, assert_state_dicts_equal, perturb,
                            run_s3prl_cases, sha256, versions, write_expected, write_json)

CONV16 = "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2"  # total stride 320, as the experts hard-code

# keys of the relative position bias; "omit" drops them from the cfg so S3PRL's defaults apply
REL_POS_KEYS = ("relative_position_embedding", "num_buckets", "max_distance", "gru_rel_pos")

WAVLM_FIXTURES: Dict[str, dict] = {
    "wavlm_base_like": {
        "imitates": "wavlm_base_plus",
        "seed": 2001,
        "cfg": dict(extractor_mode="default", layer_norm_first=False, conv_bias=False, normalize=False,
                    conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                    encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, encoder_layerdrop=0.05,
                    relative_position_embedding=True, gru_rel_pos=True, num_buckets=64, max_distance=100),
    },
    "wavlm_large_like": {
        "imitates": "wavlm_large",
        "seed": 2002,
        # max_distance 30 < 49 (the longest relative position in 1 s): the bucket clamp is exercised too
        "cfg": dict(extractor_mode="layer_norm", layer_norm_first=True, conv_bias=True, normalize=True,
                    conv_feature_layers=CONV16, encoder_layers=3, encoder_embed_dim=48, encoder_ffn_embed_dim=96,
                    encoder_attention_heads=4, conv_pos=15, conv_pos_groups=3, encoder_layerdrop=0.0,
                    relative_position_embedding=True, gru_rel_pos=True, num_buckets=40, max_distance=30,
                    # a training-config key S3PRL's WavLMConfig does not know (and ignores)
                    label_rate=50),
    },
    "wavlm_variant": {
        # not a released model: no post_extract_proj (embed dim == last conv dim), conv dims varying per layer,
        # relu, conv bias with group norm, 2 heads, even pos-conv kernel, an ungated bias (gru_rel_pos=False: no
        # gate weights); num_buckets / max_distance absent from the cfg, so S3PRL's defaults (320 / 1280, not
        # transformers' 800) apply
        "imitates": "wavlm_base",
        "seed": 2003,
        "cfg": dict(extractor_mode="default", layer_norm_first=False, conv_bias=True, normalize=False,
                    activation_fn="relu",
                    conv_feature_layers="[(24,10,5),(24,3,2),(24,3,2),(24,3,2),(24,3,2),(32,2,2),(32,2,2)]",
                    encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=48, encoder_attention_heads=2,
                    conv_pos=8, conv_pos_groups=2, relative_position_embedding=True, gru_rel_pos=False),
        "omit": ("num_buckets", "max_distance"),
    },
}

UNISPEECH_SAT_FIXTURES: Dict[str, dict] = {
    "unispeech_sat_base_like": {
        "imitates": "unispeech_sat_base",
        "seed": 3001,
        # the converted UniSpeech-SAT files come from fairseq configs without WavLM's relative-position keys
        "cfg": dict(extractor_mode="default", layer_norm_first=False, conv_bias=False, normalize=False,
                    conv_feature_layers=CONV16, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                    encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4, encoder_layerdrop=0.05),
        "omit": REL_POS_KEYS,
    },
    "unispeech_sat_large_like": {
        "imitates": "unispeech_sat_large",
        "seed": 3002,
        "cfg": dict(extractor_mode="layer_norm", layer_norm_first=True, conv_bias=True, normalize=True,
                    conv_feature_layers=CONV16, encoder_layers=3, encoder_embed_dim=48, encoder_ffn_embed_dim=96,
                    encoder_attention_heads=4, conv_pos=15, conv_pos_groups=3, encoder_layerdrop=0.0,
                    relative_position_embedding=False, gru_rel_pos=False),
    },
}


def _cfg(spec: dict) -> dict:
    """S3PRL's WavLMConfig attributes (defaults) with the fixture's overrides, minus the omitted keys."""
    from s3prl.upstream.wavlm.WavLM import WavLMConfig

    cfg = {**WavLMConfig().__dict__, **spec["cfg"]}
    for key in spec.get("omit", ()):
        del cfg[key]
    for key, value in cfg.items():
        assert value is None or isinstance(value, (str, int, float, bool)), (key, value)
    return cfg


def _build(family: str, fixtures: Dict[str, dict], hub_entry: str, out_root: Path,
           case_inputs: dict) -> List[FixtureFiles]:
    import s3prl
    from s3prl.upstream.wavlm.WavLM import WavLM, WavLMConfig

    produced = []
    for name, spec in fixtures.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        cfg = _cfg(spec)

        # ---- the random model, built with S3PRL's own classes, every parameter perturbed
        torch.manual_seed(spec["seed"])
        model = perturb(WavLM(WavLMConfig(cfg)), seed=spec["seed"] + 1)
        model.eval()
        conv_dim = eval(cfg["conv_feature_layers"])[-1][0]
        assert (model.post_extract_proj is None) == (conv_dim == cfg["encoder_embed_dim"])
        weights = model.state_dict()
        has_bias = "encoder.layers.0.self_attn.relative_attention_bias.weight" in weights
        assert has_bias == bool(cfg.get("relative_position_embedding", False)), name

        # ---- the official WavLM / S3PRL-hosted format
        torch.save({"cfg": cfg, "model": weights}, path)
        reread = torch.load(path, map_location="cpu", weights_only=True)  # S3PRL's torch.load(ckpt) default
        assert reread["cfg"] == cfg
        assert_state_dicts_equal(reread["model"], weights, "original_s3prl.pt")

        # ---- expected hidden states through S3PRLUpstream (the expert loads the file strictly)
        tensors, info = run_s3prl_cases(hub_entry, path, case_inputs)
        common_meta = {
            "format": "s3prl_hf.parity_fixture",
            "format_version": FORMAT_VERSION,
            "fixture": name,
            "family": family,
            "imitates": spec["imitates"],
            "hub_entry": hub_entry,
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
            "cfg": cfg,
            "cfg_keys_omitted": list(spec.get("omit", ())),
            "original_s3prl_pickled_globals": sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))),
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)}
                      for f in ("original_s3prl.pt", "expected.safetensors")},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
        logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s", name, info["num_layers"],
                                                   info["hidden_sizes"])
    return produced


def build_wavlm(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    return _build("wavlm", WAVLM_FIXTURES, "wavlm_local", out_root, case_inputs)


def build_unispeech_sat(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    return _build("unispeech_sat", UNISPEECH_SAT_FIXTURES, "unispeech_sat_local", out_root, case_inputs)

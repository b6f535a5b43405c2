"""PaSST parity fixtures, built and run with S3PRL's own code (``upstream/passt`` and its vendored ``hear21passt``).

S3PRL's passt expert needs no timm: the vendored package copies timm's ViT pieces, and torchaudio's ``Resample``,
``get_mel_banks`` and masking transforms are pure Python.

* **Sizes**: every hub entry builds PaSST-S (width 768, 12 blocks, 12 heads, mlp ratio 4, 527 classes) in a
  ``models/passt.py`` function named after the release (``passt_s_swa_p16_128_ap476``, ...), looked up by
  ``get_model`` when the model is built. While a fixture is built and run, that function is replaced by one that
  calls the module's own ``_create_vision_transformer`` for the same release with smaller width, depth, mlp ratio,
  qkv bias and classes (the release's ``default_cfg`` with the fixture's class count, so that ``load_pretrained``
  keeps the head); 12 heads are kept (no weight records them). ``get_model``'s ``input_tdim`` and strides, the mel
  frontend, the wrapper and the loading code are S3PRL's. meta.json ``s3prl_patches`` records it.
* **Download**: ``vit_helpers.load_pretrained`` downloads ``default_cfg["url"]`` with ``urls_to_filepaths``; that
  name in ``vit_helpers`` is pointed at the fixture's file (the URL is asserted). The hub entries take no
  checkpoint argument (``S3PRLUpstream(path_or_url=...)`` fails on them), so while a fixture runs, ``s3prl.hub``'s
  entry is wrapped to accept the ``ckpt`` that S3PRLUpstream passes and serve that file at the release URL.
* **Formats**: ``passt_base_like`` is a plain state dict, as released. The variants use what S3PRL's loading also
  accepts: a 3-channel patch weight (``adapt_input_conv`` sums it), and ``{"model": state_dict}`` with a 2-D patch
  weight (``checkpoint_filter_fn`` unwraps and reshapes it). The builder checks that S3PRL's network holds exactly
  the checkpoint's tensors after those steps.

Cases: ``batch`` / ``single`` / ``batch_normalize`` of the shared set, ``uneven`` (a longest utterance that 800 does
not divide), and ``shortest_*``, whose longest utterance is the shortest S3PRL accepts (its reflect padding by half the largest window needs fewer samples than the 32 kHz batch;
the shared ``short`` case fails). ``meta.json`` ``s3prl_failures`` records what S3PRL raises one sample below.
``extra.safetensors`` of ``passt_base_like`` holds S3PRLUpstream's output with other ``extra_conf`` windows.
"""
from __future__ import annotations

import contextlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import List

import torch

import native_fixture_helpers
from fixture_common import CASES, FixtureFiles, make_wavs, perturb, run_s3prl_cases, sha256, write_safetensors_canonical
from native_fixture_helpers import assert_loaded, parameter_count, patched_attributes, write_fixture

OWN_CASES_SEED = 7390
# get_model's `arch` of each release: (the default_cfgs key holding its URL, the input_tdim hear21passt passes)
ARCHS = {
    "passt_s_swa_p16_128_ap476": ("passt_s_swa_p16_128_ap476", 998),
    "passt_20sec": ("passt-s-f128-20sec-p16-s10-ap474-swa", 2000),
    "passt_30sec": ("passt-s-f128-30sec-p16-s10-ap473-swa", 3000),
    "stfthop100": ("passt_s_swa_f128_stfthop100_p16_s10_ap473", 3200),
    "stfthop160": ("passt_s_swa_f128_stfthop160_p16_s10_ap473", 2000),
}
# default_cfgs key -> the models/passt.py function get_model calls for it
MODEL_FUNCTIONS = {
    "passt_s_swa_p16_128_ap476": "passt_s_swa_p16_128_ap476",
    "passt-s-f128-20sec-p16-s10-ap474-swa": "passt_s_f128_20sec_p16_s10_ap474_swa",
    "passt-s-f128-30sec-p16-s10-ap473-swa": "passt_s_f128_30sec_p16_s10_ap473_swa",
    "passt_s_swa_f128_stfthop100_p16_s10_ap473": "passt_s_swa_f128_stfthop100_p16_s10_ap473",
    "passt_s_swa_f128_stfthop160_p16_s10_ap473": "passt_s_swa_f128_stfthop160_p16_s10_ap473",
}
# hub entry -> the arch its hear21passt module (upstream/passt/hear21passt/<entry without "passt_">.py) builds
ENTRY_ARCHS = {
    "passt_base": "passt_s_swa_p16_128_ap476", "passt_base2level": "passt_s_swa_p16_128_ap476",
    "passt_base2levelmel": "passt_s_swa_p16_128_ap476", "passt_base20sec": "passt_20sec",
    "passt_base30sec": "passt_30sec", "passt_hop100base": "stfthop100", "passt_hop100base2lvl": "stfthop100",
    "passt_hop100base2lvlmel": "stfthop100", "passt_hop160base": "stfthop160", "passt_hop160base2lvl": "stfthop160",
    "passt_hop160base2lvlmel": "stfthop160",
}

OWN_CASES = {
    # 1281 samples: the base entries' 2560-sample reflect padding needs more than 2 * 1280 samples at 32 kHz
    "shortest_base": {"lengths": [1281, 900], "options": {"normalize": False}},
    # base2levelmel's second pass (4 x 5120 samples) pads by 10240: 5121 samples and more
    "shortest_4x": {"lengths": [5121, 2000], "options": {"normalize": False}},
    # the hop-100 / hop-160 2-level entries' second pass (5 x 5120) pads by 12800: 6401 samples and more
    "shortest_5x": {"lengths": [6401, 1000], "options": {"normalize": False}},
    # a longest utterance that 800 does not divide (S3PRL's frame count is then ceil(len / 800) without cutting)
    "uneven": {"lengths": [13001, 7777, 3003], "options": {"normalize": False}},
}
FIXTURES = {
    "passt_base_like": {
        "imitates": "passt_base", "hub_entry": "passt_base", "seed": 7301, "format": "state_dict",
        "cases": ["batch", "single", "batch_normalize", "shortest_base", "uneven"],
        "sizes": {"embed_dim": 48, "depth": 2, "mlp_ratio": 4.0, "qkv_bias": True, "num_classes": 10},
        "failures": {"one_sample_short": [1280, 700], "shared_short_case": [500, 320]},
        "extra": {
            # longer windows (two time patches) every 20 ms
            "window_0.32_stride_0.02": {"window_secs": 0.32, "stride_secs": 0.02},
            # non-overlapping 0.5 s windows every 0.5 s (five time patches)
            "window_0.5_stride_0.5": {"window_secs": 0.5, "stride_secs": 0.5},
        },
    },
    "passt_base2levelmel_variant": {
        "imitates": "passt_base2levelmel", "hub_entry": "passt_base2levelmel", "seed": 7302,
        "format": "state_dict, 3-channel patch weight",
        "cases": ["batch", "shortest_4x"],
        "sizes": {"embed_dim": 36, "depth": 3, "mlp_ratio": 2.0, "qkv_bias": False, "num_classes": 7},
        "failures": {"one_sample_short": [5120, 4000]},
    },
    "passt_hop160base2lvlmel_variant": {
        "imitates": "passt_hop160base2lvlmel", "hub_entry": "passt_hop160base2lvlmel", "seed": 7303,
        "format": "{'model': state_dict}, 2-D patch weight",
        "cases": ["batch", "shortest_5x"],
        "sizes": {"embed_dim": 24, "depth": 2, "mlp_ratio": 3.0, "qkv_bias": True, "num_classes": 5},
        "failures": {"one_sample_short": [6400, 6400]},
    },
}
RELEASE_SIZES = {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0, "num_classes": 527}


def small_passt(passt, release: str, sizes: dict):
    """A stand-in for the release's model function: S3PRL's `_create_vision_transformer` with the fixture's sizes."""

    def create(pretrained=False, **kwargs):
        kwargs["num_classes"] = sizes["num_classes"]
        # load_pretrained drops the head when num_classes differs from the default_cfg's
        default_cfg = dict(passt.default_cfgs[release], num_classes=sizes["num_classes"])
        return passt._create_vision_transformer(
            release, pretrained=pretrained, default_cfg=default_cfg, distilled=True, patch_size=16, num_heads=12,
            embed_dim=sizes["embed_dim"], depth=sizes["depth"], mlp_ratio=sizes["mlp_ratio"],
            qkv_bias=sizes["qkv_bias"], **kwargs)

    return create


@contextlib.contextmanager
def s3prl_runs_fixture(hub_entry: str, sizes: dict):
    """While the block runs: the entry's release function builds the small network, ``urls_to_filepaths`` serves the
    file S3PRLUpstream passes as ``ckpt`` at the release URL, and the hub entry accepts that ``ckpt``."""
    import s3prl.hub as hub
    import s3prl.upstream.passt.hear21passt.models.helpers.vit_helpers as vit_helpers
    import s3prl.upstream.passt.hear21passt.models.passt as passt

    release, _ = ARCHS[ENTRY_ARCHS[hub_entry]]
    url = passt.default_cfgs[release]["url"]
    original_entry = getattr(hub, hub_entry)
    served = {}

    def urls_to_filepaths(requested, **kwargs):
        assert requested == url, (requested, url)
        return served["path"]

    def entry(ckpt, **kwargs):
        served["path"] = str(ckpt)
        return original_entry(**kwargs)

    with patched_attributes(passt, **{MODEL_FUNCTIONS[release]: small_passt(passt, release, sizes)}), \
            patched_attributes(vit_helpers, urls_to_filepaths=urls_to_filepaths), \
            patched_attributes(hub, **{hub_entry: entry}):
        yield passt


def release_layout(state: "OrderedDict[str, torch.Tensor]", layout: str, g: torch.Generator) -> dict:
    """The checkpoint as saved, in one of the layouts S3PRL's loading accepts."""
    state = OrderedDict((k, v.clone()) for k, v in state.items())
    if layout == "state_dict":
        return state
    if layout == "state_dict, 3-channel patch weight":
        weight = state["patch_embed.proj.weight"]
        state["patch_embed.proj.weight"] = (weight / 3 + 0.05 * torch.randn(weight.shape[0], 3, *weight.shape[2:],
                                                                             generator=g)).contiguous()
        return state
    if layout == "{'model': state_dict}, 2-D patch weight":
        state["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].reshape(
            state["patch_embed.proj.weight"].shape[0], -1).contiguous()
        return {"model": state}
    raise ValueError(layout)


def as_s3prl_loads(saved: dict) -> dict:
    """What S3PRL's `checkpoint_filter_fn` + `adapt_input_conv` make of the saved file (to check its load)."""
    state = OrderedDict(saved["model"] if "model" in saved else saved)
    weight = state["patch_embed.proj.weight"]
    if weight.dim() < 4:
        weight = weight.reshape(weight.shape[0], -1, 16, 16)
    state["patch_embed.proj.weight"] = weight.float().sum(dim=1, keepdim=True).to(weight.dtype)
    return state


def s3prl_failures(hub_entry: str, path: Path, failures: dict) -> dict:
    """What S3PRLUpstream raises on batches shorter than the entry's windows allow."""
    from s3prl.nn import S3PRLUpstream

    up = S3PRLUpstream(hub_entry, path_or_url=str(path))
    up.eval()
    recorded = {}
    for name, lengths in failures.items():
        wavs = torch.randn(len(lengths), max(lengths), generator=torch.Generator().manual_seed(0)) * 0.1
        try:
            with torch.no_grad():
                up(wavs, torch.tensor(lengths))
            recorded[name] = {"lengths": lengths, "raised": None}
        except Exception as error:  # noqa: BLE001 - recording what S3PRL raises
            recorded[name] = {"lengths": lengths, "raised": type(error).__name__, "message": str(error)[:200]}
    return recorded


def write_extra(folder: Path, name: str, hub_entry: str, path: Path, inputs: dict, extra: dict) -> dict:
    """S3PRLUpstream's output on the ``batch`` inputs for each ``extra_conf`` (``extra.safetensors``)."""
    tensors, infos = {}, {}
    for case, conf in extra.items():
        cases = {case: {"lengths": CASES["batch"]["lengths"], "inputs_from": "batch",
                        "options": {"normalize": False, "extra_conf": conf}}}
        out, info = run_s3prl_cases(hub_entry, path, {case: inputs["batch"]}, cases)
        tensors.update(out)
        infos[case] = {"extra_conf": conf, "inputs_from": "batch", "s3prl_upstream": info}
    write_safetensors_canonical(tensors, folder / "extra.safetensors",
                                {"fixture": name, "what": "S3PRLUpstream outputs with other extra_conf options",
                                 "cases": json.dumps(infos, sort_keys=True)})
    return infos


def release_parameter_counts(passt) -> dict:
    """Parameters of each release's network as S3PRL's code builds it, and those the hidden states use (all but the
    distillation head)."""
    counts = {}
    for arch, (release, input_tdim) in ARCHS.items():
        torch.manual_seed(0)
        net = passt.get_model(arch=arch, pretrained=False, input_tdim=input_tdim)
        counts[arch] = {
            "default_cfg": release, "input_tdim": input_tdim,
            "parameters": parameter_count(net),
            "used_by_hidden_states": sum(p.numel() for n, p in net.named_parameters() if not n.startswith("head_dist.")),
            "time_new_pos_embed": list(net.time_new_pos_embed.shape),
            "freq_new_pos_embed": list(net.freq_new_pos_embed.shape),
        }
    return counts


def _inputs(case_inputs: dict) -> dict:
    g = torch.Generator().manual_seed(OWN_CASES_SEED)
    return {**case_inputs, **{case: make_wavs(spec["lengths"], g) for case, spec in OWN_CASES.items()}}


def build_passt(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl.upstream.passt.hear21passt.models.passt as passt

    inputs = _inputs(case_inputs)
    release_counts = release_parameter_counts(passt)
    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        arch = ENTRY_ARCHS[spec["hub_entry"]]
        release, input_tdim = ARCHS[arch]
        with s3prl_runs_fixture(spec["hub_entry"], spec["sizes"]), \
                patched_attributes(native_fixture_helpers, CASES={**CASES, **OWN_CASES}):
            torch.manual_seed(spec["seed"])
            net = perturb(passt.get_model(arch=arch, pretrained=False, input_tdim=input_tdim), seed=spec["seed"] + 1)
            saved = release_layout(net.state_dict(), spec["format"], torch.Generator().manual_seed(spec["seed"] + 2))
            torch.save(saved, path)
            from s3prl.nn import S3PRLUpstream

            expert = S3PRLUpstream(spec["hub_entry"], path_or_url=str(path)).upstream
            assert_loaded(expert.model.net.state_dict(), as_s3prl_loads(saved), f"{name}: S3PRL's PaSST")
            failures = s3prl_failures(spec["hub_entry"], path, spec["failures"])
            assert all(f["raised"] for f in failures.values()), failures
            extra = write_extra(folder, name, spec["hub_entry"], path, inputs, spec["extra"]) if "extra" in spec else {}
            patches = {
                f"s3prl.upstream.passt.hear21passt.models.passt.{MODEL_FUNCTIONS[release]}": {
                    "release": release, "sizes": spec["sizes"], "num_heads": 12, "patch_size": 16,
                    "released_sizes": RELEASE_SIZES},
                "s3prl.upstream.passt.hear21passt.models.helpers.vit_helpers.urls_to_filepaths":
                    "returns original_s3prl.pt for the release URL",
                f"s3prl.hub.{spec['hub_entry']}": "accepts S3PRLUpstream's ckpt (the file served at the release URL)",
            }
            extra_meta = {
                "s3prl_patches": patches, "release": {"default_cfg": release, "get_model_arch": arch,
                                                      "input_tdim": input_tdim,
                                                      "url": passt.default_cfgs[release]["url"],
                                                      "entry_archs": ENTRY_ARCHS},
                "format": spec["format"], "own_cases": {c: OWN_CASES[c] for c in spec["cases"] if c in OWN_CASES},
                "seeds_own_cases": OWN_CASES_SEED, "s3prl_failures": failures, "extra_cases": extra,
                "release_parameter_counts": release_counts,
                "checks": {"s3prl_loaded_every_weight": True, "s3prl_parameters": parameter_count(expert.model.net)},
            }
            if extra:
                extra_meta["files_extra"] = {"extra.safetensors": {
                    "bytes": (folder / "extra.safetensors").stat().st_size,
                    "sha256": sha256(folder / "extra.safetensors")}}
            produced.append(write_fixture(out_root, name, spec, inputs, family="passt", extra_meta=extra_meta))
    return produced

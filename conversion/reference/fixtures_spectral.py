"""Spectral fixtures: S3PRL's signal-processing baselines (``upstream/baseline``, ``upstream/log_stft``).

These upstreams have no weights: the "original" is S3PRL's yaml config, copied byte for byte into each fixture as
``original_s3prl.yaml``. Expected states come from ``S3PRLUpstream`` exactly as a user builds it:

* the hub names ``fbank``, ``fbank_no_cmvn``, ``mfcc``, ``spectrogram``, ``mel``, ``linear`` (``baseline`` is S3PRL's
  alias of ``fbank``): ``S3PRLUpstream(name)``, nothing else given;
* ``stft_mag``: S3PRL's hub function has no default config (``stft_mag(model_config, ...)``), so
  ``S3PRLUpstream("stft_mag")`` raises a TypeError (recorded in ``meta.json`` ``s3prl_failures``); it runs with
  ``extra_conf={"model_config": <upstream/log_stft/stft_mag.yaml>}``;
* variants, other yaml configs written by the generator: ``S3PRLUpstream("baseline_local" | "stft_mag",
  extra_conf={"model_config": original_s3prl.yaml})`` (``path_or_url`` does not work for these entries: S3PRL passes
  it as ``ckpt=`` and the functions need ``model_config``).

The OnlinePreprocessor fixtures (``mel``, ``linear``, the online variant) add two cases: ``unsorted`` (the first
utterance is not the longest: the expert takes its length ratio from the first one) and ``trailing_zeros`` (valid
samples that are exactly zero at the end of utterances, the longest included: the preprocessor finds each length
from the last non-zero sample).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List

import torch

from fixture_common import (CASES, FORMAT_VERSION, FixtureFiles, make_wavs, sha256, versions, write_expected,
                            write_json)

SPECTRAL_INPUT_SEED = 20250701
# Only the online fixtures get these; per-utterance experts see them as any other signal.
ONLINE_CASES = {
    "unsorted": {"lengths": [4321, 8000, 700, 6000], "options": {"normalize": False}},
    "trailing_zeros": {"lengths": [8000, 5000, 3000], "options": {"normalize": False}},
}
# valid samples zeroed at the end of each utterance of `trailing_zeros` (the last one entirely: the preprocessor then
# takes the whole padded length as its length)
TRAILING_ZEROS = [400, 37, 3000]
# The layer norm of `batch_normalize` is the same code for every family: two fixtures keep it, the others stay small.
BASE_CASES = {case: spec for case, spec in CASES.items() if case != "batch_normalize"}
# The log_stft variant does not centre its frames: S3PRLUpstream cannot match 2 frames to the 5 it expects for
# 800 samples and fails on the short case (meta.json s3prl_failures).
NO_SHORT = {case: spec for case, spec in BASE_CASES.items() if case != "short"}

KALDI_VARIANT = {
    "kaldi": {"feat_type": "fbank",
              "fbank": {"num_mel_bins": 40, "frame_length": 25.0, "frame_shift": 12.5, "window_type": "hamming",
                        "use_energy": True, "raw_energy": False, "low_freq": 40.0, "high_freq": -400.0,
                        "dither": 0.0},
              "mfcc": {"num_ceps": 13}},  # another feat_type's section: S3PRL ignores it
    "delta": {"order": 1, "win_length": 7, "mode": "constant"},
    "cmvn": {"use_cmvn": True, "eps": 1e-5},
}
ONLINE_VARIANT = {"win_ms": 20, "hop_ms": 20, "n_freq": 201, "n_mels": 40, "n_mfcc": 20, "eps": 1e-8,
                  "input": {"feat_type": "mfcc", "channel": 0, "log": False, "delta": 2, "cmvn": False}}
LOG_STFT_VARIANT = {"feat_type": "spectrogram",
                    "spectrogram": {"n_fft": 512, "hop_length": 160, "win_length": 400, "window": "hann",
                                    "center": False, "log": True}}

# fixture -> what S3PRL runs. "yaml": S3PRL's own file (relative to s3prl/upstream) or a config to write.
FIXTURES: Dict[str, dict] = {
    "fbank_like": {"imitates": "fbank", "hub_entry": "fbank", "yaml": "baseline/fbank.yaml", "cases": CASES},
    "fbank_no_cmvn_like": {"imitates": "fbank_no_cmvn", "hub_entry": "fbank_no_cmvn",
                           "yaml": "baseline/fbank_no_cmvn.yaml", "cases": BASE_CASES},
    "mfcc_like": {"imitates": "mfcc", "hub_entry": "mfcc", "yaml": "baseline/mfcc.yaml", "cases": BASE_CASES},
    "spectrogram_like": {"imitates": "spectrogram", "hub_entry": "spectrogram", "yaml": "baseline/spectrogram.yaml",
                         "cases": BASE_CASES},
    "mel_like": {"imitates": "mel", "hub_entry": "mel", "yaml": "baseline/mel.yaml",
                 "cases": {**CASES, **ONLINE_CASES}},
    "linear_like": {"imitates": "linear", "hub_entry": "linear", "yaml": "baseline/linear.yaml",
                    "cases": {**BASE_CASES, **ONLINE_CASES}},
    "stft_mag_like": {"imitates": "stft_mag", "hub_entry": "stft_mag", "yaml": "log_stft/stft_mag.yaml",
                      "extra_conf": True, "cases": BASE_CASES},
    "spectral_kaldi_variant": {"imitates": "fbank", "hub_entry": "baseline_local", "yaml": KALDI_VARIANT,
                               "extra_conf": True, "cases": BASE_CASES},
    "spectral_online_variant": {"imitates": "mel", "hub_entry": "baseline_local", "yaml": ONLINE_VARIANT,
                                "extra_conf": True, "cases": {**BASE_CASES, **ONLINE_CASES}},
    "stft_mag_variant": {"imitates": "stft_mag", "hub_entry": "stft_mag", "yaml": LOG_STFT_VARIANT,
                         "extra_conf": True, "cases": NO_SHORT},
}


def make_online_inputs() -> dict:
    g = torch.Generator().manual_seed(SPECTRAL_INPUT_SEED)
    inputs = {case: make_wavs(spec["lengths"], g) for case, spec in ONLINE_CASES.items()}
    wavs, lengths = inputs["trailing_zeros"]
    for i, (length, zeros) in enumerate(zip(lengths.tolist(), TRAILING_ZEROS)):
        wavs[i, length - zeros : length] = 0.0
    return inputs


# fbank_like also records what S3PRL does with utterances of one kaldi frame (NaN after CMVN) and of no frame.
ONE_FRAME = [16000, 450]
NO_FRAME = [16000, 300]


def kaldi_edge_cases(hub_entry: str) -> dict:
    """S3PRL on an utterance of a single frame (CMVN's unbiased std is NaN) and one shorter than a window."""
    from s3prl.nn import S3PRLUpstream

    up = S3PRLUpstream(hub_entry).eval()
    g = torch.Generator().manual_seed(SPECTRAL_INPUT_SEED + 1)
    out = {}
    wavs, wavs_len = make_wavs(ONE_FRAME, g)
    with torch.no_grad():
        hs, hs_len = up(wavs, wavs_len)
    nan = torch.isnan(hs[0])
    out["one_frame"] = {"lengths": ONE_FRAME, "seed": SPECTRAL_INPUT_SEED + 1, "hs_len": hs_len[0].tolist(),
                        "nan_frames": [[b, t] for b, t in nan.any(-1).nonzero().tolist()],
                        "nan_everywhere_in_those_frames": bool(nan.any(-1).eq(nan.all(-1)).all())}
    wavs, wavs_len = make_wavs(NO_FRAME, g)
    try:
        with torch.no_grad():
            up(wavs, wavs_len)
    except AssertionError as error:
        out["no_frame"] = {"lengths": NO_FRAME, "raised": "AssertionError", "message": str(error)}
    else:
        raise AssertionError("S3PRL no longer fails on an utterance shorter than one window")
    return out


def s3prl_failures(hub_entry: str, model_config: Path, case_inputs: dict, cases: List[str]) -> dict:
    """What S3PRLUpstream raises where the fixture has no expected states."""
    from s3prl.nn import S3PRLUpstream

    failures = {}
    if hub_entry == "stft_mag":
        try:
            S3PRLUpstream("stft_mag")
        except TypeError as error:
            failures["no_model_config"] = {"call": 'S3PRLUpstream("stft_mag")', "raised": "TypeError",
                                           "message": str(error)}
    for case in cases:
        up = S3PRLUpstream(hub_entry, extra_conf={"model_config": str(model_config)}).eval()
        wavs, wavs_len = case_inputs[case]
        try:
            with torch.no_grad():
                up(wavs, wavs_len)
        except (AssertionError, RuntimeError) as error:
            failures[case] = {"lengths": wavs_len.tolist(), "raised": type(error).__name__, "message": str(error)}
        else:
            raise AssertionError(f"{hub_entry}: S3PRL no longer fails on {case}")
    return failures


def build_spectral(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import s3prl
    import yaml
    from s3prl import upstream

    from fixture_common import run_s3prl_cases

    upstream_dir = Path(upstream.__file__).parent
    inputs = {**case_inputs, **make_online_inputs()}
    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        original = folder / "original_s3prl.yaml"
        if isinstance(spec["yaml"], str):
            shutil.copyfile(upstream_dir / spec["yaml"], original)  # S3PRL's own file, byte for byte
        else:
            original.write_text(yaml.safe_dump(spec["yaml"], sort_keys=False))
        with open(original) as handle:
            feature_config = yaml.load(handle, Loader=yaml.FullLoader)  # as S3PRL's experts load it
        extra_conf = {"model_config": str(original)} if spec.get("extra_conf") else None
        tensors, info = run_s3prl_cases(spec["hub_entry"], None, inputs, spec["cases"], extra_conf=extra_conf)
        skipped = [case for case in BASE_CASES if case not in spec["cases"]]
        failures = s3prl_failures(spec["hub_entry"], original, inputs, skipped) \
            if spec["hub_entry"] == "stft_mag" else {}
        common_meta = {
            "format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name,
            "family": "spectral", "imitates": spec["imitates"], "hub_entry": spec["hub_entry"],
            "s3prl_version": s3prl.__version__, "torch_version": torch.__version__,
        }
        source = {"extra_conf": {"model_config": "original_s3prl.yaml"}} if extra_conf else {}
        st_meta = write_expected(folder, tensors, common_meta, spec["cases"], source=source)
        files = ["original_s3prl.yaml", "expected.safetensors"]
        meta = {
            **common_meta,
            "original": "original_s3prl.yaml",
            "s3prl_yaml": spec["yaml"] if isinstance(spec["yaml"], str) else None,
            "feature_config": feature_config,
            "cases": json.loads(st_meta["cases"]),
            "versions": versions(),
            "seeds": {"inputs": SPECTRAL_INPUT_SEED},
            "trailing_zeros": TRAILING_ZEROS if "trailing_zeros" in spec["cases"] else None,
            "s3prl_upstream": info,
            "s3prl_failures": failures,
            "s3prl_kaldi_edge_cases": kaldi_edge_cases(spec["hub_entry"]) if name == "fbank_like" else None,
            "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)} for f in files},
        }
        write_json(folder / "meta.json", meta)
        produced.append(FixtureFiles(name=name, folder=folder, meta=meta))
    return produced

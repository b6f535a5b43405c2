"""`s3prl_hf.frontends` against torchaudio 2.11 and S3PRL's torchaudio-based preprocessors.

The expected numbers were computed in the S3PRL reference environment by
conversion/reference/fixtures_frontends.py and committed in tests/fixtures/frontends; torchaudio is not needed here.
Tolerance: max |diff| <= 1e-5 * max |expected| per case.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s3prl_hf.frontends import (KaldiFeatures, StftFeatures, StftMagnitude, append_deltas, compute_deltas,
                                create_dct, melscale_fbanks, utterance_cmvn)
from s3prl_hf.frontends.fbank_cmvn import normalize_audio_config

FOLDER = Path(__file__).parent / "fixtures" / "frontends"
META = json.loads((FOLDER / "frontends.json").read_text())
TENSORS = load_file(FOLDER / "frontends.safetensors")
WAVS = TENSORS["wavs_int16"].float() / 32768
LENS = TENSORS["wavs_len"].tolist()
UTTERANCES = [WAVS[i, :n] for i, n in enumerate(LENS)]
RELATIVE_TOLERANCE = 1e-5


def cases(function_prefix):
    return sorted(name for name, case in META["cases"].items() if case["function"].startswith(function_prefix))


def relative_error(got, expected):
    assert got.shape == expected.shape, f"shape {tuple(got.shape)} vs torchaudio {tuple(expected.shape)}"
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def assert_close(got, expected, what):
    error = relative_error(got, expected)
    assert error <= RELATIVE_TOLERANCE, f"{what}: max |diff| / max |expected| = {error:.3g}"


@pytest.mark.parametrize("name", cases("torchaudio.compliance.kaldi"))
@torch.no_grad()
def test_kaldi_features_match_torchaudio(name):
    case = META["cases"][name]
    frontend = KaldiFeatures(case["feat_type"], **case["options"])
    for i, wav in enumerate(UTTERANCES):
        got = frontend(wav)
        assert got.shape[-1] == frontend.output_dim
        assert_close(got, TENSORS[f"{name}.{i}"], f"{name}, utterance {i}")


@pytest.mark.parametrize("name", cases("torchaudio.functional.compute_deltas"))
def test_deltas_match_torchaudio(name):
    win = META["cases"][name]["options"]["win_length"]
    fbank = TENSORS["fbank_tera.0"]
    assert_close(compute_deltas(fbank.T.contiguous(), win_length=win), TENSORS[name], name)


@pytest.mark.parametrize("name", cases("s3prl.upstream.baseline.extracter"))
@torch.no_grad()
def test_s3prl_kaldi_extracter_chain_matches(name):
    config = META["cases"][name]["config"]
    frontend = KaldiFeatures(config["kaldi"]["feat_type"], **config["kaldi"][config["kaldi"]["feat_type"]])
    for i, wav in enumerate(UTTERANCES):
        got = utterance_cmvn(append_deltas(frontend(wav), config["delta"]["order"], config["delta"]["win_length"]))
        assert got.shape[-1] == META["cases"][name]["output_dim"]
        assert_close(got, TENSORS[f"{name}.{i}"], f"{name}, utterance {i}")


@pytest.mark.parametrize("name", cases("s3prl.upstream.baseline.preprocessor"))
@torch.no_grad()
def test_s3prl_online_preprocessor_matches(name):
    audio = META["cases"][name]["audio"]
    feature = audio["input"]
    frontend = StftFeatures(win_ms=audio["win_ms"], hop_ms=audio["hop_ms"], n_freq=audio["n_freq"],
                            n_mels=audio["n_mels"], n_mfcc=audio["n_mfcc"], feat_type=feature["feat_type"],
                            log=feature["log"], delta=feature["delta"], cmvn=feature["cmvn"])
    got, lengths = frontend(WAVS, LENS)
    assert frontend.output_dim == META["cases"][name]["output_dim"]
    assert_close(got, TENSORS[name], name)
    if feature["cmvn"]:
        # S3PRL's rounding: 1590 samples in a 2400-sample batch count 11 frames where 1 + 1590 // 160 = 10
        assert lengths == [16, 11, 5]
        expected_zero_rows = (TENSORS[name].abs().sum(-1) == 0).sum(-1).tolist()
        assert expected_zero_rows == [16 - n for n in lengths]


@pytest.mark.parametrize("name", cases("s3prl.upstream.log_stft"))
@torch.no_grad()
def test_s3prl_log_stft_spectrogram_matches(name):
    options = META["cases"][name]["options"]
    frontend = StftMagnitude(options["n_fft"], options["hop_length"], options["win_length"], center=options["center"],
                             log=options["log"])
    for i, wav in enumerate(UTTERANCES):
        got = frontend(wav)
        assert got.shape[-1] == frontend.output_dim
        assert_close(got, TENSORS[f"{name}.{i}"], f"{name}, utterance {i}")


@pytest.mark.parametrize("name", cases("torchaudio.functional.melscale_fbanks"))
def test_melscale_fbanks_match_torchaudio(name):
    assert_close(melscale_fbanks(**META["cases"][name]["options"]), TENSORS[name], name)


@pytest.mark.parametrize("name", cases("torchaudio.functional.create_dct"))
def test_create_dct_matches_torchaudio(name):
    assert_close(create_dct(*META["cases"][name]["args"]), TENSORS[name], name)


def test_every_case_is_tested():
    tested = set()
    for prefix in ("torchaudio.compliance.kaldi", "torchaudio.functional", "s3prl.upstream.baseline",
                   "s3prl.upstream.log_stft"):
        tested |= set(cases(prefix))
    assert tested == set(META["cases"])


def test_buffers_are_non_persistent_and_recomputable():
    frontend = KaldiFeatures("mfcc", window_type="hamming")
    assert frontend.state_dict() == {}
    for name, value in frontend.buffer_values().items():
        assert torch.equal(getattr(frontend, name), value)
    stft = StftFeatures(n_mels=80, feat_type="mel")
    assert stft.state_dict() == {} and set(stft.buffer_values()) == {"window", "mel_fb"}


@pytest.mark.parametrize("feat_type, options, message", [
    ("fbank", {"dither": 1.0}, "dither"),
    ("fbank", {"no_such_option": 1}, "unknown options"),
    ("fbank", {"window_type": "kaiser"}, "window_type"),
    ("mfcc", {"num_ceps": 40, "num_mel_bins": 23}, "num_ceps"),
    ("pitch", {}, "feat_type"),
])
def test_kaldi_rejects_what_it_cannot_reproduce(feat_type, options, message):
    with pytest.raises(ValueError, match=message):
        KaldiFeatures(feat_type, **options)


def test_kaldi_needs_one_full_window():
    with pytest.raises(ValueError, match="400 samples"):
        KaldiFeatures("fbank")(torch.zeros(399))


@pytest.mark.parametrize("feat_type", ["mel", "linear"])
def test_stft_features_reject_other_fft_sizes(feat_type):
    # S3PRL's OnlinePreprocessor applies MelScale(n_stft=201) whatever the feature and fails on other sizes
    with pytest.raises(ValueError, match="n_freq=201"):
        StftFeatures(n_freq=257, feat_type=feat_type)


@pytest.mark.parametrize("options, message", [
    ({"feat_type": "wav"}, "feat_type"),
    ({"feat_type": "mfcc", "n_mfcc": 129}, "n_mfcc"),
    ({"win_ms": 30}, "win_length <= n_fft"),
])
def test_stft_features_reject_what_s3prl_cannot_run(options, message):
    with pytest.raises(ValueError, match=message):
        StftFeatures(**options)


def test_stft_magnitude_rejects_a_window_longer_than_the_fft():
    with pytest.raises(ValueError, match="win_length <= n_fft"):
        StftMagnitude(256, 128, 400)


def test_audio_config_defaults_follow_s3prls_create_transform():
    """The fbank + CMVN frontend of APC, VQ-APC, NPC, DeCoAR and DeCoAR 2.0: S3PRL's audio config schema."""
    audio = normalize_audio_config({"feat_type": "fbank", "feat_dim": 40, "decode_wav": True})
    assert audio == {"feat_type": "fbank", "feat_dim": 40, "cmvn": True}
    with pytest.raises(ValueError, match="dither"):
        normalize_audio_config({"feat_type": "fbank", "feat_dim": 40, "dither": 1.0})
    with pytest.raises(ValueError, match="unknown"):
        normalize_audio_config({"feat_type": "fbank", "feat_dim": 40, "frame_len": 25})


def test_package_does_not_import_torchaudio():
    code = ("import sys, torch; import s3prl_hf, s3prl_hf.frontends, s3prl_hf.models.mockingjay; "
            "assert 'torchaudio' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)

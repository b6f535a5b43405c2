"""S3PRL's signal-processing baselines (spectral family): names that load without weights or downloads.

The fixtures (tests/fixtures/*_like and spectral_*_variant, family "spectral") hold S3PRL's yaml config as their
original and the features `S3PRLUpstream` computed; tests/test_parity.py converts each yaml and compares every case.
Here: the names themselves (built-in configs, nothing downloaded), config-only folders, S3PRL's edge cases, and the
configs S3PRL's experts cannot run.
"""

import json

import pytest
import torch
import transformers
import yaml

from conftest import FIXTURES, fixture_dirs, fixture_meta, load_cases
from s3prl_hf import AutoUpstream, S3PRLUpstream, auto, cli, registry
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.conversion import convert_checkpoint
from s3prl_hf.models.spectral import S3prlSpectralConfig, S3prlSpectralModel
from test_parity import assert_hidden_states_match

SPECTRAL = [folder for folder in fixture_dirs() if fixture_meta(folder)["family"] == "spectral"]
# fixtures of a hub name run exactly as S3PRLUpstream(name) runs it (stft_mag: with S3PRL's own stft_mag.yaml)
NAMED = [folder for folder in SPECTRAL if fixture_meta(folder)["s3prl_yaml"]]
NAMES = ["fbank", "fbank_no_cmvn", "mfcc", "spectrogram", "mel", "linear", "stft_mag"]


@pytest.fixture
def no_download(monkeypatch):
    """Fail on any attempt to resolve a config or weights file (local or Hub)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to load files for {args[:1]}")

    monkeypatch.setattr(auto.AutoConfig, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(refuse))


def _run(model, case, normalize=False):
    with torch.no_grad():
        return model(case["wavs"], case["wavs_len"], normalize=normalize)


def test_every_spectral_name_has_a_fixture_made_by_s3prl():
    assert sorted(fixture_meta(folder)["imitates"] for folder in NAMED) == sorted(NAMES)
    assert sorted(registry.list_upstreams(family="spectral", include_aliases=True)) == sorted(NAMES + ["baseline"])


@pytest.mark.parametrize("folder", NAMED, ids=lambda folder: folder.name)
def test_name_loads_without_download_and_matches_s3prl(folder, no_download):
    meta = fixture_meta(folder)
    model = AutoUpstream.from_pretrained(meta["imitates"])
    assert not model.training and model.config.s3prl_name == meta["imitates"]
    assert [model.num_layers, list(model.hidden_sizes), list(model.downsample_rates)] == \
        [meta["s3prl_upstream"][key] for key in ("num_layers", "hidden_sizes", "downsample_rates")]
    for case, expected in load_cases(folder).items():
        out = _run(model, expected, meta["cases"][case]["normalize"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected["hs"], expected["hs_len"],
                                   f"{meta['imitates']}/{case}")


@pytest.mark.parametrize("folder", NAMED, ids=lambda folder: folder.name)
def test_reference_config_is_s3prls_yaml_verbatim(folder):
    meta = fixture_meta(folder)
    config = reference_config(meta["imitates"])
    # what S3PRL's expert loaded from its own yaml file, and the file itself parsed here
    assert config.feature_config == meta["feature_config"]
    assert config.feature_config == yaml.safe_load((folder / "original_s3prl.yaml").read_text())
    assert config.expert == ("log_stft" if meta["imitates"] == "stft_mag" else "baseline")


def test_baseline_is_fbank(no_download):
    assert registry.resolve_name("baseline") == "fbank"
    model = AutoUpstream.from_pretrained("baseline")
    assert model.config.s3prl_name == "fbank"
    assert model.config.to_dict()["feature_config"] == reference_config("fbank").feature_config


def test_name_takes_config_overrides_and_refuses_unknown_ones(no_download):
    assert AutoUpstream.from_pretrained("mel", normalize=True).config.normalize is True
    with pytest.raises(TypeError, match="no_such_option"):
        AutoUpstream.from_pretrained("mel", no_such_option=1)


def test_convert_without_checkpoint_writes_a_config_only_folder(tmp_path):
    folder = convert_checkpoint("baseline", None, tmp_path / "fbank")
    assert sorted(path.name for path in folder.iterdir()) == ["README.md", "config.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "s3prl_spectral" and config["s3prl_name"] == "fbank"
    assert config["feature_config"] == reference_config("fbank").feature_config
    card = (folder / "README.md").read_text()
    assert "No checkpoint" in card and "s3prl-hf convert --name fbank --output fbank" in card


def test_config_only_folder_loads_and_matches_s3prl(tmp_path):
    folder = FIXTURES / "fbank_like"
    expected = load_cases(folder)["batch"]
    assert cli.main(["convert", "--name", "fbank", "--output", str(tmp_path / "fbank")]) == 0
    for model in (AutoUpstream.from_pretrained(tmp_path / "fbank"),
                  transformers.AutoModel.from_pretrained(tmp_path / "fbank"),
                  S3PRLUpstream("fbank", path_or_url=str(tmp_path / "fbank")).eval()):
        out = model(expected["wavs"], expected["wavs_len"])
        assert_hidden_states_match(list(out[0]), list(out[1]), expected["hs"], expected["hs_len"], type(model).__name__)


def test_save_pretrained_writes_no_weights_and_reloads(tmp_path):
    model = AutoUpstream.from_pretrained("stft_mag")
    model.save_pretrained(tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["config.json"]
    again, info = S3prlSpectralModel.from_pretrained(tmp_path, output_loading_info=True)
    assert again.config.to_dict() == model.config.to_dict()
    assert not any(info.values())


@pytest.mark.parametrize("device_map", ["cpu", "auto", {"": "cpu"}, torch.device("cpu")])
def test_device_map_puts_the_buffers_on_one_device(device_map):
    model = AutoUpstream.from_pretrained("mfcc", device_map=device_map)
    assert {buffer.device.type for buffer in model.buffers()} == {"cuda" if device_map == "auto"
                                                                  and torch.cuda.is_available() else "cpu"}
    with pytest.raises(ValueError, match="one device"):
        AutoUpstream.from_pretrained("mfcc", device_map={"a": "cpu", "b": "meta"})


def test_dtype_is_ignored_features_stay_float32():
    model = AutoUpstream.from_pretrained("linear", dtype=torch.bfloat16)
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    with torch.no_grad():
        out = model(torch.randn(1, 4000) * 0.1)
    assert out.hidden_states[0].dtype == torch.float32


def test_s3prl_drop_in_runs_baseline_local_with_a_yaml(tmp_path):
    # S3PRL itself needs extra_conf={"model_config": yaml} for baseline_local; a file as path_or_url works here
    folder = next(folder for folder in SPECTRAL if folder.name == "spectral_online_variant")
    expected = load_cases(folder)["trailing_zeros"]
    upstream = S3PRLUpstream("baseline_local", path_or_url=str(folder / "original_s3prl.yaml")).eval()
    with torch.no_grad():
        hs, hs_len = upstream(expected["wavs"], expected["wavs_len"])
    assert_hidden_states_match(hs, hs_len, expected["hs"], expected["hs_len"], "baseline_local")


def test_s3prl_drop_in_takes_the_yaml_as_s3prl_does_through_extra_conf():
    folder = next(folder for folder in SPECTRAL if folder.name == "stft_mag_variant")
    expected = load_cases(folder)["batch"]
    assert fixture_meta(folder)["cases"]["batch"]["extra_conf"] == {"model_config": "original_s3prl.yaml"}
    upstream = S3PRLUpstream("stft_mag", extra_conf={"model_config": str(folder / "original_s3prl.yaml")}).eval()
    with torch.no_grad():
        hs, hs_len = upstream(expected["wavs"], expected["wavs_len"])
    assert_hidden_states_match(hs, hs_len, expected["hs"], expected["hs_len"], "stft_mag extra_conf")
    with pytest.raises(ValueError, match="extra_conf"):
        S3PRLUpstream("stft_mag", extra_conf={"model_config": "x.yaml", "refresh": True})


# --- S3PRL's edge cases -----------------------------------------------------------------------------------------
def test_one_kaldi_frame_gives_nan_after_cmvn_like_s3prl_on_request():
    recorded = fixture_meta(FIXTURES / "fbank_like")["s3prl_kaldi_edge_cases"]
    lengths = recorded["one_frame"]["lengths"]
    wavs = torch.randn(len(lengths), max(lengths), generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        out = AutoUpstream.from_pretrained("fbank", s3prl_nan_cmvn=True)(wavs, torch.tensor(lengths))
    assert out.hidden_states_lengths[0].tolist() == recorded["one_frame"]["hs_len"]
    nan = torch.isnan(out.hidden_states[0])
    assert nan.any(-1).nonzero().tolist() == recorded["one_frame"]["nan_frames"]
    assert torch.equal(nan.any(-1), nan.all(-1))


def test_one_kaldi_frame_gives_zeros_after_cmvn_by_default():
    recorded = fixture_meta(FIXTURES / "fbank_like")["s3prl_kaldi_edge_cases"]
    lengths = recorded["one_frame"]["lengths"]
    wavs = torch.randn(len(lengths), max(lengths), generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        exact = AutoUpstream.from_pretrained("fbank", s3prl_nan_cmvn=True)(wavs, torch.tensor(lengths))
        out = AutoUpstream.from_pretrained("fbank")(wavs, torch.tensor(lengths))
    assert torch.isfinite(out.hidden_states[0]).all()
    nan = torch.isnan(exact.hidden_states[0]).any(-1)
    # S3PRL's NaN frame (the one-frame utterance) is zeros; every other frame is S3PRL's
    assert out.hidden_states[0][nan].abs().max() == 0
    assert torch.equal(out.hidden_states[0][~nan], exact.hidden_states[0][~nan])


def test_utterance_shorter_than_one_window_fails_like_s3prl():
    recorded = fixture_meta(FIXTURES / "fbank_like")["s3prl_kaldi_edge_cases"]["no_frame"]
    lengths = recorded["lengths"]
    with pytest.raises(ValueError, match="at least one window of 400 samples"):
        AutoUpstream.from_pretrained("fbank")(torch.randn(2, max(lengths)) * 0.1, torch.tensor(lengths))


def test_uncentred_stft_fails_on_the_short_case_like_s3prl():
    folder = next(folder for folder in SPECTRAL if folder.name == "stft_mag_variant")
    failure = fixture_meta(folder)["s3prl_failures"]["short"]
    assert failure["raised"] == "AssertionError"
    model = convert_spectral_yaml(folder)
    with pytest.raises(ValueError, match=r"S3PRL fails on such a batch too \(S3PRLUpstream._match_length"):
        model(torch.randn(2, max(failure["lengths"])) * 0.1, torch.tensor(failure["lengths"]))


def test_stft_mag_has_no_default_config_in_s3prl():
    recorded = fixture_meta(next(f for f in NAMED if f.name == "stft_mag_like"))["s3prl_failures"]["no_model_config"]
    assert recorded["raised"] == "TypeError" and "model_config" in recorded["message"]


def convert_spectral_yaml(folder):
    from s3prl_hf.models.spectral.convert_spectral import convert_spectral, load_s3prl_yaml

    meta = fixture_meta(folder)
    return convert_spectral(reference_config(meta["imitates"]), load_s3prl_yaml(folder / "original_s3prl.yaml"))


# --- configs S3PRL's experts cannot run are refused -----------------------------------------------------------
MEL = reference_config("mel").feature_config
FBANK = reference_config("fbank").feature_config


@pytest.mark.parametrize("expert, config, message", [
    ("baseline", {**MEL, "input": {**MEL["input"], "feat_type": "wav"}}, "cannot match"),
    ("baseline", {**MEL, "input": {**MEL["input"], "feat_type": "pitch"}}, "feat_type"),
    ("baseline", {**MEL, "n_freq": 257}, "n_freq"),
    ("baseline", {**MEL, "n_mfcc": 200}, "n_mfcc"),
    ("baseline", {**MEL, "win_ms": 30}, "torch.stft"),
    ("baseline", {**MEL, "sample_rate": 8000}, "16000"),
    ("baseline", {**MEL, "input": {**MEL["input"], "gain": 2}}, "unsupported input options"),
    ("baseline", {k: v for k, v in MEL.items() if k != "input"}, "neither a 'kaldi' nor an 'input'"),
    ("baseline", {**FBANK, "cmvn": {}}, "use_cmvn"),
    ("baseline", {**FBANK, "delta": {"order": 2, "width": 5}}, "unsupported delta options"),
    ("baseline", {**FBANK, "kaldi": {"feat_type": "fbank", "fbank": {"dither": 1.0}}}, "dither"),
    ("baseline", {**FBANK, "kaldi": {"feat_type": "fbank", "fbank": {"sample_frequency": 16000}}}, "sample_frequency"),
    ("baseline", {**FBANK, "kaldi": {"feat_type": "pitch", "pitch": {}}}, "feat_type"),
    ("baseline", {**FBANK, "kaldi": {"feat_type": "mfcc", "fbank": {}}}, "no 'mfcc' options"),
    ("log_stft", {"spectrogram": {"n_fft": 512, "hop_length": 320, "win_length": 512, "window": "hamming",
                                  "center": True, "log": False}}, "only defines 'hann'"),
    ("log_stft", {"spectrogram": {"n_fft": 512, "hop_length": 320}}, "lacks"),
    ("log_stft", {"spectrogram": {"n_fft": 256, "hop_length": 320, "win_length": 512, "window": "hann",
                                  "center": True, "log": False}}, "win_length <= n_fft"),
    ("other", FBANK, "expert must be one of"),
])
def test_configs_s3prl_cannot_run_are_refused(expert, config, message):
    with pytest.raises(ValueError, match=message):
        S3prlSpectralModel(S3prlSpectralConfig(expert=expert, feature_config=config))


def test_a_yaml_that_is_not_a_feature_config_is_a_format_error(tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "bad.yaml").write_text("input: {feat_type: wav}\n")
    for path in (tmp_path / "list.yaml", tmp_path / "bad.yaml"):
        with pytest.raises(CheckpointFormatError, match="list.yaml|cannot run"):
            convert_checkpoint("mel", path, tmp_path / "out")
    assert not (tmp_path / "out").exists()

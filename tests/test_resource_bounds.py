"""Resource bombs: sizes from a checkpoint's config or a config.json are checked before anything is allocated.

Each crafted case must fail fast with one clear line (a ValueError; `CheckpointFormatError` is one). The
requirement is under 5 s; the tests allow `GUARD_SECONDS` so that a loaded CI machine does not make them flaky,
which still catches the unbounded cases (they ran for minutes, or until memory ran out).
"""

import copy
import dataclasses
import json
import shutil
import time

import pytest
import torch
import transformers

from conftest import FIXTURES
from s3prl_hf import AutoUpstream
from tiny_models import FAMILY_CLASSES
from s3prl_hf.config_bounds import FIELD_BOUNDS, ConfigError, check_config, declared_fields
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint, parse_conv_layers
from s3prl_hf.conversion import convert_checkpoint
from s3prl_hf.weight_shapes import WeightsMismatchError, read_safetensors_header

GUARD_SECONDS = 30

HUBERT = FIXTURES / "hubert_base_like" / "original_s3prl.pt"
APC = FIXTURES / "apc_like" / "original_s3prl.pt"


def fails_fast(error, match, action):
    start = time.monotonic()
    with pytest.raises(error, match=match) as caught:
        action()
    elapsed = time.monotonic() - start
    assert elapsed < GUARD_SECONDS, f"took {elapsed:.1f} s"
    assert "\n" not in str(caught.value), f"not one line: {caught.value}"
    return caught.value


@pytest.fixture(scope="module")
def hubert_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bounds") / "hubert"
    convert_checkpoint("hubert_base", HUBERT, folder)
    return folder


def edited_folder(source, target, **changes):
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


def crafted_hubert(tmp_path, **model_cfg):
    state = load_original_checkpoint(HUBERT)
    state["model_cfg"].update(model_cfg)
    path = tmp_path / "crafted.pt"
    torch.save(state, path)
    return path


# --- converters -------------------------------------------------------------------------------------------------


def test_fairseq_cfg_with_100000_layers_is_refused(tmp_path):
    checkpoint = crafted_hubert(tmp_path, encoder_layers=100000)
    fails_fast(ValueError, r"num_hidden_layers=100000 is out of range: expected an integer in \[1, 256\]",
               lambda: convert_checkpoint("hubert_base", checkpoint, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_conv_feature_layers_bomb_is_refused_before_it_is_evaluated(tmp_path):
    checkpoint = crafted_hubert(tmp_path, conv_feature_layers="[(16,10,5)] * 100000000")
    fails_fast(CheckpointFormatError, "conv_feature_layers .* is out of bounds",
               lambda: convert_checkpoint("hubert_base", checkpoint, tmp_path / "out"))


@pytest.mark.parametrize("spec, why", [
    ("[(16,10,5)] * 100000000", "exceeds"),
    ("[(16,10,5)] * 8 * 8 * 8 * 8 * 8 * 8 * 8 * 8", "gives more than 64"),
    ("[(16,10,5)] + [(16,3,2)] * 64", "a list of 65 entries, more than 64"),
    ("[(99999999999, 10, 5)]", "exceeds"),
    ("[(16,10,5)]" + " + [(16,3,2)]" * 3000, "at most 10000 characters"),
])
def test_parse_conv_layers_bounds_the_evaluation(spec, why):
    fails_fast(CheckpointFormatError, why, lambda: parse_conv_layers(spec))


def test_parse_conv_layers_still_reads_fairseq_strings():
    assert parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2") == (
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2)
    assert parse_conv_layers("[(512, 10, 5)] + [(512, 8, 4)] + [(512, 4, 2)] * 3 + [(512, 1, 1)] * 2")[-1] == (
        512, 1, 1)


def test_apc_feat_dim_1e9_is_refused(tmp_path):
    state = load_original_checkpoint(APC)
    state["config"]["data"]["audio"]["feat_dim"] = 1e9
    torch.save(state, tmp_path / "apc.pt")
    fails_fast(ValueError, r"audio_config.feat_dim=1000000000 is out of range",
               lambda: convert_checkpoint("apc_360hr", tmp_path / "apc.pt", tmp_path / "out"))


# --- from_pretrained on an edited config.json --------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    (dict(num_hidden_layers=1000000), r"num_hidden_layers=1000000 is out of range"),
    (dict(sampling_rate=1e12), r"sampling_rate=1000000000000.0 has the wrong type: expected an integer"),
    (dict(sampling_rate=10**12), r"sampling_rate=1000000000000 is out of range: expected an integer in "
                                 r"\[1000, 192000\]"),
    (dict(sampling_rate=0), r"sampling_rate=0 is out of range"),
    (dict(layer_norm_eps=-1), r"layer_norm_eps=-1 is out of range: expected a finite number in \(0, 1\]"),
    (dict(layer_norm_eps=float("nan")), r"layer_norm_eps=nan is out of range"),
    (dict(normalize="yes"), r"normalize='yes' has the wrong type: expected true or false"),
    (dict(hidden_dropout=2.0), r"hidden_dropout=2.0 is out of range"),
    (dict(conv_dim=[16] * 100000), r"conv_dim=.* has the wrong type: expected a list of at most 1024 entries"),
    (dict(num_attention_heads=5), r"hidden_size 32 is not divisible by num_attention_heads 5"),
    (dict(num_conv_pos_embedding_groups=5), r"hidden_size 32 is not divisible by num_conv_pos_embedding_groups 5"),
])
def test_config_json_out_of_bounds_is_refused(hubert_folder, tmp_path, changes, message):
    folder = edited_folder(hubert_folder, tmp_path / "edited", **changes)
    error = fails_fast(ValueError, message, lambda: AutoUpstream.from_pretrained(folder))
    assert isinstance(error, ConfigError)


@pytest.mark.parametrize("changes, message", [
    (dict(num_hidden_layers=256), r"config.json does not match the weights: \d+ weights missing"),
    (dict(hidden_size=64, num_attention_heads=4), r"weights of another shape"),
    (dict(num_hidden_layers=1), r"weights the config has no place for"),
])
def test_config_json_contradicting_the_weights_is_refused_before_building(hubert_folder, tmp_path, changes,
                                                                          message):
    folder = edited_folder(hubert_folder, tmp_path / "edited", **changes)
    fails_fast(WeightsMismatchError, message, lambda: AutoUpstream.from_pretrained(folder))
    # transformers' own entry point goes through the same check
    fails_fast(WeightsMismatchError, message, lambda: transformers.AutoModel.from_pretrained(folder))


def test_overrides_are_checked_like_the_file(hubert_folder):
    fails_fast(ValueError, "normalize='yes' has the wrong type",
               lambda: AutoUpstream.from_pretrained(hubert_folder, normalize="yes"))
    fails_fast(ValueError, "sampling_rate=0 is out of range",
               lambda: AutoUpstream.from_pretrained(hubert_folder, sampling_rate=0))


def test_truncated_weights_are_refused_from_the_header(hubert_folder, tmp_path):
    folder = tmp_path / "truncated"
    shutil.copytree(hubert_folder, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    fails_fast(WeightsMismatchError, "points past the end of the file",
               lambda: AutoUpstream.from_pretrained(folder))
    weights.write_bytes((10**15).to_bytes(8, "little") + b"{}")
    fails_fast(WeightsMismatchError, "not a safetensors file", lambda: read_safetensors_header(weights))


def test_a_folder_without_safetensors_weights_is_refused(hubert_folder, tmp_path):
    folder = tmp_path / "no_weights"
    shutil.copytree(hubert_folder, folder)
    (folder / "model.safetensors").unlink()
    fails_fast(FileNotFoundError, "holds no model weights \\(model.safetensors is missing",
               lambda: AutoUpstream.from_pretrained(folder))


def test_the_checked_folder_still_loads(hubert_folder):
    model = AutoUpstream.from_pretrained(hubert_folder, normalize=True)
    assert model.config.normalize is True and model.num_layers == 3


# --- the bounds table ---------------------------------------------------------------------------------------------


def _numeric(annotation) -> bool:
    text = str(annotation)
    return "int" in text or "float" in text


@pytest.mark.parametrize("family", sorted(FAMILY_CLASSES))
def test_every_numeric_field_of_every_family_has_a_bound(family):
    config_class = FAMILY_CLASSES[family][0]
    unbounded = [name for name, annotation in declared_fields(config_class).items()
                 if _numeric(annotation) and name not in FIELD_BOUNDS]
    assert not unbounded, f"add these fields to config_bounds.FIELD_BOUNDS: {unbounded}"


def test_declared_fields_resolve_every_annotation():
    for config_class, _ in FAMILY_CLASSES.values():
        fields = declared_fields(config_class)
        assert {"sampling_rate", "normalize", "s3prl_name"} <= set(fields)
        assert all(not isinstance(a, str) for a in fields.values())
        assert set(fields) <= {f.name for f in dataclasses.fields(config_class)}


def test_bounds_are_checked_inside_dict_fields():
    from s3prl_hf.models.mockingjay import S3prlMockingjayConfig

    config = S3prlMockingjayConfig(num_hidden_layers=1, hidden_size=8, num_attention_heads=2, intermediate_size=8)
    bad = copy.deepcopy(config)
    bad.audio_config = {**bad.audio_config, "n_mels": 10**6}
    with pytest.raises(ConfigError, match=r"audio_config.n_mels=1000000 is out of range"):
        check_config(bad)
    bad.audio_config = {**config.audio_config, "unknown": float("inf")}
    with pytest.raises(ConfigError, match=r"audio_config.unknown=inf is out of range: expected a finite number"):
        check_config(bad)


def test_config_errors_stay_strict_dataclass_errors():
    from huggingface_hub.errors import StrictDataclassError
    from s3prl_hf.models.hubert import S3prlHubertConfig

    with pytest.raises(StrictDataclassError):
        S3prlHubertConfig(sampling_rate=0)


def test_overrides_of_names_without_weights_are_checked():
    fails_fast(ValueError, "sampling_rate=0 is out of range", lambda: AutoUpstream.from_pretrained("fbank",
                                                                                                   sampling_rate=0))
    fails_fast(ValueError, "s3prl_nan_cmvn='no' has the wrong type",
               lambda: AutoUpstream.from_pretrained("fbank", s3prl_nan_cmvn="no"))

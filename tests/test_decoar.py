"""DeCoAR (S3PRL's `decoar_layers` and `decoar` entries) beyond the shared parity test: frontend buffers after
loading, the released architecture and its parameter count, the two entries on one checkpoint, the two weight
namings, converter errors. DeCoAR 2.0 is in test_decoar2.py."""

import pytest
import torch

from conftest import FIXTURES, fixture_meta, load_cases
from frontend_buffers import assert_frontend_buffers_recomputed
from native_recipes import RECIPES, assert_s3prl_parameter_count, recipe_names
from originals import edited, original
from s3prl_hf import AutoUpstream
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.decoar.convert_decoar import config_from_weights as decoar_config_from_weights
from s3prl_hf.models.decoar.convert_decoar import convert_decoar

FAMILIES = ("decoar",)
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]

# DeCoAR (the decoar_layers checkpoint) has no published count; its S3PRL count (67,257,344) is checked against
# recipes.json.


def test_every_family_has_fixtures():
    assert {fixture_meta(folder)["family"] for folder in OUR_FIXTURES} == set(FAMILIES)


# --- released architecture -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", recipe_names("decoar"))
def test_real_config_builds_on_meta_with_s3prls_parameter_count(name):
    assert_s3prl_parameter_count(name)


def test_decoar_reference_configs_are_s3prls_hard_coded_sizes():
    decoar = RECIPES["decoar_layers"]["config"]
    config = reference_config("decoar_layers")
    assert (config.feature_dim, config.hidden_size, config.num_hidden_layers) == (
        decoar["embed"], decoar["d"], decoar["encoder_layers"])
    # S3PRL's older `decoar` expert: the same sizes (one 4-layer nn.LSTM per direction), the last state only
    multi_layer = RECIPES["decoar"]["config"]
    config = reference_config("decoar")
    assert (config.feature_dim, config.hidden_size, config.num_hidden_layers) == (
        multi_layer["embed"], multi_layer["d"], multi_layer["encoder_layers"])
    assert config.last_layer_only and config.num_layers == 1 and not reference_config("decoar_layers").last_layer_only


# --- converted fixtures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_from_pretrained_recomputes_frontend_buffers(folder, converted_fixture):
    assert_frontend_buffers_recomputed(converted_fixture(folder))


def test_decoar_name_keeps_the_last_of_decoar_layers_states(converted_fixture):
    """S3PRL's `decoar` entry on decoar_layers' checkpoint: its one state is decoar_layers' last (the fixture's meta
    records that S3PRL's two experts agree bit for bit); the option comes from the name converted for."""
    folder = FIXTURES / "decoar_like"
    assert fixture_meta(folder)["checks"]["decoar_layers_last_state_max_abs_diff"] == 0.0
    last = AutoUpstream.from_pretrained(converted_fixture(folder))
    assert last.config.last_layer_only and last.num_layers == 1
    layers = convert_decoar(original(folder))
    assert not layers.config.last_layer_only and layers.num_layers == 4
    case = load_cases(folder)["batch"]
    with torch.no_grad():
        expected = layers(case["wavs"], case["wavs_len"]).hidden_states[-1]
        assert torch.equal(last(case["wavs"], case["wavs_len"]).hidden_states[0], expected)


def test_decoar_name_refuses_per_layer_names_which_s3prl_would_not_load(tmp_path):
    from s3prl_hf.conversion import convert_checkpoint

    with pytest.raises(CheckpointFormatError, match="decoar_layers"):
        convert_checkpoint("decoar", FIXTURES / "decoar_layers_variant" / "original_s3prl.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_decoar_namings_both_convert():
    """The released file's multi-layer LSTM naming and S3PRL's per-layer naming."""
    assert fixture_meta(FIXTURES / "decoar_layers_like")["naming"] == "multi_layer"
    assert fixture_meta(FIXTURES / "decoar_layers_variant")["naming"] == "per_layer"
    multi = original("decoar_layers_like")
    assert "forward_lstm.weight_ih_l3" in multi["model"]
    assert convert_decoar(multi).config.num_hidden_layers == 4


# --- converter errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, fixture, edit, message", [
    ("decoar", "decoar2_like", lambda s: None, "DeCoAR 2.0 checkpoint"),
    ("decoar", "apc_like", lambda s: None, "post_extract_proj"),
    ("decoar", "decoar_layers_like", lambda s: s["model"].pop("backward_lstm.bias_hh_l2"), "missing"),
    ("decoar", "decoar_layers_like",
     lambda s: s["model"].update({"post_extract_proj.weight": torch.zeros(12, 40)}), "80"),
])
def test_converter_errors(family, fixture, edit, message):
    assert family == "decoar"
    with pytest.raises(CheckpointFormatError, match=message):
        convert_decoar(edited(fixture, edit))


def test_decoar_config_from_weights_counts_layers():
    weights = convert_decoar(original("decoar_layers_variant")).state_dict()
    config = decoar_config_from_weights(weights, 80)
    assert (config.hidden_size, config.num_hidden_layers) == (8, 3)

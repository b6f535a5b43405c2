"""APC and VQ-APC beyond the shared parity test: the weights no hidden state uses (VQ layers, postnet) against S3PRL's
own outputs, frontend buffers after loading, the released architectures and their parameter counts, converter errors.

NPC, Modified CPC, DeCoAR and DeCoAR 2.0 have their own files; all their names are checked in test_families.py."""

import copy

import pytest
import torch

from conftest import FIXTURES, fixture_meta
from frontend_buffers import assert_frontend_buffers_recomputed
from native_recipes import RECIPES, assert_s3prl_parameter_count, recipe_names
from originals import edited, original
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.apc.convert_apc import config_from_original as apc_config_from_original
from s3prl_hf.models.apc.convert_apc import convert_apc, convert_vq_apc
from vq_postnet import assert_vq_layers_and_postnet_match_s3prls

FAMILIES = ("apc", "vq_apc")  # as the fixtures name them (both are the apc family)
CONVERTERS = {"apc": convert_apc, "vq_apc": convert_vq_apc}
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]

# Published sizes: SUPERB (Yang et al., Interspeech 2021, arXiv:2105.01051), Table 1, to 0.01 M.
PUBLISHED_PARAMETERS = {"apc_360hr": 4.11e6, "apc_960hr": 4.11e6, "vq_apc_360hr": 4.63e6, "vq_apc_960hr": 4.63e6}


def test_every_family_has_fixtures():
    assert {fixture_meta(folder)["family"] for folder in OUR_FIXTURES} == set(FAMILIES)


# --- released architectures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", recipe_names("apc"))
def test_real_config_builds_on_meta_with_s3prls_parameter_count(name):
    assert_s3prl_parameter_count(name, PUBLISHED_PARAMETERS.get(name))


@pytest.mark.parametrize("name", recipe_names("apc"))
def test_reference_config_is_what_the_converter_makes_of_the_recipe(name):
    recipe = copy.deepcopy(RECIPES[name]["config"])
    converted = apc_config_from_original(recipe["model"]["paras"], recipe["data"]["audio"])
    assert {**reference_config(name).to_dict(), "s3prl_name": None} == converted.to_dict()


# --- converted fixtures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", [f for f in OUR_FIXTURES if (f / "extra.safetensors").exists()],
                         ids=lambda f: f.name)
def test_vq_layers_and_postnet_match_s3prls(folder, converted_fixture):
    """S3PRL's hidden states never go through the VQ layers or the postnet; their weights are checked here against
    what S3PRL's own modules made of the fixture's last hidden state."""
    assert_vq_layers_and_postnet_match_s3prls(folder, converted_fixture(folder))


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_from_pretrained_recomputes_frontend_buffers(folder, converted_fixture):
    assert_frontend_buffers_recomputed(converted_fixture(folder))


# --- converter errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, fixture, edit, message", [
    ("apc", "apc_like", lambda s: s["model"].pop("rnn_layers.2.bias_hh_l0"), "missing from the checkpoint"),
    ("apc", "apc_like", lambda s: s["model"].update({"rnn_layers.3.bias_hh_l0": torch.zeros(48)}), "not used"),
    ("apc", "apc_like", lambda s: s["model"].update({"decoder.weight": torch.zeros(2)}), "not understood"),
    ("apc", "apc_like", lambda s: s["config"]["model"]["paras"].update(num_layers=2), "at least 3"),
    ("apc", "apc_like", lambda s: s["config"]["model"]["paras"].update(hidden_size=8), "shape mismatch"),
    ("apc", "apc_like", lambda s: s["config"]["data"]["audio"].update(feat_type="mfcc"), "fbank"),
    ("apc", "apc_like", lambda s: s["config"]["data"]["audio"].update(frame_shift=20), "160"),
    ("apc", "apc_like", lambda s: s["config"]["data"]["audio"].update(window_type="povey"), "already passes"),
    ("apc", "apc_like", lambda s: s.pop("config"), "'config' and 'model'"),
    ("vq_apc", "vq_apc_like", lambda s: s["config"]["model"]["paras"]["vq"].update(code_dim=[8, 6]), "sum"),
    ("apc", "npc_like", lambda s: None, "not an APC checkpoint"),
])
def test_converter_errors(family, fixture, edit, message):
    with pytest.raises(CheckpointFormatError, match=message):
        CONVERTERS[family](edited(fixture, edit))


@pytest.mark.parametrize("family, fixture", [("apc", "vq_apc_like"), ("vq_apc", "apc_like")])
def test_apc_and_vq_apc_names_take_either_checkpoint_with_a_warning(family, fixture, caplog):
    """S3PRL runs both with one expert (vq_apc's hubconf calls apc_url), so a mismatched name still converts."""
    model = CONVERTERS[family](original(fixture))
    assert (model.config.vq is not None) == (fixture == "vq_apc_like")
    assert "is converted as" in caplog.text

"""NPC beyond the shared parity test: the weights no hidden state uses (VQ layers, postnet) against S3PRL's own
outputs, frontend buffers and conv masks after loading, the released architectures and their parameter counts,
converter errors."""

import copy

import pytest
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta
from frontend_buffers import assert_frontend_buffers_recomputed
from native_recipes import RECIPES, assert_s3prl_parameter_count, recipe_names
from originals import edited
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.npc.convert_npc import config_from_original as npc_config_from_original
from s3prl_hf.models.npc.convert_npc import convert_npc
from vq_postnet import assert_vq_layers_and_postnet_match_s3prls

FAMILIES = ("npc",)
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]

# Published sizes: SUPERB (Yang et al., Interspeech 2021, arXiv:2105.01051), Table 1, to 0.01 M.
PUBLISHED_PARAMETERS = {"npc_360hr": 19.38e6, "npc_960hr": 19.38e6}


def test_every_family_has_fixtures():
    assert {fixture_meta(folder)["family"] for folder in OUR_FIXTURES} == set(FAMILIES)


# --- released architectures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", recipe_names("npc"))
def test_real_config_builds_on_meta_with_s3prls_parameter_count(name):
    assert_s3prl_parameter_count(name, PUBLISHED_PARAMETERS.get(name))


@pytest.mark.parametrize("name", recipe_names("npc"))
def test_reference_config_is_what_the_converter_makes_of_the_recipe(name):
    recipe = copy.deepcopy(RECIPES[name]["config"])
    converted = npc_config_from_original(recipe["model"]["paras"], recipe["data"]["audio"])
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


def test_npc_conv_masks_are_not_stored(converted_fixture):
    stored = load_file(converted_fixture(FIXTURES / "npc_like") / "model.safetensors")
    assert not any("conv_mask" in key for key in stored)
    assert "masked_convs.3.conv.weight" in stored and "vq_layers.3.codebook_CxE.weight" in stored


# --- converter errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, fixture, edit, message", [
    ("npc", "apc_like", lambda s: None, "not an NPC checkpoint"),
    ("npc", "npc_like", lambda s: s["model"]["masked_convs.1.conv_mask"].fill_(1.0), "fixed mask"),
    ("npc", "npc_like", lambda s: s["model"].pop("masked_convs.0.conv_mask"), "missing"),
    ("npc", "npc_like", lambda s: s["model"].pop("blocks.0.bn1.running_var"), "missing from the checkpoint"),
    ("npc", "npc_like", lambda s: s["config"]["model"]["paras"].update(mask_size=13), "Mask > kernel"),
    ("npc", "npc_variant", lambda s: s["config"]["model"]["paras"].update(disable_cross_layer=False), "missing"),
])
def test_converter_errors(family, fixture, edit, message):
    assert family == "npc"
    with pytest.raises(CheckpointFormatError, match=message):
        convert_npc(edited(fixture, edit))

"""DeCoAR 2.0 beyond the shared parity test: frontend buffers after loading, the released architecture and its
parameter count, the architecture read from weight shapes, converter errors. DeCoAR is in test_decoar.py."""

import pytest
import torch

from conftest import FIXTURES, fixture_meta
from frontend_buffers import assert_frontend_buffers_recomputed
from native_recipes import RECIPES, assert_s3prl_parameter_count, recipe_names
from originals import edited, original
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.decoar2.convert_decoar2 import config_from_weights as decoar2_config_from_weights
from s3prl_hf.models.decoar2.convert_decoar2 import convert_decoar2

FAMILIES = ("decoar2",)
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]

# Published size: SUPERB (Yang et al., Interspeech 2021, arXiv:2105.01051), Table 1, to 0.01 M.
PUBLISHED_PARAMETERS = {"decoar2": 89.84e6}


def test_every_family_has_fixtures():
    assert {fixture_meta(folder)["family"] for folder in OUR_FIXTURES} == set(FAMILIES)


# --- released architecture -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", recipe_names("decoar2"))
def test_real_config_builds_on_meta_with_s3prls_parameter_count(name):
    assert_s3prl_parameter_count(name, PUBLISHED_PARAMETERS.get(name))


def test_decoar_reference_configs_are_s3prls_hard_coded_sizes():
    decoar2 = RECIPES["decoar2"]["config"]
    config = reference_config("decoar2")
    assert (config.feature_dim, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.intermediate_size, config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (
        decoar2["input_feat"], decoar2["encoder_embed_dim"], decoar2["encoder_layers"],
        decoar2["encoder_attention_heads"], decoar2["encoder_ffn_embed_dim"], decoar2["conv_pos"],
        decoar2["conv_pos_groups"])


# --- converted fixtures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_from_pretrained_recomputes_frontend_buffers(folder, converted_fixture):
    assert_frontend_buffers_recomputed(converted_fixture(folder))


def test_decoar2_architecture_is_read_from_weight_shapes():
    weights = original("decoar2_like")["model"]
    config = decoar2_config_from_weights(weights)
    patched = fixture_meta(FIXTURES / "decoar2_like")["s3prl_patches"]["s3prl.upstream.decoar2.decoar2.args"]
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.num_conv_pos_embeddings,
            config.num_conv_pos_embedding_groups, config.num_attention_heads) == (
        patched["encoder_embed_dim"], patched["encoder_layers"], patched["encoder_ffn_embed_dim"], patched["conv_pos"],
        patched["conv_pos_groups"], 12)


# --- converter errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, fixture, edit, message", [
    ("decoar2", "decoar_layers_like", lambda s: None, "DeCoAR checkpoint"),
    ("decoar2", "decoar2_like", lambda s: s["model"].pop("encoder.layers.1.fc2.bias"), "missing"),
    ("decoar2", "decoar2_like", lambda s: s["model"].update({"encoder.layers.0.extra": torch.zeros(1)}),
     "not understood"),
])
def test_converter_errors(family, fixture, edit, message):
    assert family == "decoar2"
    with pytest.raises(CheckpointFormatError, match=message):
        convert_decoar2(edited(fixture, edit))


def test_decoar2_heads_are_s3prls_12_unless_given():
    state = original("decoar2_like")
    assert convert_decoar2(state).config.num_attention_heads == 12
    assert convert_decoar2(state, num_attention_heads=4).config.num_attention_heads == 4
    with pytest.raises(CheckpointFormatError, match="num_attention_heads=N"):
        convert_decoar2(state, num_attention_heads=5)

"""Modified CPC beyond the shared parity test: the released architecture and its parameter count, converter errors,
the configuration without an autoregressive network."""

import pytest
import torch

from conftest import FIXTURES, fixture_meta
from native_recipes import RECIPES, assert_s3prl_parameter_count, recipe_names
from originals import edited
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models import get_family
from s3prl_hf.models.modified_cpc.convert_modified_cpc import config_from_original as cpc_config_from_original
from s3prl_hf.models.modified_cpc.convert_modified_cpc import convert_modified_cpc

FAMILIES = ("modified_cpc",)
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]

# Published size: SUPERB (Yang et al., Interspeech 2021, arXiv:2105.01051), Table 1, to 0.01 M.
PUBLISHED_PARAMETERS = {"modified_cpc": 1.84e6}


def test_every_family_has_fixtures():
    assert {fixture_meta(folder)["family"] for folder in OUR_FIXTURES} == set(FAMILIES)


# --- released architecture -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", recipe_names("modified_cpc"))
def test_real_config_builds_on_meta_with_s3prls_parameter_count(name):
    assert_s3prl_parameter_count(name, PUBLISHED_PARAMETERS.get(name))


def test_modified_cpc_reference_config_is_cpc_audios_defaults():
    converted = cpc_config_from_original(RECIPES["modified_cpc"]["config"])
    assert {**reference_config("modified_cpc").to_dict(), "s3prl_name": None} == converted.to_dict()


# --- converter errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, fixture, edit, message", [
    ("modified_cpc", "modified_cpc_like", lambda s: s["config"].update(samplingType="sequential"), "sequential"),
    ("modified_cpc", "modified_cpc_like", lambda s: s["config"].update(arMode="transformer"), "transformer"),
    ("modified_cpc", "modified_cpc_like", lambda s: s["config"].update(encoder_type="mfcc"), "encoder_type"),
    ("modified_cpc", "modified_cpc_like", lambda s: s["config"].update(nLevelsGRU=2), "missing from the checkpoint"),
    ("modified_cpc", "modified_cpc_like", lambda s: s["weights"].pop("gEncoder.batchNorm4.bias"), "missing"),
    ("modified_cpc", "apc_like", lambda s: None, "'config' and 'weights'"),
])
def test_converter_errors(family, fixture, edit, message):
    assert family == "modified_cpc"
    with pytest.raises(CheckpointFormatError, match=message):
        convert_modified_cpc(edited(fixture, edit))


@torch.no_grad()
def test_modified_cpc_without_autoregressive_net_repeats_the_encoder():
    config_class, model_class = get_family("modified_cpc").config_class, get_family("modified_cpc").model_class
    model = model_class(config_class(encoder_hidden_size=8, ar_hidden_size=4, ar_mode="no_ar")).eval()
    assert model.hidden_sizes == (8, 8)
    all_hs, _ = model(torch.randn(2, 4000), torch.tensor([4000, 3000]))
    assert torch.equal(all_hs[0], all_hs[1])

"""BYOL-A: converter errors, architectures read from the weights, released sizes, S3PRL's windows and its card.

Numerical parity with S3PRL is in test_parity.py (fixtures byol_a_*); the fixtures' checkpoints were built by S3PRL's
own classes (conversion/reference/fixtures_byol.py). BYOL-S is in test_byol_s.py.
"""

from collections import OrderedDict

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from conftest import FIXTURES, fixture_meta
from originals import original
from s3prl_hf import cards, registry
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.byol_a import S3prlByolAConfig, S3prlByolAModel
from s3prl_hf.models.byol_a.convert_byol_a import convert_byol_a

# ------------------------------------------------------------------------------------------------------------------
# Architectures read from the checkpoints S3PRL built
# ------------------------------------------------------------------------------------------------------------------


def test_byol_a_sizes_come_from_the_weights():
    config = convert_byol_a(original("byol_a_like")).config
    assert (list(config.conv_channels), config.hidden_size) == ([64, 64, 64], 32)
    # 16-channel blocks, wrapped in {"state_dict": {"model.features.0.weight": ...}} (S3PRL strips the prefix)
    state = original("byol_a_variant")
    assert set(state) == {"state_dict", "epoch"} and next(iter(state["state_dict"])).startswith("model.")
    config = convert_byol_a(state).config
    assert (list(config.conv_channels), config.hidden_size) == ([16, 16, 16], 24)


def test_converted_parameter_counts_equal_s3prls():
    for folder in ("byol_a_like", "byol_a_variant"):
        model = convert_byol_a(original(folder))
        expected = fixture_meta(FIXTURES / folder)["checks"]["s3prl_parameters"]
        assert sum(p.numel() for p in model.parameters()) == expected, folder


# The released networks as S3PRL 0.4.18 builds them (AudioNTT2020(d=...)), counted by the fixture generator; the
# research notes give 5.32 M / 1.65 M / 0.60 M.
RELEASED = fixture_meta(FIXTURES / "byol_a_like")["checks"]["s3prl_parameters_released"]


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_released_configs_build_on_meta_with_s3prls_parameter_counts(name):
    config = reference_config(name)
    assert registry.get_spec(name).family == "byol_a"
    with torch.device("meta"):
        model = S3prlByolAModel(config)
    assert sum(p.numel() for p in model.parameters()) == RELEASED[name]
    assert model.hidden_sizes == (int(name.split("_")[-1]),)


# ------------------------------------------------------------------------------------------------------------------
# Converter errors
# ------------------------------------------------------------------------------------------------------------------


def test_byol_a_converter_errors_name_the_problem():
    weights = original("byol_a_variant")["state_dict"]
    with pytest.raises(CheckpointFormatError, match="no 'features.*' / 'fc.*' weights"):
        convert_byol_a({"encoder.weight": torch.zeros(2)})
    with pytest.raises(CheckpointFormatError, match="two weights of the checkpoint map to 'fc.0.weight'"):
        convert_byol_a({**weights, "target.fc.0.weight": weights["model.fc.0.weight"]})
    bad_fc = OrderedDict(weights, **{"model.fc.0.weight": torch.zeros(24, 100)})
    with pytest.raises(CheckpointFormatError, match="fc.0.weight takes 100 inputs"):
        convert_byol_a(bad_fc)
    missing = OrderedDict((k, v) for k, v in weights.items() if not k.endswith("features.5.running_var"))
    with pytest.raises(CheckpointFormatError, match="features.5.running_var"):
        convert_byol_a(missing)
    with pytest.raises(CheckpointFormatError, match="is a str, expected a tensor"):
        convert_byol_a({**weights, "model.fc.9.note": "x"})


# ------------------------------------------------------------------------------------------------------------------
# S3PRL's behaviour (that BYOL-A, unlike BYOL-S, does not depend on the batch: test_byol_s.py)
# ------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def test_byol_a_windows_and_lengths():
    model = S3prlByolAModel(S3prlByolAConfig(conv_channels=[4, 4, 4], hidden_size=8)).eval()
    out = model(torch.randn(3, 32001) * 0.1, torch.tensor([32001, 16000, 100]))
    assert out.hidden_states[0].shape == (3, 3, 8) and out.hidden_states_lengths[0].tolist() == [3, 1, 1]


def test_invalid_configs_are_rejected():
    invalid = (ValueError, StrictDataclassError)
    with pytest.raises(invalid, match="mel bins"):
        S3prlByolAConfig(conv_channels=[4] * 7)


def test_byol_a_is_not_redistributable_and_its_card_says_how_to_convert():
    for name in ("byol_a_2048", "byol_a_1024", "byol_a_512"):
        spec = registry.get_spec(name)
        assert not spec.redistributable
        card = cards.render_card(spec)
        assert "converts it on your machine instead" in card and f"s3prl-hf convert --name {name}" in card
        assert "mean -5.4919195, std 5.0389895" in card

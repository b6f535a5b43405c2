"""BYOL-A and BYOL-S: converter errors, architectures read from the weights, released sizes, S3PRL's quirks.

Numerical parity with S3PRL is in test_parity.py (fixtures byol_a_*, byol_s_*); the fixtures' checkpoints were
built by S3PRL's own classes (conversion/reference/fixtures_byol.py).
"""

from collections import OrderedDict

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from conftest import FIXTURES, fixture_meta, load_cases
from s3prl_hf import cards, registry
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.byol_a import S3prlByolAConfig, S3prlByolAModel
from s3prl_hf.models.byol_a.convert_byol_a import convert_byol_a
from s3prl_hf.models.byol_s import S3prlByolSConfig, S3prlByolSModel
from s3prl_hf.models.byol_s.convert_byol_s import convert_byol_s


def _original(name: str) -> dict:
    return load_original_checkpoint(FIXTURES / name / "original_s3prl.pt")


# ------------------------------------------------------------------------------------------------------------------
# Architectures read from the checkpoints S3PRL built
# ------------------------------------------------------------------------------------------------------------------


def test_byol_a_sizes_come_from_the_weights():
    config = convert_byol_a(_original("byol_a_like")).config
    assert (list(config.conv_channels), config.hidden_size) == ([64, 64, 64], 32)
    # 16-channel blocks, wrapped in {"state_dict": {"model.features.0.weight": ...}} (S3PRL strips the prefix)
    state = _original("byol_a_variant")
    assert set(state) == {"state_dict", "epoch"} and next(iter(state["state_dict"])).startswith("model.")
    config = convert_byol_a(state).config
    assert (list(config.conv_channels), config.hidden_size) == ([16, 16, 16], 24)


def test_byol_s_network_and_sizes_come_from_the_weights():
    default = convert_byol_s(_original("byol_s_default_like")).config
    assert (default.encoder_type, list(default.conv_channels), default.feature_d) == ("audio_ntt", [64, 64, 64], 32)
    resnet = convert_byol_s(_original("byol_s_resnetish_like")).config
    assert resnet.encoder_type == "resnetish"
    assert (resnet.resnet_stem_channels, resnet.resnet_stem_kernel) == (8, 7)
    assert (list(resnet.resnet_layers), list(resnet.resnet_widths)) == ([3, 4, 6, 3], [8, 8, 16, 16])
    cvt = convert_byol_s(_original("byol_s_cvt_like")).config
    assert cvt.encoder_type == "cvt"
    assert list(cvt.cvt_embed_dims) == [8, 16, 24] and list(cvt.cvt_depths) == [1, 2, 1]
    assert list(cvt.cvt_mlp_mults) == [4, 2, 3] and list(cvt.cvt_heads) == [1, 1, 2]
    assert list(cvt.cvt_embed_kernels) == [7, 3, 3] and list(cvt.cvt_proj_kernels) == [3, 3, 3]
    for config, folder in ((default, "byol_s_default_like"), (resnet, "byol_s_resnetish_like"),
                           (cvt, "byol_s_cvt_like")):
        assert list(config.hidden_sizes) == fixture_meta(FIXTURES / folder)["s3prl_upstream"]["hidden_sizes"]


def test_converted_parameter_counts_equal_s3prls():
    for folder, convert in (("byol_a_like", convert_byol_a), ("byol_a_variant", convert_byol_a),
                            ("byol_s_default_like", convert_byol_s), ("byol_s_resnetish_like", convert_byol_s),
                            ("byol_s_cvt_like", convert_byol_s)):
        model = convert(_original(folder))
        expected = fixture_meta(FIXTURES / folder)["checks"]["s3prl_parameters"]
        assert sum(p.numel() for p in model.parameters()) == expected, folder


# The released networks as S3PRL 0.4.18 builds them (AudioNTT2020(d=...), serab's get_model(name, config.yaml)),
# counted by the fixture generator; the research notes give 5.32 M / 1.65 M / 0.60 M, 21.28 M and 5.01 M.
RELEASED = {**fixture_meta(FIXTURES / "byol_a_like")["checks"]["s3prl_parameters_released"],
            **fixture_meta(FIXTURES / "byol_s_default_like")["checks"]["s3prl_parameters_released"]}


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_released_configs_build_on_meta_with_s3prls_parameter_counts(name):
    config = reference_config(name)
    model_class = S3prlByolAModel if registry.get_spec(name).family == "byol_a" else S3prlByolSModel
    with torch.device("meta"):
        model = model_class(config)
    assert sum(p.numel() for p in model.parameters()) == RELEASED[name]
    assert model.hidden_sizes == ((int(name.split("_")[-1]),) if name.startswith("byol_a") else (2048,))


# ------------------------------------------------------------------------------------------------------------------
# Converter errors
# ------------------------------------------------------------------------------------------------------------------


def test_byol_a_converter_errors_name_the_problem():
    weights = _original("byol_a_variant")["state_dict"]
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


def test_byol_s_converter_errors_name_the_problem():
    with pytest.raises(CheckpointFormatError, match="none of serab-byols' networks"):
        convert_byol_s({"encoder.weight": torch.zeros(2)})
    resnet = _original("byol_s_resnetish_like")
    with pytest.raises(CheckpointFormatError, match="Bottleneck"):
        convert_byol_s({**resnet, "layer1.0.conv3.weight": torch.zeros(8, 8, 1, 1)})
    with pytest.raises(CheckpointFormatError, match="not understood: layer1.0.extra"):
        convert_byol_s({**resnet, "layer1.0.extra": torch.zeros(1)})
    cvt = _original("byol_s_cvt_like")
    del cvt["layers.1.2.layers.1.0.fn.to_kv.net.1.running_mean"]
    with pytest.raises(CheckpointFormatError, match="layers.1.2.layers.1.0.fn.to_kv.net.1.running_mean"):
        convert_byol_s(cvt)
    cvt = _original("byol_s_cvt_like")
    cvt["layers.2.2.layers.0.0.fn.to_q.net.2.weight"] = torch.zeros(100, 24, 1, 1)
    with pytest.raises(CheckpointFormatError, match="heads x 64"):
        convert_byol_s(cvt)
    with pytest.raises(CheckpointFormatError, match="raw state dict"):
        convert_byol_s({"state_dict": _original("byol_s_cvt_like")})


# ------------------------------------------------------------------------------------------------------------------
# S3PRL's behaviour
# ------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def test_byol_s_depends_on_the_batch_byol_a_does_not():
    cases = load_cases(FIXTURES / "byol_s_default_like")
    wavs, wavs_len = cases["batch"]["wavs"], cases["batch"]["wavs_len"]
    byol_s = convert_byol_s(_original("byol_s_default_like"))
    full = byol_s(wavs, wavs_len).hidden_states[0]
    alone = byol_s(wavs[:1], wavs_len[:1]).hidden_states[0]
    # the batch-global statistics (divided by the frame count) change the first utterance's numbers
    assert (full[0] - alone[0]).abs().max() > 1e-2 * full[0].abs().max()
    byol_a = convert_byol_a(_original("byol_a_like"))
    full = byol_a(wavs, wavs_len).hidden_states[0]
    alone = byol_a(wavs[:1], wavs_len[:1]).hidden_states[0]
    torch.testing.assert_close(full[:1], alone, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_byol_s_batches_of_at_most_800_samples_give_one_frame():
    # S3PRL's BYOL-S gives 800 // 800 + 1 = 2 frames here and S3PRLUpstream's length check fails; one is kept
    model = S3prlByolSModel(S3prlByolSConfig(conv_channels=[4, 4, 4], feature_d=8)).eval()
    out = model(torch.randn(2, 800) * 0.1, torch.tensor([800, 300]))
    assert out.hidden_states[0].shape == (2, 1, 8) and out.hidden_states_lengths[0].tolist() == [1, 1]


@torch.no_grad()
def test_byol_a_windows_and_lengths():
    model = S3prlByolAModel(S3prlByolAConfig(conv_channels=[4, 4, 4], hidden_size=8)).eval()
    out = model(torch.randn(3, 32001) * 0.1, torch.tensor([32001, 16000, 100]))
    assert out.hidden_states[0].shape == (3, 3, 8) and out.hidden_states_lengths[0].tolist() == [3, 1, 1]


def test_invalid_configs_are_rejected():
    invalid = (ValueError, StrictDataclassError)
    with pytest.raises(invalid, match="mel bins"):
        S3prlByolAConfig(conv_channels=[4] * 7)
    with pytest.raises(invalid, match="encoder_type"):
        S3prlByolSConfig(encoder_type="clstm")
    with pytest.raises(invalid, match="mean\\+max"):
        S3prlByolSConfig(encoder_type="cvt", cvt_pool="mean")


def test_byol_a_is_not_redistributable_and_its_card_says_how_to_convert():
    for name in ("byol_a_2048", "byol_a_1024", "byol_a_512"):
        spec = registry.get_spec(name)
        assert not spec.redistributable
        card = cards.render_card(spec)
        assert "converts it on your machine instead" in card and f"s3prl-hf convert --name {name}" in card
        assert "mean -5.4919195, std 5.0389895" in card

"""BYOL-S: converter errors, networks and sizes read from the weights, released sizes, S3PRL's quirks.

Numerical parity with S3PRL is in test_parity.py (fixtures byol_s_*); the fixtures' checkpoints were built by S3PRL's
own classes (conversion/reference/fixtures_byol.py). BYOL-A is in test_byol_a.py.
"""

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from conftest import FIXTURES, fixture_meta, load_cases
from originals import original
from s3prl_hf import registry
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.byol_a.convert_byol_a import convert_byol_a
from s3prl_hf.models.byol_s import S3prlByolSConfig, S3prlByolSModel
from s3prl_hf.models.byol_s.convert_byol_s import convert_byol_s

# ------------------------------------------------------------------------------------------------------------------
# Architectures read from the checkpoints S3PRL built
# ------------------------------------------------------------------------------------------------------------------


def test_byol_s_network_and_sizes_come_from_the_weights():
    default = convert_byol_s(original("byol_s_default_like")).config
    assert (default.encoder_type, list(default.conv_channels), default.feature_d) == ("audio_ntt", [64, 64, 64], 32)
    resnet = convert_byol_s(original("byol_s_resnetish_like")).config
    assert resnet.encoder_type == "resnetish"
    assert (resnet.resnet_stem_channels, resnet.resnet_stem_kernel) == (8, 7)
    assert (list(resnet.resnet_layers), list(resnet.resnet_widths)) == ([3, 4, 6, 3], [8, 8, 16, 16])
    cvt = convert_byol_s(original("byol_s_cvt_like")).config
    assert cvt.encoder_type == "cvt"
    assert list(cvt.cvt_embed_dims) == [8, 16, 24] and list(cvt.cvt_depths) == [1, 2, 1]
    assert list(cvt.cvt_mlp_mults) == [4, 2, 3] and list(cvt.cvt_heads) == [1, 1, 2]
    assert list(cvt.cvt_embed_kernels) == [7, 3, 3] and list(cvt.cvt_proj_kernels) == [3, 3, 3]
    for config, folder in ((default, "byol_s_default_like"), (resnet, "byol_s_resnetish_like"),
                           (cvt, "byol_s_cvt_like")):
        assert list(config.hidden_sizes) == fixture_meta(FIXTURES / folder)["s3prl_upstream"]["hidden_sizes"]


def test_converted_parameter_counts_equal_s3prls():
    for folder in ("byol_s_default_like", "byol_s_resnetish_like", "byol_s_cvt_like"):
        model = convert_byol_s(original(folder))
        expected = fixture_meta(FIXTURES / folder)["checks"]["s3prl_parameters"]
        assert sum(p.numel() for p in model.parameters()) == expected, folder


# The released networks as S3PRL 0.4.18 builds them (serab's get_model(name, config.yaml)), counted by the fixture
# generator; the research notes give 5.32 M, 21.28 M and 5.01 M.
RELEASED = fixture_meta(FIXTURES / "byol_s_default_like")["checks"]["s3prl_parameters_released"]


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_released_configs_build_on_meta_with_s3prls_parameter_counts(name):
    config = reference_config(name)
    assert registry.get_spec(name).family == "byol_s"
    with torch.device("meta"):
        model = S3prlByolSModel(config)
    assert sum(p.numel() for p in model.parameters()) == RELEASED[name]
    assert model.hidden_sizes == (2048,)


# ------------------------------------------------------------------------------------------------------------------
# Converter errors
# ------------------------------------------------------------------------------------------------------------------


def test_byol_s_converter_errors_name_the_problem():
    with pytest.raises(CheckpointFormatError, match="none of serab-byols' networks"):
        convert_byol_s({"encoder.weight": torch.zeros(2)})
    resnet = original("byol_s_resnetish_like")
    with pytest.raises(CheckpointFormatError, match="Bottleneck"):
        convert_byol_s({**resnet, "layer1.0.conv3.weight": torch.zeros(8, 8, 1, 1)})
    with pytest.raises(CheckpointFormatError, match="not understood: layer1.0.extra"):
        convert_byol_s({**resnet, "layer1.0.extra": torch.zeros(1)})
    cvt = original("byol_s_cvt_like")
    del cvt["layers.1.2.layers.1.0.fn.to_kv.net.1.running_mean"]
    with pytest.raises(CheckpointFormatError, match="layers.1.2.layers.1.0.fn.to_kv.net.1.running_mean"):
        convert_byol_s(cvt)
    cvt = original("byol_s_cvt_like")
    cvt["layers.2.2.layers.0.0.fn.to_q.net.2.weight"] = torch.zeros(100, 24, 1, 1)
    with pytest.raises(CheckpointFormatError, match="heads x 64"):
        convert_byol_s(cvt)
    with pytest.raises(CheckpointFormatError, match="raw state dict"):
        convert_byol_s({"state_dict": original("byol_s_cvt_like")})


# ------------------------------------------------------------------------------------------------------------------
# S3PRL's behaviour
# ------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def test_byol_s_depends_on_the_batch_byol_a_does_not():
    """BYOL-A, run on the same batch, is the control."""
    cases = load_cases(FIXTURES / "byol_s_default_like")
    wavs, wavs_len = cases["batch"]["wavs"], cases["batch"]["wavs_len"]
    byol_s = convert_byol_s(original("byol_s_default_like"))
    full = byol_s(wavs, wavs_len).hidden_states[0]
    alone = byol_s(wavs[:1], wavs_len[:1]).hidden_states[0]
    # the batch-global statistics (divided by the frame count) change the first utterance's numbers
    assert (full[0] - alone[0]).abs().max() > 1e-2 * full[0].abs().max()
    byol_a = convert_byol_a(original("byol_a_like"))
    full = byol_a(wavs, wavs_len).hidden_states[0]
    alone = byol_a(wavs[:1], wavs_len[:1]).hidden_states[0]
    torch.testing.assert_close(full[:1], alone, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_byol_s_batches_of_at_most_800_samples_give_one_frame():
    # S3PRL's BYOL-S gives 800 // 800 + 1 = 2 frames here and S3PRLUpstream's length check fails; one is kept
    model = S3prlByolSModel(S3prlByolSConfig(conv_channels=[4, 4, 4], feature_d=8)).eval()
    out = model(torch.randn(2, 800) * 0.1, torch.tensor([800, 300]))
    assert out.hidden_states[0].shape == (2, 1, 8) and out.hidden_states_lengths[0].tolist() == [1, 1]


def test_invalid_configs_are_rejected():
    invalid = (ValueError, StrictDataclassError)
    with pytest.raises(invalid, match="encoder_type"):
        S3prlByolSConfig(encoder_type="clstm")
    with pytest.raises(invalid, match="mean\\+max"):
        S3prlByolSConfig(encoder_type="cvt", cvt_pool="mean")

"""wav2vec 1.0 and vq-wav2vec: parity with S3PRL on checkpoints S3PRL and fairseq wrote, the quantisers' codes against
S3PRL's own, the released architectures, converter errors.

The fixtures (tests/fixtures/{wav2vec,vq_wav2vec}_*) are made by conversion/reference/fixtures_wav2vec1.py. This file
converts them with the family converters directly and loads the result with the model class
(tests/direct_conversion.py), so it runs whether or not the family is registered in the shared tables. Discrete BERT,
which runs a vq-wav2vec as its frontend, is in test_discretebert.py.
"""

import argparse
import copy

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from direct_conversion import (
    SOURCES,
    after_one_training_step,
    assert_bf16_states_close,
    convert_fixture,
    load_saved,
    saver,
)
from originals import original
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.registry import get_spec
from s3prl_hf.models.wav2vec.convert_wav2vec import convert_vq_wav2vec
from s3prl_hf.models.wav2vec import REFERENCE_CONFIGS, S3prlWav2VecConfig, S3prlWav2VecModel
from s3prl_hf.models.wav2vec import modeling_wav2vec
from s3prl_hf.models.wav2vec.convert_wav2vec import config_from_original, convert_wav2vec
from test_parity import assert_hidden_states_match

FAMILIES = ("wav2vec", "vq_wav2vec")  # as the fixtures name them (both are the wav2vec family)
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """convert + save_pretrained once per fixture and layout: saved(folder, source) -> folder."""
    return saver(tmp_path_factory)


def test_every_family_has_fixtures_in_both_layouts():
    assert {fixture_meta(f)["family"] for f in OUR_FIXTURES} == set(FAMILIES)
    for folder in OUR_FIXTURES:
        for name in SOURCES["s3prl"][:1] + SOURCES["fairseq"][:1]:
            assert (folder / name).is_file(), folder / name


# --- parity --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
@torch.no_grad()
def test_converted_checkpoint_matches_s3prl(folder, source, saved):
    model = load_saved(saved(folder, source))
    meta = fixture_meta(folder)
    reported = meta["s3prl_upstream"]
    assert (model.num_layers, list(model.hidden_sizes), list(model.downsample_rates)) == (
        reported["num_layers"], reported["hidden_sizes"], reported["downsample_rates"])
    for case, expected in load_cases(folder).items():
        out = model(expected["wavs"], expected["wavs_len"], normalize=meta["cases"][case]["normalize"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected["hs"], expected["hs_len"],
                                   f"{folder.name}/{source}/{case}")


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_both_layouts_give_identical_weights(folder, saved):
    a = load_file(saved(folder, "s3prl") / "model.safetensors")
    b = load_file(saved(folder, "fairseq") / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("folder", [f for f in OUR_FIXTURES if (f / "extra.safetensors").exists()],
                         ids=lambda f: f.name)
@torch.no_grad()
def test_quantizer_codes_equal_s3prls(folder, saved):
    """S3PRL's expert also returns z, codewords and codeids (no hidden state shows the codes themselves)."""
    model = load_saved(saved(folder))
    extra = load_file(folder / "extra.safetensors")
    case = load_cases(folder)["batch"]
    z = model.feature_extractor(case["wavs"])
    assert (z.transpose(1, 2) - extra["batch.z"]).abs().max() <= 1e-5
    codewords, codes = model.quantize(extra["batch.z"].transpose(1, 2))
    assert torch.equal(codes, extra["batch.codeids"])
    assert torch.equal(codewords.transpose(1, 2), extra["batch.codewords"])


@torch.no_grad()
def test_wav2vec_has_no_quantizer():
    model = convert_fixture(FIXTURES / "wav2vec_large_like")
    with pytest.raises(ValueError, match="no quantizer"):
        model.quantize(torch.zeros(1, 20, 5))


@pytest.mark.parametrize("name", ["vq_wav2vec_kmeans_like", "vq_wav2vec_kmeans_variant"])
@torch.no_grad()
def test_kmeans_distances_in_chunks_give_the_same_codes(name, monkeypatch):
    model = convert_fixture(FIXTURES / name)
    case = load_cases(FIXTURES / name)["batch"]
    reference = model(case["wavs"], case["wavs_len"])
    monkeypatch.setattr(modeling_wav2vec, "KMEANS_CHUNK_ELEMENTS", 1000)  # a few frames per chunk
    chunked = model(case["wavs"], case["wavs_len"])
    assert all(torch.equal(a, b) for a, b in zip(reference.hidden_states, chunked.hidden_states))


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
@torch.no_grad()
def test_bf16_keeps_the_codes_of_fp32(folder, saved):
    """Loaded in bf16, vq-wav2vec's tokeniser (feature extractor + quantiser) stays in fp32, so the codes are the fp32
    model's and the hidden states stay close; the outputs are bf16."""
    path = saved(folder)
    full, half = load_saved(path), load_saved(path, dtype=torch.bfloat16)
    family = fixture_meta(folder)["family"]
    kept = {"wav2vec": (), "vq_wav2vec": ("feature_extractor.", "vector_quantizer.")}
    for name, parameter in half.named_parameters():
        assert parameter.dtype == (torch.float32 if name.startswith(kept[family]) else torch.bfloat16), name
    case = load_cases(folder)["batch"]
    if family == "vq_wav2vec":
        z = full.feature_extractor(case["wavs"])
        assert torch.equal(half.quantize(half.feature_extractor(case["wavs"]))[1], full.quantize(z)[1])
    assert_bf16_states_close(full, half, case)


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_train_mode_forward_backward(folder):
    """Train mode runs (Gumbel sampling, straight-through k-means, dropout) and gradients reach the weights that
    S3PRL trains, the first convolution's included."""
    model = after_one_training_step(folder)
    assert model.feature_extractor.conv_layers[0][0].weight.grad is not None
    assert all(p.grad is not None for p in model.feature_aggregator.conv_layers[-1][1].parameters())


# --- released architectures ----------------------------------------------------------------------------------------

# SUPERB (arXiv:2105.01051), Table 1, to 0.01M; S3PRL counts the whole fairseq model, whose CPC prediction head
# (ConvTranspose2d(512, 512, (1, 12))) no hidden state uses and this port drops.
PUBLISHED_PARAMETERS = {"wav2vec_large": 32.54e6, "vq_wav2vec_gumbel": 34.15e6}
PREDICTION_HEAD = 512 * 512 * 12 + 512


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_reference_configs_have_the_published_parameter_counts(name):
    with torch.device("meta"):
        model = S3prlWav2VecModel(S3prlWav2VecConfig(**REFERENCE_CONFIGS[name]))
    count = sum(p.numel() for p in model.parameters()) + PREDICTION_HEAD
    assert round(count / 1e4) == round(PUBLISHED_PARAMETERS[name] / 1e4), count


def test_reference_configs():
    assert set(REFERENCE_CONFIGS) == {"wav2vec_large", "vq_wav2vec_gumbel", "vq_wav2vec_kmeans"}
    assert {name for name in REFERENCE_CONFIGS if get_spec(name).method == "vq_wav2vec"} == {
        "vq_wav2vec_gumbel", "vq_wav2vec_kmeans"}
    large = S3prlWav2VecConfig(**REFERENCE_CONFIGS["wav2vec_large"])
    assert (large.num_layers, large.hidden_sizes[0], large.downsample_rates[0]) == (13, 512, 160)
    kmeans = S3prlWav2VecConfig(**REFERENCE_CONFIGS["vq_wav2vec_kmeans"])
    with torch.device("meta"):
        quantizer = S3prlWav2VecModel(kmeans).vector_quantizer
    assert tuple(quantizer.embedding.shape) == (320, 1, 256)  # the released file's codebook (see the config)


def test_readme_wav2vec_command_is_the_reference_config():
    """fairseq's README options for wav2vec_large, as its 2019 args held them, give the reference architecture."""
    readme = {
        "conv_feature_layers": "[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), (512, 1, 1), "
                               "(512, 1, 1)]",
        "conv_aggregator_layers": "[(512, 2, 1), (512, 3, 1), (512, 4, 1), (512, 5, 1), (512, 6, 1), (512, 7, 1), "
                                  "(512, 8, 1), (512, 9, 1), (512, 10, 1), (512, 11, 1), (512, 12, 1), (512, 13, 1)]",
        "skip_connections_agg": True, "residual_scale": 0.5, "log_compression": True,
    }
    assert config_from_original(readme).to_dict() == S3prlWav2VecConfig(**REFERENCE_CONFIGS["wav2vec_large"]).to_dict()


# --- converter errors ----------------------------------------------------------------------------------------------


def s3prl_state(fixture, **cfg_changes):
    state = copy.deepcopy(original(fixture))
    state["model_cfg"].update(cfg_changes)
    return state


def with_weights(state, drop=None, **extra):
    weights = {k: v for k, v in state["model_weight"].items() if drop is None or drop not in k}
    return {**state, "model_weight": {**weights, **extra}}


W1_ERRORS = [
    (convert_wav2vec, s3prl_state("vq_wav2vec_gumbel_like"), "vq-wav2vec checkpoint"),
    (convert_vq_wav2vec, s3prl_state("wav2vec_large_like"), "no quantiser"),
    (convert_wav2vec, original("hubert_base_like"), "'hubert'"),
    (convert_wav2vec, original("wav2vec2_base_like", "original_fairseq.pt"), "'wav2vec2'"),
    (convert_wav2vec, s3prl_state("wav2vec_large_like", aggregator="gru"), "aggregator='gru'"),
    (convert_wav2vec, s3prl_state("wav2vec_large_like", conv_feature_layers="[(20, 10, 5), (20, 8, 4)]"),
     "stride of 20"),
    (convert_wav2vec, s3prl_state("wav2vec_large_like", activation="swish"), "activation"),
    (convert_vq_wav2vec, s3prl_state("vq_wav2vec_gumbel_like", vq_dim=8), "vq_dim 8"),
    (convert_wav2vec, with_weights(s3prl_state("wav2vec_large_like"), drop="conv_layers.3.3.bias"),
     "missing from the checkpoint"),
    (convert_wav2vec, with_weights(s3prl_state("wav2vec_large_like"), **{"encoder.x": torch.zeros(1)}),
     "not understood"),
    (convert_vq_wav2vec, s3prl_state("vq_wav2vec_gumbel_like", vq_vars=9), "shape mismatch"),
    (convert_vq_wav2vec, s3prl_state("vq_wav2vec_kmeans_like", combine_groups=False), "shape mismatch"),
    (convert_wav2vec, original("vq_wav2vec_kmeans_roberta_like"), "Discrete BERT"),
]


@pytest.mark.parametrize("convert, state, message", W1_ERRORS)
def test_wav2vec_converter_errors(convert, state, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert(state)


CONFIG_ERRORS = (ValueError, StrictDataclassError)  # the configs' validators raise the latter


def test_wav2vec_config_checks():
    with pytest.raises(CONFIG_ERRORS, match="stride must be 1"):
        S3prlWav2VecConfig(aggregator_stride=(2,) + (1,) * 11)
    with pytest.raises(CONFIG_ERRORS, match="vq_type"):
        S3prlWav2VecConfig(vq_type="rvq")
    # args-era strings are parsed (vq_temp) and lists accepted (a config that holds the layers as lists)
    config = config_from_original({"vq_type": "gumbel", "vq_temp": "(1.5, 0.5, 0.99)",
                                   "conv_aggregator_layers": [[512, 3, 1], [512, 3, 1]]})
    assert config.vq_temperature == 1.5 and config.aggregator_kernel == (3, 3)


def test_args_namespace_and_config_dict_layouts_agree():
    """fairseq's args-era release and S3PRL's hosted dict cfg give the same config (fairseq's defaults fill the
    options the 2019 namespace lacks)."""
    fairseq_state = original("wav2vec_large_like", "original_fairseq.pt")
    assert isinstance(fairseq_state["args"], argparse.Namespace) and not hasattr(fairseq_state["args"], "vq_type")
    a = convert_wav2vec(fairseq_state).config.to_dict()
    b = convert_wav2vec(original("wav2vec_large_like")).config.to_dict()
    assert a == b

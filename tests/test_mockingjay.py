"""Mockingjay / TERA / Audio ALBERT beyond the shared parity test: batch_invariant against S3PRL run on each
utterance alone, frontend buffers after loading, the released architectures, the 22 names and converter errors."""

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from s3prl_hf import AutoUpstream, registry
from s3prl_hf.auto import reference_config
from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.frontends import Float32BuffersModule
from s3prl_hf.models.mockingjay import S3prlMockingjayConfig, S3prlMockingjayModel
from s3prl_hf.models.mockingjay.convert_mockingjay import config_from_original, convert_mockingjay

FAMILIES = ("mockingjay", "tera", "audio_albert")  # as the fixtures name them; one family here
MOCKINGJAY_FIXTURES = [f for f in sorted(FIXTURES.glob("*/meta.json"))
                       if fixture_meta(f.parent)["family"] in FAMILIES]
ALONE_FIXTURES = [f.parent for f in MOCKINGJAY_FIXTURES if "alone_1" in fixture_meta(f.parent)["cases"]]
RECIPES = json.loads((FIXTURES / "mockingjay_recipes" / "recipes.json").read_text())["recipes"]
TOLERANCE = 1e-4  # DESIGN.md: max |diff| <= 1e-4 * max(1, max |expected|)


def test_all_23_names_resolve_to_an_implemented_family():
    names = registry.list_upstreams(family="mockingjay", include_aliases=True)
    assert len(names) == 23 and "spec_augment" in names  # the 22 of the collection and S3PRL's spec_augment hub name
    for name in names:
        spec = registry.get_spec(name)
        assert get_family(spec.family).model_class is S3prlMockingjayModel, name


@pytest.mark.parametrize("folder", ALONE_FIXTURES, ids=lambda f: f.name)
@torch.no_grad()
def test_batch_invariant_gives_each_utterance_what_s3prl_gives_it_alone(folder, converted_fixture):
    cases = load_cases(folder)
    batch = cases["batch"]
    default = AutoUpstream.from_pretrained(converted_fixture(folder))
    invariant = AutoUpstream.from_pretrained(converted_fixture(folder), batch_invariant=True)
    assert invariant.config.batch_invariant and not default.config.batch_invariant
    got = invariant(batch["wavs"], batch["wavs_len"])
    batched = default(batch["wavs"], batch["wavs_len"])
    for name, case in cases.items():
        if not name.startswith("alone_"):
            continue
        i = int(name.split("_")[1])
        shifted = 0.0
        for layer, (hs, ref) in enumerate(zip(got.hidden_states, case["hs"])):
            n = int(case["hs_len"][layer][0])
            assert int(got.hidden_states_lengths[layer][i]) == n
            diff = (hs[i, :n] - ref[0, :n]).abs().max().item()
            assert diff <= TOLERANCE * max(1.0, ref[0, :n].abs().max().item()), f"{name}, state {layer}: {diff}"
            assert torch.all(hs[i, n:] == 0), "frames past the utterance are zero padding"
            shifted = max(shifted, (batched.hidden_states[layer][i, :n] - ref[0, :n]).abs().max().item())
        # S3PRL's own batch changes this utterance (why the option exists)
        assert shifted > 1e-3, f"{name}: the batch does not change this utterance; the fixture shows no quirk"


@pytest.mark.parametrize("folder", [f.parent for f in MOCKINGJAY_FIXTURES], ids=lambda f: f.name)
def test_from_pretrained_recomputes_frontend_buffers(folder, converted_fixture):
    model = AutoUpstream.from_pretrained(converted_fixture(folder))
    frontends = [m for m in model.modules() if isinstance(m, Float32BuffersModule)]
    assert len(frontends) == 1
    values = frontends[0].buffer_values()
    assert values and all(torch.equal(getattr(frontends[0], k), v) for k, v in values.items())
    assert not any(k.startswith("frontend.") for k in load_file(converted_fixture(folder) / "model.safetensors"))


def test_loaded_mel_filterbank_is_torchaudios(converted_fixture):
    model = AutoUpstream.from_pretrained(converted_fixture(FIXTURES / "mockingjay_logmel_base_like"))
    reference = load_file(FIXTURES / "frontends" / "frontends.safetensors")["melscale_201x80_htk"]
    assert torch.equal(model.frontend.stft.mel_fb, reference)


@torch.no_grad()
def test_reduced_precision_keeps_float32_frontend(converted_fixture):
    folder = converted_fixture(FIXTURES / "tera_fbank_like")
    model = AutoUpstream.from_pretrained(folder, dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16
    assert all(b.dtype == torch.float32 for b in model.frontend.buffers())
    reference = AutoUpstream.from_pretrained(folder)
    model.half()  # a later cast must not round the filterbank either
    for name, value in model.frontend.kaldi.buffer_values().items():
        assert torch.equal(getattr(model.frontend.kaldi, name), value)
    case = load_cases(FIXTURES / "tera_fbank_like")["batch"]
    features = model.frontend(case["wavs"], case["wavs_len"])
    assert features.dtype == torch.float32
    assert torch.equal(features, reference.frontend(case["wavs"], case["wavs_len"]))
    assert model(case["wavs"], case["wavs_len"]).hidden_states[-1].dtype == torch.float16


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_reference_config_is_the_recipe_and_has_s3prls_parameter_count(name):
    """REFERENCE_CONFIGS equal what the converter makes of the S3PRL recipe, and the model built from it on the
    meta device has exactly the parameters of S3PRL's own TransformerModel (counted in the reference env)."""
    config = reference_config(name)
    from_recipe = config_from_original(RECIPES[name]["upstream_config"])
    assert {**config.to_dict(), "s3prl_name": None} == from_recipe.to_dict()
    assert config.feature_dim == RECIPES[name]["input_dim"]
    with torch.device("meta"):
        model = S3prlMockingjayModel(config)
    assert sum(p.numel() for p in model.parameters()) == RECIPES[name]["s3prl_parameters"]


def test_every_canonical_name_has_a_recipe():
    canonical = {spec.name for spec in registry.UPSTREAMS if spec.family == "mockingjay"}
    assert canonical == set(RECIPES)


# Published sizes: SUPERB (Yang et al., Interspeech 2021, arXiv:2105.01051), Table 1, which evaluates S3PRL's
# default `mockingjay` (-> mockingjay_origin -> LinearLarge) at 85.12M and `tera` (-> tera_960hr) at 21.33M.
PUBLISHED_PARAMETERS = {
    "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1": 85.12e6,
    "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1": 21.33e6,
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    if name not in PUBLISHED_PARAMETERS:
        pytest.skip("no published parameter count for this checkpoint (its recipe's S3PRL count is checked above)")
    with torch.device("meta"):
        model = S3prlMockingjayModel(reference_config(name))
    count = sum(p.numel() for p in model.parameters())
    assert round(count / 1e4) == round(PUBLISHED_PARAMETERS[name] / 1e4), count  # published to 0.01 M


# --- converter errors ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_state():
    return load_original_checkpoint(FIXTURES / "mockingjay_logmel_base_like" / "original_s3prl.pt")


def _edited(state, edit):
    state = copy.deepcopy(state)
    edit(state)
    return state


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["Transformer"].pop("encoder.layer.1.output.dense.bias"), "missing from the checkpoint"),
    (lambda s: s["Transformer"].update({"encoder.layer.2.output.dense.bias": torch.zeros(16)}), "not used"),
    (lambda s: s["Transformer"].update({"pooler.dense.weight": torch.zeros(16, 16)}), "not understood"),
    (lambda s: s["Upstream_Config"]["audio"].update(n_mels=40), "shape mismatch"),
    (lambda s: s["Upstream_Config"]["audio"]["input"].update(feat_type="mfcc"), "mfcc"),
    (lambda s: s["Upstream_Config"]["audio"].update(hop_ms=20), "160"),
    (lambda s: s["Upstream_Config"].pop("audio"), "pre-extracted"),
    (lambda s: s["Upstream_Config"]["transformer"].pop("share_layer"), "share_layer"),
    (lambda s: s["Upstream_Config"]["transformer"].update(hidden_act="gelu_new"), "hidden_act"),
    (lambda s: s.pop("Upstream_Config"), "transformer"),
    (lambda s: s.pop("Transformer"), "Transformer"),
])
def test_converter_rejects_what_does_not_fit(base_state, edit, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert_mockingjay(_edited(base_state, edit))


def test_shared_layer_copies_must_be_equal():
    state = load_original_checkpoint(FIXTURES / "audio_albert_like" / "original_s3prl.pt")
    model = convert_mockingjay(state)
    assert len(model.encoder.layer) == 1 and model.config.num_layers == 4
    state["Transformer"]["encoder.layer.2.output.dense.bias"] = torch.zeros(16)
    with pytest.raises(CheckpointFormatError, match="not a copy"):
        convert_mockingjay(state)


def test_legacy_layout_gamma_beta_and_pre_ln_aliases_are_read():
    state = load_original_checkpoint(FIXTURES / "mockingjay_variant" / "original_s3prl.pt")
    assert "Upstream_Config" not in state and any("gamma" in k for k in state["Transformer"])
    model = convert_mockingjay(state)
    assert model.config.pre_layer_norm and model.config.hidden_act == "relu"
    state["Transformer"]["encoder.layer.0.LayerNorm.gamma"] = torch.zeros(16)
    with pytest.raises(CheckpointFormatError, match="alias"):
        convert_mockingjay(state)


# --- model behaviour -----------------------------------------------------------------------------------------------


@torch.no_grad()
def test_chunks_are_encoded_independently_with_positions_restarting():
    torch.manual_seed(0)
    config = S3prlMockingjayConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                   sequence_length=10)
    model = S3prlMockingjayModel(config).eval()
    features = torch.randn(1, 25, 80)
    chunked = model._encode(features[:, :9], 2)[-1]  # torch.chunk(25 frames, 3) -> 9, 9, 7
    whole = torch.cat([model._encode(part, 2)[-1] for part in torch.chunk(features, 3, dim=1)], dim=1)
    torch.testing.assert_close(whole[:, :9], chunked)
    model.frontend.forward = lambda wavs, wavs_len: features
    torch.testing.assert_close(model._forward_hidden_states(torch.zeros(1, 4000), torch.tensor([4000]), 2)[-1], whole)


def test_fbank_utterance_shorter_than_a_window_fails_like_s3prl_unless_alone():
    config = S3prlMockingjayConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                   audio_config=copy.deepcopy(RECIPES["tera_fbankBase_T_F_AdamW_b32_200k_100hr"]
                                                              ["upstream_config"]["audio"]))
    model = S3prlMockingjayModel(config).eval()
    wavs, wavs_len = torch.randn(2, 16000) * 0.1, torch.tensor([16000, 300])
    with pytest.raises(ValueError, match="400 samples"):
        model(wavs, wavs_len)
    model.config.batch_invariant = True  # alone, S3PRLUpstream pads it to 0.05 s first
    assert model(wavs, wavs_len).hidden_states_lengths[0].tolist() == [100, 2]


@pytest.mark.parametrize("audio, message", [
    ({"target_level": -25, "n_freq": 257, "input": {"feat_type": "mel"}}, "n_freq=201"),
    ({"target_level": -25, "sample_rate": 8000, "input": {"feat_type": "mel"}}, "16 kHz"),
    ({"n_mels": 80, "input": {"feat_type": "mel"}}, "target_level"),
    ({"kaldi": {"feat_type": "fbank", "fbank": {"dither": 1.0}}, "cmvn": {"use_cmvn": True}}, "dither"),
    ({"kaldi": {"feat_type": "fbank", "fbank": {"sample_frequency": 16000}}, "cmvn": {"use_cmvn": True}},
     "sample_frequency"),
    ({"kaldi": {"feat_type": "fbank", "fbank": {}}}, "use_cmvn"),
])
def test_audio_configs_s3prl_cannot_run_are_rejected(audio, message):
    with pytest.raises(ValueError, match=message):
        S3prlMockingjayConfig(audio_config=audio)


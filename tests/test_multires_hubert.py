"""MR-HuBERT: converter refusals, S3PRL's per-state repeat factors, layer selection, released sizes."""

import re

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from conftest import FIXTURES, fixture_dirs, fixture_meta, load_cases
from s3prl_hf import AutoUpstream, S3PRLUpstream, convert_checkpoint, reference_config
from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.multires_hubert import S3prlMultiresHubertConfig
from s3prl_hf.models.multires_hubert.convert_multires_hubert import config_from_original
from s3prl_hf.registry import list_upstreams

MULTIRES_FIXTURES = [folder for folder in fixture_dirs() if fixture_meta(folder)["family"] == "multires_hubert"]


def checkpoint(fixture: str, source: str = "original_s3prl.pt") -> dict:
    return load_original_checkpoint(FIXTURES / fixture / source)


def with_cfg(state: dict, **changes) -> dict:
    return {**state, "model_cfg": {**state["model_cfg"], **changes}}


def with_weights(state: dict, drop: str | None = None, **extra) -> dict:
    weights = {k: v for k, v in state["model_weight"].items() if drop is None or not re.search(drop, k)}
    return {**state, "model_weight": {**weights, **extra}}


def without(state: dict, key: str) -> dict:
    return {k: v for k, v in state.items() if k != key}


BASE, VARIANT = "multires_hubert_base_like", "multires_hubert_variant"
# (name to convert as, fixture, damage, expected message)
WRONG_CHECKPOINTS = [
    ("multires_hubert_base", "hubert_base_like", None, "'hubert' model, not MR-HuBERT"),
    ("hubert_base", BASE, None, "'multires_hubert' model, not HuBERT"),
    ("multires_hubert_base", "hubert_base_like", lambda s: with_cfg(s, _name=None), "no middle_encoder"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, _name="multires_hubert_ctc"), "'multires_hubert_ctc'"),
    ("multires_hubert_base", BASE, lambda s: without(s, "dictionaries_symbols"), "dictionaries_symbols"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, layer_type="conformer"), "layer_type='conformer'"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, label_rate_ratios="None"), "requires resolution ratios"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, label_rate_ratios=[1, 0]), "must be positive"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, label_rate_ratios="[1, 2"), "not a list of integers"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, override_encoder_layers="[2,2]"), "must give 3 block"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, use_plain_updownsample=True, label_rate_ratios=[2, 3]),
     "only take (1, k) pairs"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, conv_adapator_kernal=0), "positive kernel"),
    # the config decides the network; the weights must then fit it
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, encoder_layers=3), "missing from the checkpoint"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, conv_adapator_kernal=3), "shape mismatch"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, use_plain_updownsample=True), "not used by the model"),
    ("multires_hubert_base", BASE, lambda s: with_cfg(s, label_rate_ratios=[1, 2, 1, 2]),
     "missing from the checkpoint"),
    ("multires_hubert_base", VARIANT, lambda s: with_cfg(s, override_encoder_layers="[1,2,1,1,2]"),
     "missing from the checkpoint"),
    ("multires_hubert_base", BASE, lambda s: with_weights(s, **{"middle_encoder.extra.weight": torch.zeros(2)}),
     "not understood"),
    ("multires_hubert_base", BASE, lambda s: with_weights(s, drop=r"^upsample_modules\.0\.upsample_conv\.2\.bias$"),
     "missing from the checkpoint"),
    # embed dim == conv dim: S3PRL builds no projection and its strict load refuses one
    ("multires_hubert_base", VARIANT, lambda s: with_weights(s, **{"post_extract_proj.weight": torch.eye(24),
                                                                   "post_extract_proj.bias": torch.zeros(24)}),
     "post_extract_proj"),
    ("multires_hubert_base", BASE,
     lambda s: with_cfg(s, conv_feature_layers="[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)]"), "stride of 160"),
]


@pytest.mark.parametrize("name, fixture, damage, message", WRONG_CHECKPOINTS,
                         ids=[f"{row[0]}<-{row[1]}-{row[3][:24]}" for row in WRONG_CHECKPOINTS])
def test_wrong_family_or_damaged_checkpoint_is_rejected(tmp_path, name, fixture, damage, message):
    path = FIXTURES / fixture / "original_s3prl.pt"
    if damage is not None:
        path = tmp_path / "source.pt"
        torch.save(damage(checkpoint(fixture)), path)
    with pytest.raises(CheckpointFormatError, match=re.escape(message)):
        convert_checkpoint(name, path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("folder", MULTIRES_FIXTURES, ids=lambda folder: folder.name)
def test_resolutions_and_repeat_factors_are_s3prl_s(folder, converted_fixture):
    """Per hidden state, the repeat factor S3PRL's expert applies (its lcm rule, wrong for the variant's
    non-geometric strides 320, 640, 1920: it repeats the 640-sample states 3 times)."""
    config = AutoUpstream.from_pretrained(converted_fixture(folder)).config
    meta = fixture_meta(folder)
    assert list(config.feature_strides) == meta["s3prl_feature_ds_rates"]
    factors = [factor for _, layers, factor in config.blocks for _ in range(layers + 1)]
    assert factors == meta["s3prl_final_factors"]


def test_variant_fixtures_exercise_the_other_options():
    state = checkpoint(VARIANT)
    config = config_from_original(state["model_cfg"], state["task_cfg"])
    assert config.resolution_ratios == ((1, 2), (1, 3)) and config.upsample_factors == (1, 3, 6)
    assert (config.encoder_block_layers, config.middle_block_layers, config.decoder_block_layers) == ((1, 2), 1, (2, 0))
    assert config.do_stable_layer_norm and config.resampler_kernel_size == 3 and config.hidden_act == "relu"
    state = checkpoint("multires_hubert_plain_variant")
    config = config_from_original(state["model_cfg"], state["task_cfg"])
    assert state["model_cfg"]["label_rate_ratios"] == [1, 3, 5]  # fairseq reads pairs: the 5 is ignored
    assert config.resolution_ratios == ((1, 3),) and config.plain_resampling and config.resampler_kernel_size == 4


@torch.no_grad()
def test_each_state_alone_equals_the_full_output(converted_fixture):
    """Selecting one state stops the forward early; its frames are still cut to the shortest of all states."""
    model = AutoUpstream.from_pretrained(converted_fixture(FIXTURES / VARIANT))
    batch = load_cases(FIXTURES / VARIANT)["batch"]
    full = model(batch["wavs"], batch["wavs_len"])
    for index in range(model.num_layers):
        alone = model(batch["wavs"], batch["wavs_len"], layers=[index])
        assert torch.equal(alone.hidden_states[0], full.hidden_states[index]), index


@torch.no_grad()
def test_local_entry_converts_an_original_checkpoint():
    folder = FIXTURES / BASE
    upstream = S3PRLUpstream("multires_hubert_local", path_or_url=str(folder / "original_fairseq.pt")).eval()
    expected = load_cases(folder)["single"]
    all_hs, _ = upstream(expected["wavs"], expected["wavs_len"])
    assert len(all_hs) == len(expected["hs"]) == 9
    assert all((hs - ref).abs().max() < 1e-4 for hs, ref in zip(all_hs, expected["hs"]))


# fairseq's examples/mr_hubert/README.md: MR-HuBERT Base (~97M), Large (~321M), multilingual likewise. The counts
# include the pretraining heads (final_projs, label embeddings: up to 1.6 M), which no hidden state uses.
PUBLISHED_PARAMETERS = {
    "multires_hubert_base": 97e6,
    "multires_hubert_large": 321e6,
    "multires_hubert_multilingual_base": 97e6,
    "multires_hubert_multilingual_large400k": 321e6,
    "multires_hubert_multilingual_large600k": 321e6,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_released_configs_build_on_meta_with_published_sizes(name):
    with torch.device("meta"):
        model = get_family("multires_hubert").model_class(reference_config(name))
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count
    assert model.num_layers == (15 if "base" in name else 27)


def test_every_name_of_the_family_has_a_published_size():
    assert list_upstreams(family="multires_hubert") == sorted(PUBLISHED_PARAMETERS)


@pytest.mark.parametrize("changes, message", [
    (dict(resolution_ratios=[[1, 2]], encoder_block_layers=[1, 1]), "need 1 encoder and decoder blocks"),
    (dict(resolution_ratios=[[0, 2]]), "resolution_ratios[0][0]=0 is out of range"),  # the shared bounds
    (dict(plain_resampling=True, resolution_ratios=[[2, 3]]), "plain_resampling"),
    (dict(pos_conv_depth=2), "pos_conv_depth"),
])
def test_config_rejects_plans_fairseq_cannot_build(changes, message):
    with pytest.raises(StrictDataclassError, match=re.escape(message)):  # the config validators raise it
        S3prlMultiresHubertConfig(**changes)

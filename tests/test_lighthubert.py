"""LightHuBERT: the subnet S3PRL picks, the released architectures, and what the converter refuses.

Parity of the converted subnets with S3PRL's hidden states is in tests/test_parity.py (fixtures lighthubert_*_like /
*_variant, made by S3PRL with shrunk supernet tables, meta.json `s3prl_patches`). Expected subnets and parameter
counts here come from tests/fixtures/lighthubert_subnets/subnets.json: S3PRL's expert built from weightless
checkpoints of the released sizes.
"""

import json
from pathlib import Path

import pytest
import torch

from conftest import FIXTURES, fixture_meta
from s3prl_hf import S3PRLUpstream
from s3prl_hf.auto import reference_config
from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.lighthubert.convert_lighthubert import MODEL_DEFAULTS, convert_lighthubert
from s3prl_hf.models.lighthubert.subnets import kept_layers, s3prl_subnet

RECORDS = json.loads((FIXTURES / "lighthubert_subnets" / "subnets.json").read_text())
BASE_LIKE = FIXTURES / "lighthubert_base_like"
VARIANT = FIXTURES / "lighthubert_variant"


def _state(folder: Path) -> dict:
    return load_original_checkpoint(folder / "original_s3prl.pt")


def _subnet(folder: Path) -> dict:
    return fixture_meta(folder)["converter_options"]["subnet"]


def _with_cfg(state: dict, **changes) -> dict:
    return {**state, "cfg": {**state["cfg"], "model": {**state["cfg"]["model"], **changes}}}


def _with_weights(state: dict, weights: dict) -> dict:
    return {**state, "model": weights}


@pytest.mark.parametrize("name", sorted(RECORDS["records"]))
def test_subnet_choice_is_s3prls_at_the_released_sizes(name):
    record = RECORDS["records"][name]
    cfg = {**RECORDS["model_cfg_defaults"], **record["cfg"]}
    assert s3prl_subnet(cfg) == record["subnet"]


@pytest.mark.parametrize("name", ["lighthubert_base", "lighthubert_small", "lighthubert_stage1"])
def test_reference_configs_are_s3prls_released_subnets(name):
    record = RECORDS["records"][name]
    config = reference_config(name)
    assert config.num_layers == record["s3prl_upstream"]["num_layers"]
    assert list(config.hidden_sizes) == record["s3prl_upstream"]["hidden_sizes"]
    assert list(config.downsample_rates) == record["s3prl_upstream"]["downsample_rates"]
    with torch.device("meta"):
        model = get_family("lighthubert").model_class(config)
    # S3PRL counts the masked-frame embedding (768) and not the positional conv's weight-norm gain (kernel 128)
    expected = record["s3prl_sampled_parameters"] - MODEL_DEFAULTS["encoder_embed_dim"] + MODEL_DEFAULTS["conv_pos"]
    assert sum(p.numel() for p in model.parameters()) == expected


def test_the_default_name_is_small_as_in_s3prl():
    from s3prl_hf import registry

    assert registry.resolve_name("lighthubert") == "lighthubert_small"


def test_depth_map_keeps_s3prls_layers():
    assert kept_layers(12) == list(range(12))
    assert kept_layers(6) == [0, 1, 4, 5, 8, 9]
    with pytest.raises(CheckpointFormatError, match="6 to 12"):
        kept_layers(5)


@torch.no_grad()
def test_variant_is_converted_to_per_layer_sizes():
    model = convert_lighthubert(_state(VARIANT), subnet=_subnet(VARIANT))
    config = model.config
    subnet = _subnet(VARIANT)
    assert config.num_hidden_layers == subnet["layer_num"] == 10
    assert config.hidden_size == subnet["embed_dim"]
    assert list(config.layer_attention_heads) == subnet["heads_num"]
    assert list(config.layer_intermediate_sizes) == subnet["ffn_embed"]
    for index, layer in enumerate(model.encoder.layers):
        assert layer.attention.q_proj.weight.shape == (subnet["atten_dim"][index], subnet["embed_dim"])
        assert layer.feed_forward.intermediate_dense.weight.shape == (subnet["ffn_embed"][index], subnet["embed_dim"])


def test_uniform_subnet_is_a_plain_hubert_config():
    config = convert_lighthubert(_state(BASE_LIKE), subnet=_subnet(BASE_LIKE)).config
    assert config.layer_attention_heads is None and config.layer_intermediate_sizes is None
    assert config.attention_head_dim is None and config.head_dim == 2  # 20 wide, 10 heads of the supernet's 2
    assert config.subnet == _subnet(BASE_LIKE)


def test_fp16_weights_are_read_as_fp32():
    state = _state(BASE_LIKE)
    half = _with_weights(state, {k: v.half() for k, v in state["model"].items()})
    rounded = _with_weights(state, {k: v.half().float() for k, v in state["model"].items()})
    a = convert_lighthubert(half, subnet=_subnet(BASE_LIKE)).state_dict()
    b = convert_lighthubert(rounded, subnet=_subnet(BASE_LIKE)).state_dict()
    assert all(a[k].dtype == torch.float32 and torch.equal(a[k], b[k]) for k in a)


def test_s3prls_own_subnet_does_not_fit_a_shrunk_supernet():
    # without converter options the subnet is S3PRL's (640 wide), which the 24-wide fixture supernet cannot hold
    with pytest.raises(CheckpointFormatError, match="embed_dim=640"):
        convert_lighthubert(_state(BASE_LIKE))
    with pytest.raises(CheckpointFormatError, match="embed_dim=640"):
        S3PRLUpstream("lighthubert_local", path_or_url=str(BASE_LIKE / "original_s3prl.pt"))


@pytest.mark.parametrize("changes, message", [
    (dict(_name="hubert"), "hubert_pruner and student_hubert"),
    (dict(pruner_supernet=None), "pruner_supernet"),
    (dict(pruner_supernet="x.yaml", supernet_type="large"), "supernet_type='large'"),
    (dict(encoder_layers=6), "12-layer supernet"),
    (dict(activation_fn="swish"), "activation_fn='swish'"),
    (dict(layer_type="conformer"), "layer_type='conformer'"),
    (dict(conv_pos=None), "conv_pos=None"),
    (dict(encoder_ffn_embed_dim=16), "does not split"),
    (dict(conv_pos_groups=5), "conv_pos_groups=5"),
])
def test_cfgs_s3prl_cannot_run_are_refused(changes, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert_lighthubert(_with_cfg(_state(BASE_LIKE), **changes), subnet=_subnet(BASE_LIKE))


def _subnet_with(**changes):
    return {**_subnet(BASE_LIKE), **changes}


@pytest.mark.parametrize("subnet, message", [
    (_subnet_with(slide_wsz=[32] * 12), "sliding-window"),
    (_subnet_with(heads_num=[9] * 12), "9 heads of 2 for atten_dim=20"),
    (_subnet_with(embed_dim=26, atten_dim=[26] * 12, heads_num=[13] * 12), "at most the supernet's 24"),
    (_subnet_with(ffn_embed=[100] * 12), "ffn_embed=100"),
    (_subnet_with(layer_num=13), "6 to 12"),
    ({"embed_dim": 20}, "lacks atten_dim"),
])
def test_subnets_the_supernet_cannot_run_are_refused(subnet, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert_lighthubert(_state(BASE_LIKE), subnet=subnet)


def test_unknown_missing_and_misshapen_weights_are_refused():
    state, subnet = _state(BASE_LIKE), _subnet(BASE_LIKE)
    weights = dict(state["model"])
    with pytest.raises(CheckpointFormatError, match="not understood: teacher.proj"):
        convert_lighthubert(_with_weights(state, {**weights, "teacher.proj": torch.zeros(1)}), subnet=subnet)
    missing = {k: v for k, v in weights.items() if k != "encoder.layers.3.fc1.bias"}
    with pytest.raises(CheckpointFormatError, match="missing from the checkpoint: encoder.layers.3.fc1.bias"):
        convert_lighthubert(_with_weights(state, missing), subnet=subnet)
    misshapen = {**weights, "encoder.layers.3.fc1.bias": torch.zeros(95)}
    with pytest.raises(CheckpointFormatError, match="shape disagrees"):
        convert_lighthubert(_with_weights(state, misshapen), subnet=subnet)
    # the pretraining heads and the masked-frame embedding are dropped whether present or not
    pretraining = ("mask_emb", "label_embs_concat", "final_proj.weight", "final_proj.bias", "layer_pred_heads.11.weight")
    assert set(pretraining) <= set(weights)
    convert_lighthubert(_with_weights(state, {k: v for k, v in weights.items() if k not in pretraining}), subnet=subnet)


def test_layers_a_subnet_skips_need_not_be_in_the_checkpoint():
    state, subnet = _state(VARIANT), _subnet(VARIANT)
    skipped = {k: v for k, v in state["model"].items() if not k.startswith(("encoder.layers.7.", "encoder.layers.11."))}
    reference = convert_lighthubert(state, subnet=subnet).state_dict()
    converted = convert_lighthubert(_with_weights(state, skipped), subnet=subnet).state_dict()
    assert all(torch.equal(reference[k], converted[k]) for k in reference)


def test_other_layouts_are_refused():
    with pytest.raises(CheckpointFormatError, match="expected a LightHuBERT checkpoint"):
        convert_lighthubert({"model": {}}, subnet=None)
    with pytest.raises(CheckpointFormatError, match="no 'model' section"):
        convert_lighthubert({"cfg": {"encoder_layers": 12}, "model": {}})

"""Converter and AutoUpstream behaviour on good and bad input: clear errors, nothing half-written."""

import argparse

import pytest
import torch

from conftest import FIXTURES
from s3prl_hf import AutoUpstream, convert_checkpoint, reference_config
from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError, MethodMismatchError, load_original_checkpoint, parse_conv_layers
from s3prl_hf.registry import UPSTREAMS, UnknownUpstreamError

BASE = FIXTURES / "hubert_base_like"


def hosted_checkpoint() -> dict:
    return load_original_checkpoint(BASE / "original_s3prl.pt")


def save(tmp_path, state) -> str:
    path = tmp_path / "source.pt"
    torch.save(state, path)
    return path


def test_converted_folder_has_config_weights_and_card(converted_fixture):
    folder = converted_fixture(BASE)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (folder / "README.md").read_text()
    assert "library_name: s3prl_hf" in card and "sha256" in card and "@article{hsu2021hubert" in card


def test_refuses_to_overwrite_without_force(tmp_path, converted_fixture):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="force"):
        convert_checkpoint("hubert_base", BASE / "original_s3prl.pt", output)
    assert (output / "keep.txt").read_text() == "mine"
    with pytest.raises(FileExistsError, match="not a folder that s3prl_hf wrote"):  # --force keeps user files too
        convert_checkpoint("hubert_base", BASE / "original_s3prl.pt", output, force=True)
    assert (output / "keep.txt").read_text() == "mine"
    (output / "keep.txt").unlink()
    convert_checkpoint("hubert_base", BASE / "original_s3prl.pt", output, force=True)  # an empty folder
    convert_checkpoint("hubert_base", BASE / "original_s3prl.pt", output, force=True)  # a converted folder
    assert sorted(p.name for p in output.iterdir()) == ["README.md", "config.json", "model.safetensors"]


@pytest.mark.parametrize("damage, message", [
    (lambda s: {k: v for k, v in s.items() if k != "dictionaries_symbols"}, "another family"),
    (lambda s: {**s, "model_weight": {**s["model_weight"], "encoder.extra.weight": torch.zeros(2)}},
     "not understood"),
    (lambda s: {**s, "model_weight": {k: v for k, v in s["model_weight"].items() if "fc1.bias" not in k}},
     "missing from the checkpoint"),
    (lambda s: {**s, "model_cfg": {**s["model_cfg"], "encoder_layers": 5}}, "missing from the checkpoint"),
    (lambda s: {**s, "model_cfg": {**s["model_cfg"], "encoder_embed_dim": 40}}, "shape mismatch"),
    (lambda s: {**s, "model_cfg": {**s["model_cfg"], "layer_type": "conformer"}}, "layer_type"),
    (lambda s: {**s, "model_cfg": {**s["model_cfg"], "_name": "wav2vec2"}}, "not HuBERT"),
    (lambda s: {**s, "model_cfg": {**s["model_cfg"], "_name": "data2vec_audio"}}, "not HuBERT"),
    # ContentVec's speaker-conditioned pre-training checkpoint: S3PRL's strict load fails on these modules
    (lambda s: {**s, "model_weight": {**s["model_weight"], "layer_proj.weight": torch.zeros(16, 32),
                                      "encoder.cond_layer_norm.weight_ln.weight": torch.zeros(32, 256)}},
     "ContentVec's speaker-conditioned"),
    (lambda s: {**s, "model_cfg": {**s["model_cfg"], "conv_feature_layers": "__import__('os')"}}, "unsupported"),
    (lambda s: {"cfg": {"encoder_layers": 2}, "model": s["model_weight"]}, "WavLM"),
    (lambda s: {"weights": s["model_weight"]}, "unrecognised checkpoint layout"),
])
def test_wrong_or_damaged_checkpoint_is_rejected_and_nothing_written(tmp_path, damage, message):
    source = save(tmp_path, damage(hosted_checkpoint()))
    with pytest.raises(CheckpointFormatError, match=message):
        convert_checkpoint("hubert_base", source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["source.pt"]


@pytest.mark.parametrize("model_name, name", [("ms_hubert", "ms_hubert"), ("contentvec", "contentvec_km100"),
                                              (None, "ms_hubert"), (None, "contentvec_km500")])
def test_hubert_networks_of_other_projects_convert_as_s3prl_loads_them(tmp_path, model_name, name):
    """S3PRL's hubert_custom ignores the config keys its HubertConfig lacks (MS-HuBERT, ContentVec's extra fields):
    the weights alone must fit. contentvec_like is the S3PRL-made parity fixture."""
    state = hosted_checkpoint()
    state["model_cfg"] = {**state["model_cfg"], "_name": model_name, "encoder_layers_1": 1, "swap": True}
    plain = convert_checkpoint("hubert_base", BASE / "original_s3prl.pt", tmp_path / "plain")
    other = convert_checkpoint(name, save(tmp_path, state), tmp_path / "other")
    assert (other / "model.safetensors").read_bytes() == (plain / "model.safetensors").read_bytes()


@pytest.mark.parametrize("model_name, name, message", [
    ("contentvec", "hubert_base", "a checkpoint of ContentVec .* not of HuBERT as 'hubert_base' is; convert it under "
                                  "contentvec_km100 or contentvec_km500"),
    ("hubert", "contentvec_km100", "not of ContentVec as 'contentvec_km100' is; convert it under hubert_base"),
])
def test_a_checkpoint_of_another_method_is_refused(tmp_path, model_name, name, message):
    state = hosted_checkpoint()
    state["model_cfg"] = {**state["model_cfg"], "_name": model_name}
    with pytest.raises(MethodMismatchError, match=message) as refused:
        convert_checkpoint(name, save(tmp_path, state), tmp_path / "out")
    assert refused.value.methods == ({"contentvec"} if model_name == "contentvec" else
                                     {"hubert", "hubert_mgr", "mhubert", "ms_hubert"})
    assert not (tmp_path / "out").exists()


WAVLM = FIXTURES / "wavlm_base_like"
USAT = FIXTURES / "unispeech_sat_base_like"
DISTIL = FIXTURES / "distilhubert_like"


@pytest.mark.parametrize("name, source, message", [
    ("unispeech_sat_base", WAVLM / "original_s3prl.pt", "WavLM checkpoint, not UniSpeech-SAT"),
    ("wavlm_base_plus", USAT / "original_s3prl.pt", "UniSpeech-SAT checkpoint, not WavLM"),
    ("wavlm_base_plus", DISTIL / "original_s3prl.pt", "DistilHuBERT's S3PRL pretraining checkpoint"),
    ("unispeech_sat_base", BASE / "original_s3prl.pt", "S3PRL-converted fairseq checkpoint"),
    ("wavlm_large", BASE / "original_fairseq.pt", "fairseq training checkpoint"),
    ("distilhubert_base", WAVLM / "original_s3prl.pt", "WavLM / UniSpeech-SAT checkpoint"),
    ("distilhubert", BASE / "original_s3prl.pt", "S3PRL-converted fairseq checkpoint"),
    ("hubert_base", USAT / "original_s3prl.pt", "WavLM / UniSpeech-SAT format"),
])
def test_checkpoint_of_another_family_is_refused(tmp_path, name, source, message):
    """WavLM, UniSpeech-SAT, DistilHuBERT and HuBERT checkpoints given as one another."""
    with pytest.raises(CheckpointFormatError, match=message):
        convert_checkpoint(name, source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sizes_other_than_the_released_architecture_convert_with_a_warning(tmp_path, caplog):
    """A 2-layer, 32-wide HuBERT is not hubert_large_ll60k: converted (custom checkpoints differ on purpose), with
    a warning that names the difference."""
    convert_checkpoint("hubert_large_ll60k", BASE / "original_s3prl.pt", tmp_path / "out")
    warning = next(record.getMessage() for record in caplog.records if record.levelname == "WARNING")
    assert "not the architecture released as 'hubert_large_ll60k'" in warning
    assert "num_layers 3 (released: 25)" in warning and "hidden_sizes [32, 32, 32] (released: 25 x 1024)" in warning
    caplog.clear()
    convert_checkpoint("hubert_large_ll60k", BASE / "original_s3prl.pt", tmp_path / "custom", check_architecture=False)
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


@pytest.mark.parametrize("damage, message", [
    (lambda w, k: w.__setitem__(k, w[k].clone().index_fill_(0, torch.tensor([0]), float("nan"))), "NaN or infinite"),
    (lambda w, k: w.__setitem__(k, w[k].clone().index_fill_(0, torch.tensor([0]), float("inf"))), "NaN or infinite"),
    (lambda w, k: w.__setitem__(k, (w[k] * 100).long()), "is torch.int64, the model's is floating point"),
])
def test_non_finite_or_integer_weights_are_refused(tmp_path, damage, message):
    state = hosted_checkpoint()
    damage(state["model_weight"], "encoder.layers.0.self_attn.k_proj.weight")
    with pytest.raises(CheckpointFormatError, match=message):
        convert_checkpoint("hubert_base", save(tmp_path, state), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", [
    lambda cfg: cfg.update(encoder_attention_heads=5),  # heads that do not divide the width
    lambda cfg: cfg.update(encoder_embed_dim=-4),
    lambda cfg: cfg.update(encoder_layers="two"),
    lambda cfg: cfg.pop("conv_feature_layers") and cfg.update(conv_feature_layers=[1, 2]),
])
def test_configs_no_converter_foresaw_end_in_one_clear_error(tmp_path, damage):
    state = hosted_checkpoint()
    damage(state["model_cfg"])
    with pytest.raises(CheckpointFormatError) as refused:
        convert_checkpoint("hubert_base", save(tmp_path, state), tmp_path / "out")
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_corrupt_and_missing_files(tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((BASE / "original_s3prl.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointFormatError, match="truncated or corrupt"):
        convert_checkpoint("hubert_base", truncated, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        convert_checkpoint("hubert_base", tmp_path / "nope.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_checkpoint_pickling_foreign_code_is_refused(tmp_path):
    source = save(tmp_path, {**hosted_checkpoint(), "extra": argparse.ArgumentParser})
    with pytest.raises(CheckpointFormatError, match="argparse.ArgumentParser"):
        convert_checkpoint("hubert_base", source, tmp_path / "out")


def test_unknown_names_and_missing_folders(tmp_path):
    with pytest.raises(UnknownUpstreamError, match="hubert_base"):
        convert_checkpoint("huburt_base", BASE / "original_s3prl.pt", tmp_path / "out")
    with pytest.raises(UnknownUpstreamError):
        AutoUpstream.from_pretrained("huburt_base")
    with pytest.raises(FileNotFoundError):
        AutoUpstream.from_pretrained("./no/such/folder")


def test_auto_upstream_passes_config_and_dtype_options(converted_fixture):
    folder = converted_fixture(BASE)
    model = AutoUpstream.from_pretrained(folder, normalize=True, dtype=torch.bfloat16)
    assert model.config.normalize and model.dtype == torch.bfloat16 and not model.training
    all_hs, _ = model(torch.randn(1, 4000))
    assert all_hs[0].dtype == torch.bfloat16 and torch.isfinite(all_hs[-1].float()).all()
    with pytest.raises(TypeError, match="no_such_option"):
        AutoUpstream.from_pretrained(folder, no_such_option=1)


def test_conv_layer_strings_are_parsed_without_eval():
    assert parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2")[-1] == (512, 2, 2)
    with pytest.raises(CheckpointFormatError):
        parse_conv_layers("[(1, 2)]")


# Published sizes of the released models, from the HuBERT paper (arXiv:2106.07447, Table 1: BASE 95M,
# LARGE 317M). The paper counts the pretraining heads (final_proj, label embeddings), which S3PRL's hidden
# states do not use, so the counts agree within 1%.
PUBLISHED_PARAMETERS = {"hubert_base": 95e6, "hubert_large_ll60k": 317e6, "hubert_base_robust_mgr": 95e6}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    config = reference_config(name)
    model_class = get_family("hubert").model_class
    with torch.device("meta"):
        model = model_class(config)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count


def test_every_canonical_name_has_a_reference_config():
    for spec in UPSTREAMS:
        assert reference_config(spec.name).s3prl_name == spec.name, spec.name

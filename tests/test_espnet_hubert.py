"""ESPnet HuBERT: the two-file release, the converter's refusals, S3PRL's custom entry, the released architectures.

Expected numbers come from the fixtures under tests/fixtures/espnet_hubert_* (made by ESPnet and S3PRL in
conversion/reference/fixtures_espnet_hubert.py): the hidden states S3PRL computed, the parameter counts of S3PRL's
loaded model, and the parameter count and shapes of the released architectures as ESPnet builds them.
"""

import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from s3prl_hf import AutoUpstream, S3PRLUpstream
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint, rename_state_dict
from s3prl_hf.conversion import convert_checkpoint
from s3prl_hf.models.espnet_hubert import S3prlEspnetHubertModel
from s3prl_hf.models.espnet_hubert.convert_espnet_hubert import KEY_MAP, convert_espnet_hubert, load_release

BASE = FIXTURES / "espnet_hubert_base_like"
LARGE = FIXTURES / "espnet_hubert_large_like"
VARIANT = FIXTURES / "espnet_hubert_variant"
W2V = "encoder.hubert_pretrain_model.wav2vec2."


def release(folder):
    return load_release(folder / "original_s3prl.pt", folder / "config.yaml")


def _with_encoder_conf(state, **changes):
    config = yaml.safe_load(yaml.safe_dump(state["config"]))  # a deep copy
    config["encoder_conf"].update(changes)
    return {"config": config, "model": state["model"]}


def _max_relative_diff(model, folder, case="batch"):
    expected = load_cases(folder)[case]
    with torch.no_grad():
        out = model(expected["wavs"], expected["wavs_len"])
    worst = 0.0
    for hs, ref, lengths in zip(out.hidden_states, expected["hs"], expected["hs_len"]):
        valid = torch.arange(ref.shape[1])[None, :] < lengths[:, None]
        worst = max(worst, (hs - ref).abs()[valid].max().item() / max(1.0, ref[valid].abs().max().item()))
    return worst


@pytest.mark.parametrize("folder", [BASE, LARGE, VARIANT], ids=lambda f: f.name)
def test_converted_network_has_s3prls_parameters(folder):
    """The converted model is torchaudio's wav2vec2 module of S3PRL's model, parameter for parameter."""
    model = convert_espnet_hubert(release(folder))
    assert sum(p.numel() for p in model.parameters()) == fixture_meta(folder)["checks"]["wav2vec2_parameters"]


@pytest.mark.parametrize("folder", [BASE, LARGE], ids=lambda f: f.name)
def test_released_architecture_has_espnets_parameters_and_shapes(folder):
    released = fixture_meta(folder)["released"]
    with torch.device("meta"):
        model = S3prlEspnetHubertModel(reference_config(released["name"]))
    assert sum(p.numel() for p in model.parameters()) == released["wav2vec2_parameters"]
    espnet = {W2V + key: torch.empty(shape, device="meta")
              for key, shape in released["wav2vec2_state_dict_shapes"].items()}
    renamed = {key: list(value.shape) for key, value in rename_state_dict(espnet, KEY_MAP).items()}
    assert renamed == {key: list(value.shape) for key, value in model.state_dict().items()}


def test_released_base_is_hubert_base_sized():
    config = reference_config("espnet_hubert_base_iter0")
    assert (config.num_layers, config.hidden_sizes[0], config.downsample_rates[0]) == (12, 768, 320)
    assert fixture_meta(BASE)["released"]["wav2vec2_parameters"] == 94_370_944


def test_config_beside_the_checkpoint_or_given_converts_the_same(tmp_path):
    shutil.copyfile(BASE / "original_s3prl.pt", tmp_path / "valid.loss.ave.pth")
    shutil.copyfile(BASE / "config.yaml", tmp_path / "hubert_train.yaml")  # not found beside: no "config.yaml"
    with pytest.raises(CheckpointFormatError, match="without its config.yaml"):
        convert_checkpoint("espnet_hubert_base_iter0", tmp_path / "valid.loss.ave.pth", tmp_path / "none")
    given = convert_checkpoint("espnet_hubert_base_iter0", tmp_path / "valid.loss.ave.pth", tmp_path / "given",
                               frontend_checkpoint=tmp_path / "hubert_train.yaml")
    shutil.copyfile(BASE / "config.yaml", tmp_path / "config.yaml")
    beside = convert_checkpoint("espnet_hubert_base_iter0", tmp_path / "valid.loss.ave.pth", tmp_path / "beside")
    a, b = load_file(given / "model.safetensors"), load_file(beside / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _max_relative_diff(AutoUpstream.from_pretrained(beside), BASE) <= 1e-4


def test_weight_norm_names_and_deepspeed_wrapper_give_the_same_weights():
    """Older torchaudio saved the positional conv as weight_g / weight_v, current as parametrizations; DeepSpeed files
    nest the state dict under "module" (ESPnet's loader unwraps it)."""
    state = release(BASE)
    renamed = {key.replace("conv.weight_g", "conv.parametrizations.weight.original0")
               .replace("conv.weight_v", "conv.parametrizations.weight.original1"): value
               for key, value in state["model"].items()}
    assert renamed.keys() != state["model"].keys()
    reference = convert_espnet_hubert(state).state_dict()
    for weights in (renamed, {"module": state["model"]}):
        other = convert_espnet_hubert({"config": state["config"], "model": weights}).state_dict()
        assert other.keys() == reference.keys() and all(torch.equal(other[k], reference[k]) for k in reference)


@torch.no_grad()
def test_s3prl_custom_entry_reads_the_config_beside_the_checkpoint(tmp_path):
    """`espnet_hubert_custom` is how the variant fixture was made: S3PRL passes no config, ESPnet reads the
    config.yaml beside the .pth."""
    upstream = S3PRLUpstream("espnet_hubert_custom", path_or_url=str(VARIANT / "original_s3prl.pt")).eval()
    expected = load_cases(VARIANT)["tiny_in_batch"]
    all_hs, all_lens = upstream(expected["wavs"], expected["wavs_len"])
    assert len(all_hs) == fixture_meta(VARIANT)["s3prl_upstream"]["num_layers"] == 2
    for hs, hs_len, ref, ref_len in zip(all_hs, all_lens, expected["hs"], expected["hs_len"]):
        assert torch.equal(hs_len, ref_len) and hs.shape == ref.shape
        valid = torch.arange(ref.shape[1])[None, :] < ref_len[:, None]
        assert (hs - ref).abs()[valid].max() <= 1e-4 * max(1.0, ref[valid].abs().max().item())


def test_no_final_layer_norm_and_no_encoder_input_state():
    """Pre-LN: the last state is the last layer's raw output, so changing the final LayerNorm changes nothing."""
    state = release(LARGE)
    model = convert_espnet_hubert(state)
    assert model.num_layers == model.config.num_hidden_layers == 3
    before = _max_relative_diff(model, LARGE)
    with torch.no_grad():
        model.encoder.layer_norm.weight.mul_(3.0)
    assert _max_relative_diff(model, LARGE) == before <= 1e-4


@pytest.mark.parametrize(("change", "message"), [
    (dict(encoder="hubert_pretrain"), "runs ESPnet's 'torchaudio_hubert' encoder only"),
    (dict(model="espnet"), "model='espnet'"),
    (dict(encoder_conf=None), "no encoder_conf"),
])
def test_other_encoders_and_models_are_refused(change, message):
    state = release(BASE)
    with pytest.raises(CheckpointFormatError, match=message):
        convert_espnet_hubert({"config": {**state["config"], **change}, "model": state["model"]})


def test_missing_encoder_key_means_espnets_default_fairseq_encoder():
    state = release(BASE)
    config = {k: v for k, v in state["config"].items() if k != "encoder"}
    with pytest.raises(CheckpointFormatError, match="encoder='hubert_pretrain'"):
        convert_espnet_hubert({"config": config, "model": state["model"]})


@pytest.mark.parametrize(("changes", "message"), [
    (dict(encoder_use_rel_pos=True), r"does not take: \['encoder_use_rel_pos'\]"),
    (dict(num_classes=500), r"sets \['num_classes'\], which HubertTask passes"),
    (dict(extractor_mode="instance_norm"), "extractor_mode='instance_norm'"),
    (dict(extractor_conv_layer_config=[[32, 10, 5], [32, 3, 2]]), "total stride of 10"),
    (dict(extractor_conv_layer_config=[[32, 10]]), "is not a list of"),
    (dict(encoder_num_layers="3"), "encoder_num_layers='3' is not a int"),
    (dict(encoder_layer_norm_first=1), "encoder_layer_norm_first=1 is not a bool"),
    (dict(encoder_num_heads=5), "not divisible"),
    (dict(encoder_num_layers=2), "not used by the model"),
    (dict(encoder_ff_interm_features=65), "shape mismatch"),
    (dict(encoder_layer_norm_first=True, extractor_mode="layer_norm"), "missing from the checkpoint"),
])
def test_encoder_conf_is_read_and_checked_against_the_weights(changes, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert_espnet_hubert(_with_encoder_conf(release(BASE), **changes))


def test_training_only_options_do_not_change_the_model():
    state = release(BASE)
    changed = _with_encoder_conf(state, mask_prob=0.3, encoder_layer_drop=0.5, feature_grad_mult=1.0, finetuning=True,
                                 final_dim=3, skip_masked=True)
    assert _max_relative_diff(convert_espnet_hubert(changed), BASE) <= 1e-4


def test_unknown_and_missing_weights_are_refused():
    state = release(BASE)
    extra = {**state["model"], "encoder.hubert_pretrain_model.wav2vec2.aux.weight": torch.zeros(2)}
    with pytest.raises(CheckpointFormatError, match="not understood: .*aux.weight"):
        convert_espnet_hubert({"config": state["config"], "model": extra})
    missing = {k: v for k, v in state["model"].items() if "layers.1.fc" not in k and "layers.1.feed_forward" not in k}
    with pytest.raises(CheckpointFormatError, match="missing from the checkpoint: encoder.layers.1.feed_forward"):
        convert_espnet_hubert({"config": state["config"], "model": missing})
    # what S3PRL's expert never runs is dropped: the encoder's step counter, heads, modules around the encoder
    around = {**state["model"], "normalize.mean": torch.zeros(1), "normalize.std": torch.ones(1)}
    convert_espnet_hubert({"config": state["config"], "model": around})


def test_release_reading_errors_name_the_problem(tmp_path):
    (tmp_path / "config.yaml").write_text("encoder: [unclosed")
    with pytest.raises(CheckpointFormatError, match="not an ESPnet config.yaml"):
        load_release(BASE / "original_s3prl.pt", tmp_path / "config.yaml")
    (tmp_path / "config.yaml").write_text("just a string")
    with pytest.raises(CheckpointFormatError, match="holds a str"):
        load_release(BASE / "original_s3prl.pt", tmp_path / "config.yaml")
    with pytest.raises(FileNotFoundError):
        load_release(BASE / "original_s3prl.pt", tmp_path / "absent.yaml")
    with pytest.raises(CheckpointFormatError, match="without its config.yaml"):
        convert_espnet_hubert(load_original_checkpoint(BASE / "original_s3prl.pt"))
    with pytest.raises(CheckpointFormatError, match="expected an ESPnet HuBERT release"):
        convert_espnet_hubert({"cfg": {}, "ckpt": {}})

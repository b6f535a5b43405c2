"""WavLM, UniSpeech-SAT and DistilHuBERT: architecture read from S3PRL-made checkpoints, format errors, sizes.

Parity itself is in test_parity.py (every fixture folder); this file checks what the converters read from the
checkpoints, that a checkpoint of another family or a damaged one is refused with a clear error, the distiller's
frame rule against S3PRL's own code, and the released architectures' parameter counts.
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES
from s3prl_hf import convert_checkpoint, reference_config
from s3prl_hf.models import get_family
from s3prl_hf.registry import get_spec
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.distilhubert import S3prlDistilHubertConfig, S3prlDistilHubertModel

WAVLM = FIXTURES / "wavlm_base_like"
USAT = FIXTURES / "unispeech_sat_base_like"
DISTIL = FIXTURES / "distilhubert_like"
HUBERT = FIXTURES / "hubert_base_like"


def converted_config(converted_fixture, name) -> dict:
    return json.loads((converted_fixture(FIXTURES / name) / "config.json").read_text())


@pytest.mark.parametrize("fixture, num_buckets, max_distance, gated", [
    ("wavlm_base_like", 64, 100, True),
    ("wavlm_large_like", 40, 30, True),
    ("wavlm_variant", 320, 1280, False),  # absent from the cfg: S3PRL's WavLMConfig defaults, not transformers' 800
])
def test_wavlm_relative_position_settings_come_from_the_checkpoint(converted_fixture, fixture, num_buckets,
                                                                   max_distance, gated):
    folder = converted_fixture(FIXTURES / fixture)
    config = json.loads((folder / "config.json").read_text())
    assert (config["model_type"], config["num_buckets"], config["max_bucket_distance"], config["gru_rel_pos"]) == \
        ("s3prl_wavlm", num_buckets, max_distance, gated)
    weights = load_file(folder / "model.safetensors")
    assert ("encoder.layers.1.attention.gru_rel_pos_const" in weights) == gated
    assert weights["encoder.layers.0.attention.rel_attn_embed.weight"].shape[0] == num_buckets


def test_distilhubert_heads_come_from_the_checkpoint(converted_fixture):
    like = converted_config(converted_fixture, "distilhubert_like")
    assert (like["model_type"], like["num_hidden_layers"], like["num_prediction_heads"]) == \
        ("s3prl_distilhubert", 2, 3)
    assert like["prediction_layer_ids"] == [4, 8, 12]
    variant = converted_config(converted_fixture, "distilhubert_variant")
    assert (variant["num_prediction_heads"], variant["prediction_head_size"],
            variant["prediction_head_intermediate_size"], variant["do_stable_layer_norm"]) == (1, 20, 16, True)


def test_distilhubert_checkpoint_loads_with_its_optimizer_state_inert():
    state = load_original_checkpoint(DISTIL / "original_s3prl.pt")
    assert {"Distiller", "Config", "Optimizer", "Step", "Args"} <= set(state)
    schedule = state["Optimizer"]["param_groups"][0]["schedule"]  # S3PRL's LR schedule, never instantiated
    assert type(schedule).__module__ == "optimizers" and schedule.t_total == 200000.0
    assert state["Args"].upstream == "distiller"


def _save(tmp_path, state):
    path = tmp_path / "source.pt"
    # The optimizer's inert schedule stand-in cannot be pickled again; the converters never read it.
    torch.save({k: v for k, v in state.items() if k != "Optimizer"}, path)
    return path


@pytest.mark.parametrize("name, source, message", [
    ("unispeech_sat_base", WAVLM / "original_s3prl.pt", "WavLM checkpoint, not UniSpeech-SAT"),
    ("wavlm_base_plus", USAT / "original_s3prl.pt", "UniSpeech-SAT checkpoint, not WavLM"),
    ("wavlm_base_plus", DISTIL / "original_s3prl.pt", "DistilHuBERT's S3PRL pretraining checkpoint"),
    ("unispeech_sat_base", HUBERT / "original_s3prl.pt", "S3PRL-converted fairseq checkpoint"),
    ("wavlm_large", HUBERT / "original_fairseq.pt", "fairseq training checkpoint"),
    ("distilhubert_base", WAVLM / "original_s3prl.pt", "WavLM / UniSpeech-SAT checkpoint"),
    ("distilhubert", HUBERT / "original_s3prl.pt", "S3PRL-converted fairseq checkpoint"),
    ("hubert_base", USAT / "original_s3prl.pt", "WavLM / UniSpeech-SAT format"),
])
def test_checkpoint_of_another_family_is_refused(tmp_path, name, source, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert_checkpoint(name, source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, fixture, damage, message", [
    ("wavlm_base", WAVLM, lambda s: s["model"].pop("encoder.layers.1.self_attn.grep_a"), "missing from the checkpoint"),
    ("wavlm_base", WAVLM, lambda s: s["model"].update(label_embs_concat=torch.zeros(3, 4)), "not understood"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(num_buckets=32), "shape mismatch"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(encoder_layers=3), "missing from the checkpoint"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(gru_rel_pos=False), "not used by the model"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(activation_fn="glu"), "activation_fn"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(conv_feature_layers="[(16,10,5)] + [(16,3,2)] * 5"), "stride"),
    ("unispeech_sat_base", USAT, lambda s: s["cfg"].update(gru_rel_pos=True), "gru_rel_pos"),
    ("unispeech_sat_base", USAT, lambda s: s["model"].pop("layer_norm.bias"), "missing from the checkpoint"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(task_emb_type="add"), "task_emb_type"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(attention_type="dynamic"),
     "attention_type"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(n_tasks=2), "pred_layer_id"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(final_dim=16), "shape mismatch"),
    ("distilhubert_base", DISTIL, lambda s: s["Distiller"].update({"layer_norm.weight": torch.ones(16)}),
     "not understood"),
    ("distilhubert_base", DISTIL, lambda s: s["Distiller"].pop("output_layer.2.bias"), "missing from the checkpoint"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"].pop("distiller"), "no 'distiller' section"),
])
def test_damaged_checkpoint_is_refused_and_nothing_written(tmp_path, name, fixture, damage, message):
    state = load_original_checkpoint(fixture / "original_s3prl.pt")
    damage(state)
    source = _save(tmp_path, state)
    with pytest.raises(CheckpointFormatError, match=message):
        convert_checkpoint(name, source, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["source.pt"]


def _s3prl_cal_pad_mask(conv_layers, pad_mask, max_len):
    """`DistillerModel.cal_pad_mask`, s3prl 0.4.18 upstream/distiller/model.py, verbatim (self -> conv_layers)."""
    pad_len = (pad_mask > 0).sum(1).long()
    for _, k_size, s_size in conv_layers:
        pad_len = torch.div((pad_len - k_size), s_size, rounding_mode="trunc") + 1

    new_pad_mask = torch.ones((pad_mask.shape[0], max_len), dtype=pad_mask.dtype, device=pad_mask.device)

    for idx in range(pad_len.shape[0]):
        new_pad_mask[idx, pad_len[idx]:] = 0

    return new_pad_mask


@pytest.mark.parametrize("kernels", [(10, 3, 3, 3, 3, 2, 2), (10, 3, 3, 3, 3, 5, 5)])  # the second goes negative
def test_distilhubert_frame_rule_is_s3prls_cal_pad_mask(kernels):
    strides = (5, 2, 2, 2, 2, 2, 2)
    with torch.device("meta"):
        model = S3prlDistilHubertModel(S3prlDistilHubertConfig(
            hidden_size=8, num_attention_heads=2, intermediate_size=8, conv_dim=(8,) * 7, conv_kernel=kernels,
            conv_stride=strides, num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2,
            prediction_head_size=8, prediction_head_intermediate_size=8))
    lengths = torch.tensor(list(range(1, 1400, 7)) + [16000])
    padded, frames = 16000, 49
    pad_mask = (torch.arange(padded)[None, :] < lengths[:, None]).float()
    expected = _s3prl_cal_pad_mask(list(zip((8,) * 7, kernels, strides)), pad_mask, frames).bool()
    got = torch.arange(frames)[None, :] < model._frame_lengths(lengths, padded, frames)[:, None]
    assert torch.equal(got, expected)


# Published sizes (the #Params columns of the papers' SUPERB tables): WavLM (arXiv:2110.13900) Base / Base+ 94.70M,
# Large 316.62M; UniSpeech-SAT (arXiv:2110.05752) Base / Base+ 94.68M, Large 316.61M. Those count the pretraining
# heads (final projection, label embeddings), which S3PRL's hidden states do not use, so they agree within 1%.
# DistilHuBERT (arXiv:2110.01900, Table 1) 23.49M counts the network without its prediction heads.
PUBLISHED_PARAMETERS = {
    "wavlm_base": 94.70e6, "wavlm_base_plus": 94.70e6, "wavlm_large": 316.62e6,
    "unispeech_sat_base": 94.68e6, "unispeech_sat_base_plus": 94.68e6, "unispeech_sat_large": 316.61e6,
    "distilhubert_base": 23.49e6,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    config = reference_config(name)
    with torch.device("meta"):
        model = get_family(get_spec(name).family).model_class(config)
    count = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("prediction_heads."))
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count


def test_distilhubert_reference_has_six_hidden_states_with_heads():
    config = reference_config("distilhubert")
    assert (config.num_layers, config.hidden_sizes, config.prediction_layer_ids) == (6, (768,) * 6, (4, 8, 12))
    assert reference_config("wavlm_large").max_bucket_distance == 800

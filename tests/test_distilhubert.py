"""DistilHuBERT: architecture read from S3PRL-made checkpoints, format errors, the frame rule, sizes.

Parity itself is in test_parity.py (every fixture folder); this file checks what the converter reads from the
checkpoints, that a damaged one is refused with a clear error, the distiller's frame rule against S3PRL's own code,
and the released architecture's parameter count. A checkpoint of another family given as DistilHuBERT (and the
reverse) is in test_convert_and_auto.py.
"""

import json

import pytest
import torch

from conftest import FIXTURES
from originals import assert_conversion_refused, original, save_source
from parameter_counts import on_meta, parameter_count
from s3prl_hf import reference_config
from s3prl_hf.models.distilhubert import S3prlDistilHubertConfig, S3prlDistilHubertModel

DISTIL = FIXTURES / "distilhubert_like"


def converted_config(converted_fixture, name) -> dict:
    return json.loads((converted_fixture(FIXTURES / name) / "config.json").read_text())


def test_distilhubert_heads_come_from_the_checkpoint(converted_fixture):
    like = converted_config(converted_fixture, "distilhubert_like")
    assert (like["model_type"], like["num_hidden_layers"], like["num_prediction_heads"]) == \
        ("s3prl_distilhubert", 2, 3)
    assert like["prediction_layer_ids"] == [4, 8, 12]
    variant = converted_config(converted_fixture, "distilhubert_variant")
    assert (variant["num_prediction_heads"], variant["prediction_head_size"],
            variant["prediction_head_intermediate_size"], variant["do_stable_layer_norm"]) == (1, 20, 16, True)


def test_distilhubert_checkpoint_loads_with_its_optimizer_state_inert():
    state = original(DISTIL)
    assert {"Distiller", "Config", "Optimizer", "Step", "Args"} <= set(state)
    schedule = state["Optimizer"]["param_groups"][0]["schedule"]  # S3PRL's LR schedule, never instantiated
    assert type(schedule).__module__ == "optimizers" and schedule.t_total == 200000.0
    assert state["Args"].upstream == "distiller"


DAMAGED = [
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(task_emb_type="add"), "task_emb_type"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(attention_type="dynamic"),
     "attention_type"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(n_tasks=2), "pred_layer_id"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"]["distiller"].update(final_dim=16), "shape mismatch"),
    ("distilhubert_base", DISTIL, lambda s: s["Distiller"].update({"layer_norm.weight": torch.ones(16)}),
     "not understood"),
    ("distilhubert_base", DISTIL, lambda s: s["Distiller"].pop("output_layer.2.bias"), "missing from the checkpoint"),
    ("distilhubert_base", DISTIL, lambda s: s["Config"].pop("distiller"), "no 'distiller' section"),
]


# The ids number the rows as the table WavLM, UniSpeech-SAT and DistilHuBERT once shared did (DistilHuBERT:
# fixture9-15).
@pytest.mark.parametrize("name, fixture, damage, message", DAMAGED,
                         ids=[f"{row[0]}-fixture{i}-<lambda>-{row[3]}" for i, row in enumerate(DAMAGED, start=9)])
def test_damaged_checkpoint_is_refused_and_nothing_written(tmp_path, name, fixture, damage, message):
    state = original(fixture)
    damage(state)
    source = save_source(tmp_path, state)
    assert_conversion_refused(tmp_path, name, source, message)
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


# Published size: DistilHuBERT (arXiv:2110.01900, Table 1) 23.49M counts the network without its prediction heads.
PUBLISHED_PARAMETERS = {"distilhubert_base": 23.49e6}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    count = parameter_count(on_meta(name), excluding=("prediction_heads.",))
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count


def test_distilhubert_reference_has_six_hidden_states_with_heads():
    config = reference_config("distilhubert")
    assert (config.num_layers, config.hidden_sizes, config.prediction_layer_ids) == (6, (768,) * 6, (4, 8, 12))

"""WavLM: architecture read from S3PRL-made checkpoints, format errors, sizes.

Parity itself is in test_parity.py (every fixture folder); this file checks what the converter reads from the
checkpoints, that a damaged one is refused with a clear error, and the released architectures' parameter counts.
A checkpoint of another family given as WavLM (and the reverse) is in test_convert_and_auto.py.
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES
from originals import assert_conversion_refused, original, save_source
from parameter_counts import on_meta, parameter_count
from s3prl_hf import reference_config

WAVLM = FIXTURES / "wavlm_base_like"


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


DAMAGED = [
    ("wavlm_base", WAVLM, lambda s: s["model"].pop("encoder.layers.1.self_attn.grep_a"), "missing from the checkpoint"),
    ("wavlm_base", WAVLM, lambda s: s["model"].update(label_embs_concat=torch.zeros(3, 4)), "not understood"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(num_buckets=32), "shape mismatch"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(encoder_layers=3), "missing from the checkpoint"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(gru_rel_pos=False), "not used by the model"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(activation_fn="glu"), "activation_fn"),
    ("wavlm_base", WAVLM, lambda s: s["cfg"].update(conv_feature_layers="[(16,10,5)] + [(16,3,2)] * 5"), "stride"),
]


# The ids number the rows as the table WavLM, UniSpeech-SAT and DistilHuBERT once shared did (WavLM: fixture0-6).
@pytest.mark.parametrize("name, fixture, damage, message", DAMAGED,
                         ids=[f"{row[0]}-fixture{i}-<lambda>-{row[3]}" for i, row in enumerate(DAMAGED, start=0)])
def test_damaged_checkpoint_is_refused_and_nothing_written(tmp_path, name, fixture, damage, message):
    state = original(fixture)
    damage(state)
    source = save_source(tmp_path, state)
    assert_conversion_refused(tmp_path, name, source, message)
    assert [p.name for p in tmp_path.iterdir()] == ["source.pt"]


# Published sizes (the #Params column of the paper's SUPERB table): WavLM (arXiv:2110.13900) Base / Base+ 94.70M,
# Large 316.62M. Those count the pretraining heads (final projection, label embeddings), which S3PRL's hidden states
# do not use, so they agree within 1%.
PUBLISHED_PARAMETERS = {"wavlm_base": 94.70e6, "wavlm_base_plus": 94.70e6, "wavlm_large": 316.62e6}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    count = parameter_count(on_meta(name))
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count


def test_wavlm_large_reference_has_s3prls_bucket_distance():
    assert reference_config("wavlm_large").max_bucket_distance == 800

"""data2vec (audio): converter errors, real configs."""

import re

import pytest

from conftest import FIXTURES, fixture_meta
from originals import assert_conversion_refused, original, save_source, with_cfg, with_weights
from parameter_counts import on_meta, parameter_count, transformers_count
from s3prl_hf.registry import list_upstreams

# (name to convert as, fixture, source, damage, expected message)
WRONG_CHECKPOINTS = [
    ("data2vec_base_960", "wav2vec2_base_like", "original_s3prl.pt", None, "'wav2vec2' model, not data2vec"),
    ("data2vec_base_960", "hubert_base_like", "original_s3prl.pt", None, "HuBERT"),
    ("data2vec_base_960", "data2vec_base_like", "original_s3prl.pt", lambda s: with_weights(s, drop="^_ema$"),
     "no '_ema' entry"),
    ("data2vec_base_960", "data2vec_base_like", "original_s3prl.pt", lambda s: with_cfg(s, _name=None)
     | {"model_weight": {k: v for k, v in s["model_weight"].items() if k != "_ema"}}, "_ema"),
]


@pytest.mark.parametrize("name, fixture, source, damage, message", WRONG_CHECKPOINTS,
                         ids=[f"{row[0]}<-{row[1]}-{row[4][:20]}" for row in WRONG_CHECKPOINTS])
def test_wrong_family_or_damaged_checkpoint_is_rejected(tmp_path, name, fixture, source, damage, message):
    path = FIXTURES / fixture / source
    if damage is not None:
        path = save_source(tmp_path, damage(original(fixture, source)))
    assert_conversion_refused(tmp_path, name, path, re.escape(message))


# No parameter count is published for the data2vec releases (the data2vec paper, arXiv:2202.03555, gives none), so the
# released architectures are counted against transformers' own modules, configured as the Hub ports of the same
# checkpoints (facebook/data2vec-audio-base, -large).
def _data2vec_reference(**size):
    from transformers import Data2VecAudioConfig, Data2VecAudioModel

    return transformers_count(Data2VecAudioModel, Data2VecAudioConfig, num_conv_pos_embeddings=5,
                              conv_pos_kernel_size=19, num_conv_pos_embedding_groups=16, **size)


TRANSFORMERS_COUNTED = {
    "data2vec_base_960": lambda: _data2vec_reference(),
    "data2vec_large_ll60k": lambda: _data2vec_reference(hidden_size=1024, num_hidden_layers=24,
                                                        num_attention_heads=16, intermediate_size=4096),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_COUNTED))
def test_real_configs_build_on_meta_with_transformers_parameter_counts(name):
    assert parameter_count(on_meta(name)) == TRANSFORMERS_COUNTED[name]()


def test_every_name_of_these_families_resolves_to_a_reference_config():
    assert sorted(list_upstreams(family="data2vec")) == sorted(TRANSFORMERS_COUNTED)


def test_fixtures_cover_every_family_and_both_layouts():
    families = {fixture_meta(folder)["family"] for folder in FIXTURES.iterdir() if (folder / "meta.json").exists()}
    assert "data2vec" in families

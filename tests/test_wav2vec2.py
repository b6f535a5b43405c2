"""wav2vec 2.0 / XLS-R: converter errors, real configs. The conformer is in test_wav2vec2_conformer.py, data2vec in
test_data2vec.py."""

import re

import pytest
import torch

from conftest import FIXTURES, fixture_meta
from originals import assert_conversion_refused, original, save_source, with_cfg, with_weights
from parameter_counts import on_meta, parameter_count
from s3prl_hf import reference_config
from s3prl_hf.registry import list_upstreams

# (name to convert as, fixture, source, damage, expected message)
WRONG_CHECKPOINTS = [
    ("wav2vec2_base_960", "hubert_base_like", "original_s3prl.pt", None, "HuBERT"),
    ("wav2vec2_base_960", "hubert_base_like", "original_fairseq.pt", None, "HuBERT"),
    ("xls_r_300m", "data2vec_base_like", "original_s3prl.pt", None, "data2vec"),
    ("xls_r_300m", "data2vec_base_like", "original_fairseq.pt", None, "data2vec"),
    ("wav2vec2_large_ll60k", "wav2vec2_conformer_relpos_like", "original_fairseq", None, "wav2vec2_conformer"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt",
     lambda s: with_weights(s, **{"encoder.extra.weight": torch.zeros(2)}), "not understood"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt", lambda s: with_weights(s, drop=r"fc2\.bias"),
     "missing from the checkpoint"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt", lambda s: with_cfg(s, encoder_layers=3),
     "missing from the checkpoint"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt", lambda s: with_cfg(s, conv_pos=12),
     "shape mismatch"),
    # embed dim == conv dim: S3PRL builds no projection and its strict load refuses one
    ("wav2vec2_base_960", "wav2vec2_variant", "original_s3prl.pt",
     lambda s: with_weights(s, **{"post_extract_proj.weight": torch.eye(32),
                                  "post_extract_proj.bias": torch.zeros(32)}), "post_extract_proj"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt", lambda s: with_cfg(s, quantize_input=True),
     "quantize_input"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt", lambda s: with_cfg(s, _name="wav2vec_ctc"),
     "fine-tuned"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt",
     lambda s: with_cfg(s, conv_feature_layers="[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)]"), "stride of 160"),
    ("wav2vec2_base_960", "wav2vec2_base_like", "original_s3prl.pt",
     lambda s: {"cfg": s["model_cfg"], "model": s["model_weight"]}, "WavLM"),
]


@pytest.mark.parametrize("name, fixture, source, damage, message", WRONG_CHECKPOINTS,
                         ids=[f"{row[0]}<-{row[1]}-{row[4][:20]}" for row in WRONG_CHECKPOINTS])
def test_wrong_family_or_damaged_checkpoint_is_rejected(tmp_path, name, fixture, source, damage, message):
    path = FIXTURES / fixture / source
    if damage is not None:
        path = save_source(tmp_path, damage(original(fixture, source)))
    assert_conversion_refused(tmp_path, name, path, re.escape(message))


# Published sizes of the released models. They count wav2vec 2.0's pretraining heads (quantizer, project_q,
# final_proj: 0.7 M for BASE, 1.9-2.9 M for the others), which no hidden state uses, so the counts agree within 1%.
PUBLISHED_PARAMETERS = {
    # SUPERB (Yang et al. 2021, arXiv:2105.01051), table of upstream models: wav2vec 2.0 Base / Large
    "wav2vec2_base_960": 95.04e6,
    "wav2vec2_large_960": 317.38e6,
    "wav2vec2_large_ll60k": 317.38e6,
    # XLS-R (Babu et al. 2021, arXiv:2111.09296), Table 1: 0.3B = 317M, 1B = 965M, 2B = 2162M. XLSR-53 and the
    # robust LV60+CV+SWBD+FSH model have the same LARGE architecture as XLS-R 0.3B (arXiv:2006.13979,
    # arXiv:2104.01027).
    "wav2vec2_large_lv60_cv_swbd_fsh": 317e6,
    "xlsr_53": 317e6,
    "xls_r_300m": 317e6,
    "xls_r_1b": 965e6,
    "xls_r_2b": 2162e6,
    # VoxPopuli (facebookresearch/voxpopuli README, pre-trained models): "Large Model (317M)"
    "wav2vec2_large_voxpopuli_100k": 317e6,
}
# fairseq's speech-to-speech encoders (examples/speech_to_speech/docs/enhanced_direct_s2st_discrete_units.md) publish
# only "BASE": the released architecture of that name.
SAME_ARCHITECTURE = {
    "wav2vec2_base_s2st_es_voxpopuli": "wav2vec2_base_960",
    "wav2vec2_base_s2st_en_librilight": "wav2vec2_base_960",
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    count = parameter_count(on_meta(name))
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count


@pytest.mark.parametrize("name", sorted(SAME_ARCHITECTURE))
def test_speech_to_speech_encoders_have_their_sizes_architecture(name):
    assert reference_config(name).to_dict() | {"s3prl_name": None} == (
        reference_config(SAME_ARCHITECTURE[name]).to_dict() | {"s3prl_name": None})
    assert parameter_count(on_meta(name)) == parameter_count(on_meta(SAME_ARCHITECTURE[name]))


def test_every_name_of_these_families_resolves_to_a_reference_config():
    assert sorted(list_upstreams(family="wav2vec2")) == sorted([*PUBLISHED_PARAMETERS, *SAME_ARCHITECTURE])


def test_fixtures_cover_every_family_and_both_layouts():
    metas = {folder.name: fixture_meta(folder) for folder in FIXTURES.iterdir() if (folder / "meta.json").exists()}
    families = {meta["family"] for meta in metas.values()}
    assert "wav2vec2" in families
    layouts = {meta.get("fairseq_layout") for meta in metas.values() if meta["family"] == "wav2vec2"}
    assert layouts == {"args", "cfg"}

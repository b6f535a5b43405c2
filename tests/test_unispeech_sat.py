"""UniSpeech-SAT: format errors and sizes.

Parity itself is in test_parity.py (every fixture folder); this file checks that a damaged checkpoint is refused with
a clear error, and the released architectures' parameter counts. A checkpoint of another family given as
UniSpeech-SAT (and the reverse) is in test_convert_and_auto.py.
"""

import pytest

from conftest import FIXTURES
from originals import assert_conversion_refused, original, save_source
from parameter_counts import on_meta, parameter_count

USAT = FIXTURES / "unispeech_sat_base_like"

DAMAGED = [
    ("unispeech_sat_base", USAT, lambda s: s["cfg"].update(gru_rel_pos=True), "gru_rel_pos"),
    ("unispeech_sat_base", USAT, lambda s: s["model"].pop("layer_norm.bias"), "missing from the checkpoint"),
]


# The ids number the rows as the table WavLM, UniSpeech-SAT and DistilHuBERT once shared did (UniSpeech-SAT:
# fixture7-8).
@pytest.mark.parametrize("name, fixture, damage, message", DAMAGED,
                         ids=[f"{row[0]}-fixture{i}-<lambda>-{row[3]}" for i, row in enumerate(DAMAGED, start=7)])
def test_damaged_checkpoint_is_refused_and_nothing_written(tmp_path, name, fixture, damage, message):
    state = original(fixture)
    damage(state)
    source = save_source(tmp_path, state)
    assert_conversion_refused(tmp_path, name, source, message)
    assert [p.name for p in tmp_path.iterdir()] == ["source.pt"]


# Published sizes (the #Params column of the paper's SUPERB table): UniSpeech-SAT (arXiv:2110.05752) Base / Base+
# 94.68M, Large 316.61M. Those count the pretraining heads (final projection, label embeddings), which S3PRL's hidden
# states do not use, so they agree within 1%.
PUBLISHED_PARAMETERS = {"unispeech_sat_base": 94.68e6, "unispeech_sat_base_plus": 94.68e6,
                        "unispeech_sat_large": 316.61e6}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    count = parameter_count(on_meta(name))
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count

"""wav2vec 2.0 Conformer: converter errors, sharded output, real configs, buffers after a meta build."""

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from originals import assert_conversion_refused, original, save_source, with_cfg, with_weights
from parameter_counts import on_meta, parameter_count, transformers_count
from s3prl_hf import AutoUpstream, reference_config
from s3prl_hf.cli import main
from s3prl_hf.models.wav2vec2_conformer import S3prlWav2Vec2ConformerConfig, S3prlWav2Vec2ConformerModel
from s3prl_hf.models.wav2vec2_conformer.modeling_wav2vec2_conformer import rotary_inv_freq
from s3prl_hf.registry import list_upstreams
from test_parity import assert_hidden_states_match


def rope_layer0_changed(state: dict) -> dict:
    key = "encoder.layers.0.self_attn.rotary_emb.inv_freq"
    return with_weights(state, **{key: state["model_weight"][key] * 1.01})


# (name to convert as, fixture, source, damage, expected message)
WRONG_CHECKPOINTS = [
    ("wav2vec2_conformer_rope", "wav2vec2_large_like", "original_s3prl.pt", None, "not a conformer"),
    # an "abs" conformer has no relative-position weights (S3PRL's strict load fails on them)
    ("wav2vec2_conformer_relpos", "wav2vec2_conformer_relpos_like", "original_s3prl.pt",
     lambda s: with_cfg(s, pos_enc_type="abs"), "not used by the model: encoder.layers.0.self_attn.linear_pos"),
    # rel_pos with fairseq's attention fails in S3PRL (MultiheadAttention gets pos_emb)
    ("wav2vec2_conformer_relpos", "wav2vec2_conformer_relpos_like", "original_s3prl.pt",
     lambda s: with_cfg(s, attn_type=""), "only ESPnet attention ('espnet') runs rel_pos"),
    ("wav2vec2_conformer_relpos", "wav2vec2_conformer_relpos_like", "original_s3prl.pt",
     lambda s: with_cfg(s, required_seq_len_multiple=0), "seq_len_multiple"),
    ("wav2vec2_conformer_rope", "wav2vec2_conformer_rope_like", "original_s3prl.pt", rope_layer0_changed,
     "inv_freq"),
    ("wav2vec2_conformer_relpos", "wav2vec2_conformer_rope_like", "original_s3prl.pt",
     lambda s: with_cfg(s, pos_enc_type="rel_pos"), "inv_freq"),
]


@pytest.mark.parametrize("name, fixture, source, damage, message", WRONG_CHECKPOINTS,
                         ids=[f"{row[0]}<-{row[1]}-{row[4][:20]}" for row in WRONG_CHECKPOINTS])
def test_wrong_family_or_damaged_checkpoint_is_rejected(tmp_path, name, fixture, source, damage, message):
    path = FIXTURES / fixture / source
    if damage is not None:
        path = save_source(tmp_path, damage(original(fixture, source)))
    assert_conversion_refused(tmp_path, name, path, re.escape(message))


@torch.no_grad()
def test_sharded_conversion_round_trips(tmp_path, converted_fixture, capsys):
    folder = FIXTURES / "wav2vec2_conformer_rope_like"
    output = tmp_path / "sharded"
    assert main(["convert", "--name", "wav2vec2_conformer_rope", "--checkpoint", str(folder / "original_fairseq"),
                 "--output", str(output), "--max-shard-size", "100KB"]) == 0
    assert "model.safetensors.index.json" in capsys.readouterr().out
    shards = sorted(p.name for p in output.glob("model-*.safetensors"))
    assert len(shards) >= 3 and not (output / "model.safetensors").exists()
    index = json.loads((output / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == shards
    assert all(re.fullmatch(r"model-\d{5}-of-\d{5}\.safetensors", shard) for shard in shards)

    whole = load_file(converted_fixture(folder, "original_fairseq") / "model.safetensors")
    parts = {k: v for shard in shards for k, v in load_file(output / shard).items()}
    assert parts.keys() == whole.keys() == index["weight_map"].keys()
    assert all(torch.equal(parts[k], whole[k]) for k in whole)

    model = AutoUpstream.from_pretrained(output)
    expected = load_cases(folder)["batch"]
    out = model(expected["wavs"], expected["wavs_len"])
    assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected["hs"], expected["hs_len"],
                               "sharded rope/batch")


# fairseq's speech-to-speech encoders (examples/speech_to_speech/docs/enhanced_direct_s2st_discrete_units.md) publish
# only "LARGE" (Conformer): the released architecture of that name.
SAME_ARCHITECTURE = {
    "wav2vec2_conformer_large_s2st_es_voxpopuli": "wav2vec2_conformer_relpos",
    "wav2vec2_conformer_large_s2st_en_librilight": "wav2vec2_conformer_relpos",
}


# No parameter count is published for the conformer releases (fairseq's README gives none), so the released
# architectures are counted against transformers' own modules, configured as the Hub ports of the same checkpoints
# (facebook/wav2vec2-conformer-rel-pos-large, -rope-large).
def _conformer_reference(position_embeddings_type):
    from transformers import Wav2Vec2ConformerConfig, Wav2Vec2ConformerModel

    # transformers builds fairseq's positional conv too, which fairseq's ConformerEncoder never calls
    return transformers_count(Wav2Vec2ConformerModel, Wav2Vec2ConformerConfig, ("encoder.pos_conv_embed.",),
                              hidden_size=1024,
                              num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                              feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True,
                              position_embeddings_type=position_embeddings_type, conv_depthwise_kernel_size=31)


TRANSFORMERS_COUNTED = {
    "wav2vec2_conformer_relpos": lambda: _conformer_reference("relative"),
    "wav2vec2_conformer_rope": lambda: _conformer_reference("rotary"),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_COUNTED))
def test_real_configs_build_on_meta_with_transformers_parameter_counts(name):
    assert parameter_count(on_meta(name)) == TRANSFORMERS_COUNTED[name]()


@pytest.mark.parametrize("name", sorted(SAME_ARCHITECTURE))
def test_speech_to_speech_encoders_have_their_sizes_architecture(name):
    assert reference_config(name).to_dict() | {"s3prl_name": None} == (
        reference_config(SAME_ARCHITECTURE[name]).to_dict() | {"s3prl_name": None})
    assert parameter_count(on_meta(name)) == parameter_count(on_meta(SAME_ARCHITECTURE[name]))


def test_every_name_of_these_families_resolves_to_a_reference_config():
    assert sorted(list_upstreams(family="wav2vec2_conformer")) == sorted([*TRANSFORMERS_COUNTED, *SAME_ARCHITECTURE])


def test_buffers_are_initialised_after_a_meta_build():
    config = S3prlWav2Vec2ConformerConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                          intermediate_size=64, conv_dim=(16,) * 7, position_embeddings_type="rotary")
    with torch.device("meta"):
        model = S3prlWav2Vec2ConformerModel(config)
    model.to_empty(device="cpu")
    model.init_weights()
    torch.testing.assert_close(model.encoder.embed_positions.inv_freq, rotary_inv_freq(config), rtol=0, atol=0)
    batch_norm = model.encoder.layers[0].conv_module.batch_norm
    assert torch.equal(batch_norm.running_var, torch.ones(32)) and torch.equal(batch_norm.running_mean, torch.zeros(32))
    assert not any(name.endswith("pe") for name, _ in model.named_buffers())  # rel-pos tables are never stored


def test_fixtures_cover_every_family_and_both_layouts():
    families = {fixture_meta(folder)["family"] for folder in FIXTURES.iterdir() if (folder / "meta.json").exists()}
    assert "wav2vec2_conformer" in families

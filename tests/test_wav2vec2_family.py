"""wav2vec 2.0 / XLS-R, wav2vec 2.0 Conformer and data2vec: converter errors, sharded output, real configs."""

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from s3prl_hf import AutoUpstream, convert_checkpoint, reference_config
from s3prl_hf.models import get_family
from s3prl_hf.cli import main
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.wav2vec2_conformer import S3prlWav2Vec2ConformerConfig, S3prlWav2Vec2ConformerModel
from s3prl_hf.models.wav2vec2_conformer.modeling_wav2vec2_conformer import rotary_inv_freq
from s3prl_hf.registry import get_spec, list_upstreams
from test_parity import assert_hidden_states_match


def checkpoint(fixture: str, source: str = "original_s3prl.pt") -> dict:
    return load_original_checkpoint(FIXTURES / fixture / source)


def with_cfg(state: dict, **changes) -> dict:
    return {**state, "model_cfg": {**state["model_cfg"], **changes}}


def with_weights(state: dict, drop: str | None = None, **extra) -> dict:
    weights = {k: v for k, v in state["model_weight"].items() if drop is None or not re.search(drop, k)}
    return {**state, "model_weight": {**weights, **extra}}


def rope_layer0_changed(state: dict) -> dict:
    key = "encoder.layers.0.self_attn.rotary_emb.inv_freq"
    return with_weights(state, **{key: state["model_weight"][key] * 1.01})


# (name to convert as, fixture, source, damage, expected message)
WRONG_CHECKPOINTS = [
    ("wav2vec2_base_960", "hubert_base_like", "original_s3prl.pt", None, "HuBERT"),
    ("wav2vec2_base_960", "hubert_base_like", "original_fairseq.pt", None, "HuBERT"),
    ("xls_r_300m", "data2vec_base_like", "original_s3prl.pt", None, "data2vec"),
    ("xls_r_300m", "data2vec_base_like", "original_fairseq.pt", None, "data2vec"),
    ("wav2vec2_large_ll60k", "wav2vec2_conformer_relpos_like", "original_fairseq", None, "wav2vec2_conformer"),
    ("wav2vec2_conformer_rope", "wav2vec2_large_like", "original_s3prl.pt", None, "not a conformer"),
    ("data2vec_base_960", "wav2vec2_base_like", "original_s3prl.pt", None, "'wav2vec2' model, not data2vec"),
    ("data2vec_base_960", "hubert_base_like", "original_s3prl.pt", None, "HuBERT"),
    ("data2vec_base_960", "data2vec_base_like", "original_s3prl.pt", lambda s: with_weights(s, drop="^_ema$"),
     "no '_ema' entry"),
    ("data2vec_base_960", "data2vec_base_like", "original_s3prl.pt", lambda s: with_cfg(s, _name=None)
     | {"model_weight": {k: v for k, v in s["model_weight"].items() if k != "_ema"}}, "_ema"),
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
        path = tmp_path / "source.pt"
        torch.save(damage(checkpoint(fixture, source)), path)
    with pytest.raises(CheckpointFormatError, match=re.escape(message)):
        convert_checkpoint(name, path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


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
# only "BASE" / "LARGE" (Conformer): the released architectures of those names.
SAME_ARCHITECTURE = {
    "wav2vec2_base_s2st_es_voxpopuli": "wav2vec2_base_960",
    "wav2vec2_base_s2st_en_librilight": "wav2vec2_base_960",
    "wav2vec2_conformer_large_s2st_es_voxpopuli": "wav2vec2_conformer_relpos",
    "wav2vec2_conformer_large_s2st_en_librilight": "wav2vec2_conformer_relpos",
}


def parameter_count(name: str) -> int:
    with torch.device("meta"):
        model = get_family(get_spec(name).family).model_class(reference_config(name))
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_real_configs_build_on_meta_with_published_parameter_counts(name):
    count = parameter_count(name)
    assert abs(count - PUBLISHED_PARAMETERS[name]) / PUBLISHED_PARAMETERS[name] < 0.01, count


def transformers_count(model_class, config_class, unused=(), **config) -> int:
    """Parameters of transformers' own implementation, less what S3PRL never runs (its masked-frame embedding and
    the `unused` prefixes)."""
    with torch.device("meta"):
        model = model_class(config_class(**config))
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("masked_spec_embed", *unused)))


# No parameter count is published for the conformer and data2vec releases (fairseq's README and the data2vec paper,
# arXiv:2202.03555, give none), so the released architectures are counted against transformers' own modules,
# configured as the Hub ports of the same checkpoints (facebook/wav2vec2-conformer-rel-pos-large,
# -rope-large, facebook/data2vec-audio-base, -large).
def _conformer_reference(position_embeddings_type):
    from transformers import Wav2Vec2ConformerConfig, Wav2Vec2ConformerModel

    # transformers builds fairseq's positional conv too, which fairseq's ConformerEncoder never calls
    return transformers_count(Wav2Vec2ConformerModel, Wav2Vec2ConformerConfig, ("encoder.pos_conv_embed.",),
                              hidden_size=1024,
                              num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                              feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True,
                              position_embeddings_type=position_embeddings_type, conv_depthwise_kernel_size=31)


def _data2vec_reference(**size):
    from transformers import Data2VecAudioConfig, Data2VecAudioModel

    return transformers_count(Data2VecAudioModel, Data2VecAudioConfig, num_conv_pos_embeddings=5,
                              conv_pos_kernel_size=19, num_conv_pos_embedding_groups=16, **size)


TRANSFORMERS_COUNTED = {
    "wav2vec2_conformer_relpos": lambda: _conformer_reference("relative"),
    "wav2vec2_conformer_rope": lambda: _conformer_reference("rotary"),
    "data2vec_base_960": lambda: _data2vec_reference(),
    "data2vec_large_ll60k": lambda: _data2vec_reference(hidden_size=1024, num_hidden_layers=24,
                                                        num_attention_heads=16, intermediate_size=4096),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_COUNTED))
def test_real_configs_build_on_meta_with_transformers_parameter_counts(name):
    assert parameter_count(name) == TRANSFORMERS_COUNTED[name]()


@pytest.mark.parametrize("name", sorted(SAME_ARCHITECTURE))
def test_speech_to_speech_encoders_have_their_sizes_architecture(name):
    assert reference_config(name).to_dict() | {"s3prl_name": None} == (
        reference_config(SAME_ARCHITECTURE[name]).to_dict() | {"s3prl_name": None})
    assert parameter_count(name) == parameter_count(SAME_ARCHITECTURE[name])


def test_every_name_of_these_families_resolves_to_a_reference_config():
    names = [n for family in ("wav2vec2", "wav2vec2_conformer", "data2vec") for n in list_upstreams(family=family)]
    assert sorted(names) == sorted([*PUBLISHED_PARAMETERS, *TRANSFORMERS_COUNTED, *SAME_ARCHITECTURE])


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
    metas = {folder.name: fixture_meta(folder) for folder in FIXTURES.iterdir() if (folder / "meta.json").exists()}
    families = {meta["family"] for meta in metas.values()}
    assert {"wav2vec2", "wav2vec2_conformer", "data2vec"} <= families
    layouts = {meta.get("fairseq_layout") for meta in metas.values() if meta["family"] == "wav2vec2"}
    assert layouts == {"args", "cfg"}

"""Discrete BERT: parity with S3PRL on checkpoints S3PRL and fairseq wrote, its tokens against S3PRL's own, the
released architecture, the fairseq dictionary and key upgrades, the release's layouts, converter errors.

The fixtures (tests/fixtures/discretebert_*, vq_wav2vec_kmeans_roberta_like) are made by
conversion/reference/fixtures_wav2vec1.py. This file converts them with the family converter directly and loads the
result with the model class (tests/direct_conversion.py), so it runs whether or not the family is registered in the
shared tables. Its vq-wav2vec frontend's own tests are in test_wav2vec.py.
"""

import copy
import shutil
import tarfile

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from direct_conversion import (
    SOURCES,
    after_one_training_step,
    assert_bf16_states_close,
    convert_fixture,
    load_saved,
    saver,
)
from originals import original
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.discretebert import REFERENCE_CONFIGS as DISCRETEBERT_REFERENCE_CONFIGS
from s3prl_hf.models.discretebert import S3prlDiscreteBertConfig
from s3prl_hf.models.discretebert.convert_discretebert import (
    code_tokens,
    convert_discretebert,
    convert_discretebert_files,
    load_fairseq_dictionary,
    upgrade_legacy_keys,
)
from test_parity import assert_hidden_states_match

FAMILIES = ("discretebert",)
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """convert + save_pretrained once per fixture and layout: saved(folder, source) -> folder."""
    return saver(tmp_path_factory)


def test_every_family_has_fixtures_in_both_layouts():
    assert {fixture_meta(f)["family"] for f in OUR_FIXTURES} == set(FAMILIES)
    for folder in OUR_FIXTURES:
        for name in SOURCES["s3prl"][:1] + SOURCES["fairseq"][:1]:
            assert (folder / name).is_file(), folder / name


# --- parity --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
@torch.no_grad()
def test_converted_checkpoint_matches_s3prl(folder, source, saved):
    model = load_saved(saved(folder, source))
    meta = fixture_meta(folder)
    reported = meta["s3prl_upstream"]
    assert (model.num_layers, list(model.hidden_sizes), list(model.downsample_rates)) == (
        reported["num_layers"], reported["hidden_sizes"], reported["downsample_rates"])
    for case, expected in load_cases(folder).items():
        out = model(expected["wavs"], expected["wavs_len"], normalize=meta["cases"][case]["normalize"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected["hs"], expected["hs_len"],
                                   f"{folder.name}/{source}/{case}")


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_both_layouts_give_identical_weights(folder, saved):
    a = load_file(saved(folder, "s3prl") / "model.safetensors")
    b = load_file(saved(folder, "fairseq") / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
@torch.no_grad()
def test_discretebert_tokens_equal_s3prls(folder, saved):
    model = load_saved(saved(folder))
    case = load_cases(folder)["batch"]
    tokens = model.tokenize(case["wavs"], case["wavs_len"])
    assert torch.equal(tokens, load_file(folder / "extra.safetensors")["batch.tokens"])
    assert (tokens == model.config.unk_token_id).any(), "the fixture should exercise <unk>"


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
@torch.no_grad()
def test_bf16_keeps_the_codes_of_fp32(folder, saved):
    """Loaded in bf16, the tokeniser (the vq-wav2vec frontend) stays in fp32, so the tokens are the fp32 model's and the
    hidden states stay close; the outputs are bf16."""
    path = saved(folder)
    full, half = load_saved(path), load_saved(path, dtype=torch.bfloat16)
    for name, parameter in half.named_parameters():
        assert parameter.dtype == (torch.float32 if name.startswith(("frontend.",)) else torch.bfloat16), name
    case = load_cases(folder)["batch"]
    assert torch.equal(half.tokenize(case["wavs"], case["wavs_len"]), full.tokenize(case["wavs"], case["wavs_len"]))
    assert_bf16_states_close(full, half, case)


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_train_mode_forward_backward(folder):
    """Train mode runs (dropout) and gradients reach the weights that S3PRL trains: Discrete BERT's frontend runs
    without gradients, as S3PRL's expert runs it."""
    model = after_one_training_step(folder)
    assert model.frontend.feature_extractor.conv_layers[0][0].weight.grad is None
    assert all(p.grad is not None for p in model.layers[-1].parameters())


# --- released architecture -----------------------------------------------------------------------------------------


def test_reference_configs():
    config = S3prlDiscreteBertConfig(**DISCRETEBERT_REFERENCE_CONFIGS["vq_wav2vec_kmeans_roberta"])
    assert (config.num_layers, config.hidden_sizes[0], config.downsample_rates[0], config.max_positions) == (
        13, 768, 160, 512)
    assert config.frontend.vq_type == "kmeans"


# --- dictionary and key upgrades -----------------------------------------------------------------------------------


def test_dictionary_loads_like_fairseq():
    size, indices = load_fairseq_dictionary("3-4 10\r\n0-1 9\n3-4 2 #fairseq:overwrite\n<mask> 1\n")
    # specials, then the file's words; the overwritten word moves to a new index; <mask> already there
    assert size == 8 and indices == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "3-4": 6, "0-1": 5, "<mask>": 7}
    with pytest.raises(CheckpointFormatError, match="duplicate"):
        load_fairseq_dictionary("0-1 5\n0-1 3\n")
    with pytest.raises(CheckpointFormatError, match="line 2"):
        load_fairseq_dictionary("0-1 5\nbroken\n")


def test_only_canonical_code_words_become_code_tokens():
    indices = {"0-1": 4, "1-0": 5, "01-2": 6, "2-9": 7, "1-2-3": 8, "madeupword0000": 9, "+1-2": 10, "٣-1": 11}
    codes, tokens = code_tokens(indices, num_vars=8, num_groups=2)
    assert codes.tolist() == [[0, 1], [1, 0]] and tokens.tolist() == [4, 5]


def test_legacy_roberta_keys_are_upgraded():
    w = torch.arange(12.0).view(6, 2)
    upgraded = upgrade_legacy_keys({
        "decoder.sentence_encoder.emb_layer_norm.bias": torch.zeros(2),
        "decoder.sentence_encoder.layers.0.self_attn.in_proj_weight": w,
        "decoder.sentence_encoder.layers.0.layer_norms.1.weight": torch.ones(2),
    })
    prefix = "encoder.sentence_encoder."
    assert sorted(upgraded) == sorted([prefix + "layernorm_embedding.bias", prefix + "layers.0.final_layer_norm.weight"]
                                      + [prefix + f"layers.0.self_attn.{p}_proj.weight" for p in "qkv"])
    assert torch.equal(upgraded[prefix + "layers.0.self_attn.k_proj.weight"], w[2:4])


def test_discretebert_reads_the_release_as_a_tar_a_folder_or_the_pt(tmp_path):
    folder = FIXTURES / "vq_wav2vec_kmeans_roberta_like"
    release = tmp_path / "bert_kmeans"
    release.mkdir()
    shutil.copy(folder / "original_fairseq.pt", release / "bert_kmeans.pt")
    shutil.copy(folder / "dict.txt", release / "dict.txt")
    with tarfile.open(tmp_path / "bert_kmeans.tar", "w") as archive:
        archive.add(release, arcname="bert_kmeans")
    reference = convert_fixture(folder).state_dict()
    for source in (tmp_path / "bert_kmeans.tar", release, release / "bert_kmeans.pt"):
        got = convert_discretebert_files(source, folder / "frontend_fairseq.pt").state_dict()
        assert got.keys() == reference.keys() and all(torch.equal(got[k], reference[k]) for k in got), source


# --- converter errors ----------------------------------------------------------------------------------------------


def roberta_state(**args_changes):
    state = copy.deepcopy(original("vq_wav2vec_kmeans_roberta_like"))
    args = vars(state["model_cfg"])
    args.update(args_changes)
    for key in [k for k, v in args_changes.items() if v is DELETE]:
        del args[key]
    return state


DELETE = object()
FRONTEND = FIXTURES / "vq_wav2vec_kmeans_roberta_like" / "frontend_s3prl.pt"


@pytest.mark.parametrize("state, frontend, message", [
    (roberta_state(), None, "two checkpoints"),
    (roberta_state(), FIXTURES / "wav2vec_large_like" / "original_s3prl.pt", "no quantiser"),
    (roberta_state(), FIXTURES / "vq_wav2vec_gumbel_variant" / "original_s3prl.pt", "no word of the dictionary"),
    (roberta_state(encoder_normalize_before=True), FRONTEND, "pre-LN"),
    (roberta_state(layernorm_embedding=False), FRONTEND, "without LayerNorm"),
    (roberta_state(max_positions=DELETE), FRONTEND, "max_positions"),
    (roberta_state(arch="transformer_lm"), FRONTEND, "transformer_lm"),
    (roberta_state(encoder_layers=3), FRONTEND, "missing from the checkpoint"),
    (roberta_state(max_positions=80), FRONTEND, "shape mismatch"),
    ({**roberta_state(), "text_dictionary": "0-1 3\n"}, FRONTEND, "not this RoBERTa's dict.txt"),
    (original("vq_wav2vec_kmeans_roberta_like", "original_fairseq.pt"), FRONTEND, "holds no dictionary"),
    (load_original_checkpoint(FRONTEND), FRONTEND, "no text_dictionary"),
])
def test_discretebert_converter_errors(state, frontend, message):
    frontend_state = load_original_checkpoint(frontend) if frontend is not None else None
    with pytest.raises(CheckpointFormatError, match=message):
        convert_discretebert(state, frontend_state)


CONFIG_ERRORS = (ValueError, StrictDataclassError)  # the configs' validators raise the latter


def test_discretebert_config_checks():
    with pytest.raises(CONFIG_ERRORS, match="must quantise"):
        S3prlDiscreteBertConfig(frontend_config={"vq_type": "none"})
    with pytest.raises(CONFIG_ERRORS, match="max_position_embeddings"):
        S3prlDiscreteBertConfig(max_positions=600)
    with pytest.raises(CONFIG_ERRORS, match="num_code_tokens"):
        S3prlDiscreteBertConfig(vocab_size=100, num_code_tokens=200)
    with pytest.raises(CONFIG_ERRORS, match="not fields"):
        S3prlDiscreteBertConfig(frontend_config={"vq_type": "kmeans", "hidden_size": 3})


def test_discretebert_roundtrip_keeps_the_dictionary_buffers(saved):
    path = saved(FIXTURES / "discretebert_variant")
    model = load_saved(path)
    weights = load_file(path / "model.safetensors")
    assert torch.equal(model.code_dictionary.dictionary_codes, weights["code_dictionary.dictionary_codes"])
    assert torch.equal(model.embeddings.position_ids[0, :5], torch.arange(5))
    assert not any(k.startswith("frontend.feature_aggregator") for k in weights)


def test_cli_finds_the_discretebert_frontend_beside_the_roberta(tmp_path):
    """S3PRL's two files side by side: `s3prl-hf convert` without --frontend-checkpoint uses the vq-wav2vec one."""
    from s3prl_hf import AutoUpstream
    from s3prl_hf.cli import main

    folder = FIXTURES / "discretebert_variant"
    shutil.copy(folder / "original_s3prl.pt", tmp_path / "vq_wav2vec_kmeans_roberta.pt")
    shutil.copy(folder / fixture_meta(folder)["frontend"]["s3prl"], tmp_path / "vq_wav2vec_kmeans.pt")
    assert main(["convert", "--name", "vq_wav2vec_kmeans_roberta", "--checkpoint",
                 str(tmp_path / "vq_wav2vec_kmeans_roberta.pt"), "--output", str(tmp_path / "out")]) == 0
    case = load_cases(folder)["single"]
    with torch.no_grad():
        out = AutoUpstream.from_pretrained(tmp_path / "out")(case["wavs"], case["wavs_len"])
    assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, case["hs"], case["hs_len"], "beside")
    (tmp_path / "vq_wav2vec_kmeans.pt").unlink()  # alone, the RoBERTa cannot be converted: a clear error
    with pytest.raises(CheckpointFormatError, match="frontend-checkpoint"):
        from s3prl_hf.conversion import convert_checkpoint

        convert_checkpoint("vq_wav2vec_kmeans_roberta", tmp_path / "vq_wav2vec_kmeans_roberta.pt", tmp_path / "o2")

"""wav2vec 1.0, vq-wav2vec and Discrete BERT: parity with S3PRL on checkpoints S3PRL and fairseq wrote, the
quantisers' codes and Discrete BERT's tokens against S3PRL's own, the released architectures, converter errors.

The fixtures (tests/fixtures/{wav2vec,vq_wav2vec,discretebert}_*, vq_wav2vec_kmeans_roberta_like) are made by
conversion/reference/fixtures_wav2vec1.py. This file converts them with the family converters directly and loads
the result with the model classes, so it runs whether or not the families are registered in the shared tables.
"""

import argparse
import copy
import json
import shutil
import tarfile

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from safetensors.torch import load_file

from conftest import FIXTURES, fixture_meta, load_cases
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.discretebert import REFERENCE_CONFIGS as DISCRETEBERT_REFERENCE_CONFIGS
from s3prl_hf.models.discretebert import S3prlDiscreteBertConfig, S3prlDiscreteBertModel
from s3prl_hf.models.discretebert.convert_discretebert import (
    code_tokens,
    convert_discretebert,
    convert_discretebert_files,
    load_fairseq_dictionary,
    upgrade_legacy_keys,
)
from s3prl_hf.models.wav2vec import REFERENCE_CONFIGS as VQ_REFERENCE_CONFIGS
from s3prl_hf.registry import get_spec
from s3prl_hf.models.wav2vec.convert_wav2vec import convert_vq_wav2vec
from s3prl_hf.models.wav2vec import REFERENCE_CONFIGS, S3prlWav2VecConfig, S3prlWav2VecModel
from s3prl_hf.models.wav2vec import modeling_wav2vec
from s3prl_hf.models.wav2vec.convert_wav2vec import config_from_original, convert_wav2vec
from test_parity import assert_hidden_states_match

FAMILIES = ("wav2vec", "vq_wav2vec", "discretebert")
OUR_FIXTURES = [p.parent for p in sorted(FIXTURES.glob("*/meta.json")) if fixture_meta(p.parent)["family"] in FAMILIES]
W1_FIXTURES = [f for f in OUR_FIXTURES if fixture_meta(f)["family"] != "discretebert"]
DB_FIXTURES = [f for f in OUR_FIXTURES if fixture_meta(f)["family"] == "discretebert"]
SOURCES = {"s3prl": ("original_s3prl.pt", "frontend_s3prl.pt"),
           "fairseq": ("original_fairseq.pt", "frontend_fairseq.pt")}
CONVERTERS = {"wav2vec": convert_wav2vec, "vq_wav2vec": convert_vq_wav2vec}


def convert_fixture(folder, source="s3prl"):
    """The fixture's checkpoint(s) in one layout, through the family's converter."""
    roberta, frontend = SOURCES[source]
    family = fixture_meta(folder)["family"]
    if family == "discretebert":
        return convert_discretebert_files(folder / roberta, folder / frontend)
    return CONVERTERS[family](load_original_checkpoint(folder / roberta))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """convert + save_pretrained once per fixture and layout: saved(folder, source) -> folder."""
    made = {}

    def save(folder, source="s3prl"):
        if (folder.name, source) not in made:
            output = tmp_path_factory.mktemp("converted") / f"{folder.name}-{source}"
            convert_fixture(folder, source).save_pretrained(output)
            made[folder.name, source] = output
        return made[folder.name, source]

    return save


def load_saved(path, **kwargs):
    model_type = json.loads((path / "config.json").read_text())["model_type"]
    model_class = {"s3prl_wav2vec": S3prlWav2VecModel, "s3prl_discretebert": S3prlDiscreteBertModel}[model_type]
    model, info = model_class.from_pretrained(path, output_loading_info=True, **kwargs)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model.eval()


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


@pytest.mark.parametrize("folder", [f for f in W1_FIXTURES if (f / "extra.safetensors").exists()], ids=lambda f: f.name)
@torch.no_grad()
def test_quantizer_codes_equal_s3prls(folder, saved):
    """S3PRL's expert also returns z, codewords and codeids (no hidden state shows the codes themselves)."""
    model = load_saved(saved(folder))
    extra = load_file(folder / "extra.safetensors")
    case = load_cases(folder)["batch"]
    z = model.feature_extractor(case["wavs"])
    assert (z.transpose(1, 2) - extra["batch.z"]).abs().max() <= 1e-5
    codewords, codes = model.quantize(extra["batch.z"].transpose(1, 2))
    assert torch.equal(codes, extra["batch.codeids"])
    assert torch.equal(codewords.transpose(1, 2), extra["batch.codewords"])


@torch.no_grad()
def test_wav2vec_has_no_quantizer():
    model = convert_fixture(FIXTURES / "wav2vec_large_like")
    with pytest.raises(ValueError, match="no quantizer"):
        model.quantize(torch.zeros(1, 20, 5))


@pytest.mark.parametrize("name", ["vq_wav2vec_kmeans_like", "vq_wav2vec_kmeans_variant"])
@torch.no_grad()
def test_kmeans_distances_in_chunks_give_the_same_codes(name, monkeypatch):
    model = convert_fixture(FIXTURES / name)
    case = load_cases(FIXTURES / name)["batch"]
    reference = model(case["wavs"], case["wavs_len"])
    monkeypatch.setattr(modeling_wav2vec, "KMEANS_CHUNK_ELEMENTS", 1000)  # a few frames per chunk
    chunked = model(case["wavs"], case["wavs_len"])
    assert all(torch.equal(a, b) for a, b in zip(reference.hidden_states, chunked.hidden_states))


@pytest.mark.parametrize("folder", DB_FIXTURES, ids=lambda f: f.name)
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
    """Loaded in bf16, the tokeniser (feature extractor + quantiser) stays in fp32, so the codes / tokens are the fp32
    model's and the hidden states stay close; the outputs are bf16."""
    path = saved(folder)
    full, half = load_saved(path), load_saved(path, dtype=torch.bfloat16)
    family = fixture_meta(folder)["family"]
    kept = {"wav2vec": (), "vq_wav2vec": ("feature_extractor.", "vector_quantizer."), "discretebert": ("frontend.",)}
    for name, parameter in half.named_parameters():
        assert parameter.dtype == (torch.float32 if name.startswith(kept[family]) else torch.bfloat16), name
    case = load_cases(folder)["batch"]
    if family == "discretebert":
        assert torch.equal(half.tokenize(case["wavs"], case["wavs_len"]), full.tokenize(case["wavs"], case["wavs_len"]))
    elif family == "vq_wav2vec":
        z = full.feature_extractor(case["wavs"])
        assert torch.equal(half.quantize(half.feature_extractor(case["wavs"]))[1], full.quantize(z)[1])
    ref, got = full(case["wavs"], case["wavs_len"]), half(case["wavs"], case["wavs_len"])
    for index, (a, b, lengths) in enumerate(zip(got.hidden_states, ref.hidden_states, ref.hidden_states_lengths)):
        assert a.dtype == torch.bfloat16 and torch.isfinite(a.float()).all(), index
        valid = torch.arange(b.shape[1])[None, :] < lengths[:, None]
        assert (a.float() - b).abs()[valid].max() <= 0.1 * max(1.0, b[valid].abs().max().item()), index


@pytest.mark.parametrize("folder", OUR_FIXTURES, ids=lambda f: f.name)
def test_train_mode_forward_backward(folder):
    """Train mode runs (Gumbel sampling, straight-through k-means, dropout) and gradients reach the weights that
    S3PRL trains: Discrete BERT's frontend runs without gradients, as S3PRL's expert runs it."""
    model = convert_fixture(folder).train()
    torch.manual_seed(0)
    case = load_cases(folder)["short"]
    out = model(case["wavs"], case["wavs_len"])
    sum(hs.sum() for hs in out.hidden_states).backward()
    family = fixture_meta(folder)["family"]
    first_conv = (model.frontend if family == "discretebert" else model).feature_extractor.conv_layers[0][0].weight
    assert (first_conv.grad is None) == (family == "discretebert")
    last = model.layers[-1] if family == "discretebert" else model.feature_aggregator.conv_layers[-1][1]
    assert all(p.grad is not None for p in last.parameters())


# --- released architectures ----------------------------------------------------------------------------------------

# SUPERB (arXiv:2105.01051), Table 1, to 0.01M; S3PRL counts the whole fairseq model, whose CPC prediction head
# (ConvTranspose2d(512, 512, (1, 12))) no hidden state uses and this port drops.
PUBLISHED_PARAMETERS = {"wav2vec_large": 32.54e6, "vq_wav2vec_gumbel": 34.15e6}
PREDICTION_HEAD = 512 * 512 * 12 + 512


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_reference_configs_have_the_published_parameter_counts(name):
    with torch.device("meta"):
        model = S3prlWav2VecModel(S3prlWav2VecConfig(**REFERENCE_CONFIGS[name]))
    count = sum(p.numel() for p in model.parameters()) + PREDICTION_HEAD
    assert round(count / 1e4) == round(PUBLISHED_PARAMETERS[name] / 1e4), count


def test_reference_configs():
    assert set(REFERENCE_CONFIGS) == {"wav2vec_large", "vq_wav2vec_gumbel", "vq_wav2vec_kmeans"}
    assert {name for name in VQ_REFERENCE_CONFIGS if get_spec(name).method == "vq_wav2vec"} == {
        "vq_wav2vec_gumbel", "vq_wav2vec_kmeans"}
    large = S3prlWav2VecConfig(**REFERENCE_CONFIGS["wav2vec_large"])
    assert (large.num_layers, large.hidden_sizes[0], large.downsample_rates[0]) == (13, 512, 160)
    kmeans = S3prlWav2VecConfig(**REFERENCE_CONFIGS["vq_wav2vec_kmeans"])
    with torch.device("meta"):
        quantizer = S3prlWav2VecModel(kmeans).vector_quantizer
    assert tuple(quantizer.embedding.shape) == (320, 1, 256)  # the released file's codebook (see the config)
    config = S3prlDiscreteBertConfig(**DISCRETEBERT_REFERENCE_CONFIGS["vq_wav2vec_kmeans_roberta"])
    assert (config.num_layers, config.hidden_sizes[0], config.downsample_rates[0], config.max_positions) == (
        13, 768, 160, 512)
    assert config.frontend.vq_type == "kmeans"


def test_readme_wav2vec_command_is_the_reference_config():
    """fairseq's README options for wav2vec_large, as its 2019 args held them, give the reference architecture."""
    readme = {
        "conv_feature_layers": "[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), (512, 1, 1), "
                               "(512, 1, 1)]",
        "conv_aggregator_layers": "[(512, 2, 1), (512, 3, 1), (512, 4, 1), (512, 5, 1), (512, 6, 1), (512, 7, 1), "
                                  "(512, 8, 1), (512, 9, 1), (512, 10, 1), (512, 11, 1), (512, 12, 1), (512, 13, 1)]",
        "skip_connections_agg": True, "residual_scale": 0.5, "log_compression": True,
    }
    assert config_from_original(readme).to_dict() == S3prlWav2VecConfig(**REFERENCE_CONFIGS["wav2vec_large"]).to_dict()


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


def s3prl_state(fixture, **cfg_changes):
    state = copy.deepcopy(load_original_checkpoint(FIXTURES / fixture / "original_s3prl.pt"))
    state["model_cfg"].update(cfg_changes)
    return state


def with_weights(state, drop=None, **extra):
    weights = {k: v for k, v in state["model_weight"].items() if drop is None or drop not in k}
    return {**state, "model_weight": {**weights, **extra}}


W1_ERRORS = [
    (convert_wav2vec, s3prl_state("vq_wav2vec_gumbel_like"), "vq-wav2vec checkpoint"),
    (convert_vq_wav2vec, s3prl_state("wav2vec_large_like"), "no quantiser"),
    (convert_wav2vec, load_original_checkpoint(FIXTURES / "hubert_base_like" / "original_s3prl.pt"), "'hubert'"),
    (convert_wav2vec, load_original_checkpoint(FIXTURES / "wav2vec2_base_like" / "original_fairseq.pt"),
     "'wav2vec2'"),
    (convert_wav2vec, s3prl_state("wav2vec_large_like", aggregator="gru"), "aggregator='gru'"),
    (convert_wav2vec, s3prl_state("wav2vec_large_like", conv_feature_layers="[(20, 10, 5), (20, 8, 4)]"),
     "stride of 20"),
    (convert_wav2vec, s3prl_state("wav2vec_large_like", activation="swish"), "activation"),
    (convert_vq_wav2vec, s3prl_state("vq_wav2vec_gumbel_like", vq_dim=8), "vq_dim 8"),
    (convert_wav2vec, with_weights(s3prl_state("wav2vec_large_like"), drop="conv_layers.3.3.bias"),
     "missing from the checkpoint"),
    (convert_wav2vec, with_weights(s3prl_state("wav2vec_large_like"), **{"encoder.x": torch.zeros(1)}),
     "not understood"),
    (convert_vq_wav2vec, s3prl_state("vq_wav2vec_gumbel_like", vq_vars=9), "shape mismatch"),
    (convert_vq_wav2vec, s3prl_state("vq_wav2vec_kmeans_like", combine_groups=False), "shape mismatch"),
    (convert_wav2vec, load_original_checkpoint(FIXTURES / "vq_wav2vec_kmeans_roberta_like" / "original_s3prl.pt"),
     "Discrete BERT"),
]


@pytest.mark.parametrize("convert, state, message", W1_ERRORS)
def test_wav2vec_converter_errors(convert, state, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert(state)


def roberta_state(**args_changes):
    state = copy.deepcopy(load_original_checkpoint(FIXTURES / "vq_wav2vec_kmeans_roberta_like" / "original_s3prl.pt"))
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
    (load_original_checkpoint(FIXTURES / "vq_wav2vec_kmeans_roberta_like" / "original_fairseq.pt"), FRONTEND,
     "holds no dictionary"),
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


def test_wav2vec_config_checks():
    with pytest.raises(CONFIG_ERRORS, match="stride must be 1"):
        S3prlWav2VecConfig(aggregator_stride=(2,) + (1,) * 11)
    with pytest.raises(CONFIG_ERRORS, match="vq_type"):
        S3prlWav2VecConfig(vq_type="rvq")
    # args-era strings are parsed (vq_temp) and lists accepted (a config that holds the layers as lists)
    config = config_from_original({"vq_type": "gumbel", "vq_temp": "(1.5, 0.5, 0.99)",
                                   "conv_aggregator_layers": [[512, 3, 1], [512, 3, 1]]})
    assert config.vq_temperature == 1.5 and config.aggregator_kernel == (3, 3)


def test_args_namespace_and_config_dict_layouts_agree():
    """fairseq's args-era release and S3PRL's hosted dict cfg give the same config (fairseq's defaults fill the
    options the 2019 namespace lacks)."""
    folder = FIXTURES / "wav2vec_large_like"
    fairseq_state = load_original_checkpoint(folder / "original_fairseq.pt")
    assert isinstance(fairseq_state["args"], argparse.Namespace) and not hasattr(fairseq_state["args"], "vq_type")
    a = convert_wav2vec(fairseq_state).config.to_dict()
    b = convert_wav2vec(load_original_checkpoint(folder / "original_s3prl.pt")).config.to_dict()
    assert a == b


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

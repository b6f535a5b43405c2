"""PaSST specifics: S3PRL's other window options, what the converter reads from the release and from the hub entry,
its errors, the release layouts S3PRL's loader accepts, S3PRL's failures on short batches and the release sizes.
Parity on the default options is in test_parity; expected numbers come from the S3PRL-made fixtures passt_*."""

import json

import pytest
import torch
from conftest import FIXTURES, fixture_meta, load_cases
from safetensors import safe_open
from safetensors.torch import load_file
from test_parity import assert_hidden_states_match

from s3prl_hf import AutoUpstream
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.passt import REFERENCE_CONFIGS, S3prlPasstConfig, S3prlPasstModel
from s3prl_hf.models.passt.convert_passt import convert_passt

LIKE = FIXTURES / "passt_base_like"
MEL_4X = FIXTURES / "passt_base2levelmel_variant"
HOP160 = FIXTURES / "passt_hop160base2lvlmel_variant"


def original(folder):
    return load_original_checkpoint(folder / "original_s3prl.pt")


def plain(folder) -> dict:
    """The fixture's weights as a plain state dict with a 1-channel 4-D patch weight (as the releases hold them)."""
    state = original(folder)
    state = dict(state.get("model", state))
    weight = state["patch_embed.proj.weight"]
    weight = weight.reshape(weight.shape[0], -1, 16, 16) if weight.dim() < 4 else weight
    state["patch_embed.proj.weight"] = weight.sum(dim=1, keepdim=True)
    return state


@torch.no_grad()
def test_other_s3prl_window_options_match(converted_fixture):
    """window_secs / stride_secs (S3PRL's extra_conf) as config overrides: S3PRLUpstream(extra_conf=...) outputs."""
    with safe_open(str(LIKE / "extra.safetensors"), "pt") as handle:
        cases = json.loads(handle.metadata()["cases"])
    tensors = load_file(LIKE / "extra.safetensors")
    batch = load_cases(LIKE)["batch"]
    assert set(cases) == {"window_0.32_stride_0.02", "window_0.5_stride_0.5"}
    for case, info in cases.items():
        model = AutoUpstream.from_pretrained(converted_fixture(LIKE), **info["extra_conf"])
        reported = info["s3prl_upstream"]
        assert (model.num_layers, list(model.hidden_sizes), list(model.downsample_rates)) == (
            reported["num_layers"], reported["hidden_sizes"], reported["downsample_rates"])
        out = model(batch["wavs"], batch["wavs_len"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, [tensors[f"{case}.hs.0"]],
                                   [tensors[f"{case}.hs_len.0"]], f"passt_base_like/{case}")


@pytest.mark.parametrize("folder", [LIKE, MEL_4X, HOP160], ids=lambda f: f.name)
def test_architecture_from_the_weights_and_windows_from_the_entry(folder):
    meta = fixture_meta(folder)
    sizes = next(patch["sizes"] for patch in meta["s3prl_patches"].values() if isinstance(patch, dict))
    config = convert_passt(original(folder), meta["imitates"]).config
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.qkv_bias,
            config.num_labels) == (sizes["embed_dim"], sizes["depth"], int(sizes["embed_dim"] * sizes["mlp_ratio"]),
                                   sizes["qkv_bias"], sizes["num_classes"])
    assert (config.num_attention_heads, list(config.patch_size), config.frequency_patches) == (12, [16, 16], 12)
    assert config.time_patches == meta["release"]["input_tdim"] // 10
    entry = REFERENCE_CONFIGS[meta["imitates"]]
    for field in ("mel_hop_length", "window_scales", "window_secs", "stride_secs"):
        assert getattr(config, field) == entry[field], field
    assert config.mel_window_samples == entry.get("mel_window_samples")


@pytest.mark.parametrize(("folder", "single_pass"), [(MEL_4X, "passt_base"), (HOP160, "passt_hop160base")],
                         ids=["base", "hop160"])
@torch.no_grad()
def test_entries_sharing_a_release_differ_only_in_their_passes(folder, single_pass):
    """The release converted for the 1-pass entry gives the first `num_labels + hidden_size` columns of the 2-level +
    mel entry's S3PRL output (its first pass: the same windows and mel hop)."""
    model = convert_passt(original(folder), single_pass)
    assert model.config.window_scales == [1] and model.config.mel_window_samples is None
    for name, case in load_cases(folder).items():
        width = model.hidden_sizes[0]
        expected = [case["hs"][0][..., :width]]
        out = model(case["wavs"], case["wavs_len"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected, case["hs_len"],
                                   f"{folder.name}/{name} as {single_pass}")


def test_release_layouts_s3prl_accepts_give_the_same_model():
    """{"model": state_dict} (checkpoint_filter_fn), a 2-D patch weight (reshaped to 16 x 16) and a 3-channel one
    (adapt_input_conv sums it) convert to the weights of the plain release."""
    state = plain(LIKE)
    reference = convert_passt(state).state_dict()
    weight = state["patch_embed.proj.weight"]
    three = weight.repeat(1, 3, 1, 1) / 3
    for layout in ({"model": state}, {**state, "patch_embed.proj.weight": weight.reshape(weight.shape[0], -1)},
                   {**state, "patch_embed.proj.weight": three}):
        converted = convert_passt(layout).state_dict()
        assert converted.keys() == reference.keys()
        for key, value in reference.items():
            tolerance = 1e-6 if key.endswith("projection.weight") and layout.get("patch_embed.proj.weight") is three \
                else 0
            torch.testing.assert_close(converted[key], value, rtol=0, atol=tolerance)


def test_entry_choices_are_checked_against_the_time_embedding():
    like = original(LIKE)
    with pytest.raises(CheckpointFormatError, match="has 99 columns; S3PRL's passt_hop100base builds 320 .* "
                                                    "passt_base, passt_base2level, passt_base2levelmel"):
        convert_passt(like, "passt_hop100base")
    with pytest.raises(CheckpointFormatError, match="passt_base30sec builds 300"):
        convert_passt(like, "passt_base30sec")
    hop160 = original(HOP160)
    with pytest.raises(CheckpointFormatError, match="passt_base20sec, passt_hop160base"):
        convert_passt(hop160, "passt_base")
    # No weight tells the 20 s release from the hop-160 one (both 12 x 200 grids): the entry's name decides.
    assert convert_passt(hop160, "passt_base20sec").config.mel_hop_length == 320


def test_converter_errors():
    state = plain(LIKE)
    with pytest.raises(CheckpointFormatError, match="not a PaSST hub entry"):
        convert_passt(state, "ast")
    with pytest.raises(CheckpointFormatError, match="missing from the PaSST checkpoint: head_dist.weight"):
        convert_passt({k: v for k, v in state.items() if k != "head_dist.weight"})
    imagenet = {k: v for k, v in state.items() if not k.endswith("new_pos_embed")}
    with pytest.raises(CheckpointFormatError, match="ImageNet ViT / DeiT"):
        convert_passt({**imagenet, "pos_embed": torch.zeros(1, 198, 48)})
    with pytest.raises(CheckpointFormatError, match="not understood: pos_embed"):
        convert_passt({**state, "pos_embed": torch.zeros(1, 198, 48)})
    with pytest.raises(CheckpointFormatError, match="1-channel spectrogram"):
        convert_passt({**state, "patch_embed.proj.weight": torch.zeros(48, 4, 16, 16)})
    with pytest.raises(CheckpointFormatError, match="cannot reshape"):
        convert_passt({**state, "patch_embed.proj.weight": torch.zeros(48, 100)})
    with pytest.raises(CheckpointFormatError, match="freq_new_pos_embed has 8 rows"):
        convert_passt({**state, "freq_new_pos_embed": torch.zeros(1, 48, 8, 1)})
    with pytest.raises(CheckpointFormatError, match="expected \\(1, 2, 48\\)"):
        convert_passt({**state, "new_pos_embed": torch.zeros(1, 1, 48)})
    with pytest.raises(CheckpointFormatError, match="not numbered 0 to 1"):
        convert_passt({k.replace("blocks.1.", "blocks.2."): v for k, v in state.items()})
    with pytest.raises(CheckpointFormatError, match="missing from the checkpoint: layers.1.attention.k_proj.bias"):
        convert_passt({k: v for k, v in state.items() if k != "blocks.1.attn.qkv.bias"})
    with pytest.raises(CheckpointFormatError, match="12 heads"):
        convert_passt(state, num_attention_heads=5)
    with pytest.raises(CheckpointFormatError, match="state dict of tensors"):
        convert_passt({"model": {"cls_token": "x"}})
    assert convert_passt(state, num_attention_heads=4).config.num_attention_heads == 4


@pytest.mark.parametrize("folder", [LIKE, MEL_4X, HOP160], ids=lambda f: f.name)
@torch.no_grad()
def test_s3prl_failures_on_short_batches_become_value_errors(folder, converted_fixture):
    """S3PRL fails one sample under the shortest batch it accepts (the fixture's `shortest_*` case, whose S3PRL output
    test_parity checks) and on the shared 0.05 s `short` case; this model raises a ValueError there."""
    meta = fixture_meta(folder)
    failures = meta["s3prl_failures"]
    assert {f["raised"] for f in failures.values()} == {"RuntimeError"}
    assert all("Padding size should be less than" in f["message"] for f in failures.values())
    model = AutoUpstream.from_pretrained(converted_fixture(folder))
    shortest = model.config.min_input_samples
    accepted = [case["lengths"] for name, case in meta["own_cases"].items() if name.startswith("shortest")]
    assert [max(lengths) for lengths in accepted] == [shortest]
    assert max(failures["one_sample_short"]["lengths"]) == shortest - 1
    for failure in failures.values():
        lengths = torch.tensor(failure["lengths"])
        with pytest.raises(ValueError, match=f"at least {shortest} samples"):
            model(torch.zeros(len(lengths), int(lengths.max())), lengths)


def test_windows_s3prl_cannot_concatenate_or_match_are_value_errors():
    config = S3prlPasstConfig(hidden_size=24, num_hidden_layers=1, intermediate_size=24, num_attention_heads=4,
                              num_labels=3, window_secs=0.16003125, window_scales=[1, 4])
    assert config.timestamp_windows == [5121, 20484]  # odd and even windows: counts differ when 1600 | 2 * len
    model = S3prlPasstModel(config).eval()
    with torch.no_grad():
        model(torch.zeros(1, 16001))
        with pytest.raises(ValueError, match="cannot concatenate"):
            model(torch.zeros(1, 16000))
    # 20 ms windows every 50 ms: a batch of one stride (800 samples) gives 2 windows, S3PRLUpstream asserts
    short = S3prlPasstConfig(hidden_size=24, num_hidden_layers=1, intermediate_size=24, num_attention_heads=4,
                             num_labels=3, window_secs=0.02, patch_size=[16, 2], time_stride=1)
    with torch.no_grad(), pytest.raises(ValueError, match="gives 2 windows for 1 expected"):
        S3prlPasstModel(short).eval()(torch.zeros(1, 800))


@pytest.mark.parametrize(("fields", "message"), [
    (dict(time_patches=1, window_scales=[1, 5]), "gives 7 time patches"),
    (dict(mel_window_samples=1600), "6 frames"),
    (dict(window_secs=0.01), "too short for the 1024-point STFT"),
    (dict(frequency_patches=11), "12 patch rows"),
    (dict(hidden_size=100), "divisible"),
])
def test_config_refuses_what_s3prl_cannot_run(fields, message):
    with pytest.raises(Exception, match=message):
        S3prlPasstConfig(**fields)


def test_reference_configs():
    sizes = {name: reference_config(name).hidden_sizes[0] for name in REFERENCE_CONFIGS}
    assert sizes == {"passt_base": 1295, "passt_base2level": 2590, "passt_base2levelmel": 3358,
                     "passt_base20sec": 1295, "passt_base30sec": 1295, "passt_hop100base": 1295,
                     "passt_hop100base2lvl": 2590, "passt_hop100base2lvlmel": 3358, "passt_hop160base": 1295,
                     "passt_hop160base2lvl": 2590, "passt_hop160base2lvlmel": 3358}
    shortest = {name: reference_config(name).min_input_samples for name in REFERENCE_CONFIGS}
    assert {value for name, value in shortest.items() if "2l" not in name} == {1281}
    assert shortest["passt_base2levelmel"] == 5121 and shortest["passt_hop100base2lvl"] == 6401
    assert {reference_config(name).downsample_rates for name in REFERENCE_CONFIGS} == {(800,)}


@pytest.mark.parametrize("name", sorted(REFERENCE_CONFIGS))
def test_reference_configs_have_s3prls_release_sizes(name):
    """Parameters and positional grids of the network S3PRL's hear21passt builds for the entry (fixture meta),
    less the distillation head, which no hidden state uses."""
    meta = fixture_meta(LIKE)
    release = meta["release_parameter_counts"][meta["release"]["entry_archs"][name]]
    with torch.device("meta"):
        model = S3prlPasstModel(reference_config(name))
    assert sum(p.numel() for p in model.parameters()) == release["used_by_hidden_states"]
    embeddings = model.embeddings
    assert list(embeddings.time_position_embeddings.shape) == release["time_new_pos_embed"]
    assert list(embeddings.frequency_position_embeddings.shape) == release["freq_new_pos_embed"]


def test_cli_convert_reads_the_entry_from_the_name(tmp_path):
    from s3prl_hf.cli import main

    assert main(["convert", "--name", "passt_hop160base2lvlmel", "--checkpoint", str(HOP160 / "original_s3prl.pt"),
                 "--output", str(tmp_path / "out")]) == 0
    model = AutoUpstream.from_pretrained(tmp_path / "out")
    assert model.config.s3prl_name == "passt_hop160base2lvlmel" and model.config.mel_window_samples == 960
    case = load_cases(HOP160)["shortest_5x"]
    with torch.no_grad():
        out = model(case["wavs"], case["wavs_len"])
    assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, case["hs"], case["hs_len"], "cli")

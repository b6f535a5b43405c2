"""AST and SSAST specifics: S3PRL's other `extra_conf` options, what the converters read from the checkpoints, their
errors, the release sizes and S3PRL's positional-embedding quirks. Parity on the default options is in test_parity."""

import json

import pytest
import torch
from conftest import FIXTURES, fixture_meta, load_cases
from safetensors import safe_open
from safetensors.torch import load_file
from test_parity import assert_hidden_states_match

from s3prl_hf import AutoUpstream
from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.ast import S3prlAstConfig, S3prlAstModel
from s3prl_hf.models.ast.convert_ast import convert_ast
from s3prl_hf.models.ssast import S3prlSsastConfig, S3prlSsastModel
from s3prl_hf.models.ssast.convert_ssast import convert_ssast
from s3prl_hf.models.ssast.modeling_ssast import cut_or_interpolate_ssast

AST = FIXTURES / "ast_like"
SSAST_FRAME = FIXTURES / "ssast_frame_like"
SSAST_PATCH = FIXTURES / "ssast_patch_like"
SSAST_VARIANT = FIXTURES / "ssast_frame_variant"


def original(folder):
    return load_original_checkpoint(folder / "original_s3prl.pt")


@torch.no_grad()
def test_other_s3prl_options_match(converted_fixture):
    """feature_selection="hidden_states", shorter and overlapping windows: S3PRLUpstream(extra_conf=...) outputs."""
    with safe_open(str(AST / "extra.safetensors"), "pt") as handle:
        cases = json.loads(handle.metadata()["cases"])
    tensors = load_file(AST / "extra.safetensors")
    batch = load_cases(AST)["batch"]
    assert set(cases) == {"hidden_states", "hidden_states_1s", "cls_short_windows"}
    for case, info in cases.items():
        model = AutoUpstream.from_pretrained(converted_fixture(AST), **info["extra_conf"])
        reported = info["s3prl_upstream"]
        assert (model.num_layers, list(model.hidden_sizes), list(model.downsample_rates)) == (
            reported["num_layers"], reported["hidden_sizes"], reported["downsample_rates"])
        out = model(batch["wavs"], batch["wavs_len"])
        expected = [tensors[f"{case}.hs.{i}"] for i in range(reported["num_layers"])]
        expected_len = [tensors[f"{case}.hs_len.{i}"] for i in range(reported["num_layers"])]
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected, expected_len,
                                   f"ast_like/{case}")


def test_architecture_is_read_from_the_checkpoints():
    ast = convert_ast(original(AST)).config
    assert (ast.hidden_size, ast.num_hidden_layers, ast.intermediate_size, ast.num_attention_heads) == (24, 2, 48, 12)
    assert (list(ast.patch_size), ast.frequency_stride, ast.time_stride) == ([16, 16], 10, 10)
    assert list(ast.position_embedding_grid) == [12, 25]  # pos_embed of 2 + 300 tokens (the release: 12 x 101)
    assert (ast.num_labels, ast.feature_selection, ast.window_secs, ast.qkv_bias) == (527, "cls", 10.24, True)
    frame = convert_ssast(original(SSAST_FRAME)).config
    assert (list(frame.patch_size), frame.frequency_stride, frame.time_stride) == ([128, 2], 128, 1)
    assert list(frame.position_embedding_grid) == [1, 128]  # p_input_tdim 256 in frames of 2
    patch = convert_ssast(original(SSAST_PATCH)).config
    assert (list(patch.patch_size), patch.frequency_stride, patch.time_stride) == ([16, 16], 10, 10)
    assert list(patch.position_embedding_grid) == [8, 16]
    variant = convert_ssast(original(SSAST_VARIANT)).config
    assert (variant.num_hidden_layers, variant.intermediate_size, variant.qkv_bias) == (3, 36, False)
    assert list(variant.position_embedding_grid) == [1, 80]
    assert variant.window_secs == variant.stride_secs == 1.0


def _without(state, *keys):
    return {k: v for k, v in state.items() if k not in keys}


def test_converter_errors_name_the_problem():
    ast, ssast = original(AST), original(SSAST_FRAME)
    with pytest.raises(CheckpointFormatError, match="module."):
        convert_ast({k[len("module."):]: v for k, v in ast.items()})
    with pytest.raises(CheckpointFormatError, match="dist_token"):
        convert_ast(_without(ast, "module.v.dist_token"))
    with pytest.raises(CheckpointFormatError, match="module.mlp_head.1.weight"):
        convert_ast(_without(ast, "module.mlp_head.1.weight", "module.mlp_head.1.bias"))
    with pytest.raises(CheckpointFormatError, match="layernorm.weight"):
        convert_ast(_without(ast, "module.v.norm.weight"))
    with pytest.raises(CheckpointFormatError, match="v.blocks.0.attn.extra"):
        convert_ast({**ast, "module.v.blocks.0.attn.extra": torch.zeros(1)})
    with pytest.raises(CheckpointFormatError, match="SSAST"):
        convert_ast(ssast)
    with pytest.raises(CheckpointFormatError, match="convert it as ast"):
        convert_ssast(ast)
    with pytest.raises(CheckpointFormatError, match="p_input_tdim"):
        convert_ssast(_without(ssast, "module.p_input_tdim"))
    with pytest.raises(CheckpointFormatError, match="p_input_tdim 512"):
        convert_ssast({**ssast, "module.p_input_tdim": torch.tensor(512)})
    with pytest.raises(CheckpointFormatError, match="16 x 8 patch"):
        convert_ssast({**ssast, "module.v.patch_embed.proj.weight": torch.zeros(24, 1, 16, 8)})
    with pytest.raises(CheckpointFormatError, match="module.surprise"):
        convert_ssast({**ssast, "module.surprise": torch.zeros(1)})
    with pytest.raises(CheckpointFormatError, match="num_attention_heads"):
        convert_ssast(ssast, num_attention_heads=5)
    assert convert_ssast(ssast, num_attention_heads=4).config.num_attention_heads == 4


@pytest.mark.parametrize("family, name, key", [("ast", "ast", "feature_selection=cls"),
                                               ("ssast", "ssast_frame_base", None),
                                               ("ssast", "ssast_patch_base", None)])
def test_release_sizes_match_s3prls_models(family, name, key):
    """Parameters of the released configs (meta device) = those of S3PRL's model at release size that the hidden
    states use (counted by the fixture generator with S3PRL's ASTModel and timm 0.4.5: AST 86,594,063 with its head,
    SSAST 85,648,128)."""
    config_class, model_class = (S3prlAstConfig, S3prlAstModel) if family == "ast" else (S3prlSsastConfig,
                                                                                         S3prlSsastModel)
    meta = fixture_meta(AST if family == "ast" else SSAST_FRAME)["release_parameter_counts"]
    expected = meta[name][key] if key else meta[name]
    with torch.device("meta"):
        model = model_class(config_class(**get_family(family).reference_configs[name]))
    assert sum(p.numel() for p in model.parameters()) == expected
    if family == "ast":
        with torch.device("meta"):
            states = model_class(config_class(**{**get_family(family).reference_configs[name],
                                                 "feature_selection": "hidden_states"}))
        used = sum(p.numel() for n, p in states.named_parameters()
                   if not n.startswith(states._modules_outside_hidden_states))
        assert used == meta[name]["feature_selection=hidden_states"]
        assert (states.num_layers, states.hidden_sizes[0], states.downsample_rates[0]) == (12, 9216, 1600)
        assert (model.num_layers, model.hidden_sizes, model.downsample_rates) == (1, (527,), (163840,))


def test_reference_configs_give_s3prls_shapes():
    frame = S3prlSsastConfig(**get_family("ssast").reference_configs["ssast_frame_base"])
    patch = S3prlSsastConfig(**get_family("ssast").reference_configs["ssast_patch_base"])
    assert (frame.num_layers, frame.hidden_sizes[0], frame.downsample_rates[0], frame.patch_grid) == (12, 768, 160,
                                                                                                   (1, 99))
    assert (patch.num_layers, patch.hidden_sizes[0], patch.downsample_rates[0], patch.patch_grid) == (12, 9216, 1600,
                                                                                                   (12, 9))


def test_ssast_position_embedding_quirks():
    grid = torch.randn(1, 4, 1, 80)
    # time shorter than the window: S3PRL interpolates to (8, t), then back to (1, t)
    via_eight = torch.nn.functional.interpolate(torch.nn.functional.interpolate(grid, size=(8, 99), mode="bilinear"),
                                                size=(1, 99), mode="bilinear")
    assert torch.equal(cut_or_interpolate_ssast(grid, (1, 99)), via_eight)
    # frequency cut: S3PRL slices with the time size; a grid of the wrong size fails as in S3PRL
    with pytest.raises(RuntimeError, match="frequency slice"):
        cut_or_interpolate_ssast(torch.randn(1, 4, 16, 20), (12, 9))


def test_window_options_are_validated():
    with pytest.raises(Exception, match="window_secs 0.29"):
        S3prlAstConfig(window_secs=0.29)  # S3PRL's int(0.29 * 100) = 28 model frames vs 29 fbank frames
    with pytest.raises(Exception, match="stride_secs"):
        S3prlSsastConfig(window_secs=1.0, stride_secs=0.5)
    with pytest.raises(Exception, match="feature_selection"):
        S3prlAstConfig(feature_selection="last")

"""SSAST specifics: what the converter reads from the checkpoints, its errors, the release sizes and S3PRL's
positional-embedding quirks. Parity on the default options is in test_parity; AST is in test_ast.py."""

import pytest
import torch
from conftest import FIXTURES, fixture_meta
from originals import original, without

from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.ssast import S3prlSsastConfig, S3prlSsastModel
from s3prl_hf.models.ssast.convert_ssast import convert_ssast
from s3prl_hf.models.ssast.modeling_ssast import cut_or_interpolate_ssast

AST = FIXTURES / "ast_like"
SSAST_FRAME = FIXTURES / "ssast_frame_like"
SSAST_PATCH = FIXTURES / "ssast_patch_like"
SSAST_VARIANT = FIXTURES / "ssast_frame_variant"


def test_architecture_is_read_from_the_checkpoints():
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


def test_converter_errors_name_the_problem():
    ast, ssast = original(AST), original(SSAST_FRAME)
    with pytest.raises(CheckpointFormatError, match="convert it as ast"):
        convert_ssast(ast)
    with pytest.raises(CheckpointFormatError, match="p_input_tdim"):
        convert_ssast(without(ssast, "module.p_input_tdim"))
    with pytest.raises(CheckpointFormatError, match="p_input_tdim 512"):
        convert_ssast({**ssast, "module.p_input_tdim": torch.tensor(512)})
    with pytest.raises(CheckpointFormatError, match="16 x 8 patch"):
        convert_ssast({**ssast, "module.v.patch_embed.proj.weight": torch.zeros(24, 1, 16, 8)})
    with pytest.raises(CheckpointFormatError, match="module.surprise"):
        convert_ssast({**ssast, "module.surprise": torch.zeros(1)})
    with pytest.raises(CheckpointFormatError, match="num_attention_heads"):
        convert_ssast(ssast, num_attention_heads=5)
    assert convert_ssast(ssast, num_attention_heads=4).config.num_attention_heads == 4


@pytest.mark.parametrize("family, name, key", [("ssast", "ssast_frame_base", None),
                                               ("ssast", "ssast_patch_base", None)])
def test_release_sizes_match_s3prls_models(family, name, key):
    """Parameters of the released configs (meta device) = those of S3PRL's model at release size that the hidden
    states use (counted by the fixture generator with S3PRL's ASTModel and timm 0.4.5: 85,648,128)."""
    meta = fixture_meta(SSAST_FRAME)["release_parameter_counts"]
    expected = meta[name][key] if key else meta[name]
    with torch.device("meta"):
        model = S3prlSsastModel(S3prlSsastConfig(**get_family(family).reference_configs[name]))
    assert sum(p.numel() for p in model.parameters()) == expected


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
    with pytest.raises(Exception, match="stride_secs"):
        S3prlSsastConfig(window_secs=1.0, stride_secs=0.5)

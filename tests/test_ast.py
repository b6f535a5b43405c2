"""AST specifics: S3PRL's other `extra_conf` options, what the converter reads from the checkpoint, its errors and the
release size. Parity on the default options is in test_parity; SSAST is in test_ssast.py."""

import json

import pytest
import torch
from conftest import FIXTURES, fixture_meta, load_cases
from originals import original, without
from safetensors import safe_open
from safetensors.torch import load_file
from test_parity import assert_hidden_states_match

from s3prl_hf import AutoUpstream
from s3prl_hf.models import get_family
from s3prl_hf.conversion import CheckpointFormatError
from s3prl_hf.models.ast import S3prlAstConfig, S3prlAstModel
from s3prl_hf.models.ast.convert_ast import convert_ast

AST = FIXTURES / "ast_like"
SSAST_FRAME = FIXTURES / "ssast_frame_like"


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


def test_converter_errors_name_the_problem():
    ast, ssast = original(AST), original(SSAST_FRAME)
    with pytest.raises(CheckpointFormatError, match="module."):
        convert_ast({k[len("module."):]: v for k, v in ast.items()})
    with pytest.raises(CheckpointFormatError, match="dist_token"):
        convert_ast(without(ast, "module.v.dist_token"))
    with pytest.raises(CheckpointFormatError, match="module.mlp_head.1.weight"):
        convert_ast(without(ast, "module.mlp_head.1.weight", "module.mlp_head.1.bias"))
    with pytest.raises(CheckpointFormatError, match="layernorm.weight"):
        convert_ast(without(ast, "module.v.norm.weight"))
    with pytest.raises(CheckpointFormatError, match="v.blocks.0.attn.extra"):
        convert_ast({**ast, "module.v.blocks.0.attn.extra": torch.zeros(1)})
    with pytest.raises(CheckpointFormatError, match="SSAST"):
        convert_ast(ssast)


@pytest.mark.parametrize("family, name, key", [("ast", "ast", "feature_selection=cls")])
def test_release_sizes_match_s3prls_models(family, name, key):
    """Parameters of the released config (meta device) = those of S3PRL's model at release size that the hidden
    states use (counted by the fixture generator with S3PRL's ASTModel and timm 0.4.5: 86,594,063 with its head)."""
    meta = fixture_meta(AST)["release_parameter_counts"]
    expected = meta[name][key]
    with torch.device("meta"):
        model = S3prlAstModel(S3prlAstConfig(**get_family(family).reference_configs[name]))
    assert sum(p.numel() for p in model.parameters()) == expected
    with torch.device("meta"):
        states = S3prlAstModel(S3prlAstConfig(**{**get_family(family).reference_configs[name],
                                                 "feature_selection": "hidden_states"}))
    used = sum(p.numel() for n, p in states.named_parameters()
               if not n.startswith(states._modules_outside_hidden_states))
    assert used == meta[name]["feature_selection=hidden_states"]
    assert (states.num_layers, states.hidden_sizes[0], states.downsample_rates[0]) == (12, 9216, 1600)
    assert (model.num_layers, model.hidden_sizes, model.downsample_rates) == (1, (527,), (163840,))


def test_window_options_are_validated():
    with pytest.raises(Exception, match="window_secs 0.29"):
        S3prlAstConfig(window_secs=0.29)  # S3PRL's int(0.29 * 100) = 28 model frames vs 29 fbank frames
    with pytest.raises(Exception, match="feature_selection"):
        S3prlAstConfig(feature_selection="last")

"""MAE-AST: the converter's checks, config variants read from the checkpoint, S3PRL's failures, parameter counts.

Parity with S3PRL on every fixture is in test_parity.py; these tests reuse the fixtures' S3PRL-made checkpoints.
"""

import copy

import pytest
import torch

from conftest import FIXTURES, fixture_meta
from s3prl_hf import AutoUpstream
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.mae_ast import S3prlMaeAstConfig, S3prlMaeAstModel
from s3prl_hf.models.mae_ast.convert_mae_ast import convert_mae_ast
from s3prl_hf.models.mae_ast.modeling_mae_ast import sinusoidal_positions

FOLDERS = {name: FIXTURES / name for name in ("mae_ast_frame_like", "mae_ast_patch_like", "mae_ast_variant")}


@pytest.fixture(scope="module")
def states():
    return {name: load_original_checkpoint(folder / "original_s3prl.pt") for name, folder in FOLDERS.items()}


@pytest.fixture(scope="module")
def models(states):
    return {name: convert_mae_ast(copy.deepcopy(state)) for name, state in states.items()}


def test_config_variants_are_read_from_the_checkpoint(models):
    frame, patch, variant = (models[n].config for n in FOLDERS)
    assert (frame.kernel_size_time, frame.kernel_size_chan, frame.stride_time, frame.stride_chan) == (2, 128, 2, 128)
    assert (patch.kernel_size_time, patch.kernel_size_chan, patch.stride_time, patch.stride_chan) == (16, 16, 16, 16)
    assert frame.hidden_sizes == (32, 32) and frame.downsample_rates == (320, 320)
    assert patch.hidden_sizes == (256, 256) and patch.downsample_rates == (2560, 2560)
    assert not frame.do_stable_layer_norm and frame.sine_positions and not frame.conv_positions
    # 80 mel bins, overlapping 4-frame patches every 2 frames, pre-LN, tanh GELU, positional conv + sines
    assert (variant.num_mel_bins, variant.kernel_size_time, variant.stride_time, variant.num_vertical_patches) == \
        (80, 4, 2, 5)
    assert variant.do_stable_layer_norm and variant.hidden_act == "gelu_new"
    assert variant.conv_positions and variant.sine_positions
    assert (variant.num_conv_pos_embeddings, variant.num_conv_pos_embedding_groups) == (8, 4)
    assert (variant.num_hidden_layers, variant.num_attention_heads, variant.hidden_size) == (3, 2, 16)


def test_only_the_encoder_is_kept_and_position_tables_are_not_stored(models):
    for name, model in models.items():
        keys = set(model.state_dict())
        assert not any(k.startswith(("decoder", "final_proj", "dec_")) or k.endswith(".pe") for k in keys), name
        meta = fixture_meta(FOLDERS[name])
        assert sum(p.numel() for p in model.parameters()) == meta["checks"]["s3prl_encoder_parameters"]


@torch.no_grad()
def test_batches_s3prl_fails_on_raise_a_value_error(models):
    generator = torch.Generator().manual_seed(0)
    for name, model in models.items():
        for case, failure in fixture_meta(FOLDERS[name])["s3prl_fails"].items():
            assert failure["error"].startswith(("AssertionError", "RuntimeError")), failure
            lengths = failure["lengths"]
            wavs = torch.randn(len(lengths), max(lengths), generator=generator) * 0.1
            with pytest.raises(ValueError, match="S3PRL fails"):
                model(wavs, torch.tensor(lengths))


@torch.no_grad()
def test_utterance_under_one_fbank_window_fails_like_torchaudio(models):
    with pytest.raises(ValueError, match="400 samples"):
        models["mae_ast_frame_like"](torch.randn(2, 16000) * 0.1, torch.tensor([16000, 399]))


def test_token_count_over_max_token_length_raises():
    config = S3prlMaeAstConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                               max_token_length=10)
    model = S3prlMaeAstModel(config).eval()
    with pytest.raises(ValueError, match="max_token_length"), torch.no_grad():
        model(torch.randn(1, 16000) * 0.1)


def test_sinusoidal_positions_equal_the_checkpoint_tables(states):
    for name, state in states.items():
        cfg = state["cfg"]["model"]
        table = state["model"]["dec_sine_pos_embed.pe"]
        assert torch.equal(table[0], sinusoidal_positions(cfg["max_token_length"], cfg["decoder_embed_dim"])), name


def _mutated(state, change):
    state = copy.deepcopy(state)
    change(state)
    return state


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("cfg"), "expected 'cfg' and 'model'"),
    (lambda s: s["cfg"].pop("task"), "'model' and 'task'"),
    (lambda s: s["cfg"]["model"].pop("ast_kernel_size_time"), "ast_kernel_size_time"),
    (lambda s: s["cfg"]["task"].pop("feature_dim"), "feature_dim"),
    (lambda s: s["cfg"]["model"].update(activation_fn="swish"), "activation_fn"),
    (lambda s: s["cfg"]["task"].update(sample_rate=8000), "sample_rate"),
    (lambda s: s["cfg"]["task"].update(feature_type="wav"), "feature_type"),
    (lambda s: s["cfg"]["model"].update(encoder_attention_heads=3), "divisible"),
    (lambda s: s["cfg"]["model"].update(encoder_layers=3), "encoder layers"),
    (lambda s: s["cfg"]["model"].update(ast_kernel_size_chan=16), "shape mismatch"),
    (lambda s: s["cfg"]["model"].update(layer_norm_first="yes"), "layer_norm_first"),
    (lambda s: s["cfg"]["model"].update(enc_conv_pos=True, conv_pos=None), "conv_pos"),
    (lambda s: s["cfg"]["model"].update(max_token_length=200), "enc_sine_pos_embed.pe has shape"),
    (lambda s: s["cfg"]["model"].update(enc_sine_pos=False), "enc_sine_pos is false"),
    (lambda s: s["model"].pop("enc_sine_pos_embed.pe"), "missing from the checkpoint: enc_sine_pos_embed.pe"),
    (lambda s: s["model"]["enc_sine_pos_embed.pe"].mul_(1.001), "differs from the sinusoidal encoding"),
    (lambda s: s["model"]["dec_sine_pos_embed.pe"][0, 100, 3].add_(0.01), "dec_sine_pos_embed.pe differs"),
    (lambda s: s["model"].pop("batch_norm.running_var"), "batch_norm.running_var"),
    (lambda s: s["model"].update(extra=torch.zeros(1)), "not understood: extra"),
])
def test_converter_refuses_what_it_does_not_understand(states, change, message):
    with pytest.raises(CheckpointFormatError, match=message):
        convert_mae_ast(_mutated(states["mae_ast_frame_like"], change))


@pytest.mark.parametrize("name", ["mae_ast_frame", "mae_ast_patch"])
def test_release_configs_match_s3prl_parameter_counts(name):
    folder = FOLDERS[f"{name}_like"]
    release = fixture_meta(folder)["release"][name]
    config = reference_config(name)
    kernels = release["config"]
    assert (config.kernel_size_chan, config.kernel_size_time, config.stride_chan, config.stride_time) == \
        (kernels["ast_kernel_size_chan"], kernels["ast_kernel_size_time"], kernels["ast_kernel_stride_chan"],
         kernels["ast_kernel_stride_time"])
    with torch.device("meta"):
        model = S3prlMaeAstModel(config)
    assert sum(p.numel() for p in model.parameters()) == release["s3prl_encoder_parameters"] == 85_253_376
    assert config.num_layers == 12
    assert config.hidden_sizes[0] == (768 if name == "mae_ast_frame" else 6144)
    assert config.downsample_rates[0] == (320 if name == "mae_ast_frame" else 2560)


def test_cli_style_conversion_round_trip(tmp_path):
    from s3prl_hf.conversion import convert_checkpoint

    out = convert_checkpoint("mae_ast_patch", FOLDERS["mae_ast_patch_like"] / "original_s3prl.pt", tmp_path / "m")
    model = AutoUpstream.from_pretrained(out)
    assert isinstance(model, S3prlMaeAstModel) and model.config.s3prl_name == "mae_ast_patch"
    assert model.fbank.window.abs().sum() > 0  # recomputed, not left uninitialised

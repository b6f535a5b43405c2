"""Convert a MAE-AST checkpoint (www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/*.pt) into `S3prlMaeAstModel`.

The checkpoint is a fairseq(-hydra) training state: `cfg` with the `model` (`MAE_AST_Config`) and `task`
(`MAE_AST_Pretraining_Config`) groups, `model` the state dict S3PRL loads strictly into `MAE_AST`. Every
architecture choice comes from `cfg` and is checked against the weights: frame vs patch tokens (the four
`ast_kernel_*` fields), widths, depth, heads, pre/post-LN, activation, positional encoding, mel bins.

fairseq writes `cfg` as plain containers (`OmegaConf.to_container` in `Trainer.state_dict`); a file whose `cfg` is a
pickled omegaconf `DictConfig` is refused by `load_original_checkpoint`, which names the class (re-save it with
`cfg` converted by `OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)`).

The sinusoidal `pe` tables (1 x max_token_length x width, 147 MB each in the releases) are not weights: they are
compared with the recomputed values and dropped; the model recomputes the rows it needs. The pretraining decoder,
its projections, the mask embeddings and the unused input LayerNorm over the mel bins are dropped too: no hidden
state depends on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ...conversion.fairseq import TRANSFORMER_LAYER_KEY_MAP
from .configuration_mae_ast import ACTIVATIONS, S3prlMaeAstConfig
from .modeling_mae_ast import S3prlMaeAstModel, sinusoidal_positions

# fmt: off
KEY_MAP = {  # S3PRL MAE_AST key (regex) -> s3prl_hf key
    r"^batch_norm\.(running_mean|running_var|num_batches_tracked)$": r"batch_norm.\1",
    r"^post_extract_proj\.(weight|bias)$":                   r"post_extract_proj.\1",
    r"^enc_conv_pos_embed\.pos_conv\.0\.weight_g$":          r"pos_conv_embed.conv.parametrizations.weight.original0",
    r"^enc_conv_pos_embed\.pos_conv\.0\.weight_v$":          r"pos_conv_embed.conv.parametrizations.weight.original1",
    r"^enc_conv_pos_embed\.pos_conv\.0\.bias$":              r"pos_conv_embed.conv.bias",
    **TRANSFORMER_LAYER_KEY_MAP,  # fairseq's transformer layers and encoder LayerNorm, as in wav2vec 2.0
    # pretraining only: no hidden state depends on these
    r"^(encoder_mask_emb|decoder_mask_emb)$":                None,
    r"^(decoder|post_enc_proj|final_proj_reconstruction|final_proj_classification|dec_conv_pos_embed)\.": None,
    r"^layer_norm\.(weight|bias)$":                          None,  # MAE_AST.layer_norm, never applied
}
# fmt: on
LAYER_INDEX = re.compile(r"^encoder\.layers\.(\d+)\.")
# The sinusoidal tables: (config flag, width field) of each.
PE_KEYS = {"enc_sine_pos_embed.pe": ("enc_sine_pos", "encoder_embed_dim"),
           "dec_sine_pos_embed.pe": ("dec_sine_pos", "decoder_embed_dim")}
# Largest |difference| from the recomputed table accepted (sin / cos of the same float32 arguments; other torch
# builds may round the last bit differently).
PE_TOLERANCE = 1e-5
MODEL_FIELDS = ("ast_kernel_size_chan", "ast_kernel_size_time", "ast_kernel_stride_chan", "ast_kernel_stride_time",
                "encoder_layers", "encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_attention_heads",
                "activation_fn", "layer_norm_first", "dropout", "attention_dropout", "activation_dropout",
                "enc_sine_pos", "enc_conv_pos", "dec_sine_pos", "max_token_length", "decoder_embed_dim",
                "use_post_enc_proj")
TASK_FIELDS = ("feature_dim", "sample_rate", "feature_type", "mask_type", "feature_rate")


def split_checkpoint(state: Mapping) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    """(cfg.model, cfg.task, weights) of a fairseq MAE-AST checkpoint, or a CheckpointFormatError saying what is off."""
    if "cfg" not in state or "model" not in state:
        raise CheckpointFormatError(f"not a fairseq MAE-AST checkpoint: expected 'cfg' and 'model' keys, found "
                                    f"{sorted(map(str, state))[:10]}")
    cfg, weights = state["cfg"], state["model"]
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("model"), Mapping) or \
            not isinstance(cfg.get("task"), Mapping):
        raise CheckpointFormatError("the checkpoint's 'cfg' must hold 'model' and 'task' config groups (fairseq's "
                                    f"hydra layout), got {type(cfg).__name__}")
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's 'model' must be a state dict of tensors")
    model_cfg, task_cfg = dict(cfg["model"]), dict(cfg["task"])
    for group, fields, values in (("model", MODEL_FIELDS, model_cfg), ("task", TASK_FIELDS, task_cfg)):
        missing = [f for f in fields if f not in values]
        if missing:
            raise CheckpointFormatError(f"cfg.{group} lacks {', '.join(missing)} (S3PRL's MAE_AST reads them)")
    return model_cfg, task_cfg, dict(weights)


def config_from_checkpoint(model_cfg: Mapping, task_cfg: Mapping) -> S3prlMaeAstConfig:
    """The `S3prlMaeAstConfig` of a checkpoint's `cfg.model` / `cfg.task`, refusing what S3PRL cannot run or this
    model does not implement."""
    def flag(name):
        value = model_cfg[name]
        if not isinstance(value, bool):
            raise CheckpointFormatError(f"cfg.model.{name} must be a bool, got {value!r}")
        return value

    conv = {}
    if flag("enc_conv_pos"):
        for name in ("conv_pos", "conv_pos_groups"):
            value = model_cfg.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CheckpointFormatError(f"cfg.model.{name} must be a positive int with enc_conv_pos, got "
                                            f"{value!r}")
        conv = dict(conv_positions=True, num_conv_pos_embeddings=model_cfg["conv_pos"],
                    num_conv_pos_embedding_groups=model_cfg["conv_pos_groups"])
    if model_cfg.get("checkpoint_activations"):
        raise CheckpointFormatError("cfg.model.checkpoint_activations is true: S3PRL's MAE_AST refuses it")
    if not flag("use_post_enc_proj") and model_cfg["decoder_embed_dim"] != model_cfg["encoder_embed_dim"]:
        raise CheckpointFormatError("cfg.model.decoder_embed_dim differs from encoder_embed_dim without "
                                    "use_post_enc_proj: S3PRL's MAE_AST refuses it")
    activation = model_cfg["activation_fn"]
    if activation not in ACTIVATIONS:
        raise CheckpointFormatError(f"cfg.model.activation_fn {activation!r} is not supported (S3PRL runs "
                                    f"{sorted(ACTIVATIONS)})")
    if task_cfg["feature_type"] == "wav":
        raise CheckpointFormatError("cfg.task.feature_type is 'wav': S3PRL's MAE_AST refuses it")
    if task_cfg["sample_rate"] != 16000:
        raise CheckpointFormatError(f"cfg.task.sample_rate {task_cfg['sample_rate']!r}: S3PRL's MAE-AST expert "
                                    f"reports strides of 160-sample (16 kHz) fbank frames; only 16000 is supported")
    ints = {}
    for group, values, name in [("model", model_cfg, f) for f in MODEL_FIELDS[:8]] + \
                               [("model", model_cfg, "max_token_length"), ("task", task_cfg, "feature_dim")]:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointFormatError(f"cfg.{group}.{name} must be a positive int, got {value!r}")
        ints[name] = value
    try:
        return S3prlMaeAstConfig(
            num_mel_bins=ints["feature_dim"], kernel_size_time=ints["ast_kernel_size_time"],
            kernel_size_chan=ints["ast_kernel_size_chan"], stride_time=ints["ast_kernel_stride_time"],
            stride_chan=ints["ast_kernel_stride_chan"], hidden_size=ints["encoder_embed_dim"],
            num_hidden_layers=ints["encoder_layers"], num_attention_heads=ints["encoder_attention_heads"],
            intermediate_size=ints["encoder_ffn_embed_dim"], hidden_act=ACTIVATIONS[activation],
            hidden_dropout=model_cfg["dropout"], attention_dropout=model_cfg["attention_dropout"],
            activation_dropout=model_cfg["activation_dropout"], do_stable_layer_norm=flag("layer_norm_first"),
            sine_positions=flag("enc_sine_pos"), max_token_length=ints["max_token_length"], **conv)
    except (ValueError, TypeError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported MAE-AST configuration: {error}") from error


def check_positional_tables(weights: dict[str, torch.Tensor], model_cfg: Mapping) -> None:
    """Pop the `pe` buffers from `weights` after checking them against S3PRL's formula (shape and values)."""
    for key, (flag, width_field) in PE_KEYS.items():
        table = weights.pop(key, None)
        if not model_cfg[flag]:
            if table is not None:
                raise CheckpointFormatError(f"{key} is in the checkpoint but cfg.model.{flag} is false")
            continue
        if table is None:
            raise CheckpointFormatError(f"missing from the checkpoint: {key} (cfg.model.{flag} is true)")
        expected_shape = (1, model_cfg["max_token_length"], model_cfg[width_field])
        if tuple(table.shape) != expected_shape:
            raise CheckpointFormatError(f"{key} has shape {tuple(table.shape)}, expected {expected_shape} "
                                        f"(max_token_length x {width_field})")
        chunk = 4096  # compare in slices: the released tables are 48000 x 768
        for start in range(0, expected_shape[1], chunk):
            rows = table[0, start : start + chunk].float()
            recomputed = sinusoidal_positions(len(rows), expected_shape[2], start)
            difference = (rows - recomputed).abs().max().item()
            if not difference <= PE_TOLERANCE:
                raise CheckpointFormatError(f"{key} differs from the sinusoidal encoding S3PRL builds (max |diff| "
                                            f"{difference:.3g} from row {start}); refusing to drop it")


def convert_mae_ast(state: dict) -> S3prlMaeAstModel:
    """Build an `S3prlMaeAstModel` from a MAE-AST checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_mae_ast(load_original_checkpoint("random_frame_75_12LayerEncoder.pt"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights = split_checkpoint(state)
    config = config_from_checkpoint(model_cfg, task_cfg)
    check_positional_tables(weights, model_cfg)
    layers = {int(m.group(1)) for key in weights if (m := LAYER_INDEX.match(key))}
    if layers != set(range(config.num_hidden_layers)):
        raise CheckpointFormatError(f"the checkpoint holds encoder layers {sorted(layers)[:20]}, but "
                                    f"cfg.model.encoder_layers is {config.num_hidden_layers}")
    return build_model(S3prlMaeAstModel, config, rename_state_dict(weights, KEY_MAP))

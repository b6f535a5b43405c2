"""Reading the fairseq-family formats that several families share, without fairseq.

- fairseq's wav2vec 2.0-style checkpoints, in S3PRL's hosted layout (`{"task_cfg", "model_cfg", "model_weight"}`,
  written by S3PRL's `upstream/*/convert.py`) or fairseq's own (`{"cfg": {"model", "task"}, "model"}`, or
  `{"args", "model"}` for releases that predate fairseq's hydra configs);
- the key maps of the network they share (CNN feature extractor, feature projection, positional conv, transformer
  layers), the translation of a fairseq config into transformers' wav2vec2-style config fields;
- the WavLM format (`{"cfg", "model"}`, microsoft/unilm), which WavLM, UniSpeech-SAT and DistilHuBERT's heads read.

Missing config keys take the defaults of S3PRL's config dataclasses and unknown keys are ignored, as S3PRL's
`merge_with_parent` does, so the converted model is the one S3PRL builds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from .checkpoints import CheckpointFormatError, build_model, namespace_to_dict, parse_conv_layers, rename_state_dict

if TYPE_CHECKING:
    from transformers import PreTrainedConfig

# fmt: off
# The CNN feature extractor and the feature LayerNorm + projection, shared by every wav2vec2-style encoder.
FEATURE_KEY_MAP = {  # fairseq / S3PRL key (regex)                -> s3prl_hf key
    r"^feature_extractor\.conv_layers\.(\d+)\.0\.":                r"feature_extractor.conv_layers.\1.conv.",
    # GroupNorm of the first conv (extractor_mode=default): "conv_layers.0.2.weight"
    r"^feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)$":  r"feature_extractor.conv_layers.\1.layer_norm.\2",
    # LayerNorm of every conv (extractor_mode=layer_norm): "conv_layers.3.2.1.weight"
    r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.":             r"feature_extractor.conv_layers.\1.layer_norm.",
    r"^layer_norm\.":                                              r"feature_projection.layer_norm.",
    r"^post_extract_proj\.":                                       r"feature_projection.projection.",
}
# The weight-normalised positional conv (pos_conv_depth=1).
POS_CONV_KEY_MAP = {
    r"^encoder\.pos_conv\.0\.weight_g$":                           r"encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    r"^encoder\.pos_conv\.0\.weight_v$":                           r"encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    r"^encoder\.pos_conv\.0\.bias$":                               r"encoder.pos_conv_embed.conv.bias",
}
# data2vec's positional conv stack (pos_conv_depth > 1): conv j is "encoder.pos_conv.{j}.0"; its LayerNorm has
# no parameters.
POS_CONV_STACK_KEY_MAP = {
    r"^encoder\.pos_conv\.(\d+)\.0\.(weight|bias)$":               r"encoder.pos_conv_embed.layers.\1.conv.\2",
}
# fairseq's TransformerSentenceEncoderLayer and the encoder's LayerNorm.
TRANSFORMER_LAYER_KEY_MAP = {
    r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.":     r"encoder.layers.\1.attention.\2_proj.",
    r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.":            r"encoder.layers.\1.layer_norm.",
    r"^encoder\.layers\.(\d+)\.fc1\.":                             r"encoder.layers.\1.feed_forward.intermediate_dense.",
    r"^encoder\.layers\.(\d+)\.fc2\.":                             r"encoder.layers.\1.feed_forward.output_dense.",
    r"^encoder\.layers\.(\d+)\.final_layer_norm\.":                r"encoder.layers.\1.final_layer_norm.",
    r"^encoder\.layer_norm\.":                                     r"encoder.layer_norm.",
}
# The whole wav2vec 2.0 / HuBERT transformer network, in HuBERT's original order.
TRANSFORMER_KEY_MAP = {**FEATURE_KEY_MAP, **POS_CONV_KEY_MAP, **TRANSFORMER_LAYER_KEY_MAP}
# fmt: on

# S3PRL's Wav2Vec2Config defaults (upstream/wav2vec2/wav2vec2_model.py) for the fields that shape the network.
MODEL_DEFAULTS = {
    "extractor_mode": "default", "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_type": "transformer", "dropout": 0.1,
    "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0, "layer_norm_first": False,
    "conv_feature_layers": "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]", "conv_bias": False,
    "conv_pos": 128, "conv_pos_groups": 16, "pos_conv_depth": 1, "crop_seq_to_multiple": 1,
    "quantize_input": False, "depthwise_conv_kernel_size": 31, "attn_type": "", "pos_enc_type": "abs",
    "max_positions": 100000,
}

# fairseq activation names -> transformers ACT2FN names with the same formula.
ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_accurate": "gelu_new", "gelu_fast": "gelu_new",
               "tanh": "tanh", "linear": "linear", "swish": "silu", "relu_squared": "relu2"}

EXTRACTOR_MODES = {"default": "group", "layer_norm": "layer"}

# S3PRL's experts hard-code a downsample rate of 320 samples and would misalign any other total stride.
S3PRL_STRIDE = 320

S3PRL_LAYOUT_KEYS = {"task_cfg", "model_cfg", "model_weight"}


def split_fairseq_checkpoint(state: dict, expected: str) -> tuple[dict, dict, dict, bool]:
    """Return `(model_cfg, task_cfg, weights, s3prl_hosted)` of a checkpoint in either fairseq-family layout.

    Args:
        state: The checkpoint dict.
        expected: What the caller converts, for error messages ("a wav2vec 2.0 checkpoint").

    Raises:
        CheckpointFormatError: neither layout.
    """
    keys = set(state)
    if S3PRL_LAYOUT_KEYS <= keys:
        model_cfg, task_cfg = namespace_to_dict(state["model_cfg"]), namespace_to_dict(state["task_cfg"])
        return model_cfg, task_cfg, state["model_weight"], True
    if "model" in keys and ("cfg" in keys or "args" in keys):
        if state.get("cfg") is not None:
            cfg = namespace_to_dict(state["cfg"])
            if not isinstance(cfg.get("model"), dict):
                raise CheckpointFormatError(
                    "this checkpoint's 'cfg' has no 'model' section: it is not a fairseq checkpoint (a flat "
                    "'cfg' + 'model' file is the WavLM / UniSpeech-SAT format)")
            model_cfg, task_cfg = dict(cfg["model"]), dict(cfg.get("task") or {})
        elif state.get("args") is not None:
            # pre-hydra releases: one flat namespace holds the task's and the model's options
            model_cfg = task_cfg = namespace_to_dict(state["args"])
            model_cfg = {**model_cfg, "_name": model_cfg.get("arch", model_cfg.get("_name"))}
        else:
            raise CheckpointFormatError("this fairseq checkpoint has neither 'cfg' nor 'args'")
        return model_cfg, task_cfg, state["model"], False
    raise CheckpointFormatError(f"unrecognised checkpoint layout with top-level keys {sorted(keys)}; expected "
                                f"{expected}: S3PRL's (task_cfg, model_cfg, model_weight) or fairseq's (cfg or "
                                f"args, model)")


def check_flat_weights(weights) -> None:
    """Weights must be a flat {name: tensor} dict (after any family-specific entry such as `_ema` is removed)."""
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's weights are not a flat dict of tensors")


def fairseq_model_name(model_cfg: dict) -> str | None:
    """The registered fairseq model (`_name`, or `arch` in args-era files) the config describes, if recorded."""
    name = model_cfg.get("_name")
    return str(name) if name else None


def merged_config(model_cfg: dict, defaults: dict) -> dict:
    """The config S3PRL's `merge_with_parent` builds: its dataclass defaults updated by the checkpoint's values."""
    return {**defaults, **{key: value for key, value in model_cfg.items() if value is not None}}


def network_config_kwargs(cfg: dict, task_cfg: dict) -> dict:
    """Translate a merged fairseq config into `PreTrainedConfig` keyword arguments (the shared network).

    Raises:
        CheckpointFormatError: a value S3PRL's network cannot run (unknown extractor mode or activation, a
            feature extractor whose total stride is not S3PRL's 320).
    """
    if cfg["extractor_mode"] not in EXTRACTOR_MODES:
        raise CheckpointFormatError(f"extractor_mode={cfg['extractor_mode']!r}: expected one of "
                                    f"{sorted(EXTRACTOR_MODES)}")
    if cfg["activation_fn"] not in ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={cfg['activation_fn']!r}: expected one of "
                                    f"{sorted(ACTIVATIONS)}")
    conv_layers = parse_conv_layers(cfg["conv_feature_layers"])
    stride = math.prod(s for _, _, s in conv_layers)
    if stride != S3PRL_STRIDE:
        raise CheckpointFormatError(f"the conv feature extractor has a total stride of {stride}; S3PRL's experts "
                                    f"assume {S3PRL_STRIDE}")
    return dict(
        hidden_size=int(cfg["encoder_embed_dim"]),
        num_hidden_layers=int(cfg["encoder_layers"]),
        num_attention_heads=int(cfg["encoder_attention_heads"]),
        intermediate_size=int(cfg["encoder_ffn_embed_dim"]),
        hidden_act=ACTIVATIONS[cfg["activation_fn"]],
        hidden_dropout=float(cfg["dropout"]),
        attention_dropout=float(cfg["attention_dropout"]),
        activation_dropout=float(cfg["activation_dropout"]),
        feat_proj_dropout=float(cfg["dropout_input"]),
        feat_extract_norm=EXTRACTOR_MODES[cfg["extractor_mode"]],
        conv_dim=tuple(d for d, _, _ in conv_layers),
        conv_kernel=tuple(k for _, k, _ in conv_layers),
        conv_stride=tuple(s for _, _, s in conv_layers),
        conv_bias=bool(cfg["conv_bias"]),
        num_conv_pos_embeddings=int(cfg["conv_pos"]),
        num_conv_pos_embedding_groups=int(cfg["conv_pos_groups"]),
        do_stable_layer_norm=bool(cfg["layer_norm_first"]),
        normalize_waveform=bool(task_cfg.get("normalize", False)),
    )


def check_projection(weights: dict, config: PreTrainedConfig) -> None:
    """S3PRL builds no `post_extract_proj` when the conv width equals the model width, and its strict load then
    refuses such weights: so do we, rather than use a projection S3PRL never applies."""
    if "post_extract_proj.weight" in weights and config.conv_dim[-1] == config.hidden_size:
        raise CheckpointFormatError(f"the checkpoint has post_extract_proj weights, but its config has "
                                    f"encoder_embed_dim == the last conv dim ({config.hidden_size}), for which "
                                    f"S3PRL builds no projection (and refuses these weights)")


def add_identity_projection(weights: dict, config: PreTrainedConfig) -> dict:
    """fairseq builds no `post_extract_proj` when the conv width equals the model width; use an identity."""
    if "feature_projection.projection.weight" in weights or config.conv_dim[-1] != config.hidden_size:
        return weights
    return {**weights,
            "feature_projection.projection.weight": torch.eye(config.hidden_size),
            "feature_projection.projection.bias": torch.zeros(config.hidden_size)}


def check_not_other_family(model_cfg: dict, weights: dict, s3prl_hosted: bool, state: dict, family: str) -> None:
    """Name the family of a checkpoint that belongs to another fairseq wav2vec2-style family than `family`."""
    name = fairseq_model_name(model_cfg) or ""
    if s3prl_hosted and "dictionaries_symbols" in state or name.startswith("hubert"):
        raise CheckpointFormatError(f"this is a HuBERT checkpoint, not {family}: convert it under a hubert name")
    if name.startswith("data2vec") or "_ema" in weights:
        raise CheckpointFormatError(f"this is a data2vec checkpoint ('{name or '_ema'}'), not {family}: convert it "
                                    f"under a data2vec name")
    if name and not name.startswith("wav2vec2"):
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not {family}"
                                    + (" (a fine-tuned model; S3PRL takes the pretrained one)"
                                       if name in ("wav2vec_ctc", "wav2vec_seq2seq") else ""))
    if any(key.startswith("w2v_encoder.") for key in weights):
        raise CheckpointFormatError(f"the weights belong to a fine-tuned model (w2v_encoder.*), not a pretrained "
                                    f"{family}")


def wav2vec2_config_kwargs(cfg: dict, task_cfg: dict) -> dict:
    """`network_config_kwargs` plus what S3PRL's `Wav2Vec2Model` adds: the positional conv depth and cropping."""
    if cfg["quantize_input"]:
        raise CheckpointFormatError("quantize_input=True (a quantized encoder input) is not supported; no released "
                                    "upstream uses it")
    return {**network_config_kwargs(cfg, task_cfg), "pos_conv_depth": int(cfg["pos_conv_depth"]),
            "crop_seq_to_multiple": int(cfg["crop_seq_to_multiple"])}



# --- The WavLM format ----------------------------------------------------------------------------------------
# S3PRL's WavLMConfig defaults (upstream/wavlm/WavLM.py) for the fields that shape the network.
WAVLM_CFG_DEFAULTS = {
    "extractor_mode": "default", "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_norm_first": False,
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False,
    "normalize": False, "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0,
    "conv_pos": 128, "conv_pos_groups": 16,
    "relative_position_embedding": False, "num_buckets": 320, "max_distance": 1280, "gru_rel_pos": False,
}

# Activations of S3PRL's WavLM modules (upstream/wavlm/modules.py:get_activation_fn). Its "glu" replaces fc1 by a
# GLU layer that no released model has and transformers does not implement.
WAVLM_ACTIVATIONS = ("gelu", "gelu_accurate", "gelu_fast", "linear", "relu", "tanh")

# fmt: off
# The shared wav2vec2-style network and WavLM's masked-prediction embedding (unused for features). No other
# pretraining head: S3PRL's WavLM has none, so its strict load refuses them.
WAVLM_NETWORK_KEY_MAP = {
    **TRANSFORMER_KEY_MAP,
    r"^mask_emb$":                                                      None,
}
# fmt: on


def other_format(state: dict) -> str | None:
    """Name the known checkpoint format `state` is in when it is not the WavLM one, else None."""
    keys = set(state)
    if {"task_cfg", "model_cfg", "model_weight"} <= keys:
        return ("an S3PRL-converted fairseq checkpoint (task_cfg, model_cfg, model_weight) of the wav2vec 2.0 / "
                "HuBERT / data2vec families")
    if {"Distiller", "Config"} <= keys:
        return "DistilHuBERT's S3PRL pretraining checkpoint (Distiller, Config)"
    if "model" in keys and ("args" in keys or isinstance(state.get("cfg"), dict) and "model" in state["cfg"]):
        return "a fairseq training checkpoint (cfg.model / args sections) of the wav2vec 2.0 / HuBERT families"
    return None


def split_wavlm_checkpoint(state: dict, family: str) -> tuple[dict, dict]:
    """Return `(cfg, weights)` of a checkpoint in the WavLM format, or say which format it is in."""
    known = other_format(state)
    if known is not None:
        raise CheckpointFormatError(f"this is {known}, not a {family} checkpoint ({{cfg, model}}, the WavLM format)")
    if not {"cfg", "model"} <= set(state):
        raise CheckpointFormatError(f"unrecognised checkpoint layout with top-level keys {sorted(state)}; expected "
                                    f"a {family} checkpoint with 'cfg' and 'model'")
    check_flat_weights(state["model"])
    return namespace_to_dict(state["cfg"]), state["model"]


def wavlm_format_config(cfg: dict, family: str) -> tuple[dict, bool, bool]:
    """`(config kwargs, relative position bias?, gated?)` of a WavLM-format cfg, S3PRL's defaults filled in."""
    cfg = merged_config(cfg, WAVLM_CFG_DEFAULTS)
    if cfg["activation_fn"] not in WAVLM_ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={cfg['activation_fn']!r}: S3PRL's {family} supports "
                                    f"{', '.join(WAVLM_ACTIVATIONS)}")
    # the WavLM format keeps the waveform normalisation in its one cfg, not in a task config
    kwargs = network_config_kwargs(cfg, {"normalize": cfg["normalize"]})
    if cfg["relative_position_embedding"]:
        kwargs.update(num_buckets=int(cfg["num_buckets"]), max_bucket_distance=int(cfg["max_distance"]),
                      gru_rel_pos=bool(cfg["gru_rel_pos"]))
    return kwargs, bool(cfg["relative_position_embedding"]), bool(cfg["gru_rel_pos"])


def build_from_weights(model_class, config, weights: dict, key_map: dict):
    """Rename `weights` with `key_map` and load them exactly into `model_class(config)` (built on meta)."""
    check_projection(weights, config)
    return build_model(model_class, config, add_identity_projection(rename_state_dict(weights, key_map), config))

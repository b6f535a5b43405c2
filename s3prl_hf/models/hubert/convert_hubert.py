"""Convert an original HuBERT checkpoint into `S3prlHubertModel`.

Two source layouts are read, both without fairseq:

- S3PRL-hosted (`s3prl/converted_ckpts/*.pt`, made by S3PRL's `upstream/hubert/convert.py`):
  `{"task_cfg": dict, "model_cfg": dict, "model_weight": state_dict, "dictionaries_symbols": [[str]]}`;
- fairseq release (`dl.fbaipublicfiles.com/hubert/*.pt`, written by fairseq's Trainer):
  `{"cfg": {"model": dict, "task": dict, ...}, "model": state_dict, "task_state": ...}`, or, for files that
  predate fairseq's hydra configs, `{"args": argparse.Namespace, "model": state_dict, ...}`.

Missing config keys take the defaults of S3PRL's `HubertConfig` / `HubertPretrainingConfig` dataclasses,
as S3PRL's `merge_with_parent` does, so the converted model is the one S3PRL builds.
"""

from __future__ import annotations

import logging
import math

import torch

from ...conversion import (
    CheckpointFormatError,
    load_exact_state_dict,
    namespace_to_dict,
    parse_conv_layers,
    rename_state_dict,
)
from .configuration_hubert import S3prlHubertConfig
from .modeling_hubert import S3prlHubertModel

logger = logging.getLogger(__name__)

# fmt: off
KEY_MAP = {  # fairseq / S3PRL key (regex)                        -> s3prl_hf key
    r"^feature_extractor\.conv_layers\.(\d+)\.0\.":                r"feature_extractor.conv_layers.\1.conv.",
    # GroupNorm of the first conv (extractor_mode=default): "conv_layers.0.2.weight"
    r"^feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)$":  r"feature_extractor.conv_layers.\1.layer_norm.\2",
    # LayerNorm of every conv (extractor_mode=layer_norm): "conv_layers.3.2.1.weight"
    r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.":             r"feature_extractor.conv_layers.\1.layer_norm.",
    r"^layer_norm\.":                                              r"feature_projection.layer_norm.",
    r"^post_extract_proj\.":                                       r"feature_projection.projection.",
    r"^encoder\.pos_conv\.0\.weight_g$":                           r"encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    r"^encoder\.pos_conv\.0\.weight_v$":                           r"encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    r"^encoder\.pos_conv\.0\.bias$":                               r"encoder.pos_conv_embed.conv.bias",
    r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.":     r"encoder.layers.\1.attention.\2_proj.",
    r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.":            r"encoder.layers.\1.layer_norm.",
    r"^encoder\.layers\.(\d+)\.fc1\.":                             r"encoder.layers.\1.feed_forward.intermediate_dense.",
    r"^encoder\.layers\.(\d+)\.fc2\.":                             r"encoder.layers.\1.feed_forward.output_dense.",
    r"^encoder\.layers\.(\d+)\.final_layer_norm\.":                r"encoder.layers.\1.final_layer_norm.",
    r"^encoder\.layer_norm\.":                                     r"encoder.layer_norm.",
    # Pretraining heads: not part of any hidden state.
    r"^(mask_emb|label_embs_concat)$":                             None,
    r"^(final_proj|target_glu)\.":                                 None,
}
# fmt: on

# S3PRL HubertConfig defaults (upstream/hubert/hubert_model.py) for the fields that shape the network.
MODEL_DEFAULTS = {
    "extractor_mode": "default", "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_type": "transformer", "dropout": 0.1,
    "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0, "layer_norm_first": False,
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False,
    "conv_pos": 128, "conv_pos_groups": 16,
}

# fairseq activation names -> transformers ACT2FN names with the same formula.
ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_accurate": "gelu_new", "gelu_fast": "gelu_new",
               "tanh": "tanh", "linear": "linear", "swish": "silu"}

# Config keys that would change the network but that S3PRL's HuBERT does not implement.
UNSUPPORTED_VALUES = {"pos_conv_depth": (None, 1), "conv_pos_batch_norm": (None, False)}

EXTRACTOR_MODES = {"default": "group", "layer_norm": "layer"}


def split_checkpoint(state: dict) -> tuple[dict, dict, dict]:
    """Return `(model_cfg, task_cfg, weights)` of a HuBERT checkpoint in either supported layout."""
    keys = set(state)
    if {"task_cfg", "model_cfg", "model_weight"} <= keys:
        if "dictionaries_symbols" not in keys:
            raise CheckpointFormatError(
                "this S3PRL checkpoint has no 'dictionaries_symbols', which every S3PRL HuBERT checkpoint has; "
                "it looks like a wav2vec 2.0 / data2vec / wav2vec checkpoint of another family")
        model_cfg, task_cfg = namespace_to_dict(state["model_cfg"]), namespace_to_dict(state["task_cfg"])
        weights = state["model_weight"]
    elif "model" in keys and ("cfg" in keys or "args" in keys):
        if state.get("cfg") is not None:
            cfg = namespace_to_dict(state["cfg"])
            if not isinstance(cfg.get("model"), dict):
                raise CheckpointFormatError(
                    "this checkpoint's 'cfg' has no 'model' section: it is not a fairseq checkpoint (a flat "
                    "'cfg' + 'model' file is the WavLM / UniSpeech-SAT format)")
            model_cfg, task_cfg = dict(cfg["model"]), dict(cfg.get("task") or {})
        elif state.get("args") is not None:
            model_cfg = task_cfg = namespace_to_dict(state["args"])
            model_cfg = {**model_cfg, "_name": model_cfg.get("arch", model_cfg.get("_name"))}
        else:
            raise CheckpointFormatError("this fairseq checkpoint has neither 'cfg' nor 'args'")
        weights = state["model"]
    else:
        raise CheckpointFormatError(f"unrecognised checkpoint layout with top-level keys {sorted(keys)}; expected "
                                    f"an S3PRL HuBERT checkpoint (task_cfg, model_cfg, model_weight, "
                                    f"dictionaries_symbols) or a fairseq one (cfg or args, model)")
    name = str(model_cfg.get("_name") or "hubert")
    if not name.startswith("hubert"):
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not HuBERT")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's weights are not a flat dict of tensors")
    if any(key.startswith(("w2v_encoder.", "quantizer.", "project_q.")) for key in weights):
        raise CheckpointFormatError("the weights belong to a fine-tuned or wav2vec 2.0 model, not a pretrained "
                                    "HuBERT (found w2v_encoder / quantizer keys)")
    return model_cfg, task_cfg, weights


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlHubertConfig:
    """Translate fairseq/S3PRL HuBERT configs into `S3prlHubertConfig`, rejecting what S3PRL cannot run."""
    cfg = {**MODEL_DEFAULTS, **{k: v for k, v in model_cfg.items() if v is not None}}
    for key, accepted in UNSUPPORTED_VALUES.items():
        if cfg.get(key) not in accepted:
            raise CheckpointFormatError(f"{key}={cfg[key]!r} is not supported by S3PRL's HuBERT")
    if cfg["layer_type"] != "transformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: only 'transformer' HuBERT is supported")
    if cfg["extractor_mode"] not in EXTRACTOR_MODES:
        raise CheckpointFormatError(f"extractor_mode={cfg['extractor_mode']!r}: expected one of "
                                    f"{sorted(EXTRACTOR_MODES)}")
    if cfg["activation_fn"] not in ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={cfg['activation_fn']!r}: expected one of "
                                    f"{sorted(ACTIVATIONS)}")
    conv_layers = parse_conv_layers(cfg["conv_feature_layers"])
    stride = math.prod(s for _, _, s in conv_layers)
    if stride != 320:
        # S3PRL's expert hard-codes a downsample rate of 320 and would misalign any other stride.
        raise CheckpointFormatError(f"the conv feature extractor has a total stride of {stride}; S3PRL's HuBERT "
                                    f"expert assumes 320")
    return S3prlHubertConfig(
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


def add_identity_projection(weights: dict, config: S3prlHubertConfig) -> dict:
    """fairseq builds no `post_extract_proj` when the conv width equals the model width; use an identity."""
    if "feature_projection.projection.weight" in weights or config.conv_dim[-1] != config.hidden_size:
        return weights
    return {**weights,
            "feature_projection.projection.weight": torch.eye(config.hidden_size),
            "feature_projection.projection.bias": torch.zeros(config.hidden_size)}


def convert_hubert(state: dict) -> S3prlHubertModel:
    """Build an `S3prlHubertModel` from an original checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_hubert(load_original_checkpoint("hubert_base_ls960.pt"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights = split_checkpoint(state)
    config = config_from_original(model_cfg, task_cfg)
    weights = add_identity_projection(rename_state_dict(weights, KEY_MAP), config)
    with torch.device("meta"):
        model = S3prlHubertModel(config)
    load_exact_state_dict(model, weights)
    return model.eval()

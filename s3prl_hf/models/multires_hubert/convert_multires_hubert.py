"""Convert an original MR-HuBERT checkpoint into `S3prlMultiresHubertModel`.

Two source layouts are read, both without fairseq:

- S3PRL-hosted (`huggingface.co/s3prl/mr_hubert/*.pt`, made by S3PRL's `upstream/multires_hubert/convert.py`):
  `{"task_cfg": dict, "model_cfg": dict, "model_weight": state_dict, "dictionaries_symbols": [[str]]}`, the only
  layout S3PRL's hub entries load;
- fairseq release (`dl.fbaipublicfiles.com/mrhubert/*.pt`, written by fairseq's Trainer):
  `{"cfg": {"model": dict, "task": dict, ...}, "model": state_dict, "task_state": ...}`.

Missing config keys take the defaults of S3PRL's `MultiresHubertConfig` / `MultiresHubertPretrainingConfig`
dataclasses and unknown keys are ignored, as S3PRL's `merge_with_parent` does. The block layout, resampling ratios
and resampler kind come from the config; the weights must then fit it exactly.
"""

from __future__ import annotations

import ast

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ...conversion.fairseq import FEATURE_KEY_MAP, add_identity_projection, check_flat_weights, check_projection, fairseq_model_name, merged_config, network_config_kwargs, split_fairseq_checkpoint
from .configuration_multires_hubert import S3prlMultiresHubertConfig
from .modeling_multires_hubert import S3prlMultiresHubertModel

# fmt: off
_BLOCK = r"(encoders\.\d+|middle_encoder|decoders\.\d+)"
KEY_MAP = {  # fairseq / S3PRL key (regex)                            -> s3prl_hf key
    # the CNN front end, feature LayerNorm and projection (models/wav2vec2/convert_wav2vec2.py)
    **FEATURE_KEY_MAP,
    # each block is a fairseq TransformerEncoder; only the first has the weight-normalised positional conv
    rf"^{_BLOCK}\.pos_conv\.0\.weight_g$":                         r"encoder.\1.pos_conv_embed.conv.parametrizations.weight.original0",
    rf"^{_BLOCK}\.pos_conv\.0\.weight_v$":                         r"encoder.\1.pos_conv_embed.conv.parametrizations.weight.original1",
    rf"^{_BLOCK}\.pos_conv\.0\.bias$":                             r"encoder.\1.pos_conv_embed.conv.bias",
    rf"^{_BLOCK}\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.":   r"encoder.\1.layers.\2.attention.\3_proj.",
    rf"^{_BLOCK}\.layers\.(\d+)\.self_attn_layer_norm\.":          r"encoder.\1.layers.\2.layer_norm.",
    rf"^{_BLOCK}\.layers\.(\d+)\.fc1\.":                           r"encoder.\1.layers.\2.feed_forward.intermediate_dense.",
    rf"^{_BLOCK}\.layers\.(\d+)\.fc2\.":                           r"encoder.\1.layers.\2.feed_forward.output_dense.",
    rf"^{_BLOCK}\.layers\.(\d+)\.final_layer_norm\.":              r"encoder.\1.layers.\2.final_layer_norm.",
    rf"^{_BLOCK}\.layer_norm\.":                                   r"encoder.\1.layer_norm.",
    # resamplers: Sequential(conv, dropout, GroupNorm, GELU) for each direction
    r"^(down|up)sample_modules\.(\d+)\.(up|down)sample_conv\.0\.weight$": r"encoder.\1sample_modules.\2.\3sample_conv.weight",
    r"^(down|up)sample_modules\.(\d+)\.(up|down)sample_conv\.2\.(weight|bias)$":
                                                                   r"encoder.\1sample_modules.\2.\3sample_norm.\4",
    # Pretraining heads: not part of any hidden state.
    r"^(mask_emb|label_embs_concat\.\d+)$":                        None,
    r"^(final_projs|target_glus)\.":                               None,
}
# fmt: on

# S3PRL's MultiresHubertConfig defaults (upstream/multires_hubert/hubert_model.py) for the fields that shape the
# network. encoder_layers defaults to the string "2" there.
MODEL_DEFAULTS = {
    "extractor_mode": "default", "encoder_layers": 2, "override_encoder_layers": "", "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_type": "transformer",
    "conv_adapator_kernal": 7, "use_plain_updownsample": False, "dropout": 0.1, "attention_dropout": 0.1,
    "activation_dropout": 0.0, "dropout_input": 0.0, "layer_norm_first": False, "label_rate_ratios": [1, 2],
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False,
    "conv_pos": 128, "conv_pos_groups": 16,
}


def split_checkpoint(state: dict) -> tuple[dict, dict, dict]:
    """Return `(model_cfg, task_cfg, weights)` of an MR-HuBERT checkpoint in either supported layout."""
    model_cfg, task_cfg, weights, hosted = split_fairseq_checkpoint(state, "an MR-HuBERT checkpoint")
    name = fairseq_model_name(model_cfg)
    if name is not None and name != "multires_hubert":
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not MR-HuBERT "
                                    f"('multires_hubert')")
    check_flat_weights(weights)
    if not any(key.startswith("middle_encoder.") for key in weights):
        raise CheckpointFormatError("the weights have no middle_encoder.*: this is not an MR-HuBERT model")
    if hosted and "dictionaries_symbols" not in state:
        raise CheckpointFormatError("this S3PRL checkpoint has no 'dictionaries_symbols', which S3PRL's MR-HuBERT "
                                    "loader requires")
    return model_cfg, task_cfg, weights


def _int_list(value, key: str) -> list[int]:
    """A list of non-negative ints from a config value (a list, or fairseq's string form of one)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError) as error:
            raise CheckpointFormatError(f"{key}={value!r} is not a list of integers") from error
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise CheckpointFormatError(f"{key}={value!r} is not a list of non-negative integers")
    return list(value)


def block_layout(cfg: dict) -> dict:
    """Resolution pairs and per-block depths, as fairseq's `MultiresHubertModel.__init__` derives them."""
    raw = cfg["label_rate_ratios"]
    if raw is None or raw == "None":
        raise CheckpointFormatError("label_rate_ratios is None: S3PRL's MR-HuBERT requires resolution ratios")
    ratios = _int_list(raw, "label_rate_ratios")
    # fairseq reads the list two by two; an odd last entry is ignored, as there
    pairs = [(ratios[2 * i], ratios[2 * i + 1]) for i in range(len(ratios) // 2)]
    if any(min(pair) < 1 for pair in pairs):
        raise CheckpointFormatError(f"label_rate_ratios={ratios!r}: every ratio must be positive")
    if cfg["override_encoder_layers"]:
        layers = _int_list(cfg["override_encoder_layers"], "override_encoder_layers")
        if len(layers) % 2 != 1 or len(layers) // 2 != len(pairs):
            raise CheckpointFormatError(f"override_encoder_layers={layers!r} must give {2 * len(pairs) + 1} block "
                                        f"depths for {len(pairs)} resolution pairs")
        # decoder block i takes the depth at the mirrored position: override[-1 - i]
        encoder, middle, decoder = layers[: len(pairs)], layers[len(pairs)], layers[len(pairs) + 1 :][::-1]
    else:
        depth = int(cfg["encoder_layers"])
        encoder, middle, decoder = [depth] * len(pairs), depth, [depth] * len(pairs)
    plain = bool(cfg["use_plain_updownsample"])
    if plain and any(up != 1 for up, _ in pairs):
        raise CheckpointFormatError(f"use_plain_updownsample with label_rate_ratios {ratios!r}: fairseq's plain "
                                    f"resamplers only take (1, k) pairs")
    kernel = int(cfg["conv_adapator_kernal"])
    if kernel < 1:
        raise CheckpointFormatError(f"conv_adapator_kernal={kernel}: expected a positive kernel size")
    return dict(resolution_ratios=pairs, encoder_block_layers=encoder, middle_block_layers=middle,
                decoder_block_layers=decoder,
                resampler_kernel_size=kernel, plain_resampling=plain)


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlMultiresHubertConfig:
    """Translate fairseq/S3PRL MR-HuBERT configs into `S3prlMultiresHubertConfig`, rejecting what S3PRL cannot run."""
    cfg = merged_config(model_cfg, MODEL_DEFAULTS)
    if cfg["layer_type"] != "transformer":
        # S3PRL's TransformerEncoder builds conformer layers but calls them with transformer arguments
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: S3PRL's MR-HuBERT only runs 'transformer' "
                                    f"layers")
    return S3prlMultiresHubertConfig(**network_config_kwargs(cfg, task_cfg), **block_layout(cfg))


def convert_multires_hubert(state: dict) -> S3prlMultiresHubertModel:
    """Build an `S3prlMultiresHubertModel` from an original MR-HuBERT checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family, an option S3PRL cannot run, or weights that do not fit
            the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_multires_hubert(load_original_checkpoint("mrhubert_mono_base.pt"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights = split_checkpoint(state)
    config = config_from_original(model_cfg, task_cfg)
    check_projection(weights, config)
    weights = add_identity_projection(rename_state_dict(weights, KEY_MAP), config)
    return build_model(S3prlMultiresHubertModel, config, weights)

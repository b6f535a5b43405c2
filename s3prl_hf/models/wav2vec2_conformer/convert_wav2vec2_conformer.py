"""Convert an original wav2vec 2.0 Conformer checkpoint into `S3prlWav2Vec2ConformerModel`.

The layouts are wav2vec 2.0's (see `models/wav2vec2/convert_wav2vec2.py`): S3PRL-hosted
`{task_cfg, model_cfg, model_weight}` (`LL_relpos_PT_no_FT.pt`, `LL_rope_PT_no_FT.pt`) or the fairseq release,
whose files have no extension (`conformer/wav2vec2/librilight/LL_relpos_PT_no_FT`). The config must say
`layer_type=conformer`. What S3PRL's `Wav2Vec2Model` builds from it, all of it supported here:

- `pos_enc_type` rel_pos or rope: `ConformerEncoder`, with ESPnet attention (`attn_type=espnet`: relative
  positions or rotary embeddings, what the LL_* releases use) or fairseq's `MultiheadAttention` (any other
  `attn_type`), which ignores rope and which rel_pos crashes (S3PRL passes it `pos_emb`): refused;
- any other `pos_enc_type` ("abs"): the transformer encoder with conformer layers (positional conv, ESPnet or fairseq
  attention without positions, padding to `required_seq_len_multiple`).

fairseq's attention names its projections q_proj / k_proj / v_proj / out_proj, ESPnet's linear_q / ... / linear_out;
both load into transformers' conformer attention.
"""

from __future__ import annotations

import re

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ...conversion.fairseq import FEATURE_KEY_MAP, MODEL_DEFAULTS, POS_CONV_KEY_MAP, POS_CONV_STACK_KEY_MAP, add_identity_projection, check_flat_weights, check_not_other_family, check_projection, merged_config, split_fairseq_checkpoint, wav2vec2_config_kwargs
from ..wav2vec2.convert_wav2vec2 import PRETRAINING_KEY_MAP
from .configuration_wav2vec2_conformer import S3prlWav2Vec2ConformerConfig
from .modeling_wav2vec2_conformer import S3prlWav2Vec2ConformerModel

# fmt: off
KEY_MAP = {  # fairseq / S3PRL key (regex)                                        -> s3prl_hf key
    **FEATURE_KEY_MAP,
    r"^encoder\.layers\.(\d+)\.(ffn[12])\.layer_norm\.":                           r"encoder.layers.\1.\2_layer_norm.",
    r"^encoder\.layers\.(\d+)\.(ffn[12])\.w_1\.":                                  r"encoder.layers.\1.\2.intermediate_dense.",
    r"^encoder\.layers\.(\d+)\.(ffn[12])\.w_2\.":                                  r"encoder.layers.\1.\2.output_dense.",
    r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.":                            r"encoder.layers.\1.self_attn_layer_norm.",
    r"^encoder\.layers\.(\d+)\.self_attn\.(linear_(?:q|k|v|out|pos))\.":           r"encoder.layers.\1.self_attn.\2.",
    r"^encoder\.layers\.(\d+)\.self_attn\.(pos_bias_[uv])$":                       r"encoder.layers.\1.self_attn.\2",
    # fairseq's MultiheadAttention (attn_type other than espnet)
    r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.":                     r"encoder.layers.\1.self_attn.linear_\2.",
    r"^encoder\.layers\.(\d+)\.conv_module\.(layer_norm|pointwise_conv1|depthwise_conv|batch_norm|pointwise_conv2)\.":
                                                                                   r"encoder.layers.\1.conv_module.\2.",
    r"^encoder\.layers\.(\d+)\.final_layer_norm\.":                                r"encoder.layers.\1.final_layer_norm.",
    r"^encoder\.layer_norm\.":                                                     r"encoder.layer_norm.",
    # merged into one encoder.embed_positions.inv_freq by merge_rotary_inv_freq before renaming
    r"^encoder\.embed_positions\.inv_freq$":                                       r"encoder.embed_positions.inv_freq",
    **PRETRAINING_KEY_MAP,
}
# The positional conv: ConformerEncoder inherits it from the transformer encoder but never calls it (dropped); the
# transformer encoder with conformer layers ("abs") runs it.
UNUSED_POS_CONV_KEY_MAP = {r"^encoder\.pos_conv\.":                                      None}
POS_CONV_KEY_MAPS = {True: {**POS_CONV_KEY_MAP, **POS_CONV_STACK_KEY_MAP}, False: UNUSED_POS_CONV_KEY_MAP}
# fmt: on

# pos_enc_type -> position embeddings in ConformerEncoder's ESPnet attention (the other types run the transformer
# encoder: "absolute")
POSITION_ENCODINGS = {"rel_pos": "relative", "rope": "rotary"}
INV_FREQ_KEY = re.compile(r"^encoder\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")
# S3PRL's Wav2Vec2Config default of required_seq_len_multiple (upstream/wav2vec2/wav2vec2_model.py)
SEQ_LEN_MULTIPLE_DEFAULT = 2


def position_embeddings_type(pos_enc_type: str, attn_type: str) -> str | None:
    """How the layers see positions, as S3PRL's `Wav2Vec2Model` builds them from `pos_enc_type` and `attn_type`."""
    if pos_enc_type not in POSITION_ENCODINGS:
        return "absolute"  # the transformer encoder: positional conv, attention without positions
    if attn_type == "espnet":
        return POSITION_ENCODINGS[pos_enc_type]
    if pos_enc_type == "rel_pos":
        raise CheckpointFormatError(f"pos_enc_type='rel_pos' with attn_type={attn_type!r}: S3PRL's conformer layer "
                                    f"passes relative positions to fairseq's MultiheadAttention, which fails; only "
                                    f"ESPnet attention ('espnet') runs rel_pos")
    return None  # rope with fairseq's attention: ConformerEncoder, and no positions anywhere


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlWav2Vec2ConformerConfig:
    """Translate fairseq/S3PRL conformer configs into `S3prlWav2Vec2ConformerConfig`."""
    cfg = merged_config(model_cfg, {**MODEL_DEFAULTS, "required_seq_len_multiple": SEQ_LEN_MULTIPLE_DEFAULT})
    if cfg["layer_type"] != "conformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: this is a transformer wav2vec 2.0, not a "
                                    f"conformer; convert it under a wav2vec2 / xlsr / xls_r name")
    kwargs = wav2vec2_config_kwargs(cfg, task_cfg)
    kwargs.update(hidden_act="swish",  # fairseq's conformer layers use swish whatever activation_fn says
                  position_embeddings_type=position_embeddings_type(str(cfg["pos_enc_type"]), str(cfg["attn_type"])),
                  seq_len_multiple=int(cfg["required_seq_len_multiple"]),
                  conv_depthwise_kernel_size=int(cfg["depthwise_conv_kernel_size"]),
                  conformer_conv_dropout=float(cfg["dropout"]))
    try:
        return S3prlWav2Vec2ConformerConfig(**kwargs)
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def merge_rotary_inv_freq(weights: dict) -> dict:
    """fairseq stores one rotary `inv_freq` per layer; they are one value, kept once for the whole encoder."""
    inv_freqs = {key: value for key, value in weights.items() if INV_FREQ_KEY.match(key)}
    if not inv_freqs:
        return weights
    first = next(iter(inv_freqs.values()))
    if not all(v.shape == first.shape and torch.equal(v, first) for v in inv_freqs.values()):
        raise CheckpointFormatError("the layers' rotary inv_freq buffers differ; s3prl_hf shares one across layers")
    merged = {key: value for key, value in weights.items() if key not in inv_freqs}
    merged["encoder.embed_positions.inv_freq"] = first.float()
    return merged


def add_batch_norm_counters(weights: dict) -> dict:
    """torch's BatchNorm loads files without `num_batches_tracked` (older torch) as 0; unused in eval."""
    added = {key[: -len("running_mean")] + "num_batches_tracked": torch.tensor(0)
             for key in weights if key.endswith("batch_norm.running_mean")
             and key[: -len("running_mean")] + "num_batches_tracked" not in weights}
    return {**weights, **added}


def convert_wav2vec2_conformer(state: dict) -> S3prlWav2Vec2ConformerModel:
    """Build an `S3prlWav2Vec2ConformerModel` from an original wav2vec 2.0 Conformer checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family, or weights that do not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_wav2vec2_conformer(load_original_checkpoint("LL_relpos_PT_no_FT"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights, hosted = split_fairseq_checkpoint(state, "a wav2vec 2.0 Conformer checkpoint")
    check_not_other_family(model_cfg, weights, hosted, state, "wav2vec 2.0 Conformer")
    check_flat_weights(weights)
    config = config_from_original(model_cfg, task_cfg)
    check_projection(weights, config)
    weights = add_batch_norm_counters(merge_rotary_inv_freq(weights))
    if config.position_embeddings_type != "rotary" and "encoder.embed_positions.inv_freq" in weights:
        raise CheckpointFormatError(f"the checkpoint has rotary inv_freq buffers but its config says pos_enc_type="
                                    f"{model_cfg.get('pos_enc_type')!r}, attn_type={model_cfg.get('attn_type')!r}")
    key_map = {**KEY_MAP, **POS_CONV_KEY_MAPS[config.uses_positional_conv]}
    weights = add_identity_projection(rename_state_dict(weights, key_map), config)
    return build_model(S3prlWav2Vec2ConformerModel, config, weights)

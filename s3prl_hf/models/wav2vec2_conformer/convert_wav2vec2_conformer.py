"""Convert an original wav2vec 2.0 Conformer checkpoint into `S3prlWav2Vec2ConformerModel`.

The layouts are wav2vec 2.0's (see `models/wav2vec2/convert_wav2vec2.py`): S3PRL-hosted
`{task_cfg, model_cfg, model_weight}` (`LL_relpos_PT_no_FT.pt`, `LL_rope_PT_no_FT.pt`) or the fairseq release,
whose files have no extension (`conformer/wav2vec2/librilight/LL_relpos_PT_no_FT`). The config must say
`layer_type=conformer`; S3PRL then builds `ConformerEncoder` for `pos_enc_type` `rel_pos` or `rope` with ESPnet
attention (`attn_type=espnet`), which is what the releases use.
"""

from __future__ import annotations

import re

import torch

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ..wav2vec2.convert_wav2vec2 import (
    FEATURE_KEY_MAP,
    MODEL_DEFAULTS,
    PRETRAINING_KEY_MAP,
    add_identity_projection,
    check_flat_weights,
    check_not_other_family,
    check_projection,
    merged_config,
    split_fairseq_checkpoint,
    wav2vec2_config_kwargs,
)
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
    r"^encoder\.layers\.(\d+)\.conv_module\.(layer_norm|pointwise_conv1|depthwise_conv|batch_norm|pointwise_conv2)\.":
                                                                                   r"encoder.layers.\1.conv_module.\2.",
    r"^encoder\.layers\.(\d+)\.final_layer_norm\.":                                r"encoder.layers.\1.final_layer_norm.",
    r"^encoder\.layer_norm\.":                                                     r"encoder.layer_norm.",
    # merged into one encoder.embed_positions.inv_freq by merge_rotary_inv_freq before renaming
    r"^encoder\.embed_positions\.inv_freq$":                                       r"encoder.embed_positions.inv_freq",
    # ConformerEncoder inherits the transformer encoder's positional conv but never calls it
    r"^encoder\.pos_conv\.":                                                       None,
    **PRETRAINING_KEY_MAP,
}
# fmt: on

POSITION_ENCODINGS = {"rel_pos": "relative", "rope": "rotary"}
INV_FREQ_KEY = re.compile(r"^encoder\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlWav2Vec2ConformerConfig:
    """Translate fairseq/S3PRL conformer configs into `S3prlWav2Vec2ConformerConfig`."""
    cfg = merged_config(model_cfg, MODEL_DEFAULTS)
    if cfg["layer_type"] != "conformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: this is a transformer wav2vec 2.0, not a "
                                    f"conformer; convert it under a wav2vec2 / xlsr / xls_r name")
    if cfg["pos_enc_type"] not in POSITION_ENCODINGS:
        raise CheckpointFormatError(f"pos_enc_type={cfg['pos_enc_type']!r}: S3PRL's ConformerEncoder takes "
                                    f"{sorted(POSITION_ENCODINGS)} (an 'abs' conformer is not supported)")
    if cfg["attn_type"] != "espnet":
        raise CheckpointFormatError(f"attn_type={cfg['attn_type']!r}: only the ESPnet attention of the released "
                                    f"conformers ('espnet') is supported")
    kwargs = wav2vec2_config_kwargs(cfg, task_cfg)
    kwargs.update(hidden_act="swish",  # fairseq's ConformerEncoder builds every layer with swish
                  position_embeddings_type=POSITION_ENCODINGS[cfg["pos_enc_type"]],
                  conv_depthwise_kernel_size=int(cfg["depthwise_conv_kernel_size"]),
                  conformer_conv_dropout=float(cfg["dropout"]))
    return S3prlWav2Vec2ConformerConfig(**kwargs)


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
        raise CheckpointFormatError("the checkpoint has rotary inv_freq buffers but its config says pos_enc_type="
                                    "rel_pos")
    weights = add_identity_projection(rename_state_dict(weights, KEY_MAP), config)
    return build_model(S3prlWav2Vec2ConformerModel, config, weights)

"""Convert a DeCoAR 2.0 checkpoint (huggingface.co/s3prl/converted_ckpts checkpoint_decoar2.pt) into
`S3prlDecoar2Model`.

The checkpoint is `{"model": state_dict, ...}` with fairseq's wav2vec 2.0 encoder names and no config. S3PRL builds
`Decoar2()` from its module-level `args` and loads non-strictly; this converter reads the widths, depth and
positional-conv shape from the weights, keeps S3PRL's 12 attention heads (no weight shape tells them), and requires
every weight of that architecture, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, load_exact_state_dict, rename_state_dict
from ..decoar.convert_decoar import split_checkpoint
from ...conversion.fairseq import POS_CONV_KEY_MAP, TRANSFORMER_LAYER_KEY_MAP
from .configuration_decoar2 import REFERENCE_CONFIGS, S3prlDecoar2Config
from .modeling_decoar2 import S3prlDecoar2Model

# fmt: off
KEY_MAP = {  # S3PRL Decoar2 key (regex)                          -> s3prl_hf key
    r"^post_extract_proj\.(weight|bias)$":                         r"post_extract_proj.\1",
    **POS_CONV_KEY_MAP,
    **TRANSFORMER_LAYER_KEY_MAP,  # fairseq's transformer layers and encoder LayerNorm, as in wav2vec 2.0
}
# fmt: on
LAYER_INDEX = re.compile(r"^encoder\.layers\.(\d+)\.")
# What S3PRL's `args` fixes and no weight shows.
FIXED = {k: REFERENCE_CONFIGS["decoar2"][k] for k in ("num_attention_heads", "hidden_dropout", "attention_dropout",
                                                     "activation_dropout", "feat_proj_dropout")}


def config_from_weights(weights: Mapping[str, torch.Tensor],
                        num_attention_heads: int | None = None) -> S3prlDecoar2Config:
    """The architecture S3PRL-named DeCoAR 2.0 weights describe, with S3PRL's 12 heads unless told otherwise."""
    try:
        hidden, features = weights["post_extract_proj.weight"].shape
        channels, per_group, kernel = weights["encoder.pos_conv.0.weight_v"].shape
        intermediate = weights["encoder.layers.0.fc1.weight"].shape[0]
    except KeyError as error:
        raise CheckpointFormatError(f"missing from the checkpoint: {error.args[0]}") from None
    if features != S3prlDecoar2Config().feature_dim:
        raise CheckpointFormatError(f"post_extract_proj takes {features} features; S3PRL's DeCoAR 2.0 frontend gives "
                                    f"{S3prlDecoar2Config().feature_dim}")
    if channels != hidden or hidden % per_group:
        raise CheckpointFormatError(f"positional conv weight {tuple(weights['encoder.pos_conv.0.weight_v'].shape)} "
                                    f"does not fit a width of {hidden}")
    layers = 1 + max(int(m.group(1)) for key in weights if (m := LAYER_INDEX.match(key)))
    heads = FIXED["num_attention_heads"] if num_attention_heads is None else num_attention_heads
    if hidden % heads:
        raise CheckpointFormatError(
            f"a width of {hidden} cannot be split into {heads} attention heads. S3PRL's DeCoAR 2.0 fixes 12 heads in "
            f"code and no weight records them; for a checkpoint built with other heads, call "
            f"convert_decoar2(state, num_attention_heads=N)")
    try:
        return S3prlDecoar2Config(hidden_size=int(hidden), num_hidden_layers=layers,
                                  intermediate_size=int(intermediate), num_conv_pos_embeddings=int(kernel),
                                  num_conv_pos_embedding_groups=int(hidden // per_group),
                                  **{**FIXED, "num_attention_heads": heads})
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def convert_decoar2(state: dict, num_attention_heads: int | None = None) -> S3prlDecoar2Model:
    """Build an `S3prlDecoar2Model` from a DeCoAR 2.0 checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        num_attention_heads: Heads of the attention layers; S3PRL's 12 by default. Only a checkpoint built with
            S3PRL's `args` patched needs another value: no weight shape records it.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_decoar2(load_original_checkpoint("checkpoint_decoar2.pt"))  # doctest: +SKIP
    """
    weights = split_checkpoint(state, family="DeCoAR 2.0")
    config = config_from_weights(weights, num_attention_heads)
    with torch.device("meta"):
        model = S3prlDecoar2Model(config)
    load_exact_state_dict(model, rename_state_dict(weights, KEY_MAP))
    return model.eval()

"""Convert a DeCoAR checkpoint (huggingface.co/s3prl/converted_ckpts checkpoint_decoar.pt) into `S3prlDecoarModel`.

The checkpoint is `{"model": state_dict, ...}` and holds no config. Its LSTMs use the multi-layer naming of one
`nn.LSTM(num_layers=4)` per direction (`forward_lstm.weight_ih_l{k}`), which S3PRL's `decoar_layers` expert renames
to one single-layer LSTM per depth (`forward_lstms.{k}.weight_ih_l0`, its `name_convert`); both namings are read.
S3PRL hard-codes the sizes and loads non-strictly; this converter takes the sizes from the weights' shapes and
requires every weight of that architecture, and nothing else.

S3PRL's `decoar` entry loads the same checkpoint into one 4-layer `nn.LSTM` per direction without renaming and
returns the last depth only (`last_layer_only`, which the caller sets from the name converted for). Its non-strict
load would skip per-layer names and run randomly initialised LSTMs, so such a checkpoint is refused for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, load_exact_state_dict, rename_state_dict
from ..rnn_alignment import realign_rnn_weights
from .configuration_decoar import S3prlDecoarConfig
from .modeling_decoar import S3prlDecoarModel

KEEP = r"\g<0>"
# fmt: off
KEY_MAP = {  # DeCoAR key (regex)                                                  -> s3prl_hf key
    r"^post_extract_proj\.(weight|bias)$":                                          KEEP,
    # S3PRL's name_convert: layer k of the multi-layer LSTM -> LSTM k's layer 0 (one digit, as its regex reads)
    r"^(forward|backward)_lstm\.(weight|bias)_(ih|hh)_l(\d)$":                      r"\1_lstms.\4.\2_\3_l0",
    r"^(forward|backward)_lstms\.\d+\.(weight|bias)_(ih|hh)_l0$":                   KEEP,
}
# fmt: on
LSTM_INDEX = re.compile(r"^forward_lstms\.(\d+)\.")
PER_LAYER_NAME = re.compile(r"^(forward|backward)_lstms\.")


# What tells the two DeCoAR generations apart (both have `post_extract_proj`).
SIGNATURES = {"DeCoAR": re.compile(r"^(forward|backward)_lstms?\."), "DeCoAR 2.0": re.compile(r"^encoder\.")}
NAMES = {"DeCoAR": "decoar_layers", "DeCoAR 2.0": "decoar2"}


def split_checkpoint(state: Mapping, family: str = "DeCoAR") -> dict:
    """The `model` state dict of a DeCoAR or DeCoAR 2.0 checkpoint (`family`), refusing the other generation's."""
    weights = state.get("model")
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError(f"expected a {family} checkpoint with a 'model' state dict, got keys "
                                    f"{sorted(state)}")
    if "post_extract_proj.weight" not in weights:
        raise CheckpointFormatError(f"the checkpoint has no post_extract_proj.weight: not a {family} checkpoint")
    for other, signature in SIGNATURES.items():
        if other != family and any(signature.match(key) for key in weights):
            raise CheckpointFormatError(f"this is a {other} checkpoint, not a {family} one: convert it under the "
                                        f"name {NAMES[other]}")
    return dict(weights)


def config_from_weights(weights: Mapping[str, torch.Tensor], input_dim: int,
                        last_layer_only: bool = False) -> S3prlDecoarConfig:
    """The architecture the (renamed) weights describe, returning every depth or only the last one."""
    hidden, features = weights["post_extract_proj.weight"].shape
    if features != input_dim:
        raise CheckpointFormatError(f"post_extract_proj takes {features} features; S3PRL's DeCoAR frontend gives "
                                    f"{input_dim}")
    layers = {int(m.group(1)) for key in weights if (m := LSTM_INDEX.match(key))}
    if not layers:
        raise CheckpointFormatError("the checkpoint has no forward LSTM weights: not a DeCoAR (layers) checkpoint")
    try:
        return S3prlDecoarConfig(hidden_size=int(hidden), num_hidden_layers=max(layers) + 1,
                                 last_layer_only=last_layer_only)
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def convert_decoar(state: dict, *, last_layer_only: bool = False) -> S3prlDecoarModel:
    """Build an `S3prlDecoarModel` from a DeCoAR checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        last_layer_only: Reproduce S3PRL's `decoar` entry (the last depth's state only) instead of `decoar_layers`
            (one state per depth).

    Raises:
        CheckpointFormatError: not a DeCoAR checkpoint, weights that do not fit, or (for `last_layer_only`) S3PRL's
            per-layer LSTM names, which S3PRL's `decoar` expert does not load.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> state = load_original_checkpoint("checkpoint_decoar.pt")  # doctest: +SKIP
        >>> convert_decoar(state).num_layers, convert_decoar(state, last_layer_only=True).num_layers  # doctest: +SKIP
        (4, 1)
    """
    original = split_checkpoint(state)
    if last_layer_only and any(PER_LAYER_NAME.match(key) for key in original):
        raise CheckpointFormatError("this checkpoint names its LSTMs per layer (forward_lstms.{k}.*); S3PRL's `decoar` "
                                    "expert loads only the released multi-layer names (forward_lstm.*_l{k}) and would "
                                    "run random LSTMs: convert it as decoar_layers")
    weights = rename_state_dict(original, KEY_MAP)
    config = config_from_weights(weights, S3prlDecoarConfig().feature_dim, last_layer_only)
    with torch.device("meta"):
        model = S3prlDecoarModel(config)
    load_exact_state_dict(model, weights)
    realign_rnn_weights(model)  # the checkpoint is memory-mapped
    return model.eval()


# S3PRL's `decoar` hub entry runs decoar_layers' checkpoint with its older expert, which returns the last layer only:
# an option of the entry, not of the checkpoint.
NAME_OPTIONS = {"decoar": {"last_layer_only": True}}


def convert_release(release) -> S3prlDecoarModel:
    """The family's converter: the checkpoint, with the options of the S3PRL entry converted for."""
    if release.second is not None:
        raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
    return convert_decoar(release.load(), **{**NAME_OPTIONS.get(release.name, {}), **release.options})

"""Convert a Modified CPC checkpoint (Libri-Light's CPC_checkpoints/*.pt) into `S3prlModifiedCpcModel`.

The checkpoint is `{"config": dict of CPC_audio's argparse options, "weights": CPCModel state_dict, ...}`. S3PRL's
expert overlays the config onto CPC_audio's defaults (`cpc_default_config.py`), builds `CPCModel(getEncoder(args),
getAR(args))` and loads the weights non-strictly; this converter reads the same options but requires every weight
of that architecture, and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, load_exact_state_dict, namespace_to_dict, rename_state_dict
from ..rnn_alignment import realign_rnn_weights
from .configuration_modified_cpc import S3prlModifiedCpcConfig
from .modeling_modified_cpc import S3prlModifiedCpcModel

KEEP = r"\g<0>"
# fmt: off
KEY_MAP = {  # S3PRL CPCModel key (regex)                                                    -> s3prl_hf key
    r"^gEncoder\.conv[0-4]\.(weight|bias)$":                                                  KEEP,
    r"^gEncoder\.batchNorm[0-4]\.(weight|bias|running_mean|running_var|num_batches_tracked)$": KEEP,
    r"^gAR\.baseNet\.(weight|bias)_(ih|hh)_l\d+$":                                            KEEP,
}
# fmt: on
# CPC_audio's defaults (S3PRL's cpc_default_config.py) for the options that shape the network S3PRL runs.
DEFAULTS = {"hiddenEncoder": 256, "hiddenGar": 256, "normMode": "layerNorm", "arMode": "LSTM", "nLevelsGRU": 1,
            "encoder_type": "cpc", "samplingType": "samespeaker", "cpc_mode": None}


def config_from_original(options: Mapping) -> S3prlModifiedCpcConfig:
    """Translate CPC_audio's options (overlaid on its defaults, as S3PRL's `loadArgs`) into the config."""
    args = {**DEFAULTS, **options}
    if args["encoder_type"] != "cpc":
        raise CheckpointFormatError(f"encoder_type={args['encoder_type']!r}: only CPC_audio's conv encoder ('cpc') is "
                                    f"supported (the released model's)")
    if args["samplingType"] == "sequential":
        # CPCAR(keepHidden=True): S3PRL carries the RNN state from one call to the next
        raise CheckpointFormatError("samplingType='sequential' makes S3PRL's CPC keep its RNN state across calls, so "
                                    "its outputs depend on earlier inputs; not supported")
    if args["arMode"] == "transformer":
        raise CheckpointFormatError("arMode='transformer' cannot run in S3PRL either (its cpc/transformers module is "
                                    "not shipped)")
    try:
        return S3prlModifiedCpcConfig(encoder_hidden_size=int(args["hiddenEncoder"]),
                                      ar_hidden_size=int(args["hiddenGar"]), norm_mode=str(args["normMode"]),
                                      ar_mode=str(args["arMode"]), ar_num_layers=int(args["nLevelsGRU"]),
                                      reverse=args["cpc_mode"] == "reverse")
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def convert_modified_cpc(state: dict) -> S3prlModifiedCpcModel:
    """Build an `S3prlModifiedCpcModel` from a Modified CPC checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_modified_cpc(load_original_checkpoint("60k_epoch4-d0f474de.pt"))  # doctest: +SKIP
    """
    if "config" not in state or not isinstance(state.get("weights"), Mapping):
        raise CheckpointFormatError(f"expected a CPC_audio checkpoint with 'config' and 'weights' entries, got keys "
                                    f"{sorted(state)}")
    config = config_from_original(namespace_to_dict(state["config"]))
    weights = dict(state["weights"])
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's 'weights' entry is not a flat dict of tensors")
    with torch.device("meta"):
        model = S3prlModifiedCpcModel(config)
    load_exact_state_dict(model, rename_state_dict(weights, KEY_MAP))
    realign_rnn_weights(model)  # the checkpoint is memory-mapped
    return model.eval()

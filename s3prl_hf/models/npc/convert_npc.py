"""Convert an NPC checkpoint (the format of huggingface.co/leo19941227/apc_series) into `S3prlNpcModel`.

The checkpoint is `{"config": {"model": {"paras": {...}}, "data": {"audio": {...}}, ...}, "model": state_dict, ...}`;
S3PRL's expert builds `NPC(feat_dim, **config["model"]["paras"])` and loads the weights strictly, and so does this
converter. The masked convs' `conv_mask` buffers are not weights: each must be the mask the config implies (S3PRL
would multiply the stored one in), and it is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, load_exact_state_dict, rename_state_dict
from ..apc.convert_apc import split_checkpoint
from .configuration_npc import S3prlNpcConfig
from .modeling_npc import S3prlNpcModel

KEEP = r"\g<0>"
CONV_MASK = re.compile(r"^masked_convs\.(\d+)\.conv_mask$")
# fmt: off
KEY_MAP = {  # S3PRL NPC key (regex)                                             -> s3prl_hf key
    r"^blocks\.\d+\.(conv|linear)\.(weight|bias)$":                               KEEP,
    r"^blocks\.\d+\.bn[12]\.(weight|bias|running_mean|running_var|num_batches_tracked)$": KEEP,
    r"^masked_convs\.\d+\.conv\.(weight|bias)$":                                  KEEP,
    r"^masked_convs\.\d+\.conv_mask$":                                            None,  # checked, then recomputed
    r"^vq_layers\.\d+\.vq_logits\.(weight|bias)$":                                KEEP,
    r"^vq_layers\.\d+\.codebook_CxE\.weight$":                                    KEEP,
    r"^ae_bottleneck\.weight$":                                                   KEEP,
    r"^postnet\.(weight|bias)$":                                                  KEEP,
}
# fmt: on
# NPC's required constructor arguments besides the input size, and the optional ones with S3PRL's defaults.
REQUIRED = ("hidden_size", "n_blocks", "dropout", "residual", "kernel_size", "mask_size")
DEFAULTS = {"vq": None, "batch_norm": True, "activate": "relu", "disable_cross_layer": False, "dim_bottleneck": None}


def config_from_original(paras: Mapping, audio: Mapping) -> S3prlNpcConfig:
    """Translate S3PRL's `model.paras` + `data.audio` into `S3prlNpcConfig`."""
    unknown = sorted(set(paras) - set(REQUIRED) - set(DEFAULTS))
    if unknown:
        raise CheckpointFormatError(f"model.paras has {unknown}, which S3PRL's NPC does not take")
    paras = {**DEFAULTS, **paras}
    try:
        return S3prlNpcConfig(
            hidden_size=int(paras["hidden_size"]), n_blocks=int(paras["n_blocks"]), dropout=float(paras["dropout"]),
            residual=bool(paras["residual"]), kernel_size=int(paras["kernel_size"]),
            mask_size=int(paras["mask_size"]), vq=paras["vq"], batch_norm=bool(paras["batch_norm"]),
            activate=str(paras["activate"]), disable_cross_layer=bool(paras["disable_cross_layer"]),
            dim_bottleneck=None if paras["dim_bottleneck"] is None else int(paras["dim_bottleneck"]),
            audio_config=dict(audio))
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def check_conv_masks(weights: Mapping[str, torch.Tensor], model: S3prlNpcModel) -> None:
    """Every stored `conv_mask` must be the fixed mask of its masked conv."""
    for key, mask in weights.items():
        match = CONV_MASK.match(key)
        if not match:
            continue
        index = int(match.group(1))
        module = model.masked_convs[index] if index < len(model.masked_convs) else None
        if module is None:
            raise CheckpointFormatError(f"{key}: the config has no masked conv after block {index}")
        expected = torch.ones(module.conv.weight.shape)
        expected[:, :, module.mask_head : module.mask_tail] = 0
        if mask.shape != expected.shape or not torch.equal(mask.float(), expected):
            raise CheckpointFormatError(f"{key} is not NPC's fixed mask for kernel {module.conv.kernel_size[0]} and "
                                        f"mask size {module.mask_tail - module.mask_head}")


def convert_npc(state: dict) -> S3prlNpcModel:
    """Build an `S3prlNpcModel` from an NPC checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_npc(load_original_checkpoint("npc_360hr.ckpt"))  # doctest: +SKIP
    """
    paras, audio, weights = split_checkpoint(state, "NPC", REQUIRED)
    config = config_from_original(paras, audio)
    with torch.device("meta"):
        model = S3prlNpcModel(config)
    masks = {k for k in weights if CONV_MASK.match(k)}
    missing_masks = {f"masked_convs.{i}.conv_mask" for i in config.masked_blocks} - masks
    if missing_masks:
        raise CheckpointFormatError(f"missing from the checkpoint: {sorted(missing_masks)}")
    check_conv_masks(weights, model)
    load_exact_state_dict(model, rename_state_dict(weights, KEY_MAP))
    return model.eval()

"""Convert an APC / VQ-APC checkpoint (the format of huggingface.co/leo19941227/apc_series) into `S3prlApcModel`.

The checkpoint is `{"config": {"model": {"paras": {...}}, "data": {"audio": {...}}, ...}, "model": state_dict, ...}`;
S3PRL's expert builds `APC(feat_dim, **config["model"]["paras"])` from it and loads the weights strictly, and so does
this converter: every weight of the architecture the config describes must be there, and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, load_exact_state_dict, rename_state_dict
from ..rnn_alignment import realign_rnn_weights
from .configuration_apc import S3prlApcConfig
from .modeling_apc import S3prlApcModel

logger = logging.getLogger(__name__)

KEEP = r"\g<0>"
# fmt: off
KEY_MAP = {  # S3PRL APC key (regex)                                      -> s3prl_hf key
    r"^rnn_layers\.\d+\.(weight|bias)_(ih|hh)_l0$":                        KEEP,
    r"^vq_layers\.\d+\.vq_logits\.(weight|bias)$":                         KEEP,  # VQ-APC only
    r"^vq_layers\.\d+\.codebook_CxE\.weight$":                             KEEP,  # VQ-APC only
    r"^postnet\.(weight|bias)$":                                           KEEP,
}
# fmt: on
# APC's constructor arguments besides the input size (S3PRL passes config.model.paras as keywords).
PARAS = ("num_layers", "hidden_size", "dropout", "residual")


def split_checkpoint(state: Mapping, family: str, paras_keys: tuple[str, ...]) -> tuple[dict, dict, dict]:
    """Return `(paras, audio, weights)` of an APC-family checkpoint (`{"config", "model"}`), as S3PRL reads them."""
    config, weights = state.get("config"), state.get("model")
    if not isinstance(config, Mapping) or not isinstance(weights, Mapping):
        raise CheckpointFormatError(f"expected an {family} checkpoint with 'config' and 'model' entries, got keys "
                                    f"{sorted(state)}")
    try:
        paras, audio = dict(config["model"]["paras"]), dict(config["data"]["audio"])
    except (KeyError, TypeError) as error:
        raise CheckpointFormatError(f"the checkpoint's config has no model.paras / data.audio: not an {family} "
                                    f"checkpoint") from error
    missing = [key for key in paras_keys if key not in paras]
    if missing:
        raise CheckpointFormatError(f"model.paras lacks {missing}: not an {family} checkpoint (paras: "
                                    f"{sorted(paras)})")
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's 'model' entry is not a flat dict of tensors")
    return paras, audio, dict(weights)


def config_from_original(paras: Mapping, audio: Mapping) -> S3prlApcConfig:
    """Translate S3PRL's `model.paras` + `data.audio` into `S3prlApcConfig`."""
    unknown = sorted(set(paras) - set(PARAS) - {"vq"})
    if unknown:
        raise CheckpointFormatError(f"model.paras has {unknown}, which S3PRL's APC does not take")
    try:
        return S3prlApcConfig(num_layers_rnn=int(paras["num_layers"]), hidden_size=int(paras["hidden_size"]),
                              dropout=float(paras["dropout"]), residual=bool(paras["residual"]),
                              vq=paras.get("vq"), audio_config=dict(audio))
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def _convert(state: dict, vq: bool) -> S3prlApcModel:
    family = "VQ-APC" if vq else "APC"
    paras, audio, weights = split_checkpoint(state, family, PARAS)
    config = config_from_original(paras, audio)
    if (config.vq is not None) != vq:
        # S3PRL runs both with the same expert (vq_apc's hubconf calls apc's), so this is a naming slip, not an error
        logger.warning("this %s checkpoint is converted as %s: it %s VQ layers", "VQ-APC" if not vq else "APC",
                       family, "has" if not vq else "has no")
    weights = rename_state_dict(weights, KEY_MAP)
    with torch.device("meta"):
        model = S3prlApcModel(config)
    load_exact_state_dict(model, weights)
    realign_rnn_weights(model)  # the checkpoint is memory-mapped
    return model.eval()


def convert_apc(state: dict) -> S3prlApcModel:
    """Build an `S3prlApcModel` from an APC checkpoint's contents (a VQ-APC one works too, with a warning).

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_apc(load_original_checkpoint("apc_360hr.ckpt"))  # doctest: +SKIP
    """
    return _convert(state, vq=False)


def convert_vq_apc(state: dict) -> S3prlApcModel:
    """Build an `S3prlApcModel` with its VQ layers from a VQ-APC checkpoint's contents (an APC one works too).

    Example:
        >>> model = convert_vq_apc(load_original_checkpoint("vq_apc_360hr.ckpt"))  # doctest: +SKIP
    """
    return _convert(state, vq=True)


def convert_release(release) -> S3prlApcModel:
    """The family's converter: a checkpoint with VQ layers is VQ-APC's, one without is APC's.

    S3PRL runs both with one expert, but the checkpoint says which method it is: converting one under the other's
    name would publish it under the wrong paper, so it is refused (`MethodMismatchError`).
    """
    if release.second is not None:
        raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
    state = release.load()
    paras, _, _ = split_checkpoint(state, "APC", PARAS)
    has_vq = paras.get("vq") is not None
    release.check_method({"vq_apc"} if has_vq else {"apc"},
                         f"its model.paras {'have' if has_vq else 'have no'} vq layers")
    return _convert(state, vq=has_vq)

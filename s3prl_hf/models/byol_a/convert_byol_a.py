"""Convert a BYOL-A checkpoint (github.com/nttcslab/byol-a pretrained_weights/AudioNTT2020-BYOLA-64x96d*.pth) into
`S3prlByolAModel`.

The file is AudioNTT2020's raw state dict. S3PRL's `NetworkCommonMixIn.load_weight` unwraps a `state_dict` entry if
there is one, keeps the keys that contain `fc.` or `features.` (at the start or after a dot), cuts everything before
that, and loads strictly. This converter does the same, then reads the conv channels, depth and embedding width from
the weights (the mel bins and the frontend are S3PRL's config.yaml, which the checkpoint does not carry).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from .configuration_byol_a import S3prlByolAConfig, audio_ntt_fc_input
from .modeling_byol_a import S3prlByolAModel

logger = logging.getLogger(__name__)

# S3PRL's load_weight filter (upstream/byol_a/byol_a.py)
NETWORK_KEY = re.compile(r"(^fc\.|\.fc\.|^features\.|\.features\.)")
# fmt: off
KEY_MAP = {  # AudioNTT2020 key (regex)                                  -> s3prl_hf key
    r"^features\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$": r"encoder.features.\1.\2",
    r"^fc\.(0|3)\.(weight|bias)$":                                                 r"encoder.fc.\1.\2",
}
# fmt: on
CONV_WEIGHT = re.compile(r"^features\.(\d+)\.weight$")


def strip_byol_a_keys(state: Mapping) -> dict[str, torch.Tensor]:
    """The weights S3PRL's `load_weight` keeps, with its key surgery."""
    if "state_dict" in state:
        state = state["state_dict"]
        if not isinstance(state, Mapping):
            raise CheckpointFormatError(f"the checkpoint's 'state_dict' entry is a {type(state).__name__}, "
                                        f"expected a dict of tensors")
    weights, dropped = {}, []
    for key, value in state.items():
        match = NETWORK_KEY.search(str(key))
        if match is None:
            dropped.append(key)
            continue
        new_key = key[match.start():]
        new_key = new_key[1:] if new_key[0] == "." else new_key
        if new_key in weights:
            # S3PRL would silently keep the last one
            raise CheckpointFormatError(f"two weights of the checkpoint map to {new_key!r} (e.g. {key!r}): an "
                                        f"online and a target network? Save the one to convert alone")
        if not isinstance(value, torch.Tensor):
            raise CheckpointFormatError(f"checkpoint entry {key!r} is a {type(value).__name__}, expected a tensor")
        weights[new_key] = value
    if dropped:
        logger.info("ignoring %d checkpoint entries that S3PRL's BYOL-A loader also ignores: %s", len(dropped),
                    ", ".join(map(str, dropped[:10])))
    if not weights:
        raise CheckpointFormatError(f"no 'features.*' / 'fc.*' weights in the checkpoint (keys: "
                                    f"{sorted(map(str, state))[:10]}): not a BYOL-A AudioNTT2020 checkpoint")
    return weights


def audio_ntt_architecture(weights: Mapping[str, torch.Tensor], n_mels: int) -> dict:
    """`conv_channels` and `hidden_size` of AudioNTT2020 weights (S3PRL's key names), checked against `n_mels`."""
    convs = sorted(int(m.group(1)) for key in weights if (m := CONV_WEIGHT.match(key)) and weights[key].dim() == 4)
    if not convs or convs != list(range(0, 4 * len(convs), 4)):
        raise CheckpointFormatError(f"conv weights at features.{convs}: AudioNTT2020 has one conv every 4 modules "
                                    f"(features.0, features.4, ...)")
    channels, in_channels = [], 1
    for index in convs:
        shape = tuple(weights[f"features.{index}.weight"].shape)
        if shape[1:] != (in_channels, 3, 3):
            raise CheckpointFormatError(f"features.{index}.weight has shape {shape}: expected (C, {in_channels}, 3, 3)")
        channels.append(shape[0])
        in_channels = shape[0]
    try:
        hidden, fc_in = weights["fc.0.weight"].shape
    except KeyError:
        raise CheckpointFormatError("missing from the checkpoint: fc.0.weight") from None
    except ValueError:
        raise CheckpointFormatError(f"fc.0.weight has shape {tuple(weights['fc.0.weight'].shape)}, expected 2-D"
                                    ) from None
    if n_mels // 2 ** len(channels) < 1 or fc_in != audio_ntt_fc_input(channels, n_mels):
        raise CheckpointFormatError(f"fc.0.weight takes {fc_in} inputs; {len(channels)} conv blocks of {channels} "
                                    f"channels on {n_mels} mel bins give {audio_ntt_fc_input(channels, n_mels)}")
    return dict(conv_channels=channels, hidden_size=int(hidden))


def convert_byol_a(state: dict) -> S3prlByolAModel:
    """Build an `S3prlByolAModel` from a BYOL-A checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_byol_a(load_original_checkpoint("AudioNTT2020-BYOLA-64x96d2048.pth"))  # doctest: +SKIP
    """
    weights = strip_byol_a_keys(state)
    try:
        config = S3prlByolAConfig(**audio_ntt_architecture(weights, S3prlByolAConfig().n_mels))
    except (ValueError, StrictDataclassError) as error:
        if isinstance(error, CheckpointFormatError):
            raise
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error
    return build_model(S3prlByolAModel, config, rename_state_dict(weights, KEY_MAP))

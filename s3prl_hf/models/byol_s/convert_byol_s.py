"""Convert a BYOL-S checkpoint (github.com/GasserElbanna/serab-byols checkpoints/*.pth) into `S3prlByolSModel`.

The file is the raw state dict of one of serab-byols' networks; S3PRL loads it strictly into the network its hub
name selects. This converter recognises the network from the key names (AudioNTT2020 `features.*`/`fc.*`,
ResNetish `conv1.*`/`layer1.*`, CvT `layers.*`) and reads every size from the weight shapes: conv channels and MLP
width; stem, stage depths and widths; CvT embedding dims and kernels, projection kernels, attention heads (inner
width / S3PRL's fixed 64 channels a head), depths and MLP ratios. What no weight records is S3PRL's code: the
strides (stem 1, stages 1/2/2/2; CvT 4/2/2, k/v projections 2), CvT's 64 channels per head and its "mean+max" pool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ..byol_a.convert_byol_a import audio_ntt_architecture
from .configuration_byol_s import S3prlByolSConfig
from .modeling_byol_s import S3prlByolSModel

BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
# fmt: off
L = r"^layer(\d+)\.(\d+)\."                 # a ResNetish block: stage, block
T = r"^layers\.(\d+)\.2\.layers\.(\d+)\."     # a CvT transformer layer: stage, layer
KEY_MAPS = {  # encoder_type -> {serab-byols key (regex) -> s3prl_hf key}
    "audio_ntt": {
        rf"^features\.(\d+)\.{BN}$":                    r"encoder.features.\1.\2",
        r"^fc\.(0|3)\.(weight|bias)$":                    r"encoder.fc.\1.\2",
    },
    "resnetish": {  # torchvision BasicBlock names -> transformers' ResNetBasicLayer
        r"^conv1\.weight$":                               r"encoder.embedder.convolution.weight",
        rf"^bn1\.{BN}$":                                  r"encoder.embedder.normalization.\1",
        rf"{L}conv1\.weight$":                            r"encoder.layer\1.\2.layer.0.convolution.weight",
        rf"{L}bn1\.{BN}$":                                r"encoder.layer\1.\2.layer.0.normalization.\3",
        rf"{L}conv2\.weight$":                            r"encoder.layer\1.\2.layer.1.convolution.weight",
        rf"{L}bn2\.{BN}$":                                r"encoder.layer\1.\2.layer.1.normalization.\3",
        rf"{L}downsample\.0\.weight$":                    r"encoder.layer\1.\2.shortcut.convolution.weight",
        rf"{L}downsample\.1\.{BN}$":                      r"encoder.layer\1.\2.shortcut.normalization.\3",
    },
    "cvt": {  # the same names
        r"^layers\.(\d+)\.0\.(weight|bias)$":             r"encoder.layers.\1.0.\2",
        r"^layers\.(\d+)\.1\.(g|b)$":                     r"encoder.layers.\1.1.\2",
        rf"{T}(0|1)\.norm\.(g|b)$":                       r"encoder.layers.\1.2.layers.\2.\3.norm.\4",
        rf"{T}0\.fn\.(to_q|to_kv)\.net\.(0|2)\.weight$":   r"encoder.layers.\1.2.layers.\2.0.fn.\3.net.\4.weight",
        rf"{T}0\.fn\.(to_q|to_kv)\.net\.1\.{BN}$":         r"encoder.layers.\1.2.layers.\2.0.fn.\3.net.1.\4",
        rf"{T}0\.fn\.to_out\.0\.(weight|bias)$":          r"encoder.layers.\1.2.layers.\2.0.fn.to_out.0.\3",
        rf"{T}1\.fn\.net\.(0|3)\.(weight|bias)$":         r"encoder.layers.\1.2.layers.\2.1.fn.net.\3.\4",
    },
}
# fmt: on
# S3PRL's CvT builds every Attention with dim_head=64 (Transformer never passes it).
CVT_DIM_HEAD = 64


def _shape(weights: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    try:
        return tuple(weights[key].shape)
    except KeyError:
        raise CheckpointFormatError(f"missing from the checkpoint: {key}") from None


def _count(weights: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    """Sorted distinct integers captured by `pattern` (one group) over the keys; they must be 0..n-1."""
    found = sorted({int(m.group(1)) for key in weights if (m := re.match(pattern, key))})
    if found != list(range(len(found))):
        raise CheckpointFormatError(f"keys matching {pattern} are numbered {found}, expected 0..{len(found) - 1}")
    return found


def detect_encoder_type(weights: Mapping[str, torch.Tensor]) -> str:
    """Which serab-byols network the state dict belongs to, from its key names."""
    keys = set(weights)
    if "fc.0.weight" in keys or any(k.startswith("features.") for k in keys):
        return "audio_ntt"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "resnetish"
    if any(k.startswith("layers.0.") for k in keys):
        return "cvt"
    raise CheckpointFormatError(f"the checkpoint's keys ({sorted(keys)[:6]} ...) are none of serab-byols' networks "
                                f"(AudioNTT2020 'features.*'/'fc.*', ResNetish 'conv1'/'layer1.*', CvT 'layers.*')")


def _resnetish_architecture(weights) -> dict:
    stem_channels, in_channels, kernel, kernel_w = _shape(weights, "conv1.weight")
    if in_channels != 1 or kernel != kernel_w or kernel % 2 == 0:
        raise CheckpointFormatError(f"conv1.weight has shape {_shape(weights, 'conv1.weight')}: expected a square odd "
                                    f"kernel on 1 input channel")
    if any(re.match(r"^layer\d+\.\d+\.conv3\.", key) for key in weights):
        raise CheckpointFormatError("the checkpoint has Bottleneck blocks (layer*.*.conv3): S3PRL's byol_s builds "
                                    "resnetish34, of BasicBlocks")
    numbers = sorted({int(m.group(1)) for key in weights if (m := re.match(r"^layer(\d+)\.", key))})
    if numbers != list(range(1, len(numbers) + 1)):
        raise CheckpointFormatError(f"ResNetish stages are numbered {numbers}, expected layer1..layer{len(numbers)}")
    layers, widths = [], []
    for stage in numbers:
        blocks = _count(weights, rf"^layer{stage}\.(\d+)\.")
        layers.append(len(blocks))
        widths.append(_shape(weights, f"layer{stage}.0.conv1.weight")[0])
    return dict(resnet_stem_channels=stem_channels, resnet_stem_kernel=kernel, resnet_layers=layers,
                resnet_widths=widths)


def _cvt_architecture(weights) -> dict:
    arch = {key: [] for key in ("cvt_embed_dims", "cvt_embed_kernels", "cvt_proj_kernels", "cvt_heads", "cvt_depths",
                                "cvt_mlp_mults")}
    stages = _count(weights, r"^layers\.(\d+)\.")
    for stage in stages:
        emb_dim, _, kernel, _ = _shape(weights, f"layers.{stage}.0.weight")
        depth = len(_count(weights, rf"^layers\.{stage}\.2\.layers\.(\d+)\."))
        if depth == 0:
            raise CheckpointFormatError(f"stage {stage} has no transformer layer (layers.{stage}.2.layers.*)")
        prefix = f"layers.{stage}.2.layers.0"
        _, _, proj_kernel, _ = _shape(weights, f"{prefix}.0.fn.to_q.net.0.weight")
        inner = _shape(weights, f"{prefix}.0.fn.to_q.net.2.weight")[0]
        hidden = _shape(weights, f"{prefix}.1.fn.net.0.weight")[0]
        if inner % CVT_DIM_HEAD or hidden % emb_dim:
            raise CheckpointFormatError(
                f"{prefix}.0.fn.to_q.net.2.weight has {inner} outputs (S3PRL's CvT uses heads x 64) and "
                f"{prefix}.1.fn.net.0.weight {hidden} (a multiple of {emb_dim} expected)")
        arch["cvt_embed_dims"].append(emb_dim)
        arch["cvt_embed_kernels"].append(kernel)
        arch["cvt_proj_kernels"].append(proj_kernel)
        arch["cvt_heads"].append(inner // CVT_DIM_HEAD)
        arch["cvt_depths"].append(depth)
        arch["cvt_mlp_mults"].append(hidden // emb_dim)
    # S3PRL's CvT defaults for the stages it builds (s1: stride 4, then 2), kv projections stride 2
    count = len(stages)
    return dict(arch, cvt_embed_strides=[4] + [2] * (count - 1), cvt_kv_proj_strides=[2] * count,
                cvt_dim_head=CVT_DIM_HEAD)


def config_from_weights(weights: Mapping[str, torch.Tensor]) -> S3prlByolSConfig:
    """The BYOL-S architecture serab-byols weights describe."""
    encoder_type = detect_encoder_type(weights)
    if encoder_type == "audio_ntt":
        arch = audio_ntt_architecture(weights, S3prlByolSConfig().n_mels)
        arch = dict(conv_channels=arch["conv_channels"], feature_d=arch["hidden_size"])
    elif encoder_type == "resnetish":
        arch = _resnetish_architecture(weights)
    else:
        arch = _cvt_architecture(weights)
    try:
        return S3prlByolSConfig(encoder_type=encoder_type, **arch)
    except (ValueError, StrictDataclassError) as error:
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def convert_byol_s(state: dict) -> S3prlByolSModel:
    """Build an `S3prlByolSModel` from a BYOL-S checkpoint's contents (any of the three networks).

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> state = load_original_checkpoint("default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth")  # doctest: +SKIP
        >>> model = convert_byol_s(state)  # doctest: +SKIP
    """
    bad = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise CheckpointFormatError(f"checkpoint entries {bad[:5]} are not tensors: S3PRL's BYOL-S loads the file as "
                                    f"a raw state dict (load_state_dict, strict)")
    config = config_from_weights(state)
    return build_model(S3prlByolSModel, config, rename_state_dict(state, KEY_MAPS[config.encoder_type]))

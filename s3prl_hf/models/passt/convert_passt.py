"""Convert a PaSST release (kkoutini/PaSST's AudioSet `.pt` files) into `S3prlPasstModel`.

A release is the `state_dict()` of timm-style `PaSST` (DeiT distilled: `cls_token`, `dist_token`, `new_pos_embed`,
`freq_new_pos_embed`, `time_new_pos_embed`, `patch_embed.proj`, `blocks.*`, `norm`, the AudioSet head `head.{0,1}` and
the distillation head `head_dist`), no config. S3PRL's hear21passt builds the model of each hub entry in code and
loads the file strictly through `checkpoint_filter_fn` (which unwraps a `{"model": ...}` dict and reshapes a 2-D patch
weight to the model's 16x16 kernel) and `adapt_input_conv` (which sums the patch weight over its input channels).

This converter does the same steps, reads width, depth, feed-forward width, qkv bias, patch kernel, label count and
both positional-embedding grids from the weights, keeps S3PRL's 12 heads (no weight records them), and takes from
the hub entry what no weight records: the mel hop, the windows and the mel embedding (`REFERENCE_CONFIGS`). The
time embedding's length identifies the release (`input_tdim // 10`), so a checkpoint given to the wrong entry (a
hop-100 release as passt_base) is refused, as S3PRL's strict loading refuses it. `head_dist` is dropped: S3PRL
never runs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ..ast.convert_ast import VIT_KEY_MAP, check_heads, make_config, split_qkv
from .configuration_passt import ENTRY_FIELDS, REFERENCE_CONFIGS, S3prlPasstConfig
from .modeling_passt import S3prlPasstModel

# fmt: off
KEY_MAP = {  # timm PaSST key (regex)                         -> s3prl_hf key
    r"^cls_token$":                                           r"embeddings.cls_token",
    r"^dist_token$":                                          r"embeddings.distillation_token",
    r"^new_pos_embed$":                                       r"embeddings.special_position_embeddings",
    r"^freq_new_pos_embed$":                                  r"embeddings.frequency_position_embeddings",
    r"^time_new_pos_embed$":                                  r"embeddings.time_position_embeddings",
    r"^patch_embed\.proj\.(weight|bias)$":                    r"embeddings.patch_embeddings.projection.\1",
    # timm's blocks and final LayerNorm, named as AST's converter maps them
    **{pattern: target for pattern, target in VIT_KEY_MAP.items() if pattern.startswith((r"^blocks", r"^norm"))},
    r"^head\.0\.(weight|bias)$":                              r"classifier.layernorm.\1",
    r"^head\.1\.(weight|bias)$":                              r"classifier.dense.\1",
    r"^head_dist\.(weight|bias)$":                            None,  # the distillation head: never run
}
# fmt: on
# S3PRL loads every one of these (strictly); the blocks are checked when the weights are assigned.
REQUIRED_KEYS = ("cls_token", "dist_token", "new_pos_embed", "freq_new_pos_embed", "time_new_pos_embed",
                 "patch_embed.proj.weight", "patch_embed.proj.bias", "blocks.0.attn.qkv.weight",
                 "blocks.0.mlp.fc1.weight", "norm.weight", "norm.bias", "head.0.weight", "head.0.bias",
                 "head.1.weight", "head.1.bias", "head_dist.weight", "head_dist.bias")
BLOCK_INDEX = re.compile(r"^blocks\.(\d+)\.")


def release_state_dict(state: Mapping) -> dict[str, torch.Tensor]:
    """The PaSST weights of a release: the dict itself, or its `model` entry (`checkpoint_filter_fn`)."""
    if "model" in state:
        state = state["model"]
        if not isinstance(state, Mapping):
            raise CheckpointFormatError(f"the checkpoint's 'model' entry is a {type(state).__name__}, not a state "
                                        f"dict")
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointFormatError(f"expected a PaSST state dict of tensors, got keys {sorted(state)[:10]}")
    if "time_new_pos_embed" not in state and "pos_embed" in state:
        raise CheckpointFormatError(
            "the checkpoint has a ViT pos_embed instead of PaSST's freq_new_pos_embed / time_new_pos_embed: an "
            "ImageNet ViT / DeiT checkpoint, which S3PRL's PaSST entries cannot load either (their classifier is "
            "PaSST's head.0 / head.1); convert a PaSST AudioSet release")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointFormatError(f"missing from the PaSST checkpoint: {', '.join(missing)} (S3PRL loads the "
                                    f"release strictly)")
    return dict(state)


def patch_projection_weight(weight: torch.Tensor, hidden: int, kernel: list[int]) -> torch.Tensor:
    """The patch projection as S3PRL loads it: a 2-D (or flat) weight reshaped to `(hidden, -1, *kernel)`
    (`checkpoint_filter_fn`, the kernel of the model S3PRL builds), then summed over input channels in float32
    (`adapt_input_conv` with `in_chans=1`, which leaves a 1-channel weight unchanged)."""
    if weight.dim() < 4:
        if weight.numel() % (hidden * kernel[0] * kernel[1]):
            raise CheckpointFormatError(f"patch_embed.proj.weight has shape {tuple(weight.shape)}, which S3PRL cannot "
                                        f"reshape to ({hidden}, -1, {kernel[0]}, {kernel[1]})")
        weight = weight.reshape(hidden, -1, *kernel)
    if weight.dim() != 4 or weight.shape[0] != hidden or not 1 <= weight.shape[1] <= 3:
        raise CheckpointFormatError(f"patch_embed.proj.weight has shape {tuple(weight.shape)}; PaSST projects a "
                                    f"1-channel spectrogram ({hidden} x 1 x kernel; S3PRL sums up to 3 input "
                                    f"channels into one)")
    return weight.float().sum(dim=1, keepdim=True).to(weight.dtype)


def passt_architecture(weights: Mapping[str, torch.Tensor], kernel: list[int]) -> dict:
    """Config fields read from PaSST weights (after `release_state_dict`); the patch weight is adapted in place."""
    hidden = int(weights["cls_token"].shape[-1])
    expected = {"cls_token": (1, 1, hidden), "dist_token": (1, 1, hidden), "new_pos_embed": (1, 2, hidden)}
    for key, shape in expected.items():
        if tuple(weights[key].shape) != shape:
            raise CheckpointFormatError(f"{key} has shape {tuple(weights[key].shape)}, expected {shape}")
    freq, time = weights["freq_new_pos_embed"], weights["time_new_pos_embed"]
    if freq.dim() != 4 or freq.shape[:2] != (1, hidden) or freq.shape[3] != 1:
        raise CheckpointFormatError(f"freq_new_pos_embed has shape {tuple(freq.shape)}, expected (1, {hidden}, F, 1)")
    if time.dim() != 4 or time.shape[:3] != (1, hidden, 1):
        raise CheckpointFormatError(f"time_new_pos_embed has shape {tuple(time.shape)}, expected (1, {hidden}, 1, T)")
    proj = weights["patch_embed.proj.weight"] = patch_projection_weight(weights["patch_embed.proj.weight"], hidden,
                                                                        kernel)
    depth = len({int(m.group(1)) for key in weights if (m := BLOCK_INDEX.match(key))})
    if any(f"blocks.{i}.attn.qkv.weight" not in weights for i in range(depth)):
        raise CheckpointFormatError(f"the checkpoint's blocks are not numbered 0 to {depth - 1}")
    return dict(hidden_size=hidden, num_hidden_layers=depth,
                intermediate_size=int(weights["blocks.0.mlp.fc1.weight"].shape[0]),
                qkv_bias="blocks.0.attn.qkv.bias" in weights, patch_size=[int(proj.shape[2]), int(proj.shape[3])],
                frequency_patches=int(freq.shape[2]), time_patches=int(time.shape[3]),
                num_labels=int(weights["head.1.weight"].shape[0]))


def check_entry(name: str, arch: dict) -> None:
    """The positional grids S3PRL builds for `name` (and loads strictly) must be the checkpoint's."""
    reference = REFERENCE_CONFIGS[name]
    if arch["frequency_patches"] != reference["frequency_patches"]:
        raise CheckpointFormatError(
            f"freq_new_pos_embed has {arch['frequency_patches']} rows; S3PRL's {name} builds "
            f"{reference['frequency_patches']} (128 mel bins, patch stride 10) and loads the release strictly")
    if arch["time_patches"] != reference["time_patches"]:
        fits = sorted(n for n, c in REFERENCE_CONFIGS.items() if c["time_patches"] == arch["time_patches"])
        hint = f"; that is the release of {', '.join(fits)}" if fits else ""
        raise CheckpointFormatError(
            f"time_new_pos_embed has {arch['time_patches']} columns; S3PRL's {name} builds "
            f"{reference['time_patches']} (input_tdim {reference['time_patches'] * 10}, mel hop "
            f"{reference['mel_hop_length']}) and loads the release strictly{hint}")


def convert_passt(state: dict, name: str = "passt_base", num_attention_heads: int | None = None) -> S3prlPasstModel:
    """Build an `S3prlPasstModel` that computes what S3PRL's hub entry `name` computes from this release.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        name: The S3PRL hub entry (`passt_base`, `passt_hop160base2lvlmel`, ...): its windows and mel hop are not
            in the weights.
        num_attention_heads: Attention heads; S3PRL's 12 by default (no weight shape records them).

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> state = load_original_checkpoint("passt-s-f128-p16-s10-ap.476-swa.pt")  # doctest: +SKIP
        >>> model = convert_passt(state, "passt_base2levelmel")  # doctest: +SKIP
    """
    if name not in REFERENCE_CONFIGS:
        raise CheckpointFormatError(f"{name!r} is not a PaSST hub entry (one of {', '.join(REFERENCE_CONFIGS)})")
    reference = REFERENCE_CONFIGS[name]
    weights = release_state_dict(state)
    arch = passt_architecture(weights, reference["patch_size"])
    check_entry(name, arch)
    heads = reference["num_attention_heads"] if num_attention_heads is None else num_attention_heads
    check_heads(arch["hidden_size"], heads, "convert_passt")
    config = make_config(S3prlPasstConfig, "PaSST", **arch, num_attention_heads=heads,
                         **{field: reference[field] for field in ENTRY_FIELDS if field in reference})
    renamed = rename_state_dict(split_qkv(weights), KEY_MAP)
    return build_model(S3prlPasstModel, config, renamed)


def convert_release(release) -> S3prlPasstModel:
    """The family's converter: the release checkpoint, run with the windows of the S3PRL entry converted for."""
    if release.second is not None:
        raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
    return convert_passt(release.load(), release.name, **release.options)

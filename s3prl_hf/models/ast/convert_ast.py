"""Convert the AST release (audioset_10_10_0.4593.pth) into `S3prlAstModel`.

The file is the `state_dict()` of a `DataParallel`-wrapped `ASTModel`: `module.v.*` (timm's DeiT-distilled ViT,
its ImageNet heads `head` / `head_dist` included) and `module.mlp_head.{0,1}.*` (the AudioSet head), no config.
S3PRL loads it non-strictly into a DeiT-base built in code; this converter reads width, depth, feed-forward width,
qkv bias, patch kernel and the positional-embedding grid from the weights, keeps S3PRL's 12 heads (no weight
records them) and requires every weight S3PRL uses. The ImageNet heads are dropped (S3PRL never runs them).
The AudioSet head is kept, where S3PRL uses a random one (see `configuration_ast`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from .configuration_ast import NUM_MEL_BINS, REFERENCE_CONFIGS, S3prlAstConfig
from .modeling_ast import NUM_SPECIAL_TOKENS, S3prlAstModel

PREFIX = "module."
# fmt: off
VIT_KEY_MAP = {  # timm DeiT key after `module.v.` (regex)      -> s3prl_hf key
    r"^cls_token$":                                           r"embeddings.cls_token",
    r"^dist_token$":                                          r"embeddings.distillation_token",
    r"^pos_embed$":                                           r"embeddings.position_embeddings",
    r"^patch_embed\.proj\.(weight|bias)$":                    r"embeddings.patch_embeddings.projection.\1",
    r"^blocks\.(\d+)\.norm1\.(weight|bias)$":                 r"layers.\1.layernorm_before.\2",
    r"^blocks\.(\d+)\.attn\.(q|k|v)_proj\.(weight|bias)$":    r"layers.\1.attention.\2_proj.\3",  # split from qkv
    r"^blocks\.(\d+)\.attn\.proj\.(weight|bias)$":            r"layers.\1.attention.o_proj.\2",
    r"^blocks\.(\d+)\.norm2\.(weight|bias)$":                 r"layers.\1.layernorm_after.\2",
    r"^blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$":        r"layers.\1.mlp.\2.\3",
    r"^norm\.(weight|bias)$":                                 r"layernorm.\1",
    r"^(head|head_dist)\.(weight|bias)$":                     None,  # timm's ImageNet heads: never run
}
# fmt: on
HEAD_KEY_MAP = {  # AST's own head
    r"^module\.mlp_head\.0\.(weight|bias)$": r"classifier.layernorm.\1",
    r"^module\.mlp_head\.1\.(weight|bias)$": r"classifier.dense.\1",
}

def original_names(key_map: dict) -> dict:
    """`VIT_KEY_MAP`-style patterns on the checkpoint's own names (`module.v.` prefixed), so errors quote them."""
    return {r"^module\.v\." + pattern[1:]: target for pattern, target in key_map.items()}


BLOCK_INDEX = re.compile(r"^blocks\.(\d+)\.")
# The AST expert's fixed patch strides (`fstride=10, tstride=PATCH_FBANK_STRIDE=10`).
AST_STRIDES = (10, 10)


def strip_data_parallel(state: Mapping, family: str) -> dict[str, torch.Tensor]:
    """The `module.`-prefixed state dict of a `DataParallel` checkpoint, without the prefix."""
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointFormatError(f"expected an {family} state dict of tensors, got keys {sorted(state)[:10]}")
    unprefixed = sorted(k for k in state if not k.startswith(PREFIX))
    if unprefixed:
        raise CheckpointFormatError(
            f"{unprefixed[0]!r} has no '{PREFIX}' prefix: S3PRL's {family} loads the state dict of a "
            f"torch.nn.DataParallel model (a plain state dict would silently leave its weights random)")
    return {k[len(PREFIX):]: v for k, v in state.items()}


def split_qkv(vit: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's fused `attn.qkv` -> `attn.{q,k,v}_proj` (rows in q, k, v order)."""
    out = {}
    for key, tensor in vit.items():
        match = re.match(r"^(.*blocks\.\d+\.attn)\.qkv\.(weight|bias)$", key)
        if match is None:
            out[key] = tensor
            continue
        if tensor.shape[0] % 3:
            raise CheckpointFormatError(f"{key} has {tensor.shape[0]} rows, not a multiple of 3 (q, k, v)")
        for name, part in zip("qkv", tensor.chunk(3, dim=0)):
            out[f"{match.group(1)}.{name}_proj.{match.group(2)}"] = part
    return out


def vit_architecture(vit: Mapping[str, torch.Tensor], family: str) -> dict:
    """Width, depth, feed-forward width, qkv bias and patch kernel from timm ViT weights (without `module.v.`)."""
    for key in ("cls_token", "dist_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight",
                "blocks.0.attn.qkv.weight"):
        if key not in vit:
            what = (" (S3PRL's models are DeiT *distilled*: class and distillation token)" if key == "dist_token"
                    else "")
            raise CheckpointFormatError(f"missing from the {family} checkpoint: module.v.{key}{what}")
    proj = vit["patch_embed.proj.weight"]
    if proj.dim() != 4 or proj.shape[1] != 1:
        raise CheckpointFormatError(f"module.v.patch_embed.proj.weight has shape {tuple(proj.shape)}; S3PRL's "
                                    f"{family} projects a 1-channel spectrogram")
    hidden = int(proj.shape[0])
    pos = vit["pos_embed"]
    if pos.dim() != 3 or pos.shape[0] != 1 or pos.shape[2] != hidden or pos.shape[1] <= NUM_SPECIAL_TOKENS:
        raise CheckpointFormatError(f"module.v.pos_embed has shape {tuple(pos.shape)}; expected (1, 2 + patches, "
                                    f"{hidden})")
    layers = 1 + max(int(m.group(1)) for key in vit if (m := BLOCK_INDEX.match(key)))
    return dict(hidden_size=hidden, num_hidden_layers=layers,
                intermediate_size=int(vit["blocks.0.mlp.fc1.weight"].shape[0]),
                qkv_bias="blocks.0.attn.qkv.bias" in vit, patch_size=[int(proj.shape[2]), int(proj.shape[3])])


def make_config(config_class, family: str, **fields):
    try:
        return config_class(**fields)
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported {family} configuration: {error}") from error


def check_heads(hidden: int, heads: int, function: str) -> None:
    if hidden % heads:
        raise CheckpointFormatError(
            f"a width of {hidden} cannot be split into {heads} attention heads. S3PRL builds these models with 12 "
            f"heads in code and no weight records them; for a checkpoint built with other heads, call "
            f"{function}(state, num_attention_heads=N)")


def convert_ast(state: dict, num_attention_heads: int | None = None) -> S3prlAstModel:
    """Build an `S3prlAstModel` (S3PRL's `ast` hub defaults: 10.24 s windows, `feature_selection="cls"`).

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        num_attention_heads: Attention heads; S3PRL's 12 by default (no weight shape records them).

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_ast(load_original_checkpoint("audioset_10_10_0.4593.pth"))  # doctest: +SKIP
    """
    weights = strip_data_parallel(state, "AST")
    if any(k.startswith(("p_input_fdim", "p_input_tdim", "cpredlayer.", "gpredlayer.")) for k in weights):
        raise CheckpointFormatError("this is an SSAST pretraining checkpoint (module.p_input_tdim, "
                                    "module.cpredlayer), not AST: convert it as ssast_frame_base / ssast_patch_base")
    vit = {k[len("v."):]: v for k, v in weights.items() if k.startswith("v.")}
    head = {k: v for k, v in weights.items() if not k.startswith("v.")}
    arch = vit_architecture(vit, "AST")
    hidden = arch["hidden_size"]
    for key in ("mlp_head.0.weight", "mlp_head.1.weight"):
        if key not in head:
            raise CheckpointFormatError(f"missing from the AST checkpoint: module.{key}")
    # S3PRL reshapes the positional embedding to the release's (12, 101) grid: 12 = (128 - 16) // 10 + 1 frequency
    # patches (its inner model: 128 bins, 16x16 patches, stride 10) times the time patches of 1024 frames.
    f0 = (NUM_MEL_BINS - arch["patch_size"][0]) // AST_STRIDES[0] + 1
    patches = vit["pos_embed"].shape[1] - NUM_SPECIAL_TOKENS
    if f0 < 1 or patches % f0:
        raise CheckpointFormatError(f"module.v.pos_embed holds {patches} patch positions, not a grid of {f0} "
                                    f"frequency patches (128 mel bins, kernel {arch['patch_size'][0]}, stride 10)")
    heads = REFERENCE_CONFIGS["ast"]["num_attention_heads"] if num_attention_heads is None else num_attention_heads
    check_heads(hidden, heads, "convert_ast")
    config = make_config(S3prlAstConfig, "AST", **arch, num_attention_heads=heads, frequency_stride=AST_STRIDES[0],
                         time_stride=AST_STRIDES[1], position_embedding_grid=[f0, patches // f0],
                         num_labels=int(head["mlp_head.1.weight"].shape[0]))
    renamed = rename_state_dict(split_qkv({PREFIX + k: v for k, v in weights.items()}),
                                {**original_names(VIT_KEY_MAP), **HEAD_KEY_MAP})
    return build_model(S3prlAstModel, config, renamed)

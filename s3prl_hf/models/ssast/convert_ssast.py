"""Convert an SSAST pretraining checkpoint (SSAST-Base-Frame-400.pth, SSAST-Base-Patch-400.pth) into
`S3prlSsastModel`.

The file is the `state_dict()` of a `DataParallel`-wrapped pretraining `ASTModel`: `module.v.*` (timm's DeiT-distilled
ViT), `module.p_input_fdim` / `module.p_input_tdim` (the pretraining input size, 0-dim tensors), the pretext heads
`module.cpredlayer.*` / `module.gpredlayer.*` and `module.mask_embed`. S3PRL reads the patch shape from
`module.v.patch_embed.proj.weight` and the pretraining grid from `p_input_*`; this converter also reads width, depth
and feed-forward width from the weights (S3PRL's hub builds them as "base"), keeps the 12 heads of "base" (no
weight records them), and tells the frame model (128 x 2 patches, fine-tuned with stride (128, 1)) from the patch
model (16 x 16, stride (10, 10)) by the patch shape, the only two S3PRL's expert accepts. The pretext heads, the
ImageNet heads and the final LayerNorm are dropped: no hidden state uses them.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ..ast.convert_ast import (PREFIX, VIT_KEY_MAP, check_heads, make_config, original_names, split_qkv,
                               strip_data_parallel, vit_architecture)
from ..ast.modeling_ast import NUM_SPECIAL_TOKENS
from .configuration_ssast import REFERENCE_CONFIGS, S3prlSsastConfig
from .modeling_ssast import S3prlSsastModel

# S3PRL's expert: patch shape -> fine-tuning (frequency, time) stride and the hub name it serves.
MODEL_TYPES = {
    (16, 16): ((10, 10), "ssast_patch_base"),
    (128, 2): ((128, 1), "ssast_frame_base"),
}
KEY_MAP = original_names({
    **{pattern: target for pattern, target in VIT_KEY_MAP.items() if target != r"layernorm.\1"},
    r"^norm\.(weight|bias)$": None,  # S3PRL computes the final LayerNorm but returns only the block outputs
})


def pretraining_size(weights: dict, key: str) -> int:
    value = weights.get(key)
    if value is None:
        raise CheckpointFormatError(f"missing from the SSAST checkpoint: module.{key} (S3PRL reads the pretraining "
                                    f"input size from it)")
    if value.numel() != 1 or value.is_floating_point() and value.item() != int(value.item()):
        raise CheckpointFormatError(f"module.{key} should be one integer, got {value.tolist()}")
    return int(value.item())


def convert_ssast(state: dict, num_attention_heads: int | None = None) -> S3prlSsastModel:
    """Build an `S3prlSsastModel` (S3PRL's hub defaults: 1 s windows).

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        num_attention_heads: Attention heads; 12 (S3PRL's "base") by default (no weight shape records them).

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_ssast(load_original_checkpoint("SSAST-Base-Frame-400.pth"))  # doctest: +SKIP
    """
    weights = strip_data_parallel(state, "SSAST")
    if any(k.startswith("mlp_head.") for k in weights):
        raise CheckpointFormatError("module.mlp_head.* is an AST (fine-tuned) checkpoint's head, not SSAST "
                                    "pretraining: convert it as ast")
    p_fdim, p_tdim = pretraining_size(weights, "p_input_fdim"), pretraining_size(weights, "p_input_tdim")
    vit = {k[len("v."):]: v for k, v in weights.items() if k.startswith("v.")}
    arch = vit_architecture(vit, "SSAST")
    kernel = tuple(arch["patch_size"])
    if kernel not in MODEL_TYPES:
        raise CheckpointFormatError(
            f"module.v.patch_embed.proj.weight has a {kernel[0]} x {kernel[1]} patch; S3PRL's SSAST expert runs "
            f"only 16 x 16 patches (ssast_patch_base) and 128 x 2 frames (ssast_frame_base)")
    (fstride, tstride), _ = MODEL_TYPES[kernel]
    # the pretraining grid: patches of p_input_fdim x p_input_tdim with stride = patch shape
    grid = [(p_fdim - kernel[0]) // kernel[0] + 1, (p_tdim - kernel[1]) // kernel[1] + 1]
    patches = vit["pos_embed"].shape[1] - NUM_SPECIAL_TOKENS
    if grid[0] < 1 or grid[1] < 1 or grid[0] * grid[1] != patches:
        raise CheckpointFormatError(
            f"module.v.pos_embed holds {patches} patch positions, but module.p_input_fdim {p_fdim} x p_input_tdim "
            f"{p_tdim} in {kernel[0]} x {kernel[1]} patches make a {grid[0]} x {grid[1]} grid")
    heads = (REFERENCE_CONFIGS["ssast_frame_base"]["num_attention_heads"] if num_attention_heads is None
             else num_attention_heads)
    check_heads(arch["hidden_size"], heads, "convert_ssast")
    config = make_config(S3prlSsastConfig, "SSAST", **arch, num_attention_heads=heads, frequency_stride=fstride,
                         time_stride=tstride, position_embedding_grid=grid)
    unused = ("p_input_fdim", "p_input_tdim", "mask_embed")
    extra = sorted(k for k in weights if not k.startswith(("v.", "cpredlayer.", "gpredlayer.")) and k not in unused)
    if extra:
        raise CheckpointFormatError(f"{len(extra)} weights of the SSAST checkpoint are not understood: "
                                    f"{', '.join('module.' + k for k in extra[:10])}")
    vit_weights = {PREFIX + "v." + k: v for k, v in vit.items()}
    return build_model(S3prlSsastModel, config, rename_state_dict(split_qkv(vit_weights), KEY_MAP))

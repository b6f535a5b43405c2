"""Convert a LightHuBERT supernet checkpoint into the fixed-size `S3prlLightHubertModel` of one subnet.

The releases (huggingface.co/mechanicalsea/lighthubert: lighthubert_{base,small,stage1}.pt) are fairseq-style
`{"cfg": {"model": dict, ...}, "model": state_dict}` files of the whole supernet. S3PRL 0.4.18
(`upstream/lighthubert/expert.py`) builds `LightHuBERT(LightHuBERTConfig(cfg["model"]))` (its defaults, updated by
every cfg key it knows, None included), loads the weights non-strictly and sets one subnet (`subnets.py`). This
converter does the same without S3PRL: it reads the subnet (S3PRL's, or one given), slices every supernet weight as
S3PRL's scaling modules do at that subnet, and loads the result exactly into a model of the subnet's sizes.

Slicing, per S3PRL module (E = subnet width, A = a layer's heads x head width, F = its FFN width):

- `SLinear` keeps the leading rows / columns, except the FFN's split dimension: fc1's rows and fc2's columns are
  `encoder_ffn_embed_dim // encoder_embed_dim` equal blocks of the supernet, and a subnet with FFN ratio `F / E` takes
  the first `int(F / (F / E))` rows of each of the first `ceil(F / E)` blocks (the last one shorter);
- `SMHA`'s q/k/v take `A x E`, out_proj `E x A`; `SLayerNorm`s the first E features;
- the positional conv (`SConv1d`, groups kept) takes `weight[:E, :E // groups]` of the weight-normalised supernet
  weight: its norm is over the whole supernet kernel, so the sliced `g` is rescaled to keep the sliced weight exact;
- the subnet's layers are the supernet layers of S3PRL's depth map for its `layer_num`.

The CNN, feature LayerNorm and projection input are not sliced. Weights no hidden state uses are dropped: the
masked-frame embedding, the prediction heads (`layer_pred_heads`, `final_proj`, `label_embs_concat`) and the
supernet layers the subnet skips. Anything else unknown, a missing weight or a supernet shape that disagrees with
the cfg is refused (S3PRL would run randomly initialised weights for a missing one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, namespace_to_dict, rename_state_dict
from ...conversion.fairseq import ACTIVATIONS, FEATURE_KEY_MAP, POS_CONV_KEY_MAP, POS_CONV_STACK_KEY_MAP, TRANSFORMER_LAYER_KEY_MAP, check_flat_weights, network_config_kwargs
from .configuration_lighthubert import S3prlLightHubertConfig
from .modeling_lighthubert import S3prlLightHubertModel
from .subnets import SUBNET_FIELDS, SUPERNET_LAYERS, kept_layers, s3prl_subnet, supernet_type

# fmt: off
KEY_MAP = {  # S3PRL LightHuBERT key, after slicing and renumbering the kept layers (regex) -> s3prl_hf key
    **FEATURE_KEY_MAP,
    **POS_CONV_KEY_MAP,
    **POS_CONV_STACK_KEY_MAP,
    **TRANSFORMER_LAYER_KEY_MAP,
}
# fmt: on
# Pretraining-only weights: the released files hold the last three, which S3PRL's model does not even have.
DROPPED = re.compile(r"^(mask_emb|label_embs_concat|layer_pred_heads\.\d+\.weight|final_proj\.(weight|bias))$")
FEATURE_EXTRACTOR = re.compile(r"^feature_extractor\.conv_layers\.")

# S3PRL's LightHuBERTConfig defaults (upstream/lighthubert/lighthubert/lighthubert.py) for the keys that shape the
# network or the subnet choice.
MODEL_DEFAULTS = {
    "prune_encoder_pos_conv": True, "pos_conv_depth": 1, "extractor_mode": "layer_norm", "encoder_layers": 12,
    "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12, "activation_fn": "gelu",
    "layer_type": "transformer", "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
    "dropout_input": 0.0, "layer_norm_first": False,
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False, "conv_pos": 128,
    "conv_pos_groups": 16,
}
# LightHuBERT's get_activation_fn: its "swish" returns the SiLU class, not a function, and fails at the first forward.
LIGHTHUBERT_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "swish")


def split_checkpoint(state: dict) -> tuple[dict, dict]:
    """Return `(cfg["model"], weights)` of a LightHuBERT checkpoint, or say what the file is instead."""
    if not {"cfg", "model"} <= set(state):
        raise CheckpointFormatError(f"unrecognised checkpoint layout with top-level keys {sorted(state)}; expected a "
                                    f"LightHuBERT checkpoint ({{cfg: {{model: ...}}, model: state_dict}})")
    cfg = namespace_to_dict(state["cfg"])
    if not isinstance(cfg.get("model"), Mapping):
        raise CheckpointFormatError("the checkpoint's cfg has no 'model' section: not a LightHuBERT checkpoint (a flat "
                                    "cfg + model file is the WavLM / UniSpeech-SAT format)")
    weights = dict(state["model"]) if isinstance(state["model"], Mapping) else state["model"]
    check_flat_weights(weights)
    return dict(cfg["model"]), weights


def lighthubert_cfg(model_cfg: dict) -> dict:
    """The config S3PRL's `LightHuBERTConfig(cfg)` builds: its defaults, updated by every key it knows (None too)."""
    supernet_type(model_cfg)  # S3PRL's expert accepts hubert_pruner / student_hubert checkpoints only
    cfg = {**MODEL_DEFAULTS, **{key: value for key, value in model_cfg.items() if key in MODEL_DEFAULTS}}
    for key, value in cfg.items():
        kind = type(MODEL_DEFAULTS[key])
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else (
            isinstance(value, kind) and (kind is bool or not isinstance(value, bool)))
        if not fits:
            raise CheckpointFormatError(f"cfg.model.{key}={value!r} is not a value S3PRL's LightHuBERT can build "
                                        f"(expected a {kind.__name__})")
    if cfg["layer_type"] != "transformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: S3PRL's LightHuBERT builds 'transformer' only")
    if cfg["encoder_layers"] != SUPERNET_LAYERS:
        raise CheckpointFormatError(f"encoder_layers={cfg['encoder_layers']}: S3PRL's LightHuBERT asserts a "
                                    f"{SUPERNET_LAYERS}-layer supernet")
    if cfg["activation_fn"] not in LIGHTHUBERT_ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={cfg['activation_fn']!r}: S3PRL's LightHuBERT runs "
                                    f"{', '.join(LIGHTHUBERT_ACTIVATIONS)}")
    embed = cfg["encoder_embed_dim"]
    if embed % cfg["encoder_attention_heads"] or embed % cfg["conv_pos_groups"] or cfg["pos_conv_depth"] < 1:
        raise CheckpointFormatError(f"encoder_embed_dim={embed} with encoder_attention_heads="
                                    f"{cfg['encoder_attention_heads']}, conv_pos_groups={cfg['conv_pos_groups']} and "
                                    f"pos_conv_depth={cfg['pos_conv_depth']}: S3PRL's LightHuBERT cannot build it")
    return cfg


def _ffn_splits(cfg: dict) -> int:
    """Blocks of LightHuBERT's FFN (`SLinear` out_splits of fc1 / in_splits of fc2)."""
    splits = cfg["encoder_ffn_embed_dim"] // cfg["encoder_embed_dim"]
    if splits < 1 or cfg["encoder_ffn_embed_dim"] % splits:
        raise CheckpointFormatError(f"encoder_ffn_embed_dim={cfg['encoder_ffn_embed_dim']} does not split into "
                                    f"encoder_embed_dim={cfg['encoder_embed_dim']}-wide blocks as LightHuBERT's FFN does")
    return splits


def checked_subnet(subnet: Mapping, cfg: dict) -> dict:
    """A subnet in S3PRL's `set_sample_config` layout that this supernet can run, cut to its `layer_num` entries.

    Raises:
        CheckpointFormatError: a field missing or out of the supernet's range, heads that are not the supernet's head
            width, sliding-window attention, or an FFN ratio beyond the supernet's.
    """
    missing = [field for field in SUBNET_FIELDS if field not in subnet]
    if missing:
        raise CheckpointFormatError(f"the subnet lacks {', '.join(missing)} (S3PRL's set_sample_config needs "
                                    f"{', '.join(SUBNET_FIELDS)})")
    layers = int(subnet["layer_num"])
    kept_layers(layers)
    per_layer = {field: list(subnet[field])[:layers] for field in ("atten_dim", "ffn_embed", "heads_num", "slide_wsz")}
    if any(len(values) < layers for values in per_layer.values()):
        raise CheckpointFormatError(f"the subnet has {layers} layers but fewer per-layer entries: {per_layer}")
    embed, full = int(subnet["embed_dim"]), cfg["encoder_embed_dim"]
    head_dim = full // cfg["encoder_attention_heads"]
    if not 0 < embed <= full or embed % cfg["conv_pos_groups"]:
        raise CheckpointFormatError(f"subnet embed_dim={embed}: must be at most the supernet's {full} and divisible by "
                                    f"its conv_pos_groups={cfg['conv_pos_groups']}")
    splits = _ffn_splits(cfg)
    for index, (atten, ffn, heads, window) in enumerate(zip(*per_layer.values())):
        where = f"subnet layer {index}"
        if window not in ("global", None):
            raise CheckpointFormatError(f"{where}: sliding-window attention ({window!r}) is not supported")
        if not 0 < heads * head_dim == atten <= full:
            raise CheckpointFormatError(f"{where}: {heads} heads of {head_dim} for atten_dim={atten} (at most {full})")
        if not 0 < ffn <= cfg["encoder_ffn_embed_dim"] or ffn / embed > splits or ffn // (ffn / embed) < 1:
            raise CheckpointFormatError(f"{where}: ffn_embed={ffn} exceeds the supernet's {splits} blocks of {full}")
    return {"atten_dim": per_layer["atten_dim"], "embed_dim": embed, "ffn_embed": per_layer["ffn_embed"],
            "heads_num": per_layer["heads_num"], "layer_num": layers, "slide_wsz": ["global"] * layers}


def split_indices(full: int, splits: int, sample: int, sample_splits: float) -> list[int]:
    """The indices S3PRL's `SLinear._sample_parameters` keeps of a dimension of `full` features in `splits` blocks.

    Example:
        >>> split_indices(96, 4, 56, 56 / 16)  # FFN 56 of a 16-wide subnet, supernet FFN 96 in 4 blocks of 24
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, \
38, 39, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 72, 73, 74, 75, 76, 77, 78, 79]
    """
    if splits == 1 or sample == full:
        return list(range(sample))
    block, size = full // splits, int(sample / sample_splits)
    indices = []
    for i in range(math.ceil(sample_splits)):
        take = min(size, sample - i * size, block)
        indices.extend(range(i * block, i * block + take))
    return indices


def supernet_shapes(cfg: dict, conv_dim: int) -> dict[str, tuple[int, ...]]:
    """Every transformer-side weight of S3PRL's LightHuBERT supernet built from `cfg`, with its shape."""
    embed, ffn = cfg["encoder_embed_dim"], cfg["encoder_ffn_embed_dim"]
    per_group = embed // cfg["conv_pos_groups"]
    shapes = {"post_extract_proj.weight": (embed, conv_dim), "post_extract_proj.bias": (embed,),
              "layer_norm.weight": (conv_dim,), "layer_norm.bias": (conv_dim,),
              "encoder.layer_norm.weight": (embed,), "encoder.layer_norm.bias": (embed,)}
    if cfg["pos_conv_depth"] == 1:
        kernel = cfg["conv_pos"]
        shapes.update({"encoder.pos_conv.0.weight_g": (1, 1, kernel), "encoder.pos_conv.0.weight_v": (
            embed, per_group, kernel), "encoder.pos_conv.0.bias": (embed,)})
    else:
        kernel = max(3, cfg["conv_pos"] // cfg["pos_conv_depth"])
        for j in range(cfg["pos_conv_depth"]):
            shapes.update({f"encoder.pos_conv.{j}.0.weight": (embed, per_group, kernel),
                           f"encoder.pos_conv.{j}.0.bias": (embed,)})
    for i in range(SUPERNET_LAYERS):
        prefix = f"encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes.update({f"{prefix}self_attn.{name}.weight": (embed, embed), f"{prefix}self_attn.{name}.bias": (embed,)})
        shapes.update({f"{prefix}fc1.weight": (ffn, embed), f"{prefix}fc1.bias": (ffn,),
                       f"{prefix}fc2.weight": (embed, ffn), f"{prefix}fc2.bias": (embed,)})
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            shapes.update({f"{prefix}{norm}.weight": (embed,), f"{prefix}{norm}.bias": (embed,)})
    return shapes


def slice_supernet(weights: Mapping[str, torch.Tensor], cfg: dict, subnet: dict,
                   conv_dim: int) -> dict[str, torch.Tensor]:
    """The subnet's weights under S3PRL's names, the kept layers renumbered 0..layer_num-1 (see the module docstring).

    Raises:
        CheckpointFormatError: an unknown or missing weight, or a supernet weight whose shape disagrees with the cfg.
    """
    shapes = supernet_shapes(cfg, conv_dim)
    unknown = [k for k in weights if k not in shapes and not DROPPED.match(k) and not FEATURE_EXTRACTOR.match(k)]
    if unknown:
        raise CheckpointFormatError(f"{len(unknown)} weights of the checkpoint are not understood: "
                                    f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}")
    wrong = [f"{k}: {tuple(weights[k].shape)} vs {shape}" for k, shape in shapes.items()
             if k in weights and tuple(weights[k].shape) != shape]
    if wrong:
        raise CheckpointFormatError(f"supernet weights whose shape disagrees with the cfg: {'; '.join(wrong[:5])}")
    layers = kept_layers(subnet["layer_num"])
    used = [k for k in shapes if not k.startswith("encoder.layers.") or int(k.split(".")[2]) in layers]
    missing = [k for k in used if k not in weights]
    if missing:
        raise CheckpointFormatError(f"missing from the checkpoint: {', '.join(missing[:10])}")
    weights = {k: v.float() for k, v in weights.items() if not DROPPED.match(k)}

    embed, splits = subnet["embed_dim"], _ffn_splits(cfg)
    per_group = embed // cfg["conv_pos_groups"]
    out = {k: v for k, v in weights.items() if FEATURE_EXTRACTOR.match(k) or k.startswith("layer_norm.")}
    out["post_extract_proj.weight"] = weights["post_extract_proj.weight"][:embed]
    out["post_extract_proj.bias"] = weights["post_extract_proj.bias"][:embed]
    out["encoder.layer_norm.weight"] = weights["encoder.layer_norm.weight"][:embed]
    out["encoder.layer_norm.bias"] = weights["encoder.layer_norm.bias"][:embed]
    if cfg["pos_conv_depth"] == 1:
        # S3PRL slices g * v / ||v|| (norm over the whole supernet kernel): keep v's slice, rescale g to match
        v, g = weights["encoder.pos_conv.0.weight_v"], weights["encoder.pos_conv.0.weight_g"]
        v_sub = v[:embed, :per_group]
        out["encoder.pos_conv.0.weight_v"] = v_sub
        out["encoder.pos_conv.0.weight_g"] = g * torch.norm_except_dim(v_sub, 2, 2) / torch.norm_except_dim(v, 2, 2)
        out["encoder.pos_conv.0.bias"] = weights["encoder.pos_conv.0.bias"][:embed]
    else:
        if not cfg["prune_encoder_pos_conv"] and embed != cfg["encoder_embed_dim"]:
            raise CheckpointFormatError("prune_encoder_pos_conv=False keeps the inner positional convs of a stack "
                                        "supernet-wide for a narrower subnet; not supported")
        for j in range(cfg["pos_conv_depth"]):
            out[f"encoder.pos_conv.{j}.0.weight"] = weights[f"encoder.pos_conv.{j}.0.weight"][:embed, :per_group]
            out[f"encoder.pos_conv.{j}.0.bias"] = weights[f"encoder.pos_conv.{j}.0.bias"][:embed]

    for new, (old, atten, ffn) in enumerate(zip(layers, subnet["atten_dim"], subnet["ffn_embed"])):
        source, target = f"encoder.layers.{old}.", f"encoder.layers.{new}."

        def take(name, rows, cols=None):
            tensor = weights[source + name]
            tensor = tensor[rows] if cols is None else tensor[rows][:, cols]
            out[target + name] = tensor.contiguous()

        for name in ("q_proj", "k_proj", "v_proj"):
            take(f"self_attn.{name}.weight", slice(atten), slice(embed))
            take(f"self_attn.{name}.bias", slice(atten))
        take("self_attn.out_proj.weight", slice(embed), slice(atten))
        take("self_attn.out_proj.bias", slice(embed))
        blocks = split_indices(cfg["encoder_ffn_embed_dim"], splits, ffn, ffn / embed)
        take("fc1.weight", blocks, slice(embed))
        take("fc1.bias", blocks)
        take("fc2.weight", slice(embed), blocks)
        take("fc2.bias", slice(embed))
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            take(f"{norm}.weight", slice(embed))
            take(f"{norm}.bias", slice(embed))
    return {k: v.contiguous() for k, v in out.items()}


def config_from(cfg: dict, subnet: dict) -> S3prlLightHubertConfig:
    """`S3prlLightHubertConfig` of the subnet: per-layer lists only where layers differ, the head width only where
    heads do not split the subnet width."""
    heads, ffn = subnet["heads_num"], subnet["ffn_embed"]
    head_dim = cfg["encoder_embed_dim"] // cfg["encoder_attention_heads"]
    uniform_heads = len(set(heads)) == 1 and heads[0] * head_dim == subnet["embed_dim"]
    kwargs = network_config_kwargs(cfg, {})
    kwargs.update(
        hidden_size=subnet["embed_dim"], num_hidden_layers=subnet["layer_num"], num_attention_heads=heads[0],
        intermediate_size=ffn[0], pos_conv_depth=cfg["pos_conv_depth"], normalize_waveform=True,
        attention_head_dim=None if uniform_heads else head_dim,
        layer_attention_heads=None if uniform_heads else list(heads),
        layer_intermediate_sizes=None if len(set(ffn)) == 1 else list(ffn),
        subnet=dict(subnet))
    try:
        return S3prlLightHubertConfig(**kwargs)
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def convert_lighthubert(state: dict, subnet: Mapping | None = None) -> S3prlLightHubertModel:
    """Build the `S3prlLightHubertModel` of one subnet of a LightHuBERT supernet checkpoint.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        subnet: The subnet to slice, in S3PRL's `set_sample_config` layout (`atten_dim`, `embed_dim`, `ffn_embed`,
            `heads_num`, `layer_num`, `slide_wsz`). By default the one S3PRL 0.4.18 runs for this checkpoint
            (`subnets.s3prl_subnet`); give another to extract any subnet of the once-for-all supernet.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another format, a cfg or subnet S3PRL's LightHuBERT cannot run, or weights that do not
            fit the cfg.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_lighthubert(load_original_checkpoint("lighthubert_small.pt"))  # doctest: +SKIP
        >>> model.hidden_sizes[0]  # doctest: +SKIP
        384
    """
    model_cfg, weights = split_checkpoint(state)
    cfg = lighthubert_cfg(model_cfg)
    # S3PRL's LightHuBERT.__init__ also sets its search space's smallest and largest subnets, whose only checks (the
    # FFN ratios) the subnets S3PRL picks meet exactly when the largest does: all have ratio 4.
    subnet = checked_subnet(s3prl_subnet(model_cfg) if subnet is None else subnet, cfg)
    config = config_from(cfg, subnet)
    if config.conv_dim[-1] == cfg["encoder_embed_dim"]:
        raise CheckpointFormatError(f"the last conv is as wide as encoder_embed_dim ({cfg['encoder_embed_dim']}): "
                                    f"S3PRL's LightHuBERT then has no post_extract_proj and fails to set a subnet")
    sliced = slice_supernet(weights, cfg, subnet, config.conv_dim[-1])
    return build_model(S3prlLightHubertModel, config, rename_state_dict(sliced, KEY_MAP))

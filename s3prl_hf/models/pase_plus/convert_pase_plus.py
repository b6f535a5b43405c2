"""Convert the PASE+ release (what S3PRL's `pase_plus` hub entry loads) into `S3prlPasePlusModel`.

The release is two files (S3PRL's hub downloads both from Dropbox):

* `FE_e199.ckpt`: `WaveFe`'s state dict, or `{"state_dict": ..., "step": ..., ...}` (PASE's `Saver` layout);
* `PASE+.cfg`: the JSON keyword arguments of `WaveFe` (`kwidths`, `strides`, `fmaps`, `rnn_dim`, ...).

S3PRL's expert calls `wf_builder(cfg)` then `load_pretrained(ckpt, load_last=True)`, which keeps the checkpoint's
tensors whose key and shape match the model, fails unless every model key got one, and ignores the rest.

`s3prl-hf convert` takes both, the cfg as the second file (found beside the checkpoint by its `.cfg` / `.json`
suffix, or given), and `load_release` reads them into the combined `{"cfg": <the JSON cfg as a dict>, "ckpt": <the
checkpoint's contents>}` the converter takes:

    s3prl-hf convert --name pase_plus --checkpoint FE_e199.ckpt --frontend-checkpoint PASE+.cfg --output pase_plus

The architecture comes from the cfg (with `WaveFe`'s defaults for the keys it does not set), and every size is checked
against the weights; cfg options this port does not implement (another frontend, resblocks, VQ, other norms,
activations or RNNs, concatenated skips) are rejected by name.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, load_original_checkpoint, rename_state_dict
from .configuration_pase_plus import S3prlPasePlusConfig
from .modeling_pase_plus import S3prlPasePlusModel

logger = logging.getLogger(__name__)

KEEP = r"\g<0>"
# fmt: off
KEY_MAP = {  # PASE WaveFe key (regex)                                                    -> s3prl_hf key
    r"^blocks\.0\.conv\.(low_hz_|band_hz_)$":                                              KEEP,
    r"^blocks\.\d+\.conv\.(weight|bias)$":                                                 KEEP,
    r"^blocks\.\d+\.norm\.(weight|bias|running_mean|running_var|num_batches_tracked)$":    KEEP,
    r"^blocks\.\d+\.act\.weight$":                                                         KEEP,
    r"^denseskips\.\d+\.weight$":                                                          KEEP,
    r"^rnn\.layers\.\d+\.linear\.(weight|bias)$":                                          KEEP,
    r"^W\.(weight|bias)$":                                                                 KEEP,
    r"^norm_out\.(running_mean|running_var|num_batches_tracked)$":                         KEEP,
}
# fmt: on
# WaveFe.__init__'s defaults (pase/models/frontend.py), which the cfg overrides.
WAVEFE_DEFAULTS = {
    "num_inputs": 1, "sincnet": True, "kwidths": [251, 10, 5, 5, 5, 5, 5, 5], "strides": [1, 10, 2, 1, 2, 1, 2, 2],
    "dilations": [1, 1, 1, 1, 1, 1, 1, 1], "fmaps": [64, 64, 128, 128, 256, 256, 512, 512], "norm_type": "bnorm",
    "pad_mode": "reflect", "sr": 16000, "emb_dim": 256, "rnn_dim": None, "activation": None, "rnn_pool": False,
    "rnn_layers": 1, "rnn_dropout": 0, "rnn_type": "qrnn", "vq_K": None, "vq_beta": 0.25, "vq_gamma": 0.99,
    "norm_out": False, "tanh_out": False, "resblocks": False, "denseskips": False, "densemerge": "sum",
    "name": "WaveFe",
}
# cfg values this port implements; anything else is rejected naming the key
SUPPORTED = {
    "num_inputs": (1,), "norm_type": ("bnorm",), "activation": (None, "prelu"), "rnn_type": ("qrnn",),
    "resblocks": (False,), "denseskips": (True,), "densemerge": ("sum",),
}


def load_release(checkpoint: str | os.PathLike, cfg: str | os.PathLike) -> dict:
    """Read the release's two files into the combined dict the converter takes: `{"cfg": dict, "ckpt": dict}`.

    Example:
        >>> torch.save(load_release("FE_e199.ckpt", "PASE+.cfg"), "pase_plus.pt")  # doctest: +SKIP
    """
    path = Path(cfg)
    if not path.is_file():
        raise FileNotFoundError(f"PASE cfg {str(path)!r} does not exist or is not a file")
    try:
        cfg_dict = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointFormatError(f"{path} is not a JSON PASE cfg: {error}") from error
    return {"cfg": cfg_dict, "ckpt": load_original_checkpoint(checkpoint)}


def split_release(state: Mapping) -> tuple[dict, dict[str, torch.Tensor]]:
    """(cfg dict, WaveFe state dict) from the combined `{"cfg", "ckpt"}` dict, unwrapping PASE's `state_dict` entry."""
    if set(state) != {"cfg", "ckpt"}:
        keys = sorted(map(str, state))[:10]
        hint = (" This looks like the bare FE checkpoint;" if any(str(k).startswith("blocks.") for k in state)
                or "state_dict" in state else "")
        raise CheckpointFormatError(
            f"expected PASE+'s combined release {{'cfg': JSON cfg dict, 'ckpt': checkpoint}} (keys: {keys}).{hint} "
            f"PASE+ needs its JSON cfg too: s3prl-hf convert --name pase_plus --checkpoint FE_e199.ckpt "
            f"--frontend-checkpoint PASE+.cfg (or the cfg beside the checkpoint)")
    cfg, ckpt = state["cfg"], state["ckpt"]
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except ValueError as error:
            raise CheckpointFormatError(f"the 'cfg' entry is not JSON: {error}") from error
    if not isinstance(cfg, Mapping):
        raise CheckpointFormatError(f"the 'cfg' entry is a {type(cfg).__name__}, expected the JSON cfg as a dict")
    if not isinstance(ckpt, Mapping):
        raise CheckpointFormatError(f"the 'ckpt' entry is a {type(ckpt).__name__}, expected the checkpoint's dict")
    # Saver.load_pretrained_ckpt: `st_dict["state_dict"]` if present, else the dict itself (legacy mode)
    weights = ckpt["state_dict"] if "state_dict" in ckpt else ckpt
    if not isinstance(weights, Mapping):
        raise CheckpointFormatError(f"the checkpoint's 'state_dict' entry is a {type(weights).__name__}, expected a "
                                    f"dict of tensors")
    for key, value in weights.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointFormatError(f"checkpoint entry {key!r} is a {type(value).__name__}, expected a tensor")
    return dict(cfg), dict(weights)


def config_from_cfg(cfg: Mapping) -> S3prlPasePlusConfig:
    """Translate PASE's JSON cfg (over `WaveFe`'s defaults, as `wf_builder` does) into the config."""
    if "name" in cfg:
        # wf_builder dispatches on "name": asppRes / Resnet50 / tdnn frontends, anything else raises
        raise CheckpointFormatError(f"cfg 'name'={cfg['name']!r}: only PASE's default WaveFe frontend (a cfg without "
                                    f"'name') is supported")
    unknown = sorted(set(cfg) - set(WAVEFE_DEFAULTS))
    if unknown:
        raise CheckpointFormatError(f"cfg keys {unknown} are not WaveFe arguments (wf_builder would fail on them)")
    args = {**WAVEFE_DEFAULTS, **cfg}
    for key, allowed in SUPPORTED.items():
        value = args[key]
        if key == "rnn_type":
            if not args["rnn_pool"]:
                continue  # no RNN is built
            value = value.lower() if isinstance(value, str) else value  # build_rnn_block compares rnn_type.lower()
        if value not in allowed:
            raise CheckpointFormatError(f"cfg {key!r}={value!r} is not supported (PASE+ uses {allowed[0]!r})")
    if args["vq_K"] not in (None, 0) and args["vq_K"] > 0:
        raise CheckpointFormatError(f"cfg 'vq_K'={args['vq_K']!r}: the VQ output layer is not supported")
    rnn_dim = args["emb_dim"] if args["rnn_dim"] is None else args["rnn_dim"]
    # WaveFe zips the four lists: extra dilations are unused (the default has 8 whatever the depth)
    blocks = len(args["kwidths"])
    if len(args["dilations"]) < blocks:
        raise CheckpointFormatError(f"cfg 'dilations' has {len(args['dilations'])} entries for {blocks} blocks "
                                    f"(WaveFe would silently build fewer blocks)")
    try:
        return S3prlPasePlusConfig(
            sincnet=bool(args["sincnet"]), kwidths=list(args["kwidths"]), strides=list(args["strides"]),
            dilations=list(args["dilations"])[:blocks], fmaps=list(args["fmaps"]), pad_mode=str(args["pad_mode"]),
            sr=args["sr"], emb_dim=args["emb_dim"], rnn_pool=bool(args["rnn_pool"]), rnn_dim=rnn_dim,
            rnn_layers=args["rnn_layers"], rnn_dropout=args["rnn_dropout"], norm_out=bool(args["norm_out"]),
            tanh_out=bool(args["tanh_out"]))
    except (ValueError, TypeError, StrictDataclassError) as error:
        raise CheckpointFormatError(f"unsupported PASE cfg: {error}") from error


def check_sizes(config: S3prlPasePlusConfig, weights: Mapping[str, torch.Tensor]) -> None:
    """Name the cfg field a weight's shape contradicts (before the generic key/shape check of `build_model`)."""

    def shape(key):
        if key not in weights:
            raise CheckpointFormatError(f"missing from the checkpoint: {key} (the cfg describes {len(config.fmaps)} "
                                        f"blocks{', a QRNN' if config.rnn_pool else ''})")
        return tuple(weights[key].shape)

    in_channels = 1
    for index, (kwidth, fmaps) in enumerate(zip(config.kwidths, config.fmaps)):
        if index == 0 and config.sincnet:
            got = shape("blocks.0.conv.low_hz_")
            if got != (fmaps, 1):
                raise CheckpointFormatError(f"blocks.0.conv.low_hz_ has shape {got}: cfg fmaps[0]={fmaps} SincNet "
                                            f"filters need ({fmaps}, 1)")
        else:
            got = shape(f"blocks.{index}.conv.weight")
            if got != (fmaps, in_channels, kwidth):
                raise CheckpointFormatError(f"blocks.{index}.conv.weight has shape {got}: cfg fmaps[{index}]={fmaps}, "
                                            f"kwidths[{index}]={kwidth} after {in_channels} channels need "
                                            f"{(fmaps, in_channels, kwidth)}")
        in_channels = fmaps
    got = shape("W.weight")
    if got[:2] != (config.emb_dim, config.rnn_dim if config.rnn_pool else config.fmaps[-1]):
        raise CheckpointFormatError(f"W.weight has shape {got}: cfg emb_dim={config.emb_dim}, "
                                    f"{'rnn_dim' if config.rnn_pool else 'fmaps[-1]'} disagree")
    if config.rnn_pool:
        layers = {int(k.split(".")[2]) for k in weights if k.startswith("rnn.layers.") and k.endswith("linear.weight")}
        if layers != set(range(config.rnn_layers)):
            raise CheckpointFormatError(f"the checkpoint has QRNN layers {sorted(layers)}, cfg rnn_layers="
                                        f"{config.rnn_layers}")
        got = shape("rnn.layers.0.linear.weight")
        if got != (3 * config.rnn_hidden_size, 2 * config.fmaps[-1]):
            raise CheckpointFormatError(f"rnn.layers.0.linear.weight has shape {got}: a window-2 QRNN of cfg rnn_dim="
                                        f"{config.rnn_dim} on {config.fmaps[-1]} channels needs "
                                        f"{(3 * config.rnn_hidden_size, 2 * config.fmaps[-1])}")


def convert_pase_plus(state: dict) -> S3prlPasePlusModel:
    """Build an `S3prlPasePlusModel` from PASE+'s combined release dict (see `load_release`).

    Args:
        state: `{"cfg": ..., "ckpt": ...}`, as returned by `s3prl_hf.conversion.load_original_checkpoint` on the
            combined file.

    Example:
        >>> model = convert_pase_plus(load_release("FE_e199.ckpt", "PASE+.cfg"))  # doctest: +SKIP
    """
    cfg, weights = split_release(state)
    config = config_from_cfg(cfg)
    check_sizes(config, weights)
    with torch.device("meta"):
        expected = set(S3prlPasePlusModel(config).state_dict())
    # Saver.load_pretrained_ckpt ignores checkpoint keys the model does not have (it only needs every model key)
    extra = sorted(key for key in weights if key not in expected)
    if extra:
        logger.warning("ignoring %d checkpoint entries the cfg's WaveFe does not have, as PASE's loader does: %s",
                       len(extra), ", ".join(extra[:10]))
    weights = {key: value for key, value in weights.items() if key in expected}
    return build_model(S3prlPasePlusModel, config, rename_state_dict(weights, KEY_MAP))


def convert_release(release) -> S3prlPasePlusModel:
    """The family's converter: the encoder checkpoint and its JSON cfg, or one file holding both ({"cfg", "ckpt"})."""
    if release.second is not None:
        state = release.load()
        if set(state) != {"cfg", "ckpt"}:
            return convert_pase_plus(load_release(release.checkpoint, release.second))
        return convert_pase_plus(state)
    return convert_pase_plus(release.load())

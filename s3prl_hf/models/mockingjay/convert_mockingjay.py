"""Convert an S3PRL Mockingjay / TERA / Audio ALBERT pretraining checkpoint into `S3prlMockingjayModel`.

The checkpoint is what S3PRL's pretraining runner saves (`pretrain/runner.py` + `pretrain/mockingjay/
pretrain_expert.py:add_state_to_save`):

- current format: `{"Upstream_Config": {transformer, task, audio}, "Config": <runner config>, "Transformer":
  state_dict, "SpecHead": state_dict, "Optimizer", "Scheduler"?, "Step", "Args": argparse.Namespace}`;
- legacy format: `"Config"` is the upstream config itself (it holds `transformer`); S3PRL's builder tests this
  first, and so does this converter.

Only `Transformer` is converted (S3PRL's expert never loads the pretraining head `SpecHead`). Unlike S3PRL's
loader, which ignores missing and unexpected weights, any weight that does not fit the architecture the config
describes is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ...conversion import CheckpointFormatError, load_exact_state_dict, rename_state_dict
from .configuration_mockingjay import S3prlMockingjayConfig
from .modeling_mockingjay import S3prlMockingjayModel

# S3PRL's TransformerModel already uses transformers' BertLayer names, so every weight keeps its key; the table
# lists what the model holds, and any other key is an error.
KEEP = r"\g<0>"
# fmt: off
KEY_MAP = {  # S3PRL TransformerModel key (regex)                                     -> s3prl_hf key
    r"^input_representations\.(spec_transform|LayerNorm)\.(weight|bias)$":           KEEP,
    r"^encoder\.layer\.\d+\.attention\.self\.(query|key|value)\.(weight|bias)$":     KEEP,
    r"^encoder\.layer\.\d+\.attention\.output\.(dense|LayerNorm)\.(weight|bias)$":   KEEP,
    r"^encoder\.layer\.\d+\.intermediate\.dense\.(weight|bias)$":                    KEEP,
    r"^encoder\.layer\.\d+\.output\.(dense|LayerNorm)\.(weight|bias)$":              KEEP,
    r"^encoder\.LayerNorm\.\d+\.(weight|bias)$":                                     KEEP,  # pre-LN only
}
# Pre-LN models register the same LayerNorm twice: alias -> the key it shares its tensor with. The aliases are
# dropped (after an equality check) before KEY_MAP.
ALIASES = {
    r"^(encoder\.layer\.\d+)\.attention\.LayerNorm\.(weight|bias)$": r"\1.attention.output.LayerNorm.\2",
    r"^(encoder\.layer\.\d+)\.LayerNorm\.(weight|bias)$":            r"\1.output.LayerNorm.\2",
}
# fmt: on

# S3PRL's TransformerConfig reads every one of these with config[...]: a checkpoint must have them all.
TRANSFORMER_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "hidden_act", "intermediate_size",
                      "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
                      "share_layer", "pre_layer_norm")
# S3PRL's ACT2FN (upstream/mockingjay/model.py) -> transformers' ACT2FN names with the same formula.
ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "swish": "swish"}


def split_checkpoint(state: Mapping) -> tuple[dict, dict]:
    """Return `(upstream_config, transformer_weights)`, choosing the config as S3PRL's builder does."""
    if "Transformer" not in state:
        raise CheckpointFormatError(f"no 'Transformer' weights among the checkpoint's keys {sorted(state)}: not a "
                                    f"Mockingjay / TERA / Audio ALBERT pretraining checkpoint")
    legacy, current = state.get("Config"), state.get("Upstream_Config")
    if isinstance(legacy, Mapping) and "transformer" in legacy:
        upstream_config = legacy  # legacy checkpoints keep the upstream config under "Config"
    elif isinstance(current, Mapping) and "transformer" in current:
        upstream_config = current
    else:
        raise CheckpointFormatError("neither 'Config' nor 'Upstream_Config' holds a 'transformer' section")
    weights = state["Transformer"]
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's 'Transformer' entry is not a flat dict of tensors")
    return dict(upstream_config), dict(weights)


def config_from_original(upstream_config: Mapping) -> S3prlMockingjayConfig:
    """Translate S3PRL's `{transformer, task, audio}` config into `S3prlMockingjayConfig`."""
    transformer = upstream_config["transformer"]
    missing = [field for field in TRANSFORMER_FIELDS if field not in transformer]
    if missing:
        raise CheckpointFormatError(f"the transformer config lacks {missing}, which S3PRL's TransformerConfig needs")
    if str(transformer["hidden_act"]) not in ACTIVATIONS:
        raise CheckpointFormatError(f"hidden_act={transformer['hidden_act']!r}: S3PRL supports {sorted(ACTIVATIONS)}")
    task = upstream_config.get("task") or {}
    if "sequence_length" not in task:
        raise CheckpointFormatError("the config has no task.sequence_length (S3PRL's builder requires it)")
    if not upstream_config.get("audio"):
        # S3PRL's expert only runs checkpoints with on-the-fly features; it fails on pre-extracted ones.
        raise CheckpointFormatError("the config has no 'audio' section: this checkpoint was trained on pre-extracted "
                                    "features, which S3PRL's upstream expert cannot run either")
    try:
        return S3prlMockingjayConfig(
            hidden_size=int(transformer["hidden_size"]),
            num_hidden_layers=int(transformer["num_hidden_layers"]),
            num_attention_heads=int(transformer["num_attention_heads"]),
            intermediate_size=int(transformer["intermediate_size"]),
            hidden_act=ACTIVATIONS[str(transformer["hidden_act"])],
            hidden_dropout_prob=float(transformer["hidden_dropout_prob"]),
            attention_probs_dropout_prob=float(transformer["attention_probs_dropout_prob"]),
            initializer_range=float(transformer["initializer_range"]),
            layer_norm_eps=float(transformer["layer_norm_eps"]),
            share_layer=bool(transformer["share_layer"]),
            pre_layer_norm=bool(transformer["pre_layer_norm"]),
            sequence_length=int(task["sequence_length"]),
            audio_config=dict(upstream_config["audio"]),
        )
    except ValueError as error:
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def rename_gamma_beta(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Old TF-style names: `gamma` -> `weight`, `beta` -> `bias`, as S3PRL's `load_model` renames them."""
    renamed = {}
    for key, tensor in weights.items():
        new_key = key.replace("gamma", "weight") if "gamma" in key else key
        new_key = new_key.replace("beta", "bias") if "beta" in key else new_key
        renamed[new_key] = tensor
    return renamed


def drop_aliases(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the pre-LN alias keys after checking each equals the tensor it aliases."""
    kept = dict(weights)
    for key in list(weights):
        for pattern, target in ALIASES.items():
            if re.match(pattern, key):
                original = re.sub(pattern, target, key)
                if original not in weights or not torch.equal(weights[original], weights[key]):
                    raise CheckpointFormatError(f"{key} should alias {original} (pre-LN), but they differ")
                del kept[key]
    return kept


def merge_shared_layer(weights: Mapping[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Audio ALBERT lists its one layer under `encoder.layer.0..N-1`; keep index 0 after checking all are equal."""
    pattern = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
    kept = {}
    for key, tensor in weights.items():
        match = pattern.match(key)
        if not match:
            kept[key] = tensor
            continue
        index, rest = int(match.group(1)), match.group(2)
        first = weights.get(f"encoder.layer.0.{rest}")
        if index >= num_layers or first is None or not torch.equal(first, tensor):
            raise CheckpointFormatError(f"share_layer is set but {key} is not a copy of encoder.layer.0.{rest}")
        if index == 0:
            kept[key] = tensor
    return kept


def convert_mockingjay(state: dict) -> S3prlMockingjayModel:
    """Build an `S3prlMockingjayModel` from a Mockingjay / TERA / Audio ALBERT checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_mockingjay(load_original_checkpoint("states-1000000.ckpt"))  # doctest: +SKIP
    """
    upstream_config, weights = split_checkpoint(state)
    config = config_from_original(upstream_config)
    weights = rename_state_dict(drop_aliases(rename_gamma_beta(weights)), KEY_MAP)
    if config.share_layer:
        weights = merge_shared_layer(weights, config.num_hidden_layers)
    with torch.device("meta"):
        model = S3prlMockingjayModel(config)
    load_exact_state_dict(model, weights)
    return model.eval()



def checkpoint_method(upstream_config: Mapping) -> tuple[str, str]:
    """The method a checkpoint's upstream config names, and what tells it (for messages).

    The network is the same for all four; S3PRL's pretraining recipes tell them apart: SpecAugment's task has
    fields of its own (`mask_T`, `mask_F`); Audio ALBERT shares one layer; TERA alters frequency (`mask_frequency`)
    or magnitude (`noise_proportion`) besides time, in every one of its recipes; Mockingjay masks time only.

    Example:
        >>> checkpoint_method({"transformer": {"share_layer": False}, "task": {"mask_frequency": 0.2}})
        ('tera', 'its task alters frequency or magnitude (mask_frequency=0.2, noise_proportion=0)')
    """
    task = upstream_config.get("task") or {}
    if not isinstance(task, Mapping):
        raise CheckpointFormatError(f"the upstream config's task is a {type(task).__name__}, expected a mapping")
    if {"mask_T", "mask_F"} & set(task):
        return "spec_augment", "its task is SpecAugment's (mask_T, mask_F)"
    if (upstream_config.get("transformer") or {}).get("share_layer"):
        return "audio_albert", "its transformer shares one layer across depth (share_layer)"
    try:
        frequency, noise = float(task.get("mask_frequency") or 0), float(task.get("noise_proportion") or 0)
    except (TypeError, ValueError) as error:
        raise CheckpointFormatError(f"the task's mask_frequency / noise_proportion are not numbers: {error}") from None
    values = f"mask_frequency={task.get('mask_frequency', 0)}, noise_proportion={task.get('noise_proportion', 0)}"
    if frequency > 0 or noise > 0:
        return "tera", f"its task alters frequency or magnitude ({values})"
    return "mockingjay", f"its task masks time only ({values}), which is Mockingjay's objective"


def convert_release(release) -> S3prlMockingjayModel:
    """The family's converter: the checkpoint must be of the method of the name it is converted for."""
    if release.second is not None:
        raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
    state = release.load()
    upstream_config, _ = split_checkpoint(state)
    method, evidence = checkpoint_method(upstream_config)
    release.check_method({method}, evidence)
    return convert_mockingjay(state)

"""Convert an ESPnet HuBERT release (what S3PRL's `espnet_hubert` hub entries load) into `S3prlEspnetHubertModel`.

A release is two files, written by ESPnet's trainer (S3PRL's hub downloads both from the `espnet/*` Hub repos):

* `<name>.pth` (`valid.loss.ave.pth`, `5epoch.pth`, ...): the `state_dict()` of ESPnet's HuBERT pretraining model, a flat
  dict of tensors whose network keys start with `encoder.hubert_pretrain_model.wav2vec2.` (a DeepSpeed file nests it
  under `"module"`, which ESPnet's loader unwraps too);
* `config.yaml`: the training arguments (`yaml.dump(vars(args))`); the network is `encoder: torchaudio_hubert` with
  `encoder_conf`, the keyword arguments of ESPnet's `TorchAudioHuBERTPretrainEncoder`, whose defaults apply to every key
  the file leaves out.

S3PRL's expert calls `HubertTask.build_model_from_file(config.yaml, model.pth)`, which builds the model from the config
and loads the weights non-strictly; without an explicit config ESPnet reads the `config.yaml` beside the `.pth`.
`s3prl-hf convert` does the same: pass the config with `--frontend-checkpoint`, or leave it beside the checkpoint.
In Python, `load_release(pth, yaml)` gives the combined `{"config": dict, "model": state_dict}` the converter takes.

The architecture comes from `encoder_conf` and must fit the weights exactly; encoder types, options and weights this
port does not know are refused by name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import yaml

from ...conversion import CheckpointFormatError, build_model, load_original_checkpoint, rename_state_dict
from .configuration_espnet_hubert import S3prlEspnetHubertConfig
from .modeling_espnet_hubert import S3prlEspnetHubertModel

_W2V = r"^encoder\.hubert_pretrain_model\.wav2vec2\."
# fmt: off
KEY_MAP = {  # ESPnet key (regex)                                                           -> s3prl_hf key
    _W2V + r"feature_extractor\.conv_layers\.(\d+)\.(conv|layer_norm)\.(weight|bias)$":  r"feature_extractor.conv_layers.\1.\2.\3",
    _W2V + r"encoder\.feature_projection\.(layer_norm|projection)\.(weight|bias)$":       r"feature_projection.\1.\2",
    # the positional conv's weight norm: g and v as older torchaudio (nn.utils.weight_norm, 2.0.2 checked) and
    # current torchaudio (nn.utils.parametrizations.weight_norm, 2.11 checked) name them
    _W2V + r"encoder\.transformer\.pos_conv_embed\.conv\.(weight_g|parametrizations\.weight\.original0)$":
        "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    _W2V + r"encoder\.transformer\.pos_conv_embed\.conv\.(weight_v|parametrizations\.weight\.original1)$":
        "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    _W2V + r"encoder\.transformer\.pos_conv_embed\.conv\.bias$":                          "encoder.pos_conv_embed.conv.bias",
    _W2V + r"encoder\.transformer\.layer_norm\.(weight|bias)$":                           r"encoder.layer_norm.\1",
    _W2V + r"encoder\.transformer\.layers\.(\d+)\.attention\.(q|k|v|out)_proj\.(weight|bias)$":
        r"encoder.layers.\1.attention.\2_proj.\3",
    _W2V + r"encoder\.transformer\.layers\.(\d+)\.(layer_norm|final_layer_norm)\.(weight|bias)$":
        r"encoder.layers.\1.\2.\3",
    _W2V + r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.(intermediate_dense|output_dense)\.(weight|bias)$":
        r"encoder.layers.\1.feed_forward.\2.\3",
    # HuBERT's pretraining heads (masked-frame embedding, projection and label embeddings): in no hidden state
    r"^encoder\.hubert_pretrain_model\.(mask_generator|logit_generator)\.":                None,
    # the encoder's step counter (used to freeze it during fine-tuning)
    r"^encoder\.global_step$":                                                            None,
    # ESPnet modules around the encoder (GlobalMVN statistics, ...), which S3PRL's expert never runs
    r"^(frontend|specaug|normalize|preencoder)\.":                                        None,
}
# fmt: on

# `TorchAudioHuBERTPretrainEncoder.__init__`'s defaults (espnet2/asr/encoder/hubert_encoder.py, espnet 202211 to
# 202511), for the options that shape S3PRL's hidden states.
NETWORK_DEFAULTS = {
    "extractor_mode": "group_norm",
    "extractor_conv_layer_config": [[512, 10, 5], [512, 3, 2], [512, 3, 2], [512, 3, 2], [512, 3, 2], [512, 2, 2],
                                    [512, 2, 2]],
    "extractor_conv_bias": False, "encoder_embed_dim": 768, "encoder_projection_dropout": 0.1,
    "encoder_pos_conv_kernel": 128, "encoder_pos_conv_groups": 16, "encoder_num_layers": 12, "encoder_num_heads": 12,
    "encoder_attention_dropout": 0.1, "encoder_ff_interm_features": 3072, "encoder_ff_interm_dropout": 0.0,
    "encoder_dropout": 0.1, "encoder_layer_norm_first": False,
}
# The constructor's other options: masking, loss and training schedule, none of which the forward S3PRL runs reads.
TRAINING_OPTIONS = {
    "encoder_layer_drop", "mask_prob", "mask_selection", "mask_other", "mask_length", "no_mask_overlap",
    "mask_min_space", "mask_channel_prob", "mask_channel_selection", "mask_channel_other", "mask_channel_length",
    "no_mask_channel_overlap", "mask_channel_min_space", "skip_masked", "skip_nomask", "final_dim",
    "feature_grad_mult", "finetuning", "freeze_encoder_updates",
}
# Constructor arguments HubertTask.build_model passes itself (`input_size=`, `num_classes=args.num_classes`): in
# encoder_conf they make ESPnet fail ("got multiple values for keyword argument").
PASSED_BY_TASK = {"input_size", "num_classes"}
# torchaudio's `_get_feature_extractor` modes -> transformers' `feat_extract_norm`
EXTRACTOR_MODES = {"group_norm": "group", "layer_norm": "layer"}
# S3PRL's espnet_hubert expert reports a downsample rate of 320 whatever the extractor.
S3PRL_STRIDE = 320
# ESPnet's `model` choices for HubertTask; S3PRL only uses the model's `encoder`
MODEL_TYPES = (None, "fairseq", "torchaudio")


def load_release(checkpoint: str | os.PathLike, config: str | os.PathLike) -> dict:
    """Read a release's two files into the combined dict the converter takes: `{"config": dict, "model": dict}`.

    Example:
        >>> release = load_release("valid.loss.ave.pth", "config.yaml")  # doctest: +SKIP
        >>> model = convert_espnet_hubert(release)  # doctest: +SKIP
    """
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(f"ESPnet config {str(path)!r} does not exist or is not a file")
    try:
        config_dict = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CheckpointFormatError(f"{path} is not an ESPnet config.yaml: {error}") from error
    if not isinstance(config_dict, dict):
        raise CheckpointFormatError(f"{path} is not an ESPnet config.yaml (it holds a {type(config_dict).__name__})")
    return {"config": config_dict, "model": load_original_checkpoint(checkpoint)}


def split_release(state: Mapping) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return `(config, weights)` of a combined release; `weights` unwrapped from DeepSpeed's `"module"`."""
    if set(state) != {"config", "model"}:
        if any(str(key).startswith("encoder.") for key in state):
            raise CheckpointFormatError("this is an ESPnet state dict without its config.yaml: pass the config with "
                                        "--frontend-checkpoint (frontend_checkpoint=) or put config.yaml beside it")
        raise CheckpointFormatError(f"unrecognised layout with top-level keys {sorted(map(str, state))[:8]}; expected an "
                                    f"ESPnet HuBERT release (a .pth state dict and its config.yaml)")
    config, weights = state["config"], state["model"]
    if not isinstance(config, Mapping):
        raise CheckpointFormatError(f"the release's config is a {type(config).__name__}, not the config.yaml mapping")
    if isinstance(weights, Mapping) and "module" in weights:
        weights = weights["module"]  # DeepSpeed checkpoints (ESPnet's build_model_from_file unwraps them too)
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the ESPnet checkpoint is not a flat state dict of tensors")
    return dict(config), dict(weights)


def encoder_options(config: Mapping) -> dict:
    """`encoder_conf` merged over the encoder's defaults, after checking the encoder and every option is known."""
    encoder = config.get("encoder", "hubert_pretrain")  # ESPnet's default encoder for HubertTask
    if encoder != "torchaudio_hubert":
        raise CheckpointFormatError(
            f"config.yaml has encoder={encoder!r}; S3PRL's espnet_hubert expert runs ESPnet's 'torchaudio_hubert' "
            f"encoder only (it reads encoder.hubert_pretrain_model, which other encoders lack)")
    if config.get("model") not in MODEL_TYPES:
        raise CheckpointFormatError(f"config.yaml has model={config['model']!r}; HubertTask knows "
                                    f"{[m for m in MODEL_TYPES if m]}")
    conf = config.get("encoder_conf")
    if not isinstance(conf, Mapping):
        raise CheckpointFormatError("config.yaml has no encoder_conf mapping (ESPnet always writes one)")
    duplicated = sorted(PASSED_BY_TASK & set(conf))
    if duplicated:
        raise CheckpointFormatError(f"encoder_conf sets {duplicated}, which HubertTask passes to the encoder itself; "
                                    f"ESPnet cannot build this model")
    unknown = sorted(set(conf) - set(NETWORK_DEFAULTS) - TRAINING_OPTIONS)
    if unknown:
        raise CheckpointFormatError(f"encoder_conf has options TorchAudioHuBERTPretrainEncoder does not take: {unknown}")
    return {**NETWORK_DEFAULTS, **{key: conf[key] for key in NETWORK_DEFAULTS if key in conf}}


def _typed(options: dict, key: str, kind: type):
    value = options[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CheckpointFormatError(f"encoder_conf.{key}={value!r} is not a {kind.__name__}")
    return value


def conv_layers(value) -> list[tuple[int, int, int]]:
    """`extractor_conv_layer_config` as (dim, kernel, stride) tuples; None is torchaudio's default stack."""
    if value is None:
        value = NETWORK_DEFAULTS["extractor_conv_layer_config"]
    if not isinstance(value, list) or not value or not all(
            isinstance(layer, (list, tuple)) and len(layer) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in layer) for layer in value):
        raise CheckpointFormatError(f"encoder_conf.extractor_conv_layer_config={value!r} is not a list of "
                                    f"[dim, kernel, stride]")
    return [tuple(layer) for layer in value]


def config_from_yaml(config: Mapping) -> S3prlEspnetHubertConfig:
    """Translate an ESPnet config.yaml into `S3prlEspnetHubertConfig`, rejecting what S3PRL's expert cannot run."""
    options = encoder_options(config)
    mode = options["extractor_mode"]
    if mode not in EXTRACTOR_MODES:
        raise CheckpointFormatError(f"encoder_conf.extractor_mode={mode!r}: torchaudio takes "
                                    f"{sorted(EXTRACTOR_MODES)}")
    layers = conv_layers(options["extractor_conv_layer_config"])
    stride = math.prod(s for _, _, s in layers)
    if stride != S3PRL_STRIDE:
        raise CheckpointFormatError(f"the conv feature extractor has a total stride of {stride}; S3PRL's espnet_hubert "
                                    f"expert assumes {S3PRL_STRIDE}")
    embed_dim, heads = _typed(options, "encoder_embed_dim", int), _typed(options, "encoder_num_heads", int)
    if embed_dim % heads:
        raise CheckpointFormatError(f"encoder_embed_dim {embed_dim} is not divisible by encoder_num_heads {heads}")
    return S3prlEspnetHubertConfig(
        hidden_size=embed_dim,
        num_hidden_layers=_typed(options, "encoder_num_layers", int),
        num_attention_heads=heads,
        intermediate_size=_typed(options, "encoder_ff_interm_features", int),
        hidden_dropout=_typed(options, "encoder_dropout", float),
        activation_dropout=_typed(options, "encoder_ff_interm_dropout", float),
        attention_dropout=_typed(options, "encoder_attention_dropout", float),
        feat_proj_dropout=_typed(options, "encoder_projection_dropout", float),
        feat_extract_norm=EXTRACTOR_MODES[mode],
        conv_dim=tuple(d for d, _, _ in layers),
        conv_kernel=tuple(k for _, k, _ in layers),
        conv_stride=tuple(s for _, _, s in layers),
        conv_bias=_typed(options, "extractor_conv_bias", bool),
        num_conv_pos_embeddings=_typed(options, "encoder_pos_conv_kernel", int),
        num_conv_pos_embedding_groups=_typed(options, "encoder_pos_conv_groups", int),
        do_stable_layer_norm=_typed(options, "encoder_layer_norm_first", bool),
    )


def convert_espnet_hubert(state: Mapping) -> S3prlEspnetHubertModel:
    """Build an `S3prlEspnetHubertModel` from an ESPnet HuBERT release.

    Args:
        state: `{"config": <config.yaml as a dict>, "model": <the .pth state dict>}`, as `load_release` returns.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: a state dict without its config, another encoder, unknown options or weights, or
            weights that do not fit the config.

    Example:
        >>> model = convert_espnet_hubert(load_release("valid.loss.ave.pth", "config.yaml"))  # doctest: +SKIP
    """
    config_dict, weights = split_release(state)
    config = config_from_yaml(config_dict)
    return build_model(S3prlEspnetHubertModel, config, rename_state_dict(weights, KEY_MAP))


def convert_release(release) -> S3prlEspnetHubertModel:
    """The family's converter: the .pth and its config.yaml, or one file holding both ({"config", "model"})."""
    if release.second is not None:
        state = release.load()
        if set(state) != {"config", "model"}:
            return convert_espnet_hubert(load_release(release.checkpoint, release.second))
        return convert_espnet_hubert(state)
    return convert_espnet_hubert(release.load())

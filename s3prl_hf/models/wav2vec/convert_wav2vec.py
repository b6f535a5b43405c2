"""Convert an original wav2vec 1.0 / vq-wav2vec checkpoint into `S3prlWav2VecModel`.

Two source layouts are read, both without fairseq:

- S3PRL-hosted (`s3prl/converted_ckpts/{wav2vec_large,vq-wav2vec,vq-wav2vec_kmeans}.pt`, made by S3PRL's
  `upstream/wav2vec/convert.py`): `{"task_cfg": dict, "model_cfg": dict, "model_weight": state_dict}`;
- fairseq release (`dl.fbaipublicfiles.com/fairseq/wav2vec/*.pt`): `{"args": argparse.Namespace, "model": ...}`
  (the 2019 releases predate fairseq's hydra configs), or `{"cfg": {"model": dict, ...}, "model": ...}` as
  fairseq >= 0.10's trainer writes it.

Every architecture choice comes from the checkpoint's config: the conv stacks (`conv_feature_layers`,
`conv_aggregator_layers`), skip connections, residual scale, log compression, activation, padding, GroupNorm
affinity, conv bias, and the quantiser (`vq_type`, `vq_vars`, `vq_groups`, `vq_dim`, `vq_depth`,
`combine_groups`, `vq_temp`). A missing option takes the default of fairseq's `Wav2VecConfig` dataclass (which
S3PRL copies), as fairseq's `load_checkpoint_to_cpu` does when it turns an args-era file into the config S3PRL's
converter stores; unknown options are ignored, as S3PRL's `merge_with_parent` does. The weights must then fit the
architecture exactly; the pretraining head (`wav2vec_predictions`, and a separate `project_features` network)
is dropped, as no hidden state uses it.
"""

from __future__ import annotations

import ast
import math

from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model, parse_conv_layers, rename_state_dict
from ...conversion.fairseq import check_flat_weights, fairseq_model_name, merged_config, split_fairseq_checkpoint
from .configuration_wav2vec import DOWNSAMPLE_RATE, S3prlWav2VecConfig
from .modeling_wav2vec import S3prlWav2VecModel

KEEP = r"\g<0>"
# fmt: off
KEY_MAP = {  # fairseq / S3PRL key (regex)                                 -> s3prl_hf key (fairseq's module names)
    r"^feature_extractor\.conv_layers\.\d+\.0\.weight$":                    KEEP,  # conv, no bias
    r"^feature_extractor\.conv_layers\.\d+\.2\.(weight|bias)$":             KEEP,  # GroupNorm(1, C)
    r"^feature_aggregator\.conv_layers\.\d+\.1\.(weight|bias)$":            KEEP,  # conv (0 is the padding)
    r"^feature_aggregator\.conv_layers\.\d+\.3\.(weight|bias)$":            KEEP,  # GroupNorm(1, C)
    r"^feature_aggregator\.residual_proj\.\d+\.weight$":                    KEEP,  # 1x1 residual projection
    r"^vector_quantizer\.(vars|embedding)$":                                KEEP,  # Gumbel / k-means codebook
    r"^vector_quantizer\.weight_proj\.(\d+\.)*(weight|bias)$":              KEEP,  # Gumbel logit projection
    r"^vector_quantizer\.projection\.[01]\.(weight|bias)$":                 KEEP,  # k-means 1x1 conv + GroupNorm
    # the CPC prediction head and a separate target network (project_features="new"): in no hidden state
    r"^wav2vec_predictions\.":                                              None,
    r"^project_features\.":                                                 None,
}
# fmt: on

# fairseq's / S3PRL's `Wav2VecConfig` defaults for the options that shape the network.
MODEL_DEFAULTS = {
    "conv_feature_layers": "[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), (512, 1, 1), "
                           "(512, 1, 1), (512, 1, 1)]",
    "conv_aggregator_layers": "[(512, 2, 1), (512, 3, 1), (512, 4, 1), (512, 5, 1), (512, 6, 1), (512, 7, 1), "
                              "(512, 8, 1), (512, 9, 1), (512, 10, 1), (512, 11, 1), (512, 12, 1), (512, 13, 1)]",
    "dropout": 0.0, "dropout_features": 0.0, "aggregator": "cnn", "no_conv_bias": False, "agg_zero_pad": False,
    "skip_connections_feat": False, "skip_connections_agg": True, "residual_scale": 0.5, "log_compression": True,
    "project_features": "none", "non_affine_group_norm": False, "activation": "relu", "vq_type": "none",
    "vq_vars": 320, "vq_groups": 2, "vq_dim": 0, "vq_depth": 1, "combine_groups": False,
    "vq_temp": (2.0, 0.5, 0.999995),
}
# fairseq model names of wav2vec 1.0 (`audio_cpc` is its old name, which fairseq upgrades to `wav2vec`).
MODEL_NAMES = ("wav2vec", "audio_cpc")


def _layers(spec) -> list[tuple[int, int, int]]:
    """A `conv_*_layers` option: fairseq's string, or the list a config may hold."""
    return parse_conv_layers(spec if isinstance(spec, str) else repr([tuple(layer) for layer in spec]))


def _start_temperature(vq_temp) -> float:
    """The first value of `vq_temp`: a (start, end, decay) tuple, or its string in args-era files."""
    if isinstance(vq_temp, str):
        try:
            vq_temp = ast.literal_eval(vq_temp)
        except (ValueError, SyntaxError) as error:
            raise CheckpointFormatError(f"cannot parse vq_temp {vq_temp!r}: {error}") from error
    try:
        start, _, _ = vq_temp
        return float(start)
    except (TypeError, ValueError) as error:
        raise CheckpointFormatError(f"vq_temp {vq_temp!r} is not a (start, end, decay) triple") from error


def config_from_original(model_cfg: dict) -> S3prlWav2VecConfig:
    """Translate a fairseq / S3PRL `Wav2VecConfig` (dict) into `S3prlWav2VecConfig`, rejecting what S3PRL cannot run.

    Example:
        >>> config_from_original({"conv_aggregator_layers": "[(512, 3, 1)] * 2"}).aggregator_kernel
        (3, 3)
    """
    cfg = merged_config(model_cfg, MODEL_DEFAULTS)
    if cfg["aggregator"] != "cnn":
        raise CheckpointFormatError(f"aggregator={cfg['aggregator']!r}: S3PRL's wav2vec expert hooks the conv "
                                    f"aggregator's blocks and fails on any other (only 'cnn' is supported)")
    features, aggregator = _layers(cfg["conv_feature_layers"]), _layers(cfg["conv_aggregator_layers"])
    stride = math.prod(s for _, _, s in features)
    if stride != DOWNSAMPLE_RATE:
        raise CheckpointFormatError(f"the conv feature extractor has a total stride of {stride}; S3PRL's wav2vec "
                                    f"expert assumes {DOWNSAMPLE_RATE}")
    vq_type = cfg["vq_type"] if cfg["vq_type"] is not None else "none"
    try:
        return S3prlWav2VecConfig(
            conv_dim=tuple(d for d, _, _ in features), conv_kernel=tuple(k for _, k, _ in features),
            conv_stride=tuple(s for _, _, s in features),
            aggregator_dim=tuple(d for d, _, _ in aggregator), aggregator_kernel=tuple(k for _, k, _ in aggregator),
            aggregator_stride=tuple(s for _, _, s in aggregator),
            activation=str(cfg["activation"]), log_compression=bool(cfg["log_compression"]),
            skip_connections_feat=bool(cfg["skip_connections_feat"]),
            skip_connections_agg=bool(cfg["skip_connections_agg"]), residual_scale=float(cfg["residual_scale"]),
            non_affine_group_norm=bool(cfg["non_affine_group_norm"]),
            aggregator_conv_bias=not bool(cfg["no_conv_bias"]), aggregator_zero_pad=bool(cfg["agg_zero_pad"]),
            vq_type=str(vq_type), vq_vars=int(cfg["vq_vars"]), vq_groups=int(cfg["vq_groups"]),
            vq_dim=int(cfg["vq_dim"]), vq_depth=int(cfg["vq_depth"]), combine_groups=bool(cfg["combine_groups"]),
            vq_temperature=_start_temperature(cfg["vq_temp"]), dropout=float(cfg["dropout"]),
            dropout_features=float(cfg["dropout_features"]),
        )
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error


def read_wav2vec_checkpoint(state: dict) -> tuple[S3prlWav2VecConfig, dict]:
    """The config and (renamed) weights of a wav2vec 1.0 / vq-wav2vec checkpoint in either layout.

    Raises:
        CheckpointFormatError: another layout or another fairseq model, or an unsupported configuration.
    """
    if "text_dictionary" in state:
        raise CheckpointFormatError("this is S3PRL's Discrete BERT (RoBERTa) checkpoint, not wav2vec 1.0 / vq-wav2vec: "
                                    "convert it under vq_wav2vec_kmeans_roberta, with its vq-wav2vec checkpoint")
    model_cfg, _, weights, _ = split_fairseq_checkpoint(state, "a wav2vec 1.0 / vq-wav2vec checkpoint")
    name = fairseq_model_name(model_cfg)
    if name is not None and name not in MODEL_NAMES:
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not wav2vec 1.0 / vq-wav2vec"
                                    + (" (a wav2vec 2.0-style model)" if name.startswith(("wav2vec2", "hubert",
                                                                                         "data2vec")) else ""))
    check_flat_weights(weights)
    if not any(key.startswith("feature_aggregator.") for key in weights):
        raise CheckpointFormatError("the weights have no feature_aggregator.*: not a wav2vec 1.0 / vq-wav2vec model")
    return config_from_original(model_cfg), rename_state_dict(weights, KEY_MAP)


def convert_wav2vec(state: dict) -> S3prlWav2VecModel:
    """Build an `S3prlWav2VecModel` from an original wav2vec 1.0 checkpoint's contents (wav2vec_large.pt).

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family (a vq-wav2vec checkpoint included), or weights that do
            not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_wav2vec(load_original_checkpoint("wav2vec_large.pt"))  # doctest: +SKIP
    """
    config, weights = read_wav2vec_checkpoint(state)
    if config.vq_type != "none":
        raise CheckpointFormatError(f"this is a vq-wav2vec checkpoint (vq_type={config.vq_type!r}), not wav2vec: "
                                    f"convert it under a vq_wav2vec_* name")
    return build_model(S3prlWav2VecModel, config, weights)


def convert_vq_wav2vec(state: dict) -> S3prlWav2VecModel:
    """Build an `S3prlWav2VecModel` with its quantiser from an original vq-wav2vec checkpoint's contents.

    vq-wav2vec.pt (Gumbel) and vq-wav2vec_kmeans.pt (k-means): fairseq's `Wav2VecModel` with a quantiser, in the
    layouts of wav2vec 1.0 (S3PRL's vq_wav2vec converter is a copy of its wav2vec one). The codebook and
    projections are converted with the rest.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family (a wav2vec 1.0 checkpoint without quantiser included), or
            weights that do not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_vq_wav2vec(load_original_checkpoint("vq-wav2vec_kmeans.pt"))  # doctest: +SKIP
    """
    config, weights = read_wav2vec_checkpoint(state)
    if config.vq_type == "none":
        raise CheckpointFormatError("this checkpoint has no quantiser (vq_type='none'): it is a wav2vec 1.0 model, "
                                    "convert it under a wav2vec name")
    return build_model(S3prlWav2VecModel, config, weights)


def convert_release(release) -> S3prlWav2VecModel:
    """The family's converter: vq-wav2vec names need the quantiser (S3PRL's vq_wav2vec expert is the wav2vec one)."""
    if release.second is not None:
        raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
    state = release.load()
    config, _ = read_wav2vec_checkpoint(state)
    release.check_method({"wav2vec"} if config.vq_type == "none" else {"vq_wav2vec"},
                         f"its fairseq config has vq_type={config.vq_type!r}")
    return convert_vq_wav2vec(state) if release.spec.method == "vq_wav2vec" else convert_wav2vec(state)

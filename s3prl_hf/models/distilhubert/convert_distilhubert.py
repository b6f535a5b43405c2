"""Convert DistilHuBERT's S3PRL pretraining checkpoint into `S3prlDistilHubertModel`.

The released `distilhubert_ls960_4-8-12.ckpt` is what S3PRL's pretrain runner saves:
`{"Distiller": state_dict, "Config": {"distiller": dict, "teacher": ...}, "Optimizer", "Step", "Args", ...}`.
S3PRL's loader (`upstream/distiller/builder.py`) reads only `Config["distiller"]` (through `DistillerConfig`,
which fills in its defaults) and loads `Distiller` strictly into `DistillerModel`; the rest (optimizer state with
its LR-schedule object, argparse `Args`) is read inertly and ignored here too.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError
from ...conversion.fairseq import ACTIVATIONS, FEATURE_KEY_MAP, POS_CONV_KEY_MAP, TRANSFORMER_LAYER_KEY_MAP, check_flat_weights, merged_config, network_config_kwargs
from ...conversion.fairseq import build_from_weights, other_format
from .configuration_distilhubert import S3prlDistilHubertConfig
from .modeling_distilhubert import S3prlDistilHubertModel

# S3PRL's DistillerConfig defaults (upstream/distiller/model.py) for the fields that shape the network.
DISTILLER_DEFAULTS = {
    "extractor_mode": "default", "extractor_conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
    "conv_pos": 128, "conv_pos_groups": 16, "encoder_layers": 1, "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12, "activation_fn": "gelu",
    "layer_norm_first": False, "attention_type": "original", "dropout": 0.1, "attention_dropout": 0.1,
    "activation_dropout": 0.1, "final_dim": 768, "out_layer_type": "expand-last", "out_layer_inter_dim": -1,
    "n_tasks": 12, "task_emb_type": "expand-last",
}

# Activations S3PRL's distiller runs (wav2vec2_model.py:get_activation_fn); its "swish" returns the SiLU class
# instead of a function and fails at the first forward.
DISTILLER_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "swish")

# fmt: off
KEY_MAP = {  # S3PRL Distiller key (regex)                          -> s3prl_hf key
    # the shared wav2vec2-style network without the feature LayerNorm, which DistilHuBERT lacks
    **{pattern: target for pattern, target in FEATURE_KEY_MAP.items()
       if not target.startswith("feature_projection.layer_norm")},
    **POS_CONV_KEY_MAP,
    **TRANSFORMER_LAYER_KEY_MAP,
    r"^output_layer\.0\.":                                        r"prediction_heads.projection.",
    r"^output_layer\.2\.(weight|bias)$":                          r"prediction_heads.\1",
}
# fmt: on


def split_checkpoint(state: dict) -> tuple[dict, dict]:
    """Return `(distiller cfg, weights)` of a DistilHuBERT pretraining checkpoint, or say which format it is."""
    if not {"Distiller", "Config"} <= set(state):
        known = other_format(state)
        if known is None and {"cfg", "model"} <= set(state):
            known = "a WavLM / UniSpeech-SAT checkpoint ({cfg, model})"
        raise CheckpointFormatError(f"this is {known or f'a checkpoint with top-level keys {sorted(state)}'}, not "
                                    f"DistilHuBERT's S3PRL pretraining checkpoint (Distiller, Config, ...)")
    config, weights = state["Config"], state["Distiller"]
    if not isinstance(config, dict) or not isinstance(config.get("distiller"), dict):
        raise CheckpointFormatError("the checkpoint's Config has no 'distiller' section")
    check_flat_weights(weights)
    return config["distiller"], weights


def config_from_distiller(distiller: dict) -> S3prlDistilHubertConfig:
    """Translate S3PRL's distiller config into `S3prlDistilHubertConfig`, rejecting what the release does not use."""
    cfg = merged_config(distiller, DISTILLER_DEFAULTS)
    # Other attention / task-embedding variants change what the hidden states are; DistilHuBERT uses these.
    for key, expected in (("attention_type", "original"), ("task_emb_type", "expand-last"),
                          ("out_layer_type", "expand-last")):
        if cfg[key] != expected:
            raise CheckpointFormatError(f"{key}={cfg[key]!r}: only {expected!r} (DistilHuBERT's) is supported")
    if int(cfg["encoder_layers"]) < 1:
        raise CheckpointFormatError("encoder_layers=0: S3PRL then replaces the encoder by a GELU, not supported")
    heads = int(cfg["n_tasks"])
    layer_ids = [int(i) for i in cfg.get("pred_layer_id", range(1, heads + 1))]
    if len(layer_ids) != heads:
        raise CheckpointFormatError(f"pred_layer_id {layer_ids} does not name one teacher layer per head "
                                    f"(n_tasks={heads})")
    if cfg["activation_fn"] not in DISTILLER_ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={cfg['activation_fn']!r}: S3PRL's distiller supports "
                                    f"{', '.join(DISTILLER_ACTIVATIONS)}")
    # fairseq's names for the shared network; DistillerModel hard-codes conv_bias=False and has no input dropout
    network = {**cfg, "conv_feature_layers": cfg["extractor_conv_feature_layers"], "conv_bias": False,
               "dropout_input": 0.0}
    inter = int(cfg["out_layer_inter_dim"])
    return S3prlDistilHubertConfig(
        **network_config_kwargs(network, {}),  # no waveform normalisation
        num_prediction_heads=heads,
        prediction_head_size=int(cfg["final_dim"]),
        prediction_head_intermediate_size=inter if inter > 0 else int(cfg["encoder_embed_dim"]),
        prediction_layer_ids=tuple(layer_ids),
    )


def single_head_as_split(weights: dict) -> dict:
    """With one head S3PRL's `SplitLinear` is an `nn.Linear` (`output_layer.2.layer`); store it as a 1-head split."""
    if "output_layer.2.layer.weight" not in weights:
        return weights
    weights = dict(weights)
    weights["output_layer.2.weight"] = weights.pop("output_layer.2.layer.weight").t().unsqueeze(0).contiguous()
    if "output_layer.2.layer.bias" in weights:
        weights["output_layer.2.bias"] = weights.pop("output_layer.2.layer.bias").reshape(1, 1, 1, -1)
    return weights


def convert_distilhubert(state: dict) -> S3prlDistilHubertModel:
    """Build an `S3prlDistilHubertModel` from DistilHuBERT's S3PRL pretraining checkpoint.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another format or family, a distiller variant S3PRL's DistilHuBERT does not
            use, or weights that do not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> state = load_original_checkpoint("distilhubert_ls960_4-8-12.ckpt")  # doctest: +SKIP
        >>> convert_distilhubert(state).num_layers  # doctest: +SKIP
        6
    """
    distiller, weights = split_checkpoint(state)
    config = config_from_distiller(distiller)
    return build_from_weights(S3prlDistilHubertModel, config, single_head_as_split(weights), KEY_MAP)

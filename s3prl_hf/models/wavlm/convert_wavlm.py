"""Convert a WavLM checkpoint into `S3prlWavLMModel`; the format helpers are shared with UniSpeech-SAT.

WavLM and UniSpeech-SAT checkpoints have the official WavLM layout (microsoft/unilm, and the files S3PRL hosts
in `s3prl/converted_ckpts`): `{"cfg": dict, "model": state_dict}`. S3PRL loads them with
`WavLM(WavLMConfig(cfg)).load_state_dict(model)` (strict; `upstream/wavlm/expert.py`), where `WavLMConfig` starts
from its defaults and takes every key of `cfg`. Missing keys therefore take those defaults here too (notably
`max_distance=1280`, not transformers' 800), and keys S3PRL's WavLM never reads are ignored, as S3PRL ignores
them. The two families differ only in the attention: WavLM has the relative position bias
(`relative_position_embedding`, gated when `gru_rel_pos`, as in every release), UniSpeech-SAT has neither.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError, build_model, namespace_to_dict, rename_state_dict
from ..wav2vec2.convert_wav2vec2 import (
    TRANSFORMER_KEY_MAP,
    add_identity_projection,
    check_flat_weights,
    check_projection,
    merged_config,
    network_config_kwargs,
)
from .configuration_wavlm import S3prlWavLMConfig
from .modeling_wavlm import S3prlWavLMModel

# S3PRL's WavLMConfig defaults (upstream/wavlm/WavLM.py) for the fields that shape the network.
CFG_DEFAULTS = {
    "extractor_mode": "default", "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_norm_first": False,
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False,
    "normalize": False, "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0,
    "conv_pos": 128, "conv_pos_groups": 16,
    "relative_position_embedding": False, "num_buckets": 320, "max_distance": 1280, "gru_rel_pos": False,
}

# Activations of S3PRL's WavLM modules (upstream/wavlm/modules.py:get_activation_fn). Its "glu" replaces fc1 by a
# GLU layer that no released model has and transformers does not implement.
WAVLM_ACTIVATIONS = ("gelu", "gelu_accurate", "gelu_fast", "linear", "relu", "tanh")

# fmt: off
# The shared wav2vec2-style network and WavLM's masked-prediction embedding (unused for features). No other
# pretraining head: S3PRL's WavLM has none, so its strict load refuses them.
NETWORK_KEY_MAP = {
    **TRANSFORMER_KEY_MAP,
    r"^mask_emb$":                                                      None,
}
KEY_MAP = {  # WavLM / S3PRL key (regex)                              -> s3prl_hf key
    **NETWORK_KEY_MAP,
    r"^encoder\.layers\.(\d+)\.self_attn\.grep_linear\.":               r"encoder.layers.\1.attention.gru_rel_pos_linear.",
    r"^encoder\.layers\.(\d+)\.self_attn\.grep_a$":                     r"encoder.layers.\1.attention.gru_rel_pos_const",
    r"^encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.":   r"encoder.layers.\1.attention.rel_attn_embed.",
}
# fmt: on


def other_format(state: dict) -> str | None:
    """Name the known checkpoint format `state` is in when it is not the WavLM one, else None."""
    keys = set(state)
    if {"task_cfg", "model_cfg", "model_weight"} <= keys:
        return ("an S3PRL-converted fairseq checkpoint (task_cfg, model_cfg, model_weight) of the wav2vec 2.0 / "
                "HuBERT / data2vec families")
    if {"Distiller", "Config"} <= keys:
        return "DistilHuBERT's S3PRL pretraining checkpoint (Distiller, Config)"
    if "model" in keys and ("args" in keys or isinstance(state.get("cfg"), dict) and "model" in state["cfg"]):
        return "a fairseq training checkpoint (cfg.model / args sections) of the wav2vec 2.0 / HuBERT families"
    return None


def split_checkpoint(state: dict, family: str) -> tuple[dict, dict]:
    """Return `(cfg, weights)` of a checkpoint in the WavLM format, or say which format it is in."""
    known = other_format(state)
    if known is not None:
        raise CheckpointFormatError(f"this is {known}, not a {family} checkpoint ({{cfg, model}}, the WavLM format)")
    if not {"cfg", "model"} <= set(state):
        raise CheckpointFormatError(f"unrecognised checkpoint layout with top-level keys {sorted(state)}; expected "
                                    f"a {family} checkpoint with 'cfg' and 'model'")
    check_flat_weights(state["model"])
    return namespace_to_dict(state["cfg"]), state["model"]


def wavlm_format_config(cfg: dict, family: str) -> tuple[dict, bool, bool]:
    """`(config kwargs, relative position bias?, gated?)` of a WavLM-format cfg, S3PRL's defaults filled in."""
    cfg = merged_config(cfg, CFG_DEFAULTS)
    if cfg["activation_fn"] not in WAVLM_ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={cfg['activation_fn']!r}: S3PRL's {family} supports "
                                    f"{', '.join(WAVLM_ACTIVATIONS)}")
    # the WavLM format keeps the waveform normalisation in its one cfg, not in a task config
    kwargs = network_config_kwargs(cfg, {"normalize": cfg["normalize"]})
    if cfg["relative_position_embedding"]:
        kwargs.update(num_buckets=int(cfg["num_buckets"]), max_bucket_distance=int(cfg["max_distance"]),
                      gru_rel_pos=bool(cfg["gru_rel_pos"]))
    return kwargs, bool(cfg["relative_position_embedding"]), bool(cfg["gru_rel_pos"])


def build_from_weights(model_class, config, weights: dict, key_map: dict):
    """Rename `weights` with `key_map` and load them exactly into `model_class(config)` (built on meta)."""
    check_projection(weights, config)
    return build_model(model_class, config, add_identity_projection(rename_state_dict(weights, key_map), config))


def convert_wavlm(state: dict) -> S3prlWavLMModel:
    """Build an `S3prlWavLMModel` from a WavLM checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another format or family (UniSpeech-SAT has no relative position bias), an
            architecture S3PRL's WavLM cannot build, or weights that do not fit the cfg.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_wavlm(load_original_checkpoint("WavLM-Base+.pt"))  # doctest: +SKIP
    """
    cfg, weights = split_checkpoint(state, "WavLM")
    kwargs, relative, _ = wavlm_format_config(cfg, "WavLM")
    if not relative:
        raise CheckpointFormatError("this checkpoint has no relative position bias (relative_position_embedding "
                                    "is off): it is a UniSpeech-SAT checkpoint, not WavLM; convert it under a "
                                    "unispeech_sat name")
    return build_from_weights(S3prlWavLMModel, S3prlWavLMConfig(**kwargs), weights, KEY_MAP)

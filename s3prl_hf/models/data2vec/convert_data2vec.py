"""Convert an original data2vec (audio) checkpoint into `S3prlData2VecModel`.

The layouts are wav2vec 2.0's (see `models/wav2vec2/convert_wav2vec2.py`): S3PRL-hosted
`{task_cfg, model_cfg, model_weight}` (`audio_base_ls.pt`, `vox_pretrained.pt`, made by S3PRL's
`upstream/data2vec/convert.py`) or the fairseq release (`dl.fbaipublicfiles.com/fairseq/data2vec/*.pt`). Both hold
fairseq's whole `Data2VecAudioModel` state: the network, the regression head `final_proj` and the EMA teacher
`_ema` (a dict of tensors). S3PRL's loader deletes `_ema` (so a file without it fails there: it is how a data2vec
checkpoint is told from a wav2vec 2.0 one) and drops `final_proj` (`remove_pretraining_modules`); so do we.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError, build_model, rename_state_dict
from ...conversion.fairseq import MODEL_DEFAULTS, POS_CONV_STACK_KEY_MAP, TRANSFORMER_KEY_MAP, check_flat_weights, fairseq_model_name, merged_config, network_config_kwargs, split_fairseq_checkpoint
from .configuration_data2vec import S3prlData2VecConfig
from .modeling_data2vec import S3prlData2VecModel

# fmt: off
KEY_MAP = {  # fairseq / S3PRL key (regex)                        -> s3prl_hf key
    # the wav2vec 2.0 network, with data2vec's positional conv stack ("encoder.pos_conv.{j}.0.*")
    **TRANSFORMER_KEY_MAP,
    **POS_CONV_STACK_KEY_MAP,
    # pretraining: the masked-frame embedding and the regression head (the EMA teacher is removed before)
    r"^mask_emb$":                                                 None,
    r"^final_proj\.":                                              None,
}
# fmt: on


def split_checkpoint(state: dict) -> tuple[dict, dict, dict]:
    """Return `(model_cfg, task_cfg, weights without _ema)` of a data2vec checkpoint in either layout."""
    model_cfg, task_cfg, weights, hosted = split_fairseq_checkpoint(state, "a data2vec checkpoint")
    name = fairseq_model_name(model_cfg)
    if hosted and "dictionaries_symbols" in state or (name or "").startswith("hubert"):
        raise CheckpointFormatError("this is a HuBERT checkpoint, not data2vec: convert it under a hubert name")
    if name and not name.startswith("data2vec"):
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not data2vec"
                                    + (": convert it under a wav2vec2 / xlsr / xls_r name"
                                       if name.startswith("wav2vec2") else ""))
    if not isinstance(weights, dict) or "_ema" not in weights:
        raise CheckpointFormatError("the weights have no '_ema' entry (data2vec's EMA teacher), which every data2vec "
                                    "checkpoint has and S3PRL's data2vec loader requires; this is not a data2vec "
                                    "checkpoint (a wav2vec 2.0 one?)")
    weights = {key: value for key, value in weights.items() if key != "_ema"}
    check_flat_weights(weights)
    return model_cfg, task_cfg, weights


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlData2VecConfig:
    """Translate fairseq/S3PRL data2vec configs into `S3prlData2VecConfig`.

    S3PRL's `Data2VecAudioConfig` extends `Wav2Vec2Config` (same defaults for the network); its model reads
    `pos_conv_depth` but, unlike wav2vec 2.0, never crops frames or quantizes its input.
    """
    cfg = merged_config(model_cfg, MODEL_DEFAULTS)
    if cfg["layer_type"] != "transformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: only transformer data2vec is supported")
    return S3prlData2VecConfig(**network_config_kwargs(cfg, task_cfg), pos_conv_depth=int(cfg["pos_conv_depth"]))


def convert_data2vec(state: dict) -> S3prlData2VecModel:
    """Build an `S3prlData2VecModel` from an original data2vec checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family, or weights that do not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_data2vec(load_original_checkpoint("audio_base_ls.pt"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights = split_checkpoint(state)
    config = config_from_original(model_cfg, task_cfg)
    return build_model(S3prlData2VecModel, config, rename_state_dict(weights, KEY_MAP))

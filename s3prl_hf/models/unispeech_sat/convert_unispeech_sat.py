"""Convert a UniSpeech-SAT checkpoint (S3PRL-hosted `{cfg, model}`, the WavLM format) into `S3prlUniSpeechSatModel`.

S3PRL builds these files with its WavLM class and the cfg's relative-position switches off (their default), so
the network is HuBERT's; see `s3prl_hf.models.wavlm.convert_wavlm` for the format.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError
from ...conversion.fairseq import WAVLM_NETWORK_KEY_MAP, build_from_weights, split_wavlm_checkpoint, wavlm_format_config
from .configuration_unispeech_sat import S3prlUniSpeechSatConfig
from .modeling_unispeech_sat import S3prlUniSpeechSatModel

# The shared wav2vec2-style network and WavLM's unused mask embedding; no attention extras.
KEY_MAP = WAVLM_NETWORK_KEY_MAP


def convert_unispeech_sat(state: dict) -> S3prlUniSpeechSatModel:
    """Build an `S3prlUniSpeechSatModel` from a UniSpeech-SAT checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another format or family (a WavLM checkpoint has a relative position bias), or
            weights that do not fit the cfg.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_unispeech_sat(load_original_checkpoint("unispeech_sat_base.pt"))  # doctest: +SKIP
    """
    cfg, weights = split_wavlm_checkpoint(state, "UniSpeech-SAT")
    kwargs, relative, gated = wavlm_format_config(cfg, "UniSpeech-SAT")
    if relative:
        raise CheckpointFormatError("this checkpoint has WavLM's relative position bias (relative_position_embedding "
                                    "is on): it is a WavLM checkpoint, not UniSpeech-SAT; convert it under a wavlm "
                                    "name")
    if gated:
        raise CheckpointFormatError("gru_rel_pos is on without a relative position bias: no UniSpeech-SAT model has "
                                    "WavLM's gate parameters")
    return build_from_weights(S3prlUniSpeechSatModel, S3prlUniSpeechSatConfig(**kwargs), weights, KEY_MAP)

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

from ...conversion.checkpoints import CheckpointFormatError
from ...conversion.fairseq import WAVLM_NETWORK_KEY_MAP, build_from_weights, split_wavlm_checkpoint, wavlm_format_config
from .configuration_wavlm import S3prlWavLMConfig
from .modeling_wavlm import S3prlWavLMModel

# fmt: off
KEY_MAP = {  # WavLM / S3PRL key (regex)                              -> s3prl_hf key
    **WAVLM_NETWORK_KEY_MAP,
    r"^encoder\.layers\.(\d+)\.self_attn\.grep_linear\.":               r"encoder.layers.\1.attention.gru_rel_pos_linear.",
    r"^encoder\.layers\.(\d+)\.self_attn\.grep_a$":                     r"encoder.layers.\1.attention.gru_rel_pos_const",
    r"^encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.":   r"encoder.layers.\1.attention.rel_attn_embed.",
}
# fmt: on


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
    cfg, weights = split_wavlm_checkpoint(state, "WavLM")
    kwargs, relative, _ = wavlm_format_config(cfg, "WavLM")
    if not relative:
        raise CheckpointFormatError("this checkpoint has no relative position bias (relative_position_embedding "
                                    "is off): it is a UniSpeech-SAT checkpoint, not WavLM; convert it under a "
                                    "unispeech_sat name")
    return build_from_weights(S3prlWavLMModel, S3prlWavLMConfig(**kwargs), weights, KEY_MAP)

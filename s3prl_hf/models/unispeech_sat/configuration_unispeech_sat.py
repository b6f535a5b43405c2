"""Configuration of the UniSpeech-SAT family (unispeech_sat_base, unispeech_sat_base_plus, unispeech_sat_large)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlUniSpeechSatConfig(S3prlWav2Vec2Config):
    """Architecture of a UniSpeech-SAT upstream: the plain wav2vec 2.0 network with HuBERT's frame rule.

    See `S3prlWav2Vec2Config` for the arguments.

    Example:
        >>> config = S3prlUniSpeechSatConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                                  intermediate_size=64)
        >>> config.num_layers, config.downsample_rates[0]
        (3, 320)
    """

    model_type = "s3prl_unispeech_sat"


# The released architectures: transformers' microsoft/unispeech-sat-base, -base-plus and -large config.json
# (base: group-norm extractor, post-LN, 768 x 12; large: layer-norm extractor, pre-LN, 1024 x 24, 16 heads, 4096,
# conv_bias false) and the UniSpeech-SAT paper (arXiv:2110.05752). A converted checkpoint always takes its
# architecture from its own cfg.
REFERENCE_CONFIGS: dict[str, dict] = {
    "unispeech_sat_base": dict(),
    "unispeech_sat_base_plus": dict(),
    "unispeech_sat_large": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        feat_extract_norm="layer", do_stable_layer_norm=True, normalize_waveform=True,
    ),
}

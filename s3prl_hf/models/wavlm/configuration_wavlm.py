"""Configuration of the WavLM family (wavlm_base, wavlm_base_plus, wavlm_large)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlWavLMConfig(S3prlWav2Vec2Config):
    """Architecture of a WavLM upstream: the wav2vec 2.0 network with gated relative position bias.

    Field names are those of `transformers.WavLMConfig`, so transformers' WavLM layers are built from it. See
    `S3prlWav2Vec2Config` for the shared arguments.

    Args:
        num_buckets: Relative-position buckets of the attention bias (WavLM cfg `num_buckets`).
        max_bucket_distance: Distance at which the log-spaced buckets saturate (WavLM cfg `max_distance`; S3PRL's
            default is 1280, transformers' 800, so converters always take it from the checkpoint).
        gru_rel_pos: Gate the bias per layer and head from the attention input (WavLM cfg `gru_rel_pos`; every
            released WavLM does). Without it the bias is added as computed, and the layers have no gate weights.

    Example:
        >>> config = S3prlWavLMConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                           intermediate_size=64, num_buckets=64, max_bucket_distance=100)
        >>> config.num_layers, config.downsample_rates[0]
        (3, 320)
    """

    model_type = "s3prl_wavlm"

    num_buckets: int = 320
    max_bucket_distance: int = 800
    gru_rel_pos: bool = True

    def validate_relative_position_bias(self):
        """Reject bucket settings WavLM's bucket formula cannot use."""
        if self.num_buckets < 4 or self.max_bucket_distance <= self.num_buckets // 4:
            # WavLM's bucket formula takes log(max_distance / (num_buckets // 4)).
            raise ValueError(f"num_buckets={self.num_buckets} and max_bucket_distance={self.max_bucket_distance}: "
                             f"need num_buckets >= 4 and max_bucket_distance > num_buckets // 4")


# The released architectures: transformers' microsoft/wavlm-base, -base-plus and -large config.json (the
# official conversions of Microsoft's checkpoints: num_buckets 320, max_bucket_distance 800, conv_bias false;
# large: layer-norm extractor, pre-LN, 1024 x 24, 16 heads, 4096) and the WavLM paper (arXiv:2110.13900).
# A converted checkpoint always takes its architecture from its own cfg.
REFERENCE_CONFIGS: dict[str, dict] = {
    "wavlm_base": dict(num_buckets=320, max_bucket_distance=800),
    "wavlm_base_plus": dict(num_buckets=320, max_bucket_distance=800),
    "wavlm_large": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        feat_extract_norm="layer", do_stable_layer_norm=True, normalize_waveform=True,
        num_buckets=320, max_bucket_distance=800,
    ),
}

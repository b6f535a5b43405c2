"""Configuration of the data2vec family (data2vec_base_960, data2vec_large_ll60k)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlData2VecConfig(S3prlWav2Vec2Config):
    """Architecture of a data2vec (audio) upstream: the wav2vec 2.0 network with data2vec's positional conv stack.

    See `S3prlWav2Vec2Config` for the arguments; the defaults here are data2vec Base's (fairseq's
    examples/data2vec/config/audio/pretraining/base_librispeech.yaml): layer-norm extractor, a stack of 5
    positional convs of kernel 95 // 5 = 19 with 16 groups, normalised input. data2vec always has the feature
    projection and never crops frames.

    Example:
        >>> config = S3prlData2VecConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                              intermediate_size=64)
        >>> config.num_layers, config.conv_pos_kernel_size
        (3, 19)
    """

    model_type = "s3prl_data2vec"

    feat_extract_norm: str = "layer"
    num_conv_pos_embeddings: int = 95
    pos_conv_depth: int = 5
    normalize_waveform: bool = True


# The released architectures. Base: fairseq's base_librispeech.yaml (12 x 768, 12 heads, FFN 3072, conv_pos 95 in
# 5 layers, 16 groups, post-LN). Large: the data2vec paper's Large (24 x 1024, 16 heads, FFN 4096; no recipe in
# fairseq), post-LN like Base (transformers' facebook/data2vec-audio-large config has no pre-LN option). A
# converted checkpoint always takes its architecture from its own config.
REFERENCE_CONFIGS: dict[str, dict] = {
    "data2vec_base_960": dict(),
    "data2vec_large_ll60k": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                 intermediate_size=4096),
}

"""Configuration of the HuBERT family (hubert_base, hubert_large_ll60k, hubert_base_robust_mgr)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlHubertConfig(S3prlWav2Vec2Config):
    """Architecture of a HuBERT upstream: the wav2vec 2.0 network, with HuBERT's frame padding rule.

    See `S3prlWav2Vec2Config` for the arguments.

    Example:
        >>> config = S3prlHubertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                            intermediate_size=64)
        >>> config.num_layers, config.downsample_rates[0]
        (3, 320)
    """

    model_type = "s3prl_hubert"


# The released architectures, from fairseq's HuBERT pretraining recipes
# (examples/hubert/config/pretrain/hubert_base_librispeech.yaml and hubert_large_librivox.yaml) and the
# HuBERT paper (arXiv:2106.07447, Table 1). Used to check parameter counts and to describe the models in
# cards; a converted checkpoint always takes its architecture from its own config.
REFERENCE_CONFIGS: dict[str, dict] = {
    "hubert_base": dict(),
    "hubert_base_robust_mgr": dict(),  # HuBERT-MGR continues training hubert_base: same architecture
    "hubert_large_ll60k": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        feat_extract_norm="layer", do_stable_layer_norm=True, normalize_waveform=True,
        # fairseq's yaml leaves conv_bias at its default (False); transformers' facebook/hubert-large-ll60k
        # config.json says True. It changes 3.6 k of 316 M parameters; the converter reads the checkpoint.
        conv_bias=True,
    ),
    # HuBERT Base networks trained otherwise: ContentVec's recipe (contentvec/config/contentvec/contentvec.yaml:
    # the base extractor, post-LN, no conv bias, no input normalisation), mHuBERT (fairseq's base recipe on
    # VoxPopuli), MS-HuBERT (HuBERT Base with another pre-training loss, per its paper).
    "contentvec_km100": dict(),
    "contentvec_km500": dict(),
    "mhubert_base_vp_en_es_fr_it3": dict(),
    "ms_hubert": dict(),
}

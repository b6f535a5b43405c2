"""Configuration of the wav2vec 2.0 Conformer family (wav2vec2_conformer_relpos, wav2vec2_conformer_rope)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config

POSITION_EMBEDDING_TYPES = ("relative", "rotary", "absolute", None)


@strict
class S3prlWav2Vec2ConformerConfig(S3prlWav2Vec2Config):
    """Architecture of a wav2vec 2.0 Conformer upstream: wav2vec 2.0's CNN, then conformer layers.

    Field names follow `transformers.Wav2Vec2ConformerConfig`, whose modules are built from this config. fairseq
    (and S3PRL's copy, `Wav2Vec2Model`) runs a conformer in one of two encoders: `ConformerEncoder` for
    `pos_enc_type` rel_pos / rope, without positional conv (its weights are in the checkpoint, unused), or, for any
    other `pos_enc_type` ("abs"), the transformer encoder with conformer layers: the positional conv of
    `S3prlWav2Vec2Config` before them, attention without positions, and the sequence padded to a multiple of
    `required_seq_len_multiple` frames (the padded frames are masked keys, but the depthwise convs see them). See
    `S3prlWav2Vec2Config` for the shared arguments; defaults here are the released large conformers'.

    Args:
        position_embeddings_type: "relative" (Transformer-XL relative positions, fairseq `pos_enc_type=rel_pos`),
            "rotary" (`rope`), "absolute" (the transformer encoder's positional conv, `abs`), or None
            (`ConformerEncoder` without any position: `rope` with fairseq's own attention, which ignores it).
        seq_len_multiple: fairseq's `required_seq_len_multiple`, used by the transformer encoder ("absolute") only.
        conv_depthwise_kernel_size: Kernel of each layer's depthwise conv (`depthwise_conv_kernel_size`).
        rotary_embedding_base: Base of the rotary frequencies (fairseq hard-codes 10000).
        conformer_conv_dropout: Dropout in the convolution module (fairseq uses `dropout`).

    Example:
        >>> config = S3prlWav2Vec2ConformerConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                                       intermediate_size=64, position_embeddings_type="rotary")
        >>> config.num_layers, config.downsample_rates[0]
        (3, 320)
    """

    model_type = "s3prl_wav2vec2_conformer"

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    # fairseq's conformer layers always use swish, whatever `activation_fn` says
    hidden_act: str = "swish"
    feat_extract_norm: str = "layer"
    conv_bias: bool = True
    do_stable_layer_norm: bool = True
    normalize_waveform: bool = True
    position_embeddings_type: str | None = "relative"
    seq_len_multiple: int = 2
    conv_depthwise_kernel_size: int = 31
    rotary_embedding_base: int = 10000
    conformer_conv_dropout: float | int = 0.1

    def validate_conformer(self):
        """Reject position embeddings and kernels the conformer modules cannot build."""
        if self.position_embeddings_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(f"position_embeddings_type must be one of {POSITION_EMBEDDING_TYPES}, got "
                             f"{self.position_embeddings_type!r}")
        if self.conv_depthwise_kernel_size % 2 == 0:
            raise ValueError(f"conv_depthwise_kernel_size must be odd ('same' padding), got "
                             f"{self.conv_depthwise_kernel_size}")
        if self.position_embeddings_type == "rotary" and (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError("rotary position embeddings need an even head size, got "
                             f"{self.hidden_size // self.num_attention_heads}")
        if self.seq_len_multiple < 1:
            raise ValueError(f"seq_len_multiple must be at least 1, got {self.seq_len_multiple}")

    @property
    def uses_positional_conv(self) -> bool:
        """Whether fairseq runs these layers in its transformer encoder (positional conv, padding to a multiple)."""
        return self.position_embeddings_type == "absolute"


# The released architectures: fairseq's examples/wav2vec/config/pretraining/wav2vec2_conformer_large_librivox.yaml
# (24 conformer layers of 1024, 16 heads, FFN 4096, layer-norm extractor with conv bias, pre-LN, normalised input;
# depthwise kernel 31 = fairseq's Wav2Vec2Config default). rope is the same recipe with pos_enc_type=rope. A
# converted checkpoint always takes its architecture from its own config.
REFERENCE_CONFIGS: dict[str, dict] = {
    "wav2vec2_conformer_relpos": dict(position_embeddings_type="relative"),
    "wav2vec2_conformer_rope": dict(position_embeddings_type="rotary"),
    # fairseq's speech-to-speech "Conformer | LARGE" encoders (examples/speech_to_speech/docs/
    # enhanced_direct_s2st_discrete_units.md) do not say their position encoding: assumed to be the recipe's rel_pos.
    "wav2vec2_conformer_large_s2st_es_voxpopuli": dict(position_embeddings_type="relative"),
    "wav2vec2_conformer_large_s2st_en_librilight": dict(position_embeddings_type="relative"),
}

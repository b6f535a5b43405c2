"""Configuration of the MR-HuBERT family (multires_hubert_base, _large, _multilingual_*)."""

from __future__ import annotations

import math

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlMultiresHubertConfig(S3prlWav2Vec2Config):
    """Architecture of a multi-resolution HuBERT (MR-HuBERT) upstream.

    The network is a U-net of transformer blocks: one encoder block per resolution pair, each followed by a
    conv resampler to the next (lower) frame rate, a middle block at the lowest rate, then one resampler and
    decoder block per pair back up, each decoder output summed with the encoder output of its rate. The
    transformer layers, CNN front end and positional conv are wav2vec 2.0's; see `S3prlWav2Vec2Config` for
    those arguments. `num_hidden_layers` is derived: the number of transformer layers of all blocks.

    Args:
        resolution_ratios: One `(upsample, downsample)` pair per resampling step (fairseq `label_rate_ratios`
            read two by two): the frame rate of step i+1 is that of step i times `upsample / downsample`.
        encoder_block_layers: Transformer layers of each encoder block, one per pair (`encoder_layers`, or
            the first entries of `override_encoder_layers`).
        middle_block_layers: Transformer layers of the middle block.
        decoder_block_layers: Transformer layers of each decoder block, in the order they run.
        resampler_kernel_size: Kernel of the resampling convs (fairseq `conv_adapator_kernal`).
        plain_resampling: fairseq `use_plain_updownsample`: a strided conv down and a transposed conv up, instead
            of fairseq's `ConvAdapter` (a transposed conv up by `upsample`, then a strided conv down by
            `downsample`, with a highway sum).

    Example:
        >>> config = S3prlMultiresHubertConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64,
        ...                                    encoder_block_layers=[2], middle_block_layers=1,
        ...                                    decoder_block_layers=[2])
        >>> config.num_hidden_layers, config.num_layers, config.upsample_factors
        (5, 8, (1, 2))
    """

    model_type = "s3prl_multires_hubert"

    resolution_ratios: list[list[int]] | tuple[tuple[int, int], ...] = ((1, 2),)
    encoder_block_layers: list[int] | tuple[int, ...] = (4,)
    middle_block_layers: int = 4
    decoder_block_layers: list[int] | tuple[int, ...] = (4,)
    resampler_kernel_size: int = 1
    plain_resampling: bool = False

    def __post_init__(self, **kwargs):
        self.resolution_ratios = tuple(tuple(pair) for pair in self.resolution_ratios)
        self.encoder_block_layers = tuple(self.encoder_block_layers)
        self.decoder_block_layers = tuple(self.decoder_block_layers)
        self.num_hidden_layers = (sum(self.encoder_block_layers) + self.middle_block_layers
                                  + sum(self.decoder_block_layers))
        super().__post_init__(**kwargs)

    def validate_resolutions(self):
        """Reject block and resampling plans that fairseq's MR-HuBERT cannot build."""
        pairs = len(self.resolution_ratios)
        if any(len(pair) != 2 or min(pair) < 1 for pair in self.resolution_ratios):
            raise ValueError(f"resolution_ratios must be (upsample, downsample) pairs of positive ints, got "
                             f"{self.resolution_ratios}")
        if len(self.encoder_block_layers) != pairs or len(self.decoder_block_layers) != pairs:
            raise ValueError(f"{pairs} resolution pairs need {pairs} encoder and decoder blocks, got "
                             f"{self.encoder_block_layers} and {self.decoder_block_layers}")
        if min((*self.encoder_block_layers, *self.decoder_block_layers, self.middle_block_layers)) < 0:
            raise ValueError("block layer counts must not be negative")
        if self.resampler_kernel_size < 1:
            raise ValueError(f"resampler_kernel_size must be positive, got {self.resampler_kernel_size}")
        if self.plain_resampling and any(up != 1 for up, _ in self.resolution_ratios):
            raise ValueError(f"plain_resampling only downsamples by an integer (ratios (1, k)), got "
                             f"{self.resolution_ratios}")
        if self.pos_conv_depth != 1 or self.crop_seq_to_multiple != 1:
            raise ValueError("MR-HuBERT has one weight-normalised positional conv and never crops frames "
                             "(pos_conv_depth and crop_seq_to_multiple must be 1)")

    @property
    def feature_strides(self) -> tuple[int, ...]:
        """Input samples per frame at each resolution, as fairseq computes them (integer division)."""
        strides = [math.prod(self.conv_stride)]
        for up, down in self.resolution_ratios:
            strides.append(strides[-1] * down // up)
        return tuple(strides)

    @property
    def upsample_factors(self) -> tuple[int, ...]:
        """S3PRL's repeat factor of the hidden states at each resolution, finest first.

        S3PRL's expert takes `lcm(strides) // stride` per resolution and reverses the list. That is the true
        factor `stride / strides[0]` only when the strides are a geometric series (all released models: one
        (1, 2) pair); otherwise states are repeated by the wrong factor, as in S3PRL.
        """
        strides = self.feature_strides
        lcm = math.lcm(*strides)
        return tuple(lcm // stride for stride in strides)[::-1]

    @property
    def blocks(self) -> tuple[tuple[str, int, int], ...]:
        """`(name, layers, upsample factor)` of each transformer block, in the order S3PRL records them."""
        factors = self.upsample_factors
        pairs = len(self.resolution_ratios)
        encoders = [(f"encoders.{i}", n, factors[i]) for i, n in enumerate(self.encoder_block_layers)]
        middle = [("middle_encoder", self.middle_block_layers, factors[pairs])]
        decoders = [(f"decoders.{i}", n, factors[pairs - 1 - i]) for i, n in enumerate(self.decoder_block_layers)]
        return tuple(encoders + middle + decoders)

    @property
    def num_layers(self) -> int:
        # each block: the input of every layer, then the block's output
        return self.num_hidden_layers + len(self.blocks)


# The released architectures, from fairseq's MR-HuBERT recipes (examples/mr_hubert/config/pretrain/
# mrhubert_base_librispeech.yaml: 4 layers per block, 768 wide; mrhubert_large_librilight.yaml: 8 per block, 1024
# wide, pre-LN, layer-norm extractor, normalised input; both conv_adapator_kernal 1) and its README's one
# (1, 2) ratio (`task.label_rate_ratios='[1, 2]'`). The README sizes the multilingual models like the monolingual
# ones (~97M, ~321M); their recipes are not published, so their input normalisation is not known here. Used to
# describe the models in cards; a converted checkpoint always takes its architecture from its own config.
_BASE = dict(resampler_kernel_size=1, encoder_block_layers=(4,), middle_block_layers=4, decoder_block_layers=(4,))
_LARGE = dict(resampler_kernel_size=1, encoder_block_layers=(8,), middle_block_layers=8, decoder_block_layers=(8,),
              hidden_size=1024, num_attention_heads=16, intermediate_size=4096, feat_extract_norm="layer",
              do_stable_layer_norm=True)
REFERENCE_CONFIGS: dict[str, dict] = {
    "multires_hubert_base": dict(_BASE),
    "multires_hubert_large": dict(_LARGE, normalize_waveform=True),
    "multires_hubert_multilingual_base": dict(_BASE),
    "multires_hubert_multilingual_large400k": dict(_LARGE),
    "multires_hubert_multilingual_large600k": dict(_LARGE),
}

"""Configuration of wav2vec 1.0 and vq-wav2vec (fairseq's `Wav2VecModel`, S3PRL's `upstream/wav2vec`).

One network covers both: a CNN feature extractor on the raw waveform, an optional vector quantiser (vq-wav2vec's
Gumbel-softmax or k-means), and a causal CNN context network (the "aggregator"). S3PRL's `upstream/vq_wav2vec`
expert is an import of the wav2vec one. The fields keep fairseq's `Wav2VecConfig` option names where they exist;
the converter reads every one of them from the checkpoint.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

# S3PRL's expert reports 160 samples per frame for every hidden state, whatever the strides (`get_downsample_rates`).
DOWNSAMPLE_RATE = 160
ACTIVATIONS = ("relu", "gelu")
VQ_TYPES = ("none", "gumbel", "kmeans")


@strict
class S3prlWav2VecConfig(UpstreamConfig):
    """Architecture of a wav2vec 1.0 / vq-wav2vec upstream (fairseq's option in brackets).

    Args:
        conv_dim: Output channels of each feature-extractor conv (`conv_feature_layers`).
        conv_kernel: Kernel size of each feature-extractor conv.
        conv_stride: Stride of each feature-extractor conv.
        aggregator_dim: Output channels of each context-network conv (`conv_aggregator_layers`).
        aggregator_kernel: Kernel size of each context-network conv (left-padded by kernel - 1: causal).
        aggregator_stride: Stride of each context-network conv.
        activation: "relu" or "gelu" (`activation`), after every conv and inside the Gumbel projection.
        log_compression: `log(|z| + 1)` on the feature extractor's output (`log_compression`).
        skip_connections_feat: Residual connections in the feature extractor, where the channels match
            (`skip_connections_feat`).
        skip_connections_agg: Residual connections in the context network (`skip_connections_agg`); a 1x1 conv
            projects the residual where the channels change.
        residual_scale: Residual sums are scaled by `sqrt(residual_scale)` (`residual_scale`).
        non_affine_group_norm: The GroupNorms have no weight and bias (`non_affine_group_norm`).
        aggregator_conv_bias: The context-network convs have a bias (not `no_conv_bias`).
        aggregator_zero_pad: Left-pad the context network's inputs with zeros instead of repeating the first
            frame (`agg_zero_pad`).
        vq_type: "none" (wav2vec), "gumbel" or "kmeans" (vq-wav2vec) (`vq_type`).
        vq_vars: Codewords per group (`vq_vars`).
        vq_groups: Codeword groups (`vq_groups`).
        vq_dim: Width of the quantised vectors; 0 = the feature width (`vq_dim`). Must equal the feature width,
            which the context network takes as input.
        vq_depth: Layers of the Gumbel quantiser's logit projection (`vq_depth`; k-means ignores it).
        combine_groups: All groups share one codebook (`combine_groups`).
        vq_temperature: Gumbel-softmax temperature in training mode (the start of `vq_temp`, where fairseq's
            schedule begins and S3PRL stays).
        dropout: Dropout inside the context-network blocks (`dropout`).
        dropout_features: Dropout on the context network's input (`dropout_features`).

    Example:
        >>> config = S3prlWav2VecConfig(conv_dim=(16,) * 7, aggregator_dim=(16,) * 4, aggregator_kernel=(2, 3, 4, 5),
        ...                             aggregator_stride=(1,) * 4)
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates[0]
        (5, (16, 16, 16, 16, 16), 160)
    """

    model_type = "s3prl_wav2vec"

    conv_dim: list[int] | tuple[int, ...] = (512,) * 7
    conv_kernel: list[int] | tuple[int, ...] = (10, 8, 4, 4, 4, 1, 1)
    conv_stride: list[int] | tuple[int, ...] = (5, 4, 2, 2, 2, 1, 1)
    aggregator_dim: list[int] | tuple[int, ...] = (512,) * 12
    aggregator_kernel: list[int] | tuple[int, ...] = tuple(range(2, 14))
    aggregator_stride: list[int] | tuple[int, ...] = (1,) * 12
    activation: str = "relu"
    log_compression: bool = True
    skip_connections_feat: bool = False
    skip_connections_agg: bool = True
    residual_scale: float | int = 0.5
    non_affine_group_norm: bool = False
    aggregator_conv_bias: bool = True
    aggregator_zero_pad: bool = False
    vq_type: str = "none"
    vq_vars: int = 320
    vq_groups: int = 2
    vq_dim: int = 0
    vq_depth: int = 1
    combine_groups: bool = False
    vq_temperature: float | int = 2.0
    dropout: float | int = 0.0
    dropout_features: float | int = 0.0

    def validate_architecture(self):
        """Reject what S3PRL's network cannot build or run, before any module is built."""
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) > 0:
            raise ValueError(f"conv_dim, conv_kernel and conv_stride must have the same non-zero length, got "
                             f"{len(self.conv_dim)}, {len(self.conv_kernel)} and {len(self.conv_stride)}")
        if not len(self.aggregator_dim) == len(self.aggregator_kernel) == len(self.aggregator_stride) > 0:
            raise ValueError(f"aggregator_dim, aggregator_kernel and aggregator_stride must have the same non-zero "
                             f"length, got {len(self.aggregator_dim)}, {len(self.aggregator_kernel)} and "
                             f"{len(self.aggregator_stride)}")
        if self.skip_connections_agg and any(s != 1 for s in self.aggregator_stride):
            raise ValueError(f"aggregator strides {tuple(self.aggregator_stride)}: with skip connections every "
                             f"stride must be 1 (fairseq's residual sum fails otherwise)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.vq_type not in VQ_TYPES:
            raise ValueError(f"vq_type must be one of {VQ_TYPES}, got {self.vq_type!r}")
        if self.vq_type != "none":
            if self.vq_vars < 1 or self.vq_groups < 1 or self.vq_depth < 1:
                raise ValueError(f"vq_vars ({self.vq_vars}), vq_groups ({self.vq_groups}) and vq_depth "
                                 f"({self.vq_depth}) must be at least 1")
            if self.quantizer_dim != self.conv_dim[-1]:
                raise ValueError(f"vq_dim {self.vq_dim}: the quantised vectors feed the context network, whose input "
                                 f"width is the feature width {self.conv_dim[-1]} (use 0 or {self.conv_dim[-1]})")
            if self.quantizer_dim % self.vq_groups:
                raise ValueError(f"the quantised width {self.quantizer_dim} is not divisible by vq_groups "
                                 f"{self.vq_groups}")

    @property
    def quantizer_dim(self) -> int:
        """Width of the quantised vectors (fairseq: `vq_dim` if > 0, else the feature width)."""
        return self.vq_dim if self.vq_dim > 0 else self.conv_dim[-1]

    @property
    def num_layers(self) -> int:
        return len(self.aggregator_dim) + 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.conv_dim[-1], *self.aggregator_dim)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (DOWNSAMPLE_RATE,) * self.num_layers


# The released architectures, from fairseq's README training commands (examples/wav2vec/README.md) and the papers
# (wav2vec, arXiv:1904.05862, §3: 5 + 2 feature convs, 12 context convs with kernels 2..13, skip connections, log
# compression; vq-wav2vec, arXiv:1910.05453, §4: one more 1x1 feature conv, GELU, 2 groups of 320 codewords). The
# README trains both quantisers with --combine-groups, but the published size of vq_wav2vec_gumbel (SUPERB,
# arXiv:2105.01051, Table 1: 34.15M) is that of two separate codebooks (combine_groups off: 34,145,408 parameters
# with the prediction head, against 34,063,488 shared), while vq-wav2vec_kmeans.pt's codebook is reported as
# (320, 1, 256), i.e. shared (github.com/X-LANCE/UniCATS-CTX-vec2wav/issues/4). Neither file was inspected here. Used
# to check parameter counts and to describe the models in cards; a converted checkpoint always takes its
# architecture from its own config.
_FEAT8 = dict(conv_dim=(512,) * 8, conv_kernel=(10, 8, 4, 4, 4, 1, 1, 1), conv_stride=(5, 4, 2, 2, 2, 1, 1, 1))
_VQ = dict(_FEAT8, activation="gelu", log_compression=False, vq_vars=320, vq_groups=2, vq_depth=2)
REFERENCE_CONFIGS: dict[str, dict] = {
    "wav2vec_large": dict(),
    "vq_wav2vec_gumbel": dict(_VQ, vq_type="gumbel", combine_groups=False),
    "vq_wav2vec_kmeans": dict(_VQ, vq_type="kmeans", combine_groups=True),
}

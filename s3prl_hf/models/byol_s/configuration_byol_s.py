"""Configuration of BYOL-S (S3PRL's `upstream/byol_s/{hubconf,expert}.py`, `serab_byols/{serab,utils,config.yaml}`
and `byol_a/models/{audio_ntt,resnetish,cvt}.py`).

S3PRL picks the network by the hub name's `model_name` and builds it from `serab_byols/config.yaml`:
`default` = AudioNTT2020(64 mels, 2048), `resnetish34` = a ResNet-34 of BasicBlocks on the 1-channel log-mel,
`cvt` = a 3-stage convolutional transformer. All three end in max + mean over time of (mel x channels) features.
Here the network is `encoder_type` and its sizes are fields, read from the checkpoint's weights by the converter.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig
from ..byol_a.configuration_byol_a import validate_audio_ntt

ENCODER_TYPES = ("audio_ntt", "resnetish", "cvt")
# serab_byols/config.yaml
BYOL_S_FRONTEND = dict(n_fft=1024, win_length=400, hop_length=160, n_mels=64, f_min=60.0, f_max=7800.0)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a conv / pool along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


@strict
class S3prlByolSConfig(UpstreamConfig):
    """Architecture and frontend of a BYOL-S upstream.

    Args:
        encoder_type: "audio_ntt" (`default`), "resnetish" (`resnetish34`) or "cvt" (`cvt`).
        conv_channels: audio_ntt: output channels of each conv block (three of 64).
        feature_d: audio_ntt: width of the MLP and the embedding (`cfg.feature_d`, 2048).
        hidden_dropout: audio_ntt: dropout between the MLP's layers (inactive in eval mode).
        resnet_stem_channels, resnet_stem_kernel: resnetish: the 1-channel stem conv (64, 7x7, stride 1).
        resnet_layers: resnetish: BasicBlocks per stage ([3, 4, 6, 3] for ResNet-34).
        resnet_widths: resnetish: channels per stage ([64, 128, 256, 512]); stage i > 0 has stride 2.
        cvt_embed_dims, cvt_embed_kernels, cvt_embed_strides: cvt: each stage's conv embedding.
        cvt_proj_kernels, cvt_kv_proj_strides: cvt: the depthwise conv projections of q and k / v.
        cvt_heads, cvt_dim_head: cvt: attention heads per stage (1, 3, 6) of `cvt_dim_head` (64) channels.
        cvt_depths, cvt_mlp_mults: cvt: transformer layers per stage and feed-forward width multipliers.
        cvt_pool: cvt: S3PRL's `cvt_pool` ("mean+max", the only one config.yaml uses).
        n_fft, win_length, hop_length, n_mels, f_min, f_max: torchaudio `MelSpectrogram` (serab_byols config.yaml).
        window_secs, hop_secs: the expert's 1 s frames every 50 ms.
        s3prl_nan_silence: Reproduce S3PRL's normalisation of a batch whose log-mel is constant (digital silence
            throughout): its std is 0, and S3PRL divides by it, giving inf / NaN hidden states. Off by default: the
            std is taken as 1, so the hidden states stay finite; any other batch is S3PRL's numbers either way.

    Example:
        >>> config = S3prlByolSConfig(encoder_type="cvt", cvt_embed_dims=[8, 16, 32], cvt_heads=[1, 1, 1])
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates
        (1, (128,), (800,))
    """

    model_type = "s3prl_byol_s"

    encoder_type: str = "audio_ntt"
    conv_channels: list[int] | tuple[int, ...] = (64, 64, 64)
    feature_d: int = 2048
    hidden_dropout: float | int = 0.3
    resnet_stem_channels: int = 64
    resnet_stem_kernel: int = 7
    resnet_layers: list[int] | tuple[int, ...] = (3, 4, 6, 3)
    resnet_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    cvt_embed_dims: list[int] | tuple[int, ...] = (64, 256, 512)
    cvt_embed_kernels: list[int] | tuple[int, ...] = (7, 3, 3)
    cvt_embed_strides: list[int] | tuple[int, ...] = (4, 2, 2)
    cvt_proj_kernels: list[int] | tuple[int, ...] = (3, 3, 3)
    cvt_kv_proj_strides: list[int] | tuple[int, ...] = (2, 2, 2)
    cvt_heads: list[int] | tuple[int, ...] = (1, 3, 6)
    cvt_dim_head: int = 64
    cvt_depths: list[int] | tuple[int, ...] = (1, 1, 1)
    cvt_mlp_mults: list[int] | tuple[int, ...] = (4, 4, 4)
    cvt_pool: str = "mean+max"
    n_fft: int = BYOL_S_FRONTEND["n_fft"]
    win_length: int = BYOL_S_FRONTEND["win_length"]
    hop_length: int = BYOL_S_FRONTEND["hop_length"]
    n_mels: int = BYOL_S_FRONTEND["n_mels"]
    f_min: float | int = BYOL_S_FRONTEND["f_min"]
    f_max: float | int = BYOL_S_FRONTEND["f_max"]
    window_secs: float | int = 1.0
    hop_secs: float | int = 0.05
    s3prl_nan_silence: bool = False

    def validate_architecture(self):
        """Settings S3PRL's networks can be built with."""
        if self.encoder_type not in ENCODER_TYPES:
            raise ValueError(f"encoder_type {self.encoder_type!r} must be one of {ENCODER_TYPES}")
        if self.encoder_type == "audio_ntt":
            validate_audio_ntt(self.conv_channels, self.n_mels)
        elif self.encoder_type == "resnetish":
            if not self.resnet_layers or len(self.resnet_layers) != len(self.resnet_widths) or \
                    min(self.resnet_layers) < 1:
                raise ValueError(f"resnet_layers {list(self.resnet_layers)} and resnet_widths "
                                 f"{list(self.resnet_widths)} must be equally long, with at least one block a stage")
            if self.resnet_stem_kernel % 2 == 0:
                raise ValueError(f"resnet_stem_kernel {self.resnet_stem_kernel} must be odd")
        else:
            lists = (self.cvt_embed_dims, self.cvt_embed_kernels, self.cvt_embed_strides, self.cvt_proj_kernels,
                     self.cvt_kv_proj_strides, self.cvt_heads, self.cvt_depths, self.cvt_mlp_mults)
            if not self.cvt_embed_dims or len({len(v) for v in lists}) != 1:
                raise ValueError("the cvt_* lists must all have one entry per stage")
            if self.cvt_pool != "mean+max":
                raise ValueError(f"cvt_pool {self.cvt_pool!r}: only S3PRL's 'mean+max' is supported")
        if self.mel_bins_out < 1:
            raise ValueError(f"{self.n_mels} mel bins do not survive the network's downsampling")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")

    @property
    def frame_samples(self) -> int:
        """Samples per frame: `int(frame_duration / 1000 * sample_rate)` in serab's frame_audio."""
        return int(self.window_secs * 1000 / 1000 * self.sampling_rate)

    @property
    def hop_samples(self) -> int:
        """Samples between frames: `int(hop_size / 1000.0 * sample_rate)` in serab's frame_audio."""
        return int(self.hop_secs * 1000 / 1000.0 * self.sampling_rate)

    @property
    def mel_bins_out(self) -> int:
        """Mel rows left at the network's output."""
        size = self.n_mels
        if self.encoder_type == "audio_ntt":
            return size // 2 ** len(self.conv_channels)
        if self.encoder_type == "resnetish":
            size = conv_output_size(size, self.resnet_stem_kernel, 1, self.resnet_stem_kernel // 2)
            size = conv_output_size(size, 3, 2, 1)  # max pool
            for _ in self.resnet_widths[1:]:
                size = conv_output_size(size, 3, 2, 1)
            return size
        for kernel, stride in zip(self.cvt_embed_kernels, self.cvt_embed_strides):
            size = conv_output_size(size, kernel, stride, kernel // 2)
        return size

    @property
    def embedding_size(self) -> int:
        """Width of the embedding: the MLP's, or (last channels x mel rows left) for the others."""
        if self.encoder_type == "audio_ntt":
            return self.feature_d
        channels = self.resnet_widths[-1] if self.encoder_type == "resnetish" else self.cvt_embed_dims[-1]
        return int(channels) * self.mel_bins_out

    @property
    def num_layers(self) -> int:
        return 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.embedding_size,)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        # the expert's get_downsample_rates: int(hop_size / 1000 * SAMPLE_RATE)
        return (int(self.hop_secs * 1000 / 1000 * self.sampling_rate),)


# serab_byols/config.yaml and the code defaults S3PRL builds the three released networks with.
REFERENCE_CONFIGS: dict[str, dict] = {
    "byol_s_default": dict(encoder_type="audio_ntt", conv_channels=[64, 64, 64], feature_d=2048),
    "byol_s_resnetish34": dict(encoder_type="resnetish", resnet_stem_channels=64, resnet_stem_kernel=7,
                               resnet_layers=[3, 4, 6, 3], resnet_widths=[64, 128, 256, 512]),
    "byol_s_cvt": dict(encoder_type="cvt", cvt_embed_dims=[64, 256, 512], cvt_embed_kernels=[7, 3, 3],
                       cvt_embed_strides=[4, 2, 2], cvt_proj_kernels=[3, 3, 3], cvt_kv_proj_strides=[2, 2, 2],
                       cvt_heads=[1, 3, 6], cvt_dim_head=64, cvt_depths=[1, 1, 1], cvt_mlp_mults=[4, 4, 4]),
}

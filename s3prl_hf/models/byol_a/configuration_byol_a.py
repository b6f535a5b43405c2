"""Configuration of BYOL-A (S3PRL's `upstream/byol_a/{hubconf,expert,byol_a}.py` and `config.yaml`).

S3PRL's expert cuts the batch into 1 s windows every 1 s, computes torchaudio's `MelSpectrogram` of each window
(the FFT settings of `upstream/byol_a/config.yaml`), takes `log(x + eps)`, normalises with fixed statistics written
in the expert (-5.4919195, 5.0389895) and runs `AudioNTT2020` on each window: conv blocks (Conv3x3, BatchNorm, ReLU,
MaxPool2), a two-layer MLP on every time step (mel x channels flattened), then max + mean over time. One hidden
state: the window embeddings, one per second.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

# S3PRL's upstream/byol_a/config.yaml (FFT settings) and the statistics the expert hard-codes.
BYOL_A_FRONTEND = dict(n_fft=1024, win_length=1024, hop_length=160, n_mels=64, f_min=60.0, f_max=7800.0)
BYOL_A_STATS = (-5.4919195, 5.0389895)


@strict
class S3prlByolAConfig(UpstreamConfig):
    """Architecture and frontend of a BYOL-A upstream (S3PRL's names in brackets).

    Args:
        conv_channels: Output channels of each conv block (AudioNTT2020's `features`; S3PRL: three blocks of 64).
        hidden_size: Width of the MLP and of the embedding (`feature_d`: 2048, 1024 or 512 for the released names).
        hidden_dropout: Dropout between the MLP's layers (0.3; inactive in eval mode).
        n_fft, win_length, hop_length, n_mels, f_min, f_max: torchaudio `MelSpectrogram` settings (`config.yaml`).
        norm_mean, norm_std: The fixed normalisation of the log-mel spectrogram (`PrecomputedNorm` stats).
        window_secs, stride_secs: Window and hop of the 1 s segments the expert embeds (its defaults).

    Example:
        >>> config = S3prlByolAConfig(hidden_size=32, conv_channels=[8, 8, 8])
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates
        (1, (32,), (16000,))
    """

    model_type = "s3prl_byol_a"

    conv_channels: list[int] | tuple[int, ...] = (64, 64, 64)
    hidden_size: int = 2048
    hidden_dropout: float | int = 0.3
    n_fft: int = BYOL_A_FRONTEND["n_fft"]
    win_length: int = BYOL_A_FRONTEND["win_length"]
    hop_length: int = BYOL_A_FRONTEND["hop_length"]
    n_mels: int = BYOL_A_FRONTEND["n_mels"]
    f_min: float | int = BYOL_A_FRONTEND["f_min"]
    f_max: float | int = BYOL_A_FRONTEND["f_max"]
    norm_mean: float = BYOL_A_STATS[0]
    norm_std: float = BYOL_A_STATS[1]
    window_secs: float | int = 1.0
    stride_secs: float | int = 1.0

    def validate_architecture(self):
        """Shapes S3PRL's AudioNTT2020 can be built with."""
        validate_audio_ntt(self.conv_channels, self.n_mels)
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        window, stride = int(self.window_secs * self.sampling_rate), int(self.stride_secs * self.sampling_rate)
        if window <= self.n_fft // 2 or stride < 1:
            raise ValueError(f"window_secs {self.window_secs} / stride_secs {self.stride_secs} too short")

    @property
    def fc_input_size(self) -> int:
        """Input width of the MLP: the last block's channels times the mel bins left after the poolings."""
        return audio_ntt_fc_input(self.conv_channels, self.n_mels)

    @property
    def num_layers(self) -> int:
        return 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        # the expert's get_downsample_rates: int(stride_secs * SAMPLE_RATE)
        return (int(self.stride_secs * self.sampling_rate),)


def validate_audio_ntt(conv_channels, n_mels: int) -> None:
    """Reject conv settings that leave no mel bin after the 2x2 poolings."""
    if not conv_channels or any(int(c) < 1 for c in conv_channels):
        raise ValueError(f"conv_channels {list(conv_channels)} must be a non-empty list of positive ints")
    if n_mels // 2 ** len(conv_channels) < 1:
        raise ValueError(f"{n_mels} mel bins do not survive {len(conv_channels)} 2x2 max-poolings")


def audio_ntt_fc_input(conv_channels, n_mels: int) -> int:
    """`64 * (n_mels // 2**3)` in AudioNTT2020, for any channels and depth."""
    return int(conv_channels[-1]) * (n_mels // 2 ** len(conv_channels))


# The released names: S3PRL's hubconf passes feature_d = 2048 / 1024 / 512; the rest is fixed in code and config.
REFERENCE_CONFIGS: dict[str, dict] = {
    "byol_a_2048": dict(hidden_size=2048),
    "byol_a_1024": dict(hidden_size=1024),
    "byol_a_512": dict(hidden_size=512),
}

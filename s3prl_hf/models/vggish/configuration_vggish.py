"""Configuration of VGGish (S3PRL's `upstream/vggish/{expert,audio,vggish,vggish_params}.py`).

S3PRL's network is Harri Taylor's torchvggish port of Google's VGGish: `make_layers()` (3x3 convs with ReLU and 2x2
max-pools, `[64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]`), a transpose to TensorFlow's (H, W, C) order, three
linear layers with ReLU (`12288 -> 4096 -> 4096 -> 128`), then the `Postprocessor`: PCA (with whitening), clamp to
[-2, 2] and 8-bit quantisation to the levels 0..255. The log-mel examples come from `audio.py` (numpy, float64).

`vggish_params.py` fixes every size; the converter reads the layer sizes from the weights anyway and checks that
they fit the frontend. The frontend fields are S3PRL's constants; they exist so that a tiny test model can use short
windows, and converted checkpoints always carry S3PRL's values.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

# vggish_params.py: 0.025 s / 0.010 s STFT at 16 kHz, 64 mel bins in 125-7500 Hz, log offset 0.01, examples of
# 0.96 s (96 frames) with hop 0.96 s, quantisation range [-2, 2].
STFT_WINDOW_LENGTH = 400
STFT_HOP_LENGTH = 160
NUM_MEL_BINS = 64
EXAMPLE_WINDOW_FRAMES = 96
# expert.py: get_downsample_rates returns 16000 (one output per second), although an example covers 15360 samples.
DOWNSAMPLE_RATE = 16000
FEATURES_CONFIG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")
EMBEDDING_SIZES = (4096, 4096, 128)


@strict
class S3prlVggishConfig(UpstreamConfig):
    """Architecture of a VGGish upstream.

    Args:
        features_config: S3PRL's `make_layers` list: an int is a 3x3 conv (padding 1) with that many output channels
            followed by ReLU, "M" a 2x2 max-pool.
        embedding_sizes: Output sizes of the linear layers after the conv stack (each followed by ReLU).
        pca_size: Output size of the PCA matrix of the postprocessor (`pca_eigen_vectors` rows).
        stft_window_length: STFT frame in samples (`STFT_WINDOW_LENGTH_SECONDS` * 16 kHz); the FFT length is the
            next power of two, as in `audio.py`.
        stft_hop_length: STFT hop in samples.
        num_mel_bins: Mel bands (HTK mel scale, DC bin zeroed).
        mel_min_hz: Lower edge of the mel filterbank.
        mel_max_hz: Upper edge of the mel filterbank.
        log_offset: Added to the mel energies before the log.
        example_window_frames: Frames per example (`EXAMPLE_WINDOW_SECONDS`); incomplete examples are dropped.
        example_hop_frames: Hop between examples in frames (`EXAMPLE_HOP_SECONDS`).
        quantize_min_val: Lower clamp of the PCA output.
        quantize_max_val: Upper clamp of the PCA output.
        downsample_rate: Samples per output frame as S3PRL reports it (16000), which sets the output lengths.

    Example:
        >>> config = S3prlVggishConfig()
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates, config.min_input_samples
        (1, (128,), (16000,), 15600)
    """

    model_type = "s3prl_vggish"

    features_config: list[int | str] | tuple[int | str, ...] = FEATURES_CONFIG
    embedding_sizes: list[int] | tuple[int, ...] = EMBEDDING_SIZES
    pca_size: int = 128
    stft_window_length: int = STFT_WINDOW_LENGTH
    stft_hop_length: int = STFT_HOP_LENGTH
    num_mel_bins: int = NUM_MEL_BINS
    mel_min_hz: float | int = 125.0
    mel_max_hz: float | int = 7500.0
    log_offset: float = 0.01
    example_window_frames: int = EXAMPLE_WINDOW_FRAMES
    example_hop_frames: int = EXAMPLE_WINDOW_FRAMES
    quantize_min_val: float = -2.0
    quantize_max_val: float = 2.0
    downsample_rate: int = DOWNSAMPLE_RATE

    def __post_init__(self, **kwargs):
        self.features_config = [v if v == "M" else int(v) for v in self.features_config]
        self.embedding_sizes = [int(v) for v in self.embedding_sizes]
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Reject layer lists the network cannot be built from."""
        if not any(v != "M" for v in self.features_config) or any(
                not (v == "M" or (isinstance(v, int) and v > 0)) for v in self.features_config):
            raise ValueError(f"features_config {self.features_config}: expected positive conv widths and 'M' "
                             f"max-pools, with at least one conv")
        if not self.embedding_sizes or min(self.embedding_sizes) <= 0:
            raise ValueError(f"embedding_sizes {self.embedding_sizes}: expected at least one positive size")
        if self.flattened_size <= 0:
            raise ValueError(f"features_config {self.features_config} pools a {self.example_window_frames} x "
                             f"{self.num_mel_bins} example down to nothing")
        if self.mel_max_hz > self.sampling_rate / 2 or not 0 <= self.mel_min_hz < self.mel_max_hz:
            raise ValueError(f"mel range {self.mel_min_hz}-{self.mel_max_hz} Hz must be ordered and below Nyquist")

    @property
    def fft_length(self) -> int:
        """`audio.py`: `2 ** ceil(log2(window))` (512 for 400 samples)."""
        import math

        return 2 ** int(math.ceil(math.log(self.stft_window_length) / math.log(2.0)))

    @property
    def flattened_size(self) -> int:
        """Input size of the first linear layer: channels x pooled frames x pooled bands."""
        pools = sum(v == "M" for v in self.features_config)
        channels = [v for v in self.features_config if v != "M"][-1]
        return channels * (self.example_window_frames >> pools) * (self.num_mel_bins >> pools)

    @property
    def min_input_samples(self) -> int:
        """Shortest utterance that yields one complete example (15600 samples = 0.975 s for S3PRL's values)."""
        return self.stft_window_length + (self.example_window_frames - 1) * self.stft_hop_length

    @property
    def num_layers(self) -> int:
        return 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.pca_size,)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (self.downsample_rate,)


# torchvggish's release (vggish-10086976.pth + vggish_pca_params-970ea276.pth): S3PRL's fixed sizes.
REFERENCE_CONFIGS: dict[str, dict] = {
    "vggish": dict(features_config=list(FEATURES_CONFIG), embedding_sizes=list(EMBEDDING_SIZES), pca_size=128),
}

"""Configuration of PaSST (S3PRL's `upstream/passt`, the vendored `hear21passt` 0.0.18 of kkoutini/passt_hear21).

S3PRL's expert (`upstream/passt/expert.py`) and the package it vendors compute, in eval mode:

1. `pad_sequence` of the batch (zeros to the longest utterance), torchaudio's `Resample(16000, 32000)`;
2. timestamp windows (`PasstBasicWrapper.get_timestamp_embeddings`): the 32 kHz batch reflect-padded by half a
   window on both sides and cut into windows of `window_secs` (0.16 s = 5120 samples) every `stride_secs`
   (0.05 s = 1600 samples), so utterance `i` of the padded batch has `len // 800 + 1` windows at 16 kHz;
3. per window, `AugmentMelSTFT` (eval: no augmentation): pre-emphasis `x[n + 1] - 0.97 x[n]`, a centred STFT
   (n_fft 1024, 800-sample symmetric Hann window, hop `mel_hop_length`), power, kaldi's 128-bin mel filterbank
   (0 - 15000 Hz, `torchaudio.compliance.kaldi.get_mel_banks`, a zero column for the Nyquist bin), `log(x + 1e-5)`,
   `(x + 4.5) / 5`;
4. PaSST (timm's DeiT-distilled ViT with separate frequency / time positional embeddings): 16x16 patches every
   (10, 10) bins / frames, the time embedding cut to the window's patches, a class and a distillation token, pre-LN
   blocks (LayerNorm eps 1e-6), a final LayerNorm; `features = (x[:, 0] + x[:, 1]) / 2` and the AudioSet head's
   logits (`LayerNorm` eps 1e-5 + `Linear`), concatenated as `[logits, features]` (527 + 768 = 1295);
5. the 2-level entries concatenate a second pass with windows `window_scales[1]` times longer (base2level and the
   hop-100/160 entries: 5, base2levelmel: 4); the mel entries add the window's raw mel spectrogram
   (`get_timestamp_mels`: `mel_window_samples` samples, 6 frames x 128 bins = 768 values).

S3PRL returns that concatenation as its only hidden state, one frame per `int(stride_secs * 16000)` samples. Which
windows and mel hop a hub entry uses is fixed by its hear21passt module, not by the checkpoint: the converter takes
them from `REFERENCE_CONFIGS` and checks them against the positional-embedding shapes.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

SAMPLE_RATE = 16000
MODEL_SAMPLE_RATE = 32000  # the expert resamples 16 kHz input to PaSST's 32 kHz
# AugmentMelSTFT as every hear21passt module builds it
NUM_MEL_BINS = 128
N_FFT = 1024
WIN_LENGTH = 800
MEL_FMIN = 0.0
MEL_FMAX = MODEL_SAMPLE_RATE // 2 - 2000 // 2  # fmax=None: sr // 2 - fmax_aug_range // 2
PREEMPHASIS = 0.97
LOG_OFFSET = 1e-5
NORM_SHIFT = 4.5  # "fast normalization": (log_mel + 4.5) / 5
NORM_SCALE = 5.0
# get_timestamp_mels reshapes each window's mel spectrogram to 128 * 6 values
MEL_EMBEDDING_FRAMES = 6
NUM_SPECIAL_TOKENS = 2  # class + distillation token


@strict
class S3prlPasstConfig(UpstreamConfig):
    """A PaSST upstream (S3PRL's `passt_*` hub entries); see the module docstring for what S3PRL computes.

    Args:
        hidden_size: Token width (timm `embed_dim`).
        num_hidden_layers: Transformer blocks (timm `depth`).
        num_attention_heads: Attention heads; no weight records them (S3PRL builds 12).
        intermediate_size: Feed-forward width (`int(embed_dim * mlp_ratio)`).
        qkv_bias: Whether the fused qkv projection has a bias (PaSST: yes).
        layer_norm_eps: Epsilon of the blocks' and the final LayerNorm (timm: 1e-6).
        hidden_act: Feed-forward activation (timm: erf GELU).
        hidden_dropout_prob: Dropout after attention and feed-forward (0).
        attention_probs_dropout_prob: Dropout on attention weights (0).
        patch_size: (frequency, time) kernel of the patch projection, from its weight.
        frequency_stride: Patch stride over mel bins (S3PRL: 10).
        time_stride: Patch stride over frames (S3PRL: 10).
        frequency_patches: Rows of the frequency positional embedding (`128 // 10 = 12`).
        time_patches: Columns of the time positional embedding (`input_tdim // 10`: 99 for 10 s at hop 320, 200 for
            20 s or 10 s at hop 160, 300 for 30 s, 320 for 10 s at hop 100); a window uses the first ones.
        num_labels: Classes of the head (527 AudioSet classes).
        head_layer_norm_eps: Epsilon of the head's LayerNorm (`nn.LayerNorm` default, 1e-5).
        mel_hop_length: STFT hop of the mel frontend in 32 kHz samples (320, 160 or 100).
        window_secs: Timestamp window (S3PRL's `window_secs` option, 0.16).
        stride_secs: Timestamp hop (S3PRL's `stride_secs` option, 0.05); also the downsample rate.
        window_scales: One pass per entry, with windows of `scale * window` samples; their embeddings are
            concatenated in this order (`[1]`, or `[1, 5]` / `[1, 4]` for the 2-level entries).
        mel_window_samples: 32 kHz samples of the window whose mel spectrogram is appended (mel entries), or None.

    Example:
        >>> config = S3prlPasstConfig(window_scales=[1, 4], mel_window_samples=1920)
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates, config.min_input_samples
        (1, (3358,), (800,), 5121)
    """

    model_type = "s3prl_passt"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    patch_size: list[int] | tuple[int, int] = (16, 16)
    frequency_stride: int = 10
    time_stride: int = 10
    frequency_patches: int = 12
    time_patches: int = 99
    num_labels: int = 527
    head_layer_norm_eps: float = 1e-5
    mel_hop_length: int = 320
    window_secs: float | int = 0.16
    stride_secs: float | int = 0.05
    window_scales: list[int] | tuple[int, ...] = (1,)
    mel_window_samples: int | None = None

    def __post_init__(self, **kwargs):
        self.patch_size = [int(v) for v in self.patch_size]
        self.window_scales = [int(v) for v in self.window_scales]
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Refuse what S3PRL's code cannot run, whatever the input (its errors at run time)."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_attention_heads "
                             f"{self.num_attention_heads}")
        if len(self.patch_size) != 2 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size {self.patch_size} must be a (frequency, time) pair of positive sizes")
        rows = (NUM_MEL_BINS - self.patch_size[0]) // self.frequency_stride + 1
        if self.patch_size[0] > NUM_MEL_BINS or rows != self.frequency_patches:
            raise ValueError(f"patch_size {self.patch_size} with frequency_stride {self.frequency_stride} gives "
                             f"{rows} patch rows over {NUM_MEL_BINS} mel bins, but the frequency positional "
                             f"embedding has {self.frequency_patches}")
        if not self.window_scales or min(self.window_scales) < 1:
            raise ValueError(f"window_scales {self.window_scales} must list at least one positive scale")
        if self.timestamp_hop < 1:
            raise ValueError(f"stride_secs {self.stride_secs} gives a hop of {self.timestamp_hop} samples at 32 kHz")
        for window in self.timestamp_windows:
            # torch.stft(center=True) reflect-pads the pre-emphasised window by n_fft // 2
            if window - 1 <= N_FFT // 2:
                raise ValueError(f"a window of {window} samples at 32 kHz is too short for the {N_FFT}-point STFT "
                                 f"(window_secs {self.window_secs})")
            patches = self.window_time_patches(window)
            if not 1 <= patches <= self.time_patches:
                raise ValueError(f"a window of {window} samples at 32 kHz gives {patches} time patches; PaSST needs "
                                 f"1 to {self.time_patches} (its time positional embedding)")
        if self.mel_window_samples is not None:
            frames = self.window_frames(self.mel_window_samples) if self.mel_window_samples > N_FFT // 2 + 1 else 0
            if frames != MEL_EMBEDDING_FRAMES:
                raise ValueError(f"mel_window_samples {self.mel_window_samples} gives {frames} mel frames at hop "
                                 f"{self.mel_hop_length}; S3PRL reshapes each to {MEL_EMBEDDING_FRAMES} frames")

    @property
    def timestamp_window(self) -> int:
        """Samples at 32 kHz of a window, computed as `PasstBasicWrapper` does from S3PRL's milliseconds."""
        return int(self.window_secs * 1000 * MODEL_SAMPLE_RATE / 1000)

    @property
    def timestamp_hop(self) -> int:
        """Samples at 32 kHz between window starts (`PasstBasicWrapper.timestamp_hop`)."""
        return int(self.stride_secs * 1000 * MODEL_SAMPLE_RATE / 1000)

    @property
    def timestamp_windows(self) -> list[int]:
        """The window of each pass, in samples at 32 kHz."""
        return [self.timestamp_window * scale for scale in self.window_scales]

    def window_frames(self, window: int) -> int:
        """Mel frames of one window: the STFT of its `window - 1` pre-emphasised samples."""
        return (window - 1) // self.mel_hop_length + 1

    def window_time_patches(self, window: int) -> int:
        """Time patches of one window's mel spectrogram (0 when it has fewer frames than a patch)."""
        frames = self.window_frames(window)
        return (frames - self.patch_size[1]) // self.time_stride + 1 if frames >= self.patch_size[1] else 0

    @property
    def embedding_size(self) -> int:
        """Width of one pass's output: `[logits, features]`."""
        return self.num_labels + self.hidden_size

    @property
    def min_input_samples(self) -> int:
        """Shortest longest utterance of a batch S3PRL accepts: every window's reflect padding must be shorter
        than the 32 kHz batch."""
        windows = self.timestamp_windows + ([self.mel_window_samples] if self.mel_window_samples else [])
        largest_pad = max(window // 2 for window in windows)
        return largest_pad * SAMPLE_RATE // MODEL_SAMPLE_RATE + 1

    @property
    def num_layers(self) -> int:
        return 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        mel = NUM_MEL_BINS * MEL_EMBEDDING_FRAMES if self.mel_window_samples is not None else 0
        return (len(self.window_scales) * self.embedding_size + mel,)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (int(self.stride_secs * SAMPLE_RATE),)


# S3PRL 0.4.18's hear21passt modules (all PaSST-S: 12 blocks of 768, 12 heads, 16x16 patches every 10 x 10, 527
# AudioSet classes) and what each fixes besides the weights. `time_patches` is `input_tdim // 10` of the module's
# `get_model_passt` call (998 by default); the converter checks it against the checkpoint's time embedding.
_PASST_S = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                patch_size=[16, 16], frequency_stride=10, time_stride=10, frequency_patches=12, num_labels=527,
                window_secs=0.16, stride_secs=0.05)
REFERENCE_CONFIGS: dict[str, dict] = {
    "passt_base": dict(_PASST_S, time_patches=99, mel_hop_length=320, window_scales=[1]),
    "passt_base2level": dict(_PASST_S, time_patches=99, mel_hop_length=320, window_scales=[1, 5]),
    "passt_base2levelmel": dict(_PASST_S, time_patches=99, mel_hop_length=320, window_scales=[1, 4],
                                mel_window_samples=1920),
    "passt_base20sec": dict(_PASST_S, time_patches=200, mel_hop_length=320, window_scales=[1]),
    "passt_base30sec": dict(_PASST_S, time_patches=300, mel_hop_length=320, window_scales=[1]),
    "passt_hop100base": dict(_PASST_S, time_patches=320, mel_hop_length=100, window_scales=[1]),
    "passt_hop100base2lvl": dict(_PASST_S, time_patches=320, mel_hop_length=100, window_scales=[1, 5]),
    "passt_hop100base2lvlmel": dict(_PASST_S, time_patches=320, mel_hop_length=100, window_scales=[1, 5],
                                    mel_window_samples=600),
    "passt_hop160base": dict(_PASST_S, time_patches=200, mel_hop_length=160, window_scales=[1]),
    "passt_hop160base2lvl": dict(_PASST_S, time_patches=200, mel_hop_length=160, window_scales=[1, 5]),
    "passt_hop160base2lvlmel": dict(_PASST_S, time_patches=200, mel_hop_length=160, window_scales=[1, 5],
                                    mel_window_samples=960),
}
# What the converter takes from the hub entry rather than from the weights.
ENTRY_FIELDS = ("mel_hop_length", "window_secs", "stride_secs", "window_scales", "mel_window_samples",
                "frequency_stride", "time_stride")

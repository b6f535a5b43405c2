"""Spectral family: S3PRL's signal-processing baselines (fbank, MFCC, spectrograms, STFT magnitudes); no weights."""

from .configuration_spectral import REFERENCE_CONFIGS, S3prlSpectralConfig
from .modeling_spectral import S3prlSpectralModel

__all__ = ["REFERENCE_CONFIGS", "S3prlSpectralConfig", "S3prlSpectralModel"]

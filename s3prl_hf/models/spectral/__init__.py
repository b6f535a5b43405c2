"""Spectral family: S3PRL's signal-processing baselines (fbank, MFCC, spectrograms, STFT magnitudes); no weights."""

from ..family import Family
from . import notes
from .configuration_spectral import REFERENCE_CONFIGS, S3prlSpectralConfig
from .modeling_spectral import S3prlSpectralModel
from .convert_spectral import convert_release

FAMILY = Family(
    name="spectral",
    config_class=S3prlSpectralConfig,
    model_class=S3prlSpectralModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # no weights to shrink: S3PRL's mel.yaml (the padded-batch path; the fixtures cover the others)
        dict(feature_config={"win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80, "n_mfcc": 13,
                             "input": {"feat_type": "mel", "channel": 0, "log": True, "delta": 0,
                                       "cmvn": True}}),
    ),
    has_weights=False,
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    s3prl_options={"model_config": "checkpoint"},
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlSpectralConfig", "S3prlSpectralModel"]

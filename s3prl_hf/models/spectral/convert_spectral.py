"""Build a spectral-family model from S3PRL's yaml config (the only "checkpoint" these upstreams have).

S3PRL's hub functions read a yaml file (`upstream/baseline/*.yaml`, `upstream/log_stft/*.yaml`); `baseline_local`
and `stft_mag` take any such file. Converting one gives a folder with only `config.json` (and a card): the model has
no weights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError
from .configuration_spectral import REFERENCE_CONFIGS, S3prlSpectralConfig
from .modeling_spectral import S3prlSpectralModel


def load_s3prl_yaml(path: str | os.PathLike) -> dict:
    """Read an S3PRL feature yaml (plain scalars, lists and mappings) into a dict.

    Raises:
        CheckpointFormatError: the file is not yaml or not a mapping.

    Example:
        >>> load_s3prl_yaml("fbank.yaml")["kaldi"]["feat_type"]  # doctest: +SKIP
        'fbank'
    """
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CheckpointFormatError(f"{path} is not an S3PRL feature yaml: {error}") from None
    if not isinstance(config, Mapping):
        raise CheckpointFormatError(f"{path} is not an S3PRL feature yaml: expected a mapping at the top level, got "
                                    f"{type(config).__name__}")
    return dict(config)


def convert_spectral(reference: S3prlSpectralConfig, feature_config: Mapping | None = None) -> S3prlSpectralModel:
    """The model of a spectral name: S3PRL's built-in config, or `feature_config` read by the same S3PRL expert.

    Args:
        reference: The name's reference config (`reference_config(name)`); says which S3PRL expert runs it.
        feature_config: An S3PRL yaml config to use instead of the built-in one (what `baseline_local` or
            `stft_mag` would be given).

    Raises:
        CheckpointFormatError: a config S3PRL's expert cannot run, or one this package does not reproduce.
    """
    if feature_config is None:
        return S3prlSpectralModel(reference)
    try:
        config = S3prlSpectralConfig(expert=reference.expert, feature_config=dict(feature_config))
        return S3prlSpectralModel(config)
    except (ValueError, TypeError, KeyError, NotImplementedError, StrictDataclassError) as error:
        raise CheckpointFormatError(f"S3PRL's {reference.expert} expert cannot run this feature config: {error}") \
            from None


def convert_release(release) -> S3prlSpectralModel:
    """The family's converter: the name's built-in S3PRL config, or the S3PRL yaml given as the checkpoint."""
    reference = S3prlSpectralConfig(s3prl_name=release.name, **REFERENCE_CONFIGS[release.name])
    return convert_spectral(reference, None if release.checkpoint is None else load_s3prl_yaml(release.checkpoint))

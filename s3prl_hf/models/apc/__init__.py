"""APC family: every apc* and vq_apc* name (one network, S3PRL's apc expert), and the kaldi fbank frontend that
S3PRL's NPC, DeCoAR and DeCoAR 2.0 experts copy."""

from .configuration_apc import REFERENCE_CONFIGS, S3prlApcConfig
from .modeling_apc import S3prlApcModel

__all__ = ["REFERENCE_CONFIGS", "S3prlApcConfig", "S3prlApcModel"]

"""DistilHuBERT family: distilhubert, distilhubert_base."""

from .configuration_distilhubert import REFERENCE_CONFIGS, S3prlDistilHubertConfig
from .modeling_distilhubert import S3prlDistilHubertModel

__all__ = ["REFERENCE_CONFIGS", "S3prlDistilHubertConfig", "S3prlDistilHubertModel"]

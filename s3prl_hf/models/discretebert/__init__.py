"""discretebert family: discretebert and vq_wav2vec_kmeans_roberta (RoBERTa over vq-wav2vec k-means codes)."""

from .configuration_discretebert import REFERENCE_CONFIGS, S3prlDiscreteBertConfig
from .modeling_discretebert import S3prlDiscreteBertModel

__all__ = ["REFERENCE_CONFIGS", "S3prlDiscreteBertConfig", "S3prlDiscreteBertModel"]

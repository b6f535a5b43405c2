"""data2vec family: data2vec, data2vec_base_960, data2vec_large_ll60k."""

from .configuration_data2vec import REFERENCE_CONFIGS, S3prlData2VecConfig
from .modeling_data2vec import S3prlData2VecModel

__all__ = ["REFERENCE_CONFIGS", "S3prlData2VecConfig", "S3prlData2VecModel"]

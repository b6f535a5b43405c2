"""ESPnet HuBERT family: espnet_hubert_base_iter0/1, espnet_hubert_large_gs_ll60k, cvhubert, wavlablm_*_40k."""

from .configuration_espnet_hubert import REFERENCE_CONFIGS, S3prlEspnetHubertConfig
from .modeling_espnet_hubert import S3prlEspnetHubertModel

__all__ = ["REFERENCE_CONFIGS", "S3prlEspnetHubertConfig", "S3prlEspnetHubertModel"]

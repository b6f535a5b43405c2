"""wav2vec family: wav2vec and wav2vec_large (fairseq's wav2vec 1.0). The network, quantisers included, is shared
with the vq_wav2vec family (`s3prl_hf.models.vq_wav2vec`), as S3PRL's vq_wav2vec expert is the wav2vec one."""

from .configuration_wav2vec import REFERENCE_CONFIGS, S3prlWav2VecConfig
from .modeling_wav2vec import S3prlWav2VecModel

__all__ = ["REFERENCE_CONFIGS", "S3prlWav2VecConfig", "S3prlWav2VecModel"]

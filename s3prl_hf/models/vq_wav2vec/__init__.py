"""vq_wav2vec family: vq_wav2vec, vq_wav2vec_gumbel and vq_wav2vec_kmeans.

S3PRL's `upstream/vq_wav2vec` expert is an import of the wav2vec one, and fairseq's vq-wav2vec is its
`Wav2VecModel` with a quantiser: the network, config and model classes are those of `s3prl_hf.models.wav2vec`.
The hidden states are those of wav2vec 1.0 (the feature extractor's output before quantisation, then the context
network's blocks, which run on the quantised features); `S3prlWav2VecModel.quantize` gives the codewords and
indices S3PRL's expert returns as `codewords` / `codeids`.
"""

from ..wav2vec import S3prlWav2VecConfig, S3prlWav2VecModel
from ..wav2vec.configuration_wav2vec import REFERENCE_CONFIGS as _ALL_REFERENCE_CONFIGS

REFERENCE_CONFIGS: dict[str, dict] = {name: overrides for name, overrides in _ALL_REFERENCE_CONFIGS.items()
                                      if name.startswith("vq_wav2vec")}

__all__ = ["REFERENCE_CONFIGS", "S3prlWav2VecConfig", "S3prlWav2VecModel"]

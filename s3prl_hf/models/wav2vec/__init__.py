"""wav2vec family: fairseq's wav2vec 1.0 (wav2vec, wav2vec_large) and vq-wav2vec (vq_wav2vec, vq_wav2vec_gumbel,
vq_wav2vec_kmeans): one network with an optional quantiser, as S3PRL's vq_wav2vec expert is its wav2vec one. The
hidden states are wav2vec 1.0's (the feature extractor's output, before quantisation; then the context network's
blocks, which run on the quantised features); `S3prlWav2VecModel.quantize` gives the codewords and indices S3PRL's
vq-wav2vec expert returns as `codewords` / `codeids`."""

from ..family import Family
from . import notes
from .configuration_wav2vec import REFERENCE_CONFIGS, S3prlWav2VecConfig
from .modeling_wav2vec import S3prlWav2VecModel
from .convert_wav2vec import convert_release

FAMILY = Family(
    name="wav2vec",
    config_class=S3prlWav2VecConfig,
    model_class=S3prlWav2VecModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # wav2vec 1.0 (log compression, skip connections); vq-wav2vec with k-means; Discrete BERT on a Gumbel frontend
        dict(conv_dim=(16,) * 7, aggregator_dim=(16,) * 3, aggregator_kernel=(2, 3, 4), aggregator_stride=(1,) * 3),
        dict(conv_dim=(16,) * 8, conv_kernel=(10, 8, 4, 4, 4, 1, 1, 1), conv_stride=(5, 4, 2, 2, 2, 1, 1, 1),
             aggregator_dim=(16,) * 2, aggregator_kernel=(2, 3), aggregator_stride=(1, 1), vq_type="kmeans",
             vq_vars=8, combine_groups=True, activation="gelu"),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    method_notes=notes.METHOD_NOTES,
    method_quirks=notes.METHOD_QUIRKS,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlWav2VecConfig", "S3prlWav2VecModel"]

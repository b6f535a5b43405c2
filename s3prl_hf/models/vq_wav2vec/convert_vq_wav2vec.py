"""Convert an original vq-wav2vec checkpoint (vq-wav2vec.pt: Gumbel; vq-wav2vec_kmeans.pt: k-means) into
`S3prlWav2VecModel`.

The layouts and the config translation are wav2vec 1.0's (`s3prl_hf.models.wav2vec.convert_wav2vec`): S3PRL's
vq_wav2vec converter is a copy of its wav2vec one. The checkpoint must hold a quantiser (`vq_type` gumbel or
kmeans); its codebook and projections are converted with the rest.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError, build_model
from ..wav2vec.convert_wav2vec import read_wav2vec_checkpoint
from ..wav2vec.modeling_wav2vec import S3prlWav2VecModel


def convert_vq_wav2vec(state: dict) -> S3prlWav2VecModel:
    """Build an `S3prlWav2VecModel` with its quantiser from an original vq-wav2vec checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family (a wav2vec 1.0 checkpoint without quantiser included), or
            weights that do not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_vq_wav2vec(load_original_checkpoint("vq-wav2vec_kmeans.pt"))  # doctest: +SKIP
    """
    config, weights = read_wav2vec_checkpoint(state)
    if config.vq_type == "none":
        raise CheckpointFormatError("this checkpoint has no quantiser (vq_type='none'): it is a wav2vec 1.0 model, "
                                    "convert it under a wav2vec name")
    return build_model(S3prlWav2VecModel, config, weights)

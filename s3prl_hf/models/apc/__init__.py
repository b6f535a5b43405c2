"""APC family: every apc* and vq_apc* name (one network, S3PRL's apc expert; the VQ layers are optional). Its kaldi
fbank + CMVN frontend, which S3PRL's NPC, DeCoAR and DeCoAR 2.0 experts copy, is `s3prl_hf.frontends.fbank_cmvn`."""

from ..family import Family
from . import notes
from .configuration_apc import REFERENCE_CONFIGS, S3prlApcConfig
from .modeling_apc import S3prlApcModel
from .convert_apc import convert_release

FAMILY = Family(
    name="apc",
    config_class=S3prlApcConfig,
    model_class=S3prlApcModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # APC and VQ-APC share one model (4 GRU layers, two VQ groups); NPC with VQ; CPC's modes no fixture covers
        # (no normalisation, no autoregressive net); DeCoAR; DeCoAR 2.0 with 12 heads, as S3PRL fixes them.
        dict(hidden_size=16),
        dict(hidden_size=16, num_layers_rnn=4,
             vq={"codebook_size": [8, 4], "code_dim": [10, 6], "gumbel_temperature": 0.5}),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    method_notes=notes.METHOD_NOTES,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlApcConfig", "S3prlApcModel"]

"""PASE+ family: the pase_plus name (S3PRL's pase expert on PASE's WaveFe, reimplemented in pure torch)."""

from ..family import Family, SecondFile
from . import notes
from .configuration_pase_plus import REFERENCE_CONFIGS, S3prlPasePlusConfig
from .modeling_pase_plus import S3prlPasePlusModel
from .convert_pase_plus import convert_release

FAMILY = Family(
    name="pase_plus",
    config_class=S3prlPasePlusConfig,
    model_class=S3prlPasePlusModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # PASE+'s released structure (SincNet, 8 blocks, QRNN, 7 hooked skips) with fewer channels
        dict(fmaps=[4, 4, 8, 8, 8, 8, 8, 8], emb_dim=8, rnn_dim=8),
    ),
    second_file=SecondFile(what="its JSON cfg (PASE+.cfg)", name_fragments=(".cfg", ".json")),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    s3prl_options={"model_config": "second_file"},
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlPasePlusConfig", "S3prlPasePlusModel"]

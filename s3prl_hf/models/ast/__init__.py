"""AST family: the ast name (S3PRL's ast expert)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_ast import REFERENCE_CONFIGS, S3prlAstConfig
from .modeling_ast import S3prlAstModel
from .convert_ast import convert_ast

FAMILY = Family(
    name="ast",
    config_class=S3prlAstConfig,
    model_class=S3prlAstModel,
    convert=from_state(convert_ast),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # AST with every block's states, on 1 s windows every 0.5 s (cls mode: tests/test_ast.py); the SSAST frame model.
        dict(hidden_size=24, num_hidden_layers=2, intermediate_size=48, position_embedding_grid=[12, 25],
             feature_selection="hidden_states", window_secs=1.0, stride_secs=0.5),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
    s3prl_options={"window_secs": ("window_secs",), "stride_secs": ("stride_secs",),
                   "feature_selection": ("feature_selection",)},
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlAstConfig", "S3prlAstModel"]

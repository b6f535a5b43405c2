"""MAE-AST family: the mae_ast_frame and mae_ast_patch names (S3PRL's mae_ast expert)."""

from ...conversion.release import from_state
from ..family import Family
from . import notes
from .configuration_mae_ast import REFERENCE_CONFIGS, S3prlMaeAstConfig
from .modeling_mae_ast import S3prlMaeAstModel
from .convert_mae_ast import convert_mae_ast

FAMILY = Family(
    name="mae_ast",
    config_class=S3prlMaeAstConfig,
    model_class=S3prlMaeAstModel,
    convert=from_state(convert_mae_ast),
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # MAE-AST with one-frame x 32-bin patches (4 per time step) and the optional positional conv: S3PRL's real
        # 2- and 16-frame patches fail on the 0.05 s short batch, as S3PRL does (tests/test_mae_ast.py checks that).
        dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
             kernel_size_time=1, stride_time=1, kernel_size_chan=32, stride_chan=32, conv_positions=True,
             num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2),
    ),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlMaeAstConfig", "S3prlMaeAstModel"]

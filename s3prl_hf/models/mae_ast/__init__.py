"""MAE-AST family: the mae_ast_frame and mae_ast_patch names (S3PRL's mae_ast expert)."""

from .configuration_mae_ast import REFERENCE_CONFIGS, S3prlMaeAstConfig
from .modeling_mae_ast import S3prlMaeAstModel

__all__ = ["REFERENCE_CONFIGS", "S3prlMaeAstConfig", "S3prlMaeAstModel"]

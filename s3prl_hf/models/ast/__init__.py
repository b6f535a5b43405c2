"""AST family: the ast name (S3PRL's ast expert)."""

from .configuration_ast import REFERENCE_CONFIGS, S3prlAstConfig
from .modeling_ast import S3prlAstModel

__all__ = ["REFERENCE_CONFIGS", "S3prlAstConfig", "S3prlAstModel"]

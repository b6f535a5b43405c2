"""NPC family: every npc* name (S3PRL's npc expert)."""

from .configuration_npc import REFERENCE_CONFIGS, S3prlNpcConfig
from .modeling_npc import S3prlNpcModel

__all__ = ["REFERENCE_CONFIGS", "S3prlNpcConfig", "S3prlNpcModel"]

"""Tiny instances of every family, one per variant it declares (`Family.tiny_configs`), for the shared tests.

`FAMILY_CLASSES` and `TINY_CONFIGS` are keyed by the family's name, or `<family>-<i>` for a family with several
variants, e.g. "apc-1" (APC with VQ layers).
"""

from s3prl_hf.models import families

FAMILY_CLASSES: dict[str, tuple[type, type]] = {}
TINY_CONFIGS: dict[str, dict] = {}
for _name, _family in families().items():
    for _index, _config in enumerate(_family.tiny_configs):
        _key = _name if len(_family.tiny_configs) == 1 else f"{_name}-{_index}"
        FAMILY_CLASSES[_key] = (_family.config_class, _family.model_class)
        TINY_CONFIGS[_key] = dict(_config)


def tiny_model(key: str, **overrides):
    """The tiny model `key` in eval mode (random weights), with config `overrides`."""
    config_class, model_class = FAMILY_CLASSES[key]
    return model_class(config_class(**{**TINY_CONFIGS[key], **overrides})).eval()

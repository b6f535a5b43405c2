"""Released architectures built on the meta device (no memory) and their parameter counts, for the family tests that
compare them with S3PRL's, the papers' or transformers' own modules."""

import torch

from s3prl_hf import reference_config
from s3prl_hf.models import get_family
from s3prl_hf.registry import get_spec


def on_meta(name: str):
    """The model of the architecture released as `name`, built on the meta device."""
    with torch.device("meta"):
        return get_family(get_spec(name).family).model_class(reference_config(name))


def parameter_count(model, excluding: tuple[str, ...] = ()) -> int:
    """The model's parameters, less those whose names start with one of `excluding`."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(excluding))


def transformers_count(model_class, config_class, unused=(), **config) -> int:
    """Parameters of transformers' own implementation, less what S3PRL never runs (its masked-frame embedding and
    the `unused` prefixes)."""
    with torch.device("meta"):
        model = model_class(config_class(**config))
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("masked_spec_embed", *unused)))

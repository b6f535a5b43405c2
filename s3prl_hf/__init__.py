"""s3prl_hf: every S3PRL upstream as a Hugging Face model with S3PRL's hidden states.

`import s3prl_hf` is light: names are imported on first use, so the registry and the command line work without
loading torch or transformers.

Example:
    >>> from s3prl_hf import AutoUpstream
    >>> model = AutoUpstream.from_pretrained("hubert")  # doctest: +SKIP
    >>> all_hs, all_hs_len = model(wavs, wavs_len)  # doctest: +SKIP
"""

import importlib

from ._version import __version__

# Public name -> module that defines it, imported on first use.
_EXPORTS = {
    "AutoUpstream": "auto",
    "UpstreamNotAvailableError": "auto",
    "reference_config": "auto",
    "register_with_transformers": "auto",
    "UpstreamConfig": "modeling_utils",
    "UpstreamOutput": "modeling_utils",
    "UpstreamPreTrainedModel": "modeling_utils",
    "convert_checkpoint": "conversion",
    "CheckpointFormatError": "conversion",
    "UnknownUpstreamError": "registry",
    "get_spec": "registry",
    "list_upstreams": "registry",
    "S3PRLUpstream": "compat",
    "Featurizer": "featurizer",
    "extract_features": "extraction.dataset_features",
    "set_feature_format": "extraction.dataset_features",
    "extract_to_dir": "extraction.sharded",
    "load_features": "extraction.sharded",
    "AudioError": "extraction.audio",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 's3prl_hf' has no attribute {name!r}")


def __dir__():
    return __all__

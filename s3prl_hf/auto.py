"""`AutoUpstream`: from an S3PRL name, alias, Hub repo id or local folder to a loaded upstream.

Importing this module registers every family with transformers' `AutoConfig` / `AutoModel` under its namespaced
`model_type` (`s3prl_hubert`, ...), so `transformers.AutoModel.from_pretrained(folder)` works afterwards, without
`trust_remote_code`. (`import s3prl_hf` alone stays light and registers nothing; `s3prl_hf.AutoUpstream`,
`s3prl_hf.register_with_transformers()` or any model use do.)
"""

from __future__ import annotations

import os

from transformers import AutoConfig, AutoModel

from . import registry
from .modeling_utils import UpstreamConfig, UpstreamPreTrainedModel
from .models import families, get_family
from .weights.resolve import SOURCES, Location, UpstreamNotAvailableError, locate_upstream

# model_type -> model class, over every family.
MODEL_CLASSES: dict[str, type[UpstreamPreTrainedModel]] = {
    family.config_class.model_type: family.model_class for family in families().values()}


def register_with_transformers() -> None:
    """Register every family with transformers' `AutoConfig` / `AutoModel` (done when this module is imported).

    Example:
        >>> import s3prl_hf, transformers
        >>> s3prl_hf.register_with_transformers()
        >>> model = transformers.AutoModel.from_pretrained("converted/hubert_base")  # doctest: +SKIP
    """
    for family in families().values():
        AutoConfig.register(family.config_class.model_type, family.config_class, exist_ok=True)
        AutoModel.register(family.config_class, family.model_class, exist_ok=True)


register_with_transformers()

# Keyword arguments that go to `PreTrainedModel.from_pretrained` rather than to the config.
_LOADING_KWARGS = ("dtype", "device_map", "attn_implementation", "low_cpu_mem_usage", "max_memory",
                   "offload_folder")


class AutoUpstream:
    """Load any S3PRL upstream as a transformers model returning all of S3PRL's hidden states.

    Example:
        >>> from s3prl_hf import AutoUpstream
        >>> model = AutoUpstream.from_pretrained("hubert")  # doctest: +SKIP
        >>> all_hs, all_hs_len = model(wavs, wavs_len)  # doctest: +SKIP
        >>> model.num_layers, model.hidden_sizes[0], model.downsample_rates[0]  # doctest: +SKIP
        (13, 768, 320)
    """

    def __init__(self):
        raise TypeError("use AutoUpstream.from_pretrained(name_or_path)")

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, source: str = "auto", namespace: str | None = None,
                        revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                        local_files_only: bool = False, token: str | bool | None = None,
                        **kwargs) -> UpstreamPreTrainedModel:
        """Resolve `name_or_path` and load the upstream, in eval mode.

        A name is looked up in this order (see `s3prl_hf.weights`): the converted repo `<namespace>/<name>` in the
        Hugging Face cache, a conversion of the original checkpoint in s3prl_hf's conversion cache, the converted
        repo on the Hub, and finally the original checkpoint itself, downloaded from where S3PRL downloads it,
        converted with the package's own converter and cached (once; later calls load the cache, offline too).

        Args:
            name_or_path: An S3PRL name or alias ("hubert", "hubert_large_ll60k"), a Hub repo id
                ("org/hubert_base"), or a local folder holding `config.json` and `model.safetensors`. Names
                without weights (S3PRL's fbank, mfcc, spectrogram, ...) are
                built from their built-in S3PRL config, with nothing downloaded; their folders hold only
                `config.json`.
            source: For names: "auto" (default: the converted repo, else the original checkpoint), "hub" (the
                converted repo only) or "original" (convert the original checkpoint, never the repo).
            namespace: Hub organisation that hosts the converted upstreams (default: the
                `S3PRL_HF_NAMESPACE` environment variable, else "s3prl-hf"). Used for names only.
            revision: Hub revision (branch, tag or commit); defaults to the registry's pinned revision.
            cache_dir: Hugging Face cache folder.
            local_files_only: Never touch the network; use the caches only (as `HF_HUB_OFFLINE=1`).
            token: Hugging Face token for private repos.
            **kwargs: Config overrides (e.g. `normalize=True`) and loading options passed to
                transformers (`dtype`, `device_map`, `attn_implementation`).

        Raises:
            registry.UnknownUpstreamError: an unknown name (with suggestions).
            FileNotFoundError: a path that does not exist ("file not found").
            NotADirectoryError: an existing file (an original checkpoint: convert it first).
            UpstreamNotAvailableError: nothing could be loaded (offline without a cached copy, the original
                checkpoint unreachable or corrupt); the message lists what was tried and what to do.
        """
        location = _locate(name_or_path, source, namespace, revision, cache_dir, local_files_only, token)
        if location.path is None:
            return _config_only_model(location.spec, kwargs)
        hub_kwargs = dict(revision=location.revision, cache_dir=cache_dir, token=token,
                          local_files_only=local_files_only or location.local_files_only)
        loading_kwargs = {key: kwargs.pop(key) for key in _LOADING_KWARGS if key in kwargs}
        try:
            config, unused = AutoConfig.from_pretrained(location.path, return_unused_kwargs=True, **hub_kwargs,
                                                        **kwargs)
        except OSError as error:
            if os.path.isdir(location.path):
                raise
            raise UpstreamNotAvailableError(f"cannot load '{location.path}' (revision "
                                            f"{location.revision or 'main'}): {error}") from error
        if unused:
            raise TypeError(f"unexpected keyword arguments for {config.model_type}: {sorted(unused)}")
        model_class = MODEL_CLASSES.get(config.model_type)
        if model_class is None:
            raise ValueError(f"{location.path} holds a '{config.model_type}' model, not an s3prl_hf upstream (known "
                             f"types: {', '.join(sorted(MODEL_CLASSES))})")
        model, info = model_class.from_pretrained(location.path, config=config, output_loading_info=True,
                                                  **hub_kwargs, **loading_kwargs)
        problems = {k: v for k, v in info.items() if k != "error_msgs" and v}
        if problems or info.get("error_msgs"):
            raise ValueError(f"the weights in {location.path} do not match its config: "
                             f"{problems or info['error_msgs']}")
        return model.eval()


def _config_only_model(spec: registry.UpstreamSpec, kwargs: dict) -> UpstreamPreTrainedModel:
    """A name without weights: its reference config (S3PRL's own), with `kwargs` overrides; nothing is downloaded."""
    loading_kwargs = {key: kwargs.pop(key) for key in _LOADING_KWARGS if key in kwargs}
    family = get_family(spec.family)
    reference = {"s3prl_name": spec.name, **family.reference_configs[spec.name]}
    config, unused = family.config_class.from_dict(reference, return_unused_kwargs=True, **kwargs)
    if unused:
        raise TypeError(f"unexpected keyword arguments for {config.model_type}: {sorted(unused)}")
    return family.model_class.from_pretrained(None, config=config, **loading_kwargs).eval()


# Extensions that make a string a file path, not a name or a Hub repo id: checkpoints, configs, audio.
FILE_EXTENSIONS = frozenset({".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".th", ".tar", ".gz", ".zip", ".npy",
                             ".yaml", ".yml", ".json", ".cfg", ".wav", ".flac", ".mp3", ".ogg"})


def _locate(name_or_path, source, namespace, revision, cache_dir, local_files_only, token) -> Location:
    """A local folder as is; a registry name through `locate_upstream`; anything else with a '/' as a repo id."""
    text = os.fspath(name_or_path)
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: expected one of {', '.join(SOURCES)}")
    if os.path.isdir(text):
        return Location(text, revision)
    try:
        spec = registry.get_spec(text)
    except registry.UnknownUpstreamError:
        if os.path.isfile(text):
            raise NotADirectoryError(f"{text!r} is a file, not a converted folder: convert it with `s3prl-hf convert "
                                     f"--name NAME --checkpoint {text} --output DIR` and load DIR, or pass it to "
                                     f"S3PRLUpstream(NAME, path_or_url={text!r})") from None
        looks_like_path = (text.startswith((".", "/", "~")) or os.sep in text.replace("/", "") or text.count("/") > 1
                           or os.path.splitext(text)[1].lower() in FILE_EXTENSIONS)
        if looks_like_path:
            raise FileNotFoundError(f"file not found: {text!r} is neither an existing file or folder nor an upstream "
                                    f"name (s3prl-hf list shows the names)") from None
        if "/" in text:
            return Location(text, revision)
        raise
    if not spec.has_weights:
        return Location(None, spec=spec)
    return locate_upstream(spec, source=source, namespace=namespace, revision=revision, cache_dir=cache_dir,
                           local_files_only=local_files_only, token=token)


def reference_config(name: str) -> UpstreamConfig:
    """The released architecture of upstream `name` (a config, no weights).

    Example:
        >>> reference_config("hubert_large_ll60k").num_layers
        25
    """
    spec = registry.get_spec(name)
    return get_family(spec.family).reference_config(spec.name)


__all__ = ["AutoUpstream", "MODEL_CLASSES", "UpstreamNotAvailableError", "reference_config", "register_with_transformers"]

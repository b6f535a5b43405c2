"""`S3PRLUpstream`: a drop-in for `s3prl.nn.S3PRLUpstream` (s3prl 0.4.18) backed by `AutoUpstream`.

Existing S3PRL code switches by changing one import::

    from s3prl.nn import S3PRLUpstream, Featurizer      # before
    from s3prl_hf import S3PRLUpstream, Featurizer      # after

How S3PRL's constructor arguments map:

- `name`: an S3PRL upstream name or alias, loaded like `AutoUpstream.from_pretrained(name)`: the converted Hub
  repo, else the original checkpoint S3PRL downloads, converted once and cached (`source=` chooses, as there).
  S3PRL's entries for a user's own checkpoint (`hubert_local`, `wav2vec2_custom`, `distiller_url`, ...: the
  registry's `S3PRL_ENTRIES`) need `path_or_url`; `<name>_local` / `_url` / `_custom` work for every other name too.
- `path_or_url`: a converted folder (`s3prl-hf convert` output) or a Hub repo id (`org/name`) is loaded
  directly; an original checkpoint *file* (what S3PRL takes) is converted on the fly into a temporary folder
  with `name`'s converter; an original checkpoint *URL* is downloaded once into s3prl_hf's download cache
  (`S3PRL_HF_MIRROR` honoured), then converted the same way.
- `refresh`: fetches again: the converted repo (`force_download`), or the original checkpoint, whose cached
  download and conversion are deleted first; ignored for local paths, as S3PRL ignores it for local checkpoints.
- `normalize`: layer norm over the features of every hidden state, as in S3PRL.
- `extra_conf`: S3PRL passes it to the upstream's loader. The options that change the model are honoured where
  the family declares them (`Family.s3prl_options`): a second file (Discrete BERT's `vq_ckpt`, PASE+'s
  `model_config`), a config file (the baselines' `model_config` yaml), or config values (AST's `window_secs`,
  `stride_secs`, `feature_selection`; SSAST's `window_secs`; PaSST's `window_secs`, `stride_secs`). Any other
  option raises `ValueError` rather than being silently ignored.
- `randomize`: re-draws every weight as S3PRL's `randomize_upstream` does (1-D: normal with the tensor's
  own mean and std; others: Xavier normal), in one pass over the parameters.

Padded frames (past an utterance's valid length) are not features, and S3PRL's own values there depend on the
batch. Valid frames always match S3PRL. On CPU, the wav2vec 2.0-style families (wav2vec 2.0 and its Conformer,
HuBERT and its variants, data2vec, WavLM, UniSpeech-SAT, DistilHuBERT, LightHuBERT, MR-HuBERT, ESPnet HuBERT)
skip the padding by default (`skip_padding`), so their padded frames are not S3PRL's (the transformer layers'
are zeros where S3PRL returns the model's outputs over the padding); `s3prl_padding=True` runs the padded batch as S3PRL does and reproduces those frames too
(1e-6 relative on the fixtures), at the cost of computing them. Discrete BERT leaves the chunks of an utterance that
ended in an earlier chunk at zero either way. The other families compute padded frames as S3PRL does.

Mode: like S3PRL, the constructor leaves the module in **train mode** (S3PRL's ends with
`self.upstream.train()`), so dropout is active until `.eval()`; recipes that fine-tune the upstream, or call
`.eval()` themselves as S3PRL's examples do, behave exactly as before. `AutoUpstream.from_pretrained`
returns eval-mode models instead; use it directly for feature extraction.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile

import torch
from torch import nn

from . import registry
from .auto import AutoUpstream
from .modeling_utils import UpstreamPreTrainedModel
from .models import families, get_family
from .precision import cast_model, check_compute_dtype, parse_compute_dtype

logger = logging.getLogger(__name__)

# Suffixes of S3PRL's entries that take a user checkpoint.
_CHECKPOINT_SUFFIXES = ("_local", "_custom", "_url")


class S3PRLUpstream(nn.Module):
    """Every hidden state of an S3PRL upstream, with the API of `s3prl.nn.S3PRLUpstream`.

    Args:
        name: S3PRL upstream name or alias ("hubert", "wavlm_large", "hubert_local", ...).
        path_or_url: A converted folder, a Hub repo id, or an original checkpoint file (converted on the fly).
        refresh: Force a fresh download of the converted Hub repo.
        normalize: Layer-norm every hidden state over its features.
        extra_conf: S3PRL loader options; those that change the model are honoured as the family declares
            (`Family.s3prl_options`), any other is refused.
        randomize: Re-draw all weights randomly (S3PRL's `randomize_upstream`).
        source: For names: "auto", "hub" or "original", as in `AutoUpstream.from_pretrained`.
        s3prl_padding: Compute the padded frames as S3PRL does (the padded batch through every layer) instead of
            what `skip_padding` leaves there on CPU (zeros after the first hidden state); valid frames are the same
            either way.
        compute_dtype: "float32" (None, the default: S3PRL's numbers), "bfloat16" or "float16": the upstream's
            weights are cast to it, keeping in float32 what the README's "Reduced precision" section lists; the
            hidden states come out in that dtype. Float16 on a CPU without fp16 arithmetic is refused when no
            CUDA device is present; bf16 on a CPU without native bf16 warns (`SlowComputeDtypeWarning`).

    Raises:
        registry.UnknownUpstreamError: unknown name (with suggestions).
        NotImplementedError: a known name whose family is not implemented yet.
        ValueError: an `extra_conf` option the name's family cannot honour, or a `_local`-style name without
            `path_or_url`.
        UpstreamNotAvailableError: the weights could not be had (offline, unreachable, corrupt).

    Example:
        >>> from s3prl_hf import S3PRLUpstream, Featurizer
        >>> model = S3PRLUpstream("hubert")  # doctest: +SKIP
        >>> model.eval()  # doctest: +SKIP
        >>> with torch.no_grad():  # doctest: +SKIP
        ...     all_hs, all_hs_len = model(torch.randn(2, 32000), torch.LongTensor([16000, 32000]))
        >>> featurizer = Featurizer(model)  # doctest: +SKIP
        >>> hs, hs_len = featurizer(all_hs, all_hs_len)  # doctest: +SKIP
    """

    @classmethod
    def available_names(cls, only_registered_ckpt: bool = False) -> list[str]:
        """Names the constructor takes: every name and alias, and S3PRL's entries for a user's checkpoint.

        Args:
            only_registered_ckpt: Leave out the `<upstream>_local` / `_url` / `_custom` entries that need
                `path_or_url` (as S3PRL's does).
        """
        names = registry.list_upstreams(include_aliases=True)
        if not only_registered_ckpt:
            names += list(registry.S3PRL_ENTRIES)
        return sorted(names)

    def __init__(self, name: str, path_or_url: str | None = None, refresh: bool = False,
                 normalize: bool = False, extra_conf: dict | None = None, randomize: bool = False,
                 source: str = "auto", s3prl_padding: bool = False, compute_dtype: str | None = None):
        super().__init__()
        _check_name(name)
        path_or_url, frontend, overrides = _apply_extra_conf(name, path_or_url, extra_conf or {})
        self.upstream: UpstreamPreTrainedModel = _load(name, path_or_url, refresh, frontend, source,
                                                       overrides)
        if s3prl_padding and getattr(self.upstream.config, "skip_padding", False):
            self.upstream.config.skip_padding = False  # read at every forward
        if randomize:
            randomize_upstream(self.upstream)
        dtype = parse_compute_dtype(compute_dtype) or torch.float32
        if not torch.cuda.is_available():
            check_compute_dtype(dtype, "cpu")
        self.upstream = cast_model(self.upstream, dtype)
        self.normalize = normalize
        self.train()  # S3PRL's constructor ends in train mode; see the module docstring

    @property
    def num_layers(self) -> int:
        """Number of hidden states."""
        return self.upstream.num_layers

    @property
    def downsample_rates(self) -> list[int]:
        """Input samples per frame of each hidden state."""
        return list(self.upstream.downsample_rates)

    @property
    def hidden_sizes(self) -> list[int]:
        """Feature dimension of each hidden state."""
        return list(self.upstream.hidden_sizes)

    def forward(self, wavs: torch.FloatTensor, wavs_len: torch.LongTensor
                ) -> tuple[list[torch.FloatTensor], list[torch.LongTensor]]:
        """All hidden states and their valid lengths, as `S3PRLUpstream.forward`.

        Args:
            wavs: (batch_size, seqlen) or (batch_size, seqlen, 1) float waveforms.
            wavs_len: (batch_size,) valid samples per waveform.

        Returns:
            A list of (batch_size, max_seq_len, hidden_size) tensors and a list of (batch_size,) lengths.
        """
        out = self.upstream(wavs, wavs_len, normalize=self.normalize)
        return list(out.hidden_states), list(out.hidden_states_lengths)


# S3PRL hub entries that are not hidden-state upstreams of a checkpoint this library converts: prefix -> why.
_OUT_OF_SCOPE = {
    "hf_": "wraps a model of the transformers library itself: load it with transformers.AutoModel.from_pretrained("
           "repo, output_hidden_states=True)",
    "mos_": "is a MOS predictor (a score), not hidden states",
    "timit_posteriorgram": "is a downstream model (phone posteriors), not an upstream",
    "customized_upstream": "is S3PRL's example of a user upstream",
}


def _check_name(name: str) -> None:
    """Refuse S3PRL's out-of-scope entries with the reason, and unknown names before anything is loaded."""
    for prefix, why in _OUT_OF_SCOPE.items():
        if name.startswith(prefix):
            raise ValueError(f"S3PRL's '{name}' {why}; s3prl_hf has no counterpart")
    registry.get_spec(_entry_target(name))


def _apply_extra_conf(name: str, path_or_url, extra_conf: dict) -> tuple[str | None, str | None, dict]:
    """Sort S3PRL's `extra_conf` into (path_or_url, second file, config overrides), as the family declares."""
    try:
        options = get_family(registry.get_spec(_entry_target(name)).family).s3prl_options
    except registry.UnknownUpstreamError:
        options = {}
    frontend, overrides = None, {}
    unknown = sorted(set(extra_conf) - set(options))
    if unknown:
        raise ValueError(f"extra_conf options {unknown} cannot be honoured for '{name}': a converted s3prl_hf model "
                         f"fixes its configuration at conversion time"
                         + (f" (this upstream takes {sorted(options)})" if options else "")
                         + ". Drop them, or convert a checkpoint built with those options")
    for key, value in extra_conf.items():
        kind = options[key]
        if kind == "second_file":
            frontend = os.fspath(value)
        elif kind == "checkpoint":
            if path_or_url is not None:
                raise ValueError(f"extra_conf[{key!r}] and path_or_url both give '{name}' a file: give one")
            path_or_url = os.fspath(value)
        else:  # the config fields that take the value
            overrides.update(dict.fromkeys(kind, value))
    return path_or_url, frontend, overrides


def _load(name: str, path_or_url: str | None, refresh: bool, frontend: str | None = None,
          source: str = "auto", overrides: dict | None = None) -> UpstreamPreTrainedModel:
    overrides = overrides or {}
    base = _entry_target(name)
    if path_or_url is None:
        if base != name:
            raise ValueError(f"'{name}' is S3PRL's entry for a user checkpoint: pass path_or_url (a converted "
                             f"folder, a Hub repo id, an original checkpoint file or its URL)")
        if refresh:
            _forget_cached(registry.get_spec(name), source)
        return AutoUpstream.from_pretrained(name, source=source, **overrides)

    source_path = os.fspath(path_or_url)
    if "://" in source_path:
        from .weights.download import discard, fetch_file

        if refresh:
            from .weights.paths import download_path

            discard(source_path, download_path(source_path))
        return _convert_and_load(base, str(fetch_file(source_path)), frontend, overrides)
    if os.path.isdir(source_path):
        return AutoUpstream.from_pretrained(source_path, **overrides)
    if os.path.isfile(source_path):
        return _convert_and_load(base, source_path, frontend, overrides)
    if source_path.count("/") != 1 or os.path.splitext(source_path)[1] or source_path.startswith((".", "~")):
        raise FileNotFoundError(f"file not found: path_or_url {source_path!r} is no file, folder or Hub repo id")
    if refresh:
        return AutoUpstream.from_pretrained(_download(source_path, None), **overrides)
    return AutoUpstream.from_pretrained(source_path, **overrides)  # a Hub repo id


def _forget_cached(spec: registry.UpstreamSpec, source: str) -> None:
    """`refresh=True`: drop what the caches hold of `spec`, so that it is fetched again."""
    from .weights import conversion_cache
    from .weights.download import discard
    from .weights.integrity import forget
    from .weights.paths import download_path

    from .weights.resolve import UpstreamNotAvailableError, probe_hub

    if source != "original":
        problem = probe_hub(spec.repo_id, spec.revision)
        if problem is None:
            _download(spec.repo_id, spec.revision)
            return
        if source == "hub":
            raise UpstreamNotAvailableError(f"cannot refresh '{spec.repo_id}': {problem}")
    for entry in conversion_cache.list_conversions(spec.name):
        conversion_cache.remove_conversion(entry)
    for option in spec.download_options:
        for file in option:
            discard(file.url, download_path(file.url))
            forget(file.url)


def _entry_target(name: str) -> str:
    """The name whose converter an S3PRL `<stem>_local` / `_url` / `_custom` entry runs; other names as given."""
    if name in registry.S3PRL_ENTRIES:
        return registry.S3PRL_ENTRIES[name]
    for suffix in _CHECKPOINT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _convert_and_load(name: str, checkpoint: str, frontend: str | None = None,
                      overrides: dict | None = None) -> UpstreamPreTrainedModel:
    """Convert with `name`'s converter; if it rejects the file, with the first other family's that accepts it.

    S3PRL's generic entries load more than their name says (`wav2vec2_custom` also runs wav2vec 2.0
    Conformer checkpoints), so the checkpoint's content decides, as it does in S3PRL.
    """
    from .conversion import CheckpointFormatError  # conversion code is only needed here

    spec = registry.get_spec(name)
    first_error = None
    with tempfile.TemporaryDirectory(prefix="s3prl_hf-") as tmp:
        for family_name in [spec.family, *(f for f in families() if f != spec.family)]:
            family = get_family(family_name)
            target = spec.name if family_name == spec.family else _first_name_of(family_name)
            if target is None or (family_name != spec.family and not family.has_weights):
                continue
            logger.info("converting the original checkpoint %s as '%s' (s3prl-hf convert keeps the result)",
                        checkpoint, target)
            paired = {"frontend_checkpoint": frontend} if family.second_file is not None else {}
            try:
                folder = _convert_as_its_method(target, checkpoint, os.path.join(tmp, f"converted-{family_name}"),
                                                **paired)
            except CheckpointFormatError as error:
                first_error = first_error or error
                continue
            if family_name != spec.family:
                logger.warning("%s is not a %s checkpoint; it was converted as a %s checkpoint", checkpoint,
                               spec.family, family_name)
            return AutoUpstream.from_pretrained(folder, **(overrides or {}))
    raise first_error


def _convert_as_its_method(name: str, checkpoint: str, output: str, **options) -> str:
    """Convert under `name`, or, when the checkpoint's config names another method of the family, under a name of
    that method: S3PRL's experts run, e.g., VQ-APC checkpoints under `apc` and TERA ones under `mockingjay`."""
    from .conversion import MethodMismatchError, convert_checkpoint

    try:
        return convert_checkpoint(name, checkpoint, output, check_architecture=False, **options)
    except MethodMismatchError as error:
        family = registry.get_spec(name).family
        other = next((spec.name for spec in registry.UPSTREAMS
                      if spec.family == family and spec.method in error.methods), None)
        if other is None:
            raise
        logger.warning("%s; loading it as '%s', whose S3PRL expert is the same", error, other)
        return convert_checkpoint(other, checkpoint, output, check_architecture=False, **options)


def _first_name_of(family: str) -> str | None:
    """The family's first registered name: one of S3PRL's documented collection, converted with no name option
    (`decoar` would keep only decoar_layers' last state)."""
    return next((spec.name for spec in registry.UPSTREAMS if spec.family == family), None)


def _download(repo_id: str, revision: str | None) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, revision=revision, force_download=True)


@torch.no_grad()
def randomize_upstream(upstream: nn.Module) -> None:
    """Re-draw every parameter as S3PRL's `randomize_upstream` does.

    1-D (and 0-D) parameters: normal with their own mean and std; others: Xavier normal. S3PRL applies this
    once per module (re-drawing nested parameters several times); one pass gives the same distributions.
    """
    for param in upstream.parameters():
        if param.dim() < 2:
            std = param.float().std().item() if param.numel() > 1 else 0.0
            nn.init.normal_(param, mean=param.float().mean().item(), std=0.0 if math.isnan(std) else std)
        else:
            nn.init.xavier_normal_(param)

"""The files of one release, as a family's converter receives them: one protocol for one- and two-file releases.

A converter is `convert(release) -> model`. Most families read one checkpoint (`release.load()`); two-file
releases also read `release.second` (Discrete BERT's vq-wav2vec tokeniser, VGGish's PCA file, PASE+'s JSON cfg,
ESPnet's config.yaml); S3PRL's signal-processing baselines may have no file at all (`release.checkpoint` is None).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import registry
from .checkpoints import CheckpointFormatError, MethodMismatchError, load_original_checkpoint


@dataclass(frozen=True)
class Release:
    """What a converter converts: the name it converts for, its original file(s), and converter options.

    Attributes:
        spec: The registry entry of the name converted for (`spec.name`, `spec.method`).
        checkpoint: The original checkpoint file (None for a family without weights given no config file).
        second: The second file of a two-file release, when there is one.
        options: Keyword options of the family's converter (e.g. LightHuBERT's `subnet`).

    Example:
        >>> release = Release(registry.get_spec("hubert"), Path("hubert_base_ls960.pt"))  # doctest: +SKIP
        >>> state = release.load()  # doctest: +SKIP
    """

    spec: registry.UpstreamSpec
    checkpoint: Path | None
    second: Path | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def name(self) -> str:
        """The canonical name converted for."""
        return self.spec.name

    def load(self) -> dict:
        """The checkpoint's contents, read without running any code from it."""
        return load_original_checkpoint(self.checkpoint)

    def check_method(self, methods: Collection[str], evidence: str) -> None:
        """Refuse a checkpoint whose own config says it is of another method than the name converted for.

        Args:
            methods: The registry methods the checkpoint can be, as its config tells.
            evidence: What in the checkpoint tells, for the message, e.g. "its model.paras have vq layers".

        Raises:
            MethodMismatchError: `self.spec.method` is not among `methods`; the message names the names to use.

        Example:
            >>> release.check_method({"vq_apc"}, "its model.paras have vq layers")  # doctest: +SKIP
        """
        if self.spec.method in methods:
            return
        names = [spec.name for spec in registry.UPSTREAMS if spec.method in methods and spec.has_weights]
        titles = _some(sorted({registry.METHODS[method].section for method in methods}), shown=len(methods))
        what = f"{self.checkpoint.name} is" if self.checkpoint is not None else "this is"
        hint = f"; convert it under {_some(names)}" if names else ""
        raise MethodMismatchError(f"{what} a checkpoint of {titles} ({evidence}), not of "
                                  f"{registry.METHODS[self.spec.method].section} as '{self.name}' is{hint}", methods)

    def require_second(self, what: str) -> Path:
        """The second file, or a clear error saying which file is missing and how to give it."""
        if self.second is None:
            raise CheckpointFormatError(f"'{self.name}' needs a second file: {what}; pass it as frontend_checkpoint= "
                                        f"(--frontend-checkpoint) or put it, alone under its usual name, beside "
                                        f"the checkpoint")
        return self.second


def _some(names: list[str], shown: int = 3) -> str:
    """'a, b or c' (and how many more)."""
    if len(names) <= shown:
        return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    return ", ".join(names[:shown]) + f" (or {len(names) - shown} more: s3prl-hf list)"


def from_state(converter: Callable[..., Any]) -> Callable[[Release], Any]:
    """Adapt a converter of one checkpoint's contents, `converter(state, **options)`, to the release protocol.

    Example:
        >>> FAMILY = Family(..., convert=from_state(convert_wavlm), ...)  # doctest: +SKIP
    """

    def convert(release: Release):
        if release.second is not None:
            raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
        return converter(release.load(), **release.options)

    convert.__name__ = f"{converter.__name__}_release"
    convert.__doc__ = converter.__doc__
    return convert

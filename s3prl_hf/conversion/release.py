"""The files of one release, as a family's converter receives them: one protocol for one- and two-file releases.

A converter is `convert(release) -> model`. Most families read one checkpoint (`release.load()`); two-file
releases also read `release.second` (Discrete BERT's vq-wav2vec tokeniser, VGGish's PCA file, PASE+'s JSON cfg,
ESPnet's config.yaml); S3PRL's signal-processing baselines may have no file at all (`release.checkpoint` is None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import registry
from .checkpoints import CheckpointFormatError, load_original_checkpoint


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

    def require_second(self, what: str) -> Path:
        """The second file, or a clear error saying which file is missing and how to give it."""
        if self.second is None:
            raise CheckpointFormatError(f"'{self.name}' needs a second file: {what}; pass it as frontend_checkpoint= "
                                        f"(--frontend-checkpoint) or put it, alone under its usual name, beside "
                                        f"the checkpoint")
        return self.second


def from_state(converter: Callable[..., Any]) -> Callable[[Release], Any]:
    """Adapt a converter of one checkpoint's contents, `converter(state, **options)`, to the release protocol.

    Example:
        >>> FAMILY = Family(..., convert=from_state(convert_hubert), ...)  # doctest: +SKIP
    """

    def convert(release: Release):
        if release.second is not None:
            raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
        return converter(release.load(), **release.options)

    convert.__name__ = f"{converter.__name__}_release"
    convert.__doc__ = converter.__doc__
    return convert

"""What a family declares about itself, once, next to its code: `FAMILY = Family(...)` in its `__init__.py`.

A family is one implementation (one config class, one model class, one converter) that runs the checkpoints of one
or more S3PRL upstreams; the registry's `family` field names it, and `s3prl_hf.models` finds it by that name. The
central modules (auto, conversion, cards, the drop-in, the CLI, the tests) read these declarations and never name
a family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..conversion.release import Release
    from ..modeling_utils import UpstreamConfig, UpstreamPreTrainedModel

@dataclass(frozen=True, kw_only=True)
class SecondFile:
    """The second file of a two-file release (Discrete BERT's tokeniser, VGGish's PCA, PASE+'s and ESPnet's configs).

    Attributes:
        what: What the file is, for messages: "its PCA parameters (vggish_pca_params-970ea276.pth)".
        name_fragments: Fragments of its usual file name; when not given, the one file beside the checkpoint whose
            name holds one of them is used.
        required: Whether the checkpoint is useless without it (False where the main file may hold both).
    """

    what: str
    name_fragments: tuple[str, ...]
    required: bool = False

    def find_beside(self, checkpoint: Path) -> Path | None:
        """The one other file beside `checkpoint` whose name holds one of the fragments, or None."""
        folder = checkpoint.parent
        if not checkpoint.exists() or not folder.is_dir():
            return None
        candidates = [path for path in folder.iterdir() if path.is_file() and path.resolve() != checkpoint.resolve()
                      and any(fragment in path.name.lower() for fragment in self.name_fragments)]
        return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True, kw_only=True, repr=False)
class Family:
    """One implementation family: its classes, its converter, and the facts the cards and tests need.

    Attributes:
        name: The family's name: its package under `s3prl_hf/models/` and the registry's `family` field.
        config_class: Its `UpstreamConfig` subclass (a `model_type` of its own, `s3prl_...`).
        model_class: Its `UpstreamPreTrainedModel` subclass.
        convert: Turns the original file(s) of one release into a model in eval mode; raises
            `CheckpointFormatError` on anything it does not understand.
        reference_configs: Canonical name -> the config overrides of its released architecture.
        tiny_configs: Overrides of tiny instances, one per variant worth running, for the shared contract tests.
        second_file: The second file of its two-file releases, if any.
        has_weights: False for families S3PRL computes from a config alone (no checkpoint to convert).
        converter_version: Bump when the converter's output changes for the same checkpoint (the conversion cache
            converts again).
        hidden_state_notes: For the cards: what each hidden state is, as S3PRL defines it.
        method_notes: Method -> a sentence added to the notes for the names of that method.
        method_quirks: Method -> quirks added for the names of that method.
        name_notes: Name -> notes replacing the family's for that name.
        quirks: For the cards: S3PRL behaviours reproduced on purpose.
        name_quirks: Name -> quirks added for that name.
        audio_only: Audio (not speech) representations: cards carry no language.
        s3prl_options: The options of S3PRL's `extra_conf` that change the model, and how they apply: "second_file"
            (a path to the release's second file), "checkpoint" (a path to the file to convert) or a tuple of config
            fields that take the value.

    Example:
        >>> from s3prl_hf.models import get_family
        >>> get_family("hubert").config_class.model_type  # doctest: +SKIP
        's3prl_hubert'
    """

    name: str
    config_class: type[UpstreamConfig]
    model_class: type[UpstreamPreTrainedModel]
    convert: Callable[[Release], UpstreamPreTrainedModel]
    reference_configs: Mapping[str, Mapping[str, Any]]
    tiny_configs: tuple[Mapping[str, Any], ...]
    second_file: SecondFile | None = None
    has_weights: bool = True
    converter_version: int = 1
    hidden_state_notes: str = ""
    method_notes: Mapping[str, str] = field(default_factory=dict)
    method_quirks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    name_notes: Mapping[str, str] = field(default_factory=dict)
    quirks: tuple[str, ...] = ()
    name_quirks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    audio_only: bool = False
    s3prl_options: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Family({self.name!r})"

    def reference_config(self, name: str) -> UpstreamConfig:
        """The released architecture of canonical name `name` (a config, no weights)."""
        return self.config_class(s3prl_name=name, **self.reference_configs[name])

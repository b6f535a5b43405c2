"""The fixtures' original checkpoints, read, edited and saved again: what the family tests feed the converters.

`fixture` is a fixture's folder or its name under tests/fixtures.
"""

import copy
import re

import pytest
import torch

from conftest import FIXTURES
from s3prl_hf.conversion import CheckpointFormatError, convert_checkpoint, load_original_checkpoint


def original(fixture, source: str = "original_s3prl.pt") -> dict:
    """The fixture's original checkpoint, as the converters receive it."""
    return load_original_checkpoint(FIXTURES / fixture / source)


def edited(fixture, edit, source: str = "original_s3prl.pt") -> dict:
    """A deep copy of the fixture's original checkpoint, changed in place by `edit(state)`."""
    state = copy.deepcopy(original(fixture, source))
    edit(state)
    return state


def without(state: dict, *keys: str) -> dict:
    return {k: v for k, v in state.items() if k not in keys}


def with_cfg(state: dict, **changes) -> dict:
    """An S3PRL-hosted fairseq checkpoint ({"model_cfg", "model_weight"}) with its config changed."""
    return {**state, "model_cfg": {**state["model_cfg"], **changes}}


def with_weights(state: dict, drop: str | None = None, **extra) -> dict:
    """An S3PRL-hosted fairseq checkpoint without the weights whose names match `drop` (a regex), with `extra` added."""
    weights = {k: v for k, v in state["model_weight"].items() if drop is None or not re.search(drop, k)}
    return {**state, "model_weight": {**weights, **extra}}


def save_source(tmp_path, state: dict):
    """The state saved as tmp_path/source.pt, for `convert_checkpoint`. An optimizer state is left out: DistilHuBERT's
    holds an inert stand-in for S3PRL's LR schedule that cannot be pickled again, and no converter reads it."""
    path = tmp_path / "source.pt"
    torch.save({k: v for k, v in state.items() if k != "Optimizer"}, path)
    return path


def assert_conversion_refused(tmp_path, name: str, source, match: str) -> None:
    """Converting `source` as `name` into tmp_path/out fails with a CheckpointFormatError matching `match`, and
    nothing is written."""
    with pytest.raises(CheckpointFormatError, match=match):
        convert_checkpoint(name, source, tmp_path / "out")
    assert not (tmp_path / "out").exists()

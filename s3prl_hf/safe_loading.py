"""Weights load from safetensors only: loading a model never reads a pickle.

transformers falls back to `pytorch_model.bin` (a pickle, read with `torch.load(weights_only=True)`) when a folder
or repo has no safetensors file. s3prl_hf's converters write safetensors and the README promises no pickles at
load time, so every upstream's `from_pretrained` asks transformers for safetensors only (`use_safetensors=True`)
and turns weights that exist only as a pickle into an error that says how to convert them. Pickles are read only
by the converters (`s3prl-hf convert`), with an allowlist.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

PICKLED_WEIGHTS = (WEIGHTS_NAME, WEIGHTS_INDEX_NAME)  # pytorch_model.bin and its shard index
SAFE_WEIGHTS = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)
# transformers' own message when a Hub repo has no safetensors file (it then advises to drop use_safetensors)
_NO_SAFETENSORS_ON_HUB = "cannot be loaded with `safetensors`"


class PickledWeightsError(OSError):
    """Weights that exist only as a pickle (`pytorch_model.bin`), which s3prl_hf does not load.

    Example:
        >>> AutoUpstream.from_pretrained("folder_with_pytorch_model_bin")  # doctest: +SKIP
        PickledWeightsError: folder_with_pytorch_model_bin holds its weights only as pytorch_model.bin ...
    """


def safetensors_kwargs(kwargs: dict) -> dict:
    """`from_pretrained` keyword arguments that load safetensors only; `use_safetensors=False` is refused."""
    if kwargs.get("use_safetensors") is False:
        raise ValueError("use_safetensors=False: s3prl_hf loads weights from safetensors only, never from a "
                         "pickle (convert pickled weights with `s3prl-hf convert`)")
    return {**kwargs, "use_safetensors": True}


def pickle_only_error(location, error: OSError) -> OSError:
    """The error to raise when transformers found no safetensors weights at `location` (a folder or repo id)."""
    text = os.fspath(location)
    if SAFE_WEIGHTS_NAME not in str(error):
        return error  # not about the weights file
    if os.path.isdir(text):
        names = set(os.listdir(text))
        if names & set(SAFE_WEIGHTS):
            return error  # safetensors are there: another problem, keep transformers' message
        pickled = sorted(names & set(PICKLED_WEIGHTS))
        if not pickled:
            return FileNotFoundError(f"{text} holds no model weights ({SAFE_WEIGHTS_NAME} is missing): not a "
                                     f"converted folder, or an incomplete copy of one")
        return PickledWeightsError(_advice(text, pickled[0], os.path.join(text, WEIGHTS_NAME)))
    if _NO_SAFETENSORS_ON_HUB in str(error):
        return PickledWeightsError(_advice(text, "pickled files (or none)", f"<{WEIGHTS_NAME} from {text}>"))
    return error


def _advice(where: str, what: str, pickle_path: str) -> str:
    return (f"{where} holds its weights only as {what}, a pickle; s3prl_hf loads {SAFE_WEIGHTS_NAME} only, so that "
            f"loading a model never unpickles a file. Convert the original checkpoint with `s3prl-hf convert --name "
            f"NAME --checkpoint FILE --output FOLDER`, or re-save weights you trust as safetensors: "
            f"safetensors.torch.save_file(torch.load({pickle_path!r}, weights_only=True), "
            f"'<folder>/{SAFE_WEIGHTS_NAME}')")


@contextmanager
def no_conversion_requests():
    """Keep transformers from asking the Hub's conversion bot to convert a repo that has no safetensors."""
    variable = "DISABLE_SAFETENSORS_CONVERSION"
    previous = os.environ.get(variable)
    os.environ[variable] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous

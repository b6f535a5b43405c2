"""Turn an original checkpoint into a folder that `AutoUpstream.from_pretrained` loads.

The folder holds `config.json`, `model.safetensors` and a `README.md` model card. The name's family converts the
release (`s3prl_hf.models.<family>.FAMILY.convert`); the folder is written into a temporary sibling and committed
by one rename (`folders.commit_folder`), so a failed conversion leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError

from .. import cards, registry
from ..modeling_utils import UpstreamPreTrainedModel
from ..models import get_family
from .checkpoints import CheckpointFormatError, file_sha256
from .folders import check_output, commit_folder
from .release import Release

logger = logging.getLogger(__name__)

# Larger models are written as `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`
# (xls_r_1b: 2 shards, xls_r_2b: 5); smaller ones as one `model.safetensors`. Shards keep each file a size the
# Hub and its CDN handle well, and bound the extra memory of writing one (safetensors serialises a shard at once).
DEFAULT_MAX_SHARD_SIZE = "2GB"


def converter_version(family: str) -> int:
    """The version of `family`'s converter: part of the conversion cache's key."""
    return get_family(family).converter_version


def convert_checkpoint(name: str, checkpoint: str | os.PathLike | None, output: str | os.PathLike, *,
                       force: bool = False, max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
                       frontend_checkpoint: str | os.PathLike | None = None,
                       source_sha256: str | None = None,
                       converter_options: Mapping[str, Any] | None = None,
                       check_architecture: bool = True) -> Path:
    """Convert an original S3PRL / fairseq checkpoint of upstream `name` into `output`.

    Args:
        name: S3PRL name or alias of the upstream the checkpoint belongs to (selects the converter).
        checkpoint: Path of the original checkpoint file (None for an upstream without weights: its built-in
            config).
        output: Folder to create.
        force: Replace `output` if it is an empty folder or a folder this library wrote.
        max_shard_size: Largest safetensors file to write ("2GB", "500MB" or bytes); bigger models are sharded
            with an index, which `from_pretrained` reads transparently.
        frontend_checkpoint: The second file of a two-file release (Discrete BERT's vq-wav2vec k-means
            checkpoint, VGGish's PCA parameters, PASE+'s JSON cfg, an ESPnet model's config.yaml); when omitted,
            the one file beside `checkpoint` whose name says what it is is used.
        source_sha256: The checkpoint's sha256 when the caller has computed it already (for the card).
        converter_options: Keyword arguments of the family's converter for checkpoints whose architecture S3PRL
            fixes in code, e.g. `{"subnet": {...}}` for LightHuBERT (another subnet of the supernet) or
            `{"num_attention_heads": 8}` for DeCoAR 2.0. Single-file releases only.
        check_architecture: Warn when the checkpoint's hidden states (layer count, widths, strides) differ from
            those of `name`'s released model (False for S3PRL's `_custom` entries, which take any size).

    Returns:
        The output folder.

    Raises:
        registry.UnknownUpstreamError: unknown name.
        FileExistsError: `output` exists and `force` is False, or exists and is not an empty or converted folder
            (`--force` never replaces the current directory, a folder holding the input, or other files).
        FileNotFoundError: the checkpoint does not exist.
        ValueError: no checkpoint for an upstream that has weights.
        s3prl_hf.conversion.CheckpointFormatError: the checkpoint is corrupt or of another format/family, or its
            weights are not finite.
        s3prl_hf.conversion.MethodMismatchError: the checkpoint's own config names another method than `name`'s
            (e.g. a VQ-APC checkpoint converted as apc_360hr); `error.methods` says which.

    Example:
        >>> convert_checkpoint("hubert_base", "hubert_base_ls960.pt", "converted/hubert_base")  # doctest: +SKIP
        >>> AutoUpstream.from_pretrained("converted/hubert_base")  # doctest: +SKIP
    """
    spec = registry.get_spec(name)
    family = get_family(spec.family)
    output = Path(output)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    second = Path(frontend_checkpoint) if frontend_checkpoint is not None else None
    if checkpoint is None and family.has_weights:
        raise ValueError(f"'{spec.name}' has weights: give its original checkpoint file")
    if checkpoint is not None and second is None and family.second_file is not None:
        second = family.second_file.find_beside(checkpoint)
        if second is not None:
            logger.info("using %s beside the checkpoint as %s", second, family.second_file.what)
    if converter_options and second is not None:
        raise ValueError(f"converter_options are for single-file releases; '{spec.name}' was given two files")
    check_output(output, force=force, inputs=[path for path in (checkpoint, second) if path is not None])
    if checkpoint is not None:
        logger.info("reading %s", checkpoint)
    release = Release(spec, checkpoint, second, dict(converter_options or {}))
    if checkpoint is not None and family.second_file is not None and family.second_file.required:
        release.require_second(family.second_file.what)
    model = _run_converter(family, release)
    if check_architecture:
        warn_if_not_released_architecture(spec, model)
    return _write(spec, model, output, max_shard_size, checkpoint, force=force, source_sha256=source_sha256)


def _run_converter(family, release: Release) -> UpstreamPreTrainedModel:
    """Run the family's converter; what it did not foresee in a checkpoint is a `CheckpointFormatError` too.

    Converters check what they understand and raise `CheckpointFormatError`; a checkpoint crafted or corrupted
    past those checks (a missing key, a wrong type, a size no layer can take) still ends as one clear error.
    """
    try:
        return family.convert(release)
    except (CheckpointFormatError, OSError, MemoryError):
        raise
    except (KeyError, IndexError, AttributeError, TypeError, ValueError, RuntimeError, ArithmeticError,
            AssertionError, StrictDataclassError) as error:
        detail = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        detail = " ".join(detail.split())
        raise CheckpointFormatError(f"cannot convert {release.checkpoint} as '{release.name}' "
                                    f"({family.name} family): {type(error).__name__}: {detail}") from error


# The shape of the hidden states: what a user of a name relies on (layer count, widths, frame rate).
ARCHITECTURE_FIELDS = ("num_layers", "hidden_sizes", "downsample_rates")


def warn_if_not_released_architecture(spec: registry.UpstreamSpec, model: UpstreamPreTrainedModel) -> None:
    """Warn when the converted hidden states differ from those of the name's released model.

    Custom and fine-tuned checkpoints legitimately differ, so this never refuses; but a 2-layer HuBERT converted
    as hubert_large_ll60k should not pass silently.
    """
    family = get_family(spec.family)
    if spec.name not in family.reference_configs:
        return
    reference = family.reference_config(spec.name)
    differences = []
    for field in ARCHITECTURE_FIELDS:
        ours, released = getattr(model.config, field), getattr(reference, field)
        if list(ours) != list(released) if isinstance(ours, (list, tuple)) else ours != released:
            differences.append(f"{field} {_short(ours)} (released: {_short(released)})")
    if differences:
        logger.warning("this checkpoint is not the architecture released as '%s': %s; converting it as given "
                       "(a custom or fine-tuned checkpoint may differ on purpose)", spec.name, "; ".join(differences))


def _short(value) -> str:
    """A list shown compactly: [768, 768, ...] as 13 x 768."""
    if isinstance(value, (list, tuple)) and len(value) > 3 and len(set(value)) == 1:
        return f"{len(value)} x {value[0]}"
    return str(list(value) if isinstance(value, tuple) else value)


def _write(spec: registry.UpstreamSpec, model: UpstreamPreTrainedModel, output: Path, max_shard_size: int | str,
           checkpoint: Path | None, *, force: bool, source_sha256: str | None = None) -> Path:
    """Check the converted model and write its folder (config, weights if any, card) atomically."""
    model.config.s3prl_name = spec.name
    verify_forward(model)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    try:
        model.save_pretrained(staging, max_shard_size=max_shard_size)
        source = {} if checkpoint is None else dict(source_name=checkpoint.name,
                                                    source_sha256=source_sha256 or file_sha256(checkpoint))
        card = cards.render_card(spec, model.config, **source)
        (staging / "README.md").write_text(card, encoding="utf-8")
        apply_umask(staging)
        commit_folder(staging, output, force=force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def apply_umask(folder: Path) -> None:
    """Give `folder` and its files the modes the user's umask gives new ones (mkdtemp makes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def verify_forward(model: UpstreamPreTrainedModel) -> None:
    """Run a padded two-utterance batch and check the layer count and that every value is finite.

    Raises:
        CheckpointFormatError: the model does not give what its config promises.
    """
    generator = torch.Generator().manual_seed(0)
    # a family that needs a minimum input (VGGish: one 0.975 s example) gets a longer batch
    short = max(11111, getattr(model.config, "min_input_samples", 0))
    long = max(16000, 2 * short)
    wavs = torch.randn(2, long, generator=generator) * 0.1
    with torch.no_grad():
        all_hs, _ = model(wavs, torch.tensor([long, short]))
    if len(all_hs) != model.num_layers:
        raise CheckpointFormatError(f"the converted model returned {len(all_hs)} hidden states, its config says "
                                    f"{model.num_layers}")
    for index, hs in enumerate(all_hs):
        if not torch.isfinite(hs).all():
            raise CheckpointFormatError(f"the converted model gives NaN or infinite values in hidden state {index} "
                                        f"for a finite test input: the checkpoint's weights are unusable")

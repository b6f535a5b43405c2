"""Turn an original checkpoint into a folder that `AutoUpstream.from_pretrained` loads.

The folder holds `config.json`, `model.safetensors` and a `README.md` model card. It is written into a
temporary sibling folder and renamed into place at the end, so a failed conversion leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any
from pathlib import Path

import torch

from . import cards, registry
from .auto import check_implemented, reference_config
from .conversion import CheckpointFormatError, file_sha256, load_original_checkpoint
from .folders import check_output, commit_folder
from .modeling_utils import UpstreamPreTrainedModel
from .models.distilhubert.convert_distilhubert import convert_distilhubert
from .models.hubert.convert_hubert import convert_hubert
from .models.lighthubert.convert_lighthubert import convert_lighthubert
from .models.mockingjay.convert_mockingjay import convert_mockingjay
from .models.multires_hubert.convert_multires_hubert import convert_multires_hubert
from .models.unispeech_sat.convert_unispeech_sat import convert_unispeech_sat
from .models.wavlm.convert_wavlm import convert_wavlm
from .models.data2vec.convert_data2vec import convert_data2vec
from .models.wav2vec2.convert_wav2vec2 import convert_wav2vec2
from .models.wav2vec2_conformer.convert_wav2vec2_conformer import convert_wav2vec2_conformer
from .models.apc.convert_apc import convert_apc, convert_vq_apc
from .models.decoar.convert_decoar import convert_decoar
from .models.decoar2.convert_decoar2 import convert_decoar2
from .models.mae_ast.convert_mae_ast import convert_mae_ast
from .models.byol_a.convert_byol_a import convert_byol_a
from .models.byol_s.convert_byol_s import convert_byol_s
from .models.modified_cpc.convert_modified_cpc import convert_modified_cpc
from .models.npc.convert_npc import convert_npc
from .models.vggish.convert_vggish import convert_vggish, load_pca_file
from .models.ast.convert_ast import convert_ast
from .models.ssast.convert_ssast import convert_ssast
from .models.discretebert.convert_discretebert import convert_discretebert, load_discretebert_sources
from .models.vq_wav2vec.convert_vq_wav2vec import convert_vq_wav2vec
from .models.wav2vec.convert_wav2vec import convert_wav2vec
from .models.pase_plus.convert_pase_plus import convert_pase_plus
from .models.pase_plus.convert_pase_plus import load_release as load_pase_release
from .models.passt.convert_passt import convert_passt
from .models.spectral.convert_spectral import convert_spectral, load_s3prl_yaml
from .models.espnet_hubert.convert_espnet_hubert import convert_espnet_hubert
from .models.espnet_hubert.convert_espnet_hubert import load_release as load_espnet_release

logger = logging.getLogger(__name__)

# family -> function(checkpoint dict) -> model. Adding a family = one row here.
CONVERTERS: dict[str, Callable[[dict], UpstreamPreTrainedModel]] = {
    "hubert": convert_hubert,
    "wav2vec2": convert_wav2vec2,
    "wav2vec2_conformer": convert_wav2vec2_conformer,
    "data2vec": convert_data2vec,
    "wavlm": convert_wavlm,
    "unispeech_sat": convert_unispeech_sat,
    "distilhubert": convert_distilhubert,
    "lighthubert": convert_lighthubert,
    "mockingjay": convert_mockingjay,
    "tera": convert_mockingjay,
    "audio_albert": convert_mockingjay,
    "apc": convert_apc,
    "vq_apc": convert_vq_apc,
    "npc": convert_npc,
    "modified_cpc": convert_modified_cpc,
    "decoar": convert_decoar,
    "decoar2": convert_decoar2,
    "mae_ast": convert_mae_ast,
    "byol_a": convert_byol_a,
    "byol_s": convert_byol_s,
    "vggish": convert_vggish,
    "ast": convert_ast,
    "ssast": convert_ssast,
    "wav2vec": convert_wav2vec,
    "pase_plus": convert_pase_plus,  # the checkpoint + JSON cfg combined (convert_pase_plus.load_release)
    "vq_wav2vec": convert_vq_wav2vec,
    "multires_hubert": convert_multires_hubert,
    "espnet_hubert": convert_espnet_hubert,  # the .pth + config.yaml combined (convert_espnet_hubert.load_release)
}
# families whose hub entries run one checkpoint in ways its weights do not record (PaSST: windows, mel hop):
# function(checkpoint dict, canonical name) -> model
NAMED_CONVERTERS: dict[str, Callable[[dict, str], UpstreamPreTrainedModel]] = {"passt": convert_passt}
# families without weights (registry.CONFIG_ONLY_FAMILIES): function(reference config, S3PRL yaml config or None)
# -> model; the "checkpoint" is the yaml file S3PRL's expert reads, optional (the name's own config is built in)
CONFIG_ONLY_CONVERTERS = {"spectral": (convert_spectral, load_s3prl_yaml)}
# Converter options that come from the name converted for, not from the checkpoint: names whose S3PRL hub function
# runs another name's checkpoint differently (`decoar` keeps only the last of decoar_layers' states).
NAME_OPTIONS: dict[str, dict] = {"decoar": {"last_layer_only": True}}
# families whose upstream is two checkpoints: function(state, frontend_state, dictionary_text=...) -> model
PAIRED_CONVERTERS = {"discretebert": convert_discretebert}
# Releases of two files: what the second one is, and name fragments that find it beside the first one when it
# is not given (`frontend_checkpoint=` / `--frontend-checkpoint`).
SECOND_FILES = {
    "discretebert": ("its vq-wav2vec k-means frontend (vq_wav2vec_kmeans's checkpoint)", ("vq", "kmeans")),
    "vggish": ("its PCA parameters (vggish_pca_params-970ea276.pth)", ("pca",)),
    "pase_plus": ("its JSON cfg (PASE+.cfg)", (".cfg", ".json")),
    # ESPnet itself reads the config.yaml beside the .pth when given none
    "espnet_hubert": ("its ESPnet training config (config.yaml)", ("config.yaml",)),
}


# family -> version of its converter, part of the conversion cache's key: bump it when a converter's output changes
# for the same checkpoint, so that cached conversions are made again. Families not listed are at version 1.
CONVERTER_VERSIONS: dict[str, int] = {}


def converter_version(family: str) -> int:
    """The version of `family`'s converter (see `CONVERTER_VERSIONS`)."""
    return CONVERTER_VERSIONS.get(family, 1)


def find_second_file(family: str, checkpoint: Path) -> Path | None:
    """The one other file beside `checkpoint` whose name holds one of `SECOND_FILES[family]`'s fragments."""
    fragments = SECOND_FILES[family][1]
    folder = checkpoint.parent if checkpoint.exists() else None
    if folder is None:
        return None
    candidates = [path for path in folder.iterdir() if path.is_file() and path.resolve() != checkpoint.resolve()
                  and any(fragment in path.name.lower() for fragment in fragments)]
    return candidates[0] if len(candidates) == 1 else None


# Larger models are written as `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`
# (xls_r_1b: 2 shards, xls_r_2b: 5); smaller ones as one `model.safetensors`. Shards keep each file a size the
# Hub and its CDN handle well, and bound the extra memory of writing one (safetensors serialises a shard at once).
DEFAULT_MAX_SHARD_SIZE = "2GB"


def convert_checkpoint(name: str, checkpoint: str | os.PathLike | None, output: str | os.PathLike, *,
                       force: bool = False, max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
                       frontend_checkpoint: str | os.PathLike | None = None,
                       source_sha256: str | None = None,
                       converter_options: Mapping[str, Any] | None = None) -> Path:
    """Convert an original S3PRL / fairseq checkpoint of upstream `name` into `output`.

    Args:
        name: S3PRL name or alias of the upstream the checkpoint belongs to (selects the converter).
        checkpoint: Path of the original checkpoint file. Upstreams without weights (S3PRL's fbank, mfcc, ...)
            take None (their S3PRL config is built in) or an S3PRL yaml config for the same expert; the output
            then holds `config.json` and the card only.
        output: Folder to create.
        force: Replace `output` if it already exists.
        max_shard_size: Largest safetensors file to write ("2GB", "500MB" or bytes); bigger models are sharded
            with an index, which `from_pretrained` reads transparently.
        frontend_checkpoint: The second file of a two-file release (Discrete BERT's vq-wav2vec k-means
            checkpoint, VGGish's PCA parameters, PASE+'s JSON cfg, an ESPnet model's config.yaml); when omitted,
            the one file beside `checkpoint` whose name says what it is (`SECOND_FILES`) is used.
        source_sha256: The checkpoint's sha256 when the caller has computed it already (for the card).
        converter_options: Keyword arguments of the family's converter for checkpoints whose architecture S3PRL
            fixes in code, e.g. `{"subnet": {...}}` for LightHuBERT (another subnet of the supernet) or
            `{"num_attention_heads": 8}` for DeCoAR 2.0. Single-file releases only.

    Returns:
        The output folder.

    Raises:
        registry.UnknownUpstreamError: unknown name.
        NotImplementedError: the name's family has no converter yet.
        FileExistsError: `output` exists and `force` is False, or exists and is not an empty or converted folder
            (`--force` never replaces the current directory, a folder holding the input, or other files).
        FileNotFoundError: the checkpoint does not exist.
        ValueError: no checkpoint for an upstream that has weights.
        s3prl_hf.conversion.CheckpointFormatError: the checkpoint is corrupt or of another format/family.

    Example:
        >>> convert_checkpoint("hubert_base", "hubert_base_ls960.pt", "converted/hubert_base")  # doctest: +SKIP
        >>> AutoUpstream.from_pretrained("converted/hubert_base")  # doctest: +SKIP
    """
    spec = registry.get_spec(name)
    check_implemented(spec)
    output = Path(output)
    if spec.family in CONFIG_ONLY_CONVERTERS:
        check_output(output, force=force, inputs=[checkpoint] if checkpoint is not None else [])
        convert, load = CONFIG_ONLY_CONVERTERS[spec.family]
        model = convert(reference_config(spec.name), None if checkpoint is None else load(checkpoint))
        return _write(spec, model, output, max_shard_size, checkpoint, force=force)
    if checkpoint is None:
        raise ValueError(f"'{spec.name}' has weights: give its original checkpoint file")
    checkpoint = Path(checkpoint)
    inputs = [checkpoint] + ([Path(frontend_checkpoint)] if frontend_checkpoint is not None else [])
    check_output(output, force=force, inputs=inputs)
    logger.info("reading %s", checkpoint)
    if spec.family in SECOND_FILES and frontend_checkpoint is None:
        frontend_checkpoint = find_second_file(spec.family, checkpoint)
        if frontend_checkpoint is not None:
            logger.info("using %s beside the checkpoint as %s", frontend_checkpoint, SECOND_FILES[spec.family][0])
    if converter_options and (spec.family in PAIRED_CONVERTERS or frontend_checkpoint is not None):
        raise ValueError(f"converter_options are for single-file releases; '{spec.name}' was given two files")
    if spec.family in PAIRED_CONVERTERS:
        if frontend_checkpoint is None:
            raise CheckpointFormatError(f"'{spec.name}' needs a second checkpoint: {SECOND_FILES[spec.family][0]}; "
                                        f"pass it as frontend_checkpoint= (--frontend-checkpoint) or put it, alone "
                                        f"with 'vq' or 'kmeans' in its name, beside the checkpoint")
        state, text = load_discretebert_sources(checkpoint)
        model = PAIRED_CONVERTERS[spec.family](state, load_original_checkpoint(frontend_checkpoint),
                                               dictionary_text=text)
    else:
        state = load_original_checkpoint(checkpoint)
        if spec.family == "vggish" and frontend_checkpoint is not None and set(state) != {"vggish", "pca"}:
            model = convert_vggish(state, pca=load_pca_file(frontend_checkpoint))  # the network file + its PCA file
        elif spec.family == "pase_plus" and frontend_checkpoint is not None and set(state) != {"cfg", "ckpt"}:
            model = convert_pase_plus(load_pase_release(checkpoint, frontend_checkpoint))  # the checkpoint + its cfg
        elif spec.family in NAMED_CONVERTERS:
            model = NAMED_CONVERTERS[spec.family](state, spec.name)
        elif spec.family == "espnet_hubert" and frontend_checkpoint is not None and set(state) != {"config", "model"}:
            model = convert_espnet_hubert(load_espnet_release(checkpoint, frontend_checkpoint))  # .pth + config.yaml
        else:
            model = CONVERTERS[spec.family](state, **{**NAME_OPTIONS.get(spec.name, {}), **(converter_options or {})})
    del state
    return _write(spec, model, output, max_shard_size, checkpoint, force=force, source_sha256=source_sha256)


def _write(spec: registry.UpstreamSpec, model: UpstreamPreTrainedModel, output: Path, max_shard_size: int | str,
           checkpoint: Path | None, *, force: bool, source_sha256: str | None = None) -> Path:
    """Check the converted model and write its folder (config, weights if any, card) atomically."""
    model.config.s3prl_name = spec.name
    verify_forward(model)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    try:
        model.save_pretrained(staging, max_shard_size=max_shard_size)
        source = {} if checkpoint is None else dict(source_name=Path(checkpoint).name,
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
    """Run a padded two-utterance batch and check the layer count and that every value is finite."""
    generator = torch.Generator().manual_seed(0)
    # a family that needs a minimum input (VGGish: one 0.975 s example) gets a longer batch
    short = max(11111, getattr(model.config, "min_input_samples", 0))
    long = max(16000, 2 * short)
    wavs = torch.randn(2, long, generator=generator) * 0.1
    with torch.no_grad():
        all_hs, _ = model(wavs, torch.tensor([long, short]))
    if len(all_hs) != model.num_layers:
        raise RuntimeError(f"converted model returned {len(all_hs)} hidden states, config says {model.num_layers}")
    for index, hs in enumerate(all_hs):
        if not torch.isfinite(hs).all():
            raise RuntimeError(f"converted model gives non-finite values in hidden state {index}")

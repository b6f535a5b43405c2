"""Convert Discrete BERT (vq_wav2vec_kmeans_roberta) into `S3prlDiscreteBertModel`: two original checkpoints.

1. The RoBERTa, in either layout, read without fairseq:

   - S3PRL-hosted (`s3prl/converted_ckpts/vq_wav2vec_kmeans_roberta.pt`, made by S3PRL's
     `upstream/roberta/convert.py`): `{"task_cfg", "model_cfg": argparse.Namespace, "model_weight",
     "text_dictionary": dict.txt's text}`;
   - fairseq's release (`bert_kmeans.tar`: `dict.txt` and one `.pt`): `{"args": argparse.Namespace, "model", ...}`
     (or a hydra-era `{"cfg": {"model": Namespace or dict}, "model"}`), the dictionary coming from dict.txt.
     `load_discretebert_sources` reads the tar, its extracted folder or the `.pt` next to its dict.txt.

   The key names of older fairseq versions are upgraded as S3PRL's (fairseq's) `load_state_dict` does:
   `decoder.*` -> `encoder.*`, `emb_layer_norm` -> `layernorm_embedding`, `layer_norms.{0,1}` ->
   `self_attn_layer_norm` / `final_layer_norm`, and the fused `in_proj_weight` / `in_proj_bias` split into
   q / k / v. The LM head, classification heads and the `version` buffer are dropped (no hidden state uses them).

2. The vq-wav2vec checkpoint that tokenises the waveform (S3PRL's hub function loads `vq_wav2vec_kmeans`), in any
   layout `s3prl_hf.models.wav2vec.convert_wav2vec` reads; its feature extractor and quantiser are kept.

The dictionary is loaded as fairseq's (and S3PRL's copy of) `Dictionary.load` does (`<s>`, `<pad>`, `</s>`,
`<unk>`, the file's words in order, `#fairseq:overwrite` honoured, then `<mask>`); the words that spell a codeword
tuple the quantiser can produce ("i-j") are stored with their tokens. Architecture options missing from the args
take the defaults of fairseq's (S3PRL's) RoBERTa `base_architecture`.
"""

from __future__ import annotations

import io
import math
import re
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import (
    CheckpointFormatError,
    build_model,
    load_original_checkpoint,
    namespace_to_dict,
    rename_state_dict,
)
from ...conversion.fairseq import ACTIVATIONS
from ..wav2vec.convert_wav2vec import read_wav2vec_checkpoint
from .configuration_discretebert import FRONTEND_FIELDS, S3prlDiscreteBertConfig
from .modeling_discretebert import S3prlDiscreteBertModel, dictionary_buffers

# fmt: off
KEY_MAP = {  # fairseq / S3PRL RoBERTa key, after the legacy upgrade (regex) -> s3prl_hf key
    r"^encoder\.sentence_encoder\.embed_tokens\.weight$":                     "embeddings.word_embeddings.weight",
    r"^encoder\.sentence_encoder\.embed_positions\.weight$":                  "embeddings.position_embeddings.weight",
    r"^encoder\.sentence_encoder\.layernorm_embedding\.(weight|bias)$":       r"embeddings.LayerNorm.\1",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.self_attn\.q_proj\.":        r"layers.\1.attention.self.query.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.self_attn\.k_proj\.":        r"layers.\1.attention.self.key.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.self_attn\.v_proj\.":        r"layers.\1.attention.self.value.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.self_attn\.out_proj\.":      r"layers.\1.attention.output.dense.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.self_attn_layer_norm\.":     r"layers.\1.attention.output.LayerNorm.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.fc1\.":                      r"layers.\1.intermediate.dense.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.fc2\.":                      r"layers.\1.output.dense.",
    r"^encoder\.sentence_encoder\.layers\.(\d+)\.final_layer_norm\.":         r"layers.\1.output.LayerNorm.",
    # the masked-LM head, fine-tuning heads and the encoder's version number: in no hidden state
    r"^encoder\.sentence_encoder\.version$":                                  None,
    r"^encoder\.lm_head\.":                                                   None,
    r"^classification_heads\.":                                               None,
}
# The tokeniser: vq-wav2vec's feature extractor and quantiser (its context network does not take part).
FRONTEND_KEY_MAP = {
    r"^(feature_extractor|vector_quantizer)\.":                              r"frontend.\1.",
    r"^feature_aggregator\.":                                                None,
}
# fmt: on

# fairseq's (S3PRL's) RoBERTa `base_architecture` defaults for the options that shape the network.
ROBERTA_DEFAULTS = {
    "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12,
    "dropout": 0.1, "attention_dropout": 0.1, "activation_fn": "gelu", "no_token_positional_embeddings": False,
    "encoder_learned_pos": True, "layernorm_embedding": True, "no_scale_embedding": True,
    "encoder_normalize_before": False, "adaptive_input": False, "encoder_layers_to_keep": None,
    "quant_noise_pq": 0,
}
# Options whose non-default values change the network in ways this port does not implement (all off in the
# release): option -> (default, what it would need).
UNSUPPORTED = {
    "encoder_normalize_before": (False, "pre-LN layers and a final LayerNorm"),
    "layernorm_embedding": (True, "embeddings without LayerNorm"),
    "encoder_learned_pos": (True, "sinusoidal positions"),
    "no_token_positional_embeddings": (False, "no positions"),
    "adaptive_input": (False, "adaptive input embeddings"),
    "encoder_layers_to_keep": (None, "pruned layers"),
    "quant_noise_pq": (0, "quantisation noise on the embeddings"),
}
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
S3PRL_LAYOUT_KEYS = {"task_cfg", "model_cfg", "model_weight", "text_dictionary"}
CANONICAL_INT = re.compile(r"0|[1-9][0-9]*")


# --- sources -------------------------------------------------------------------------------------------------------


def load_discretebert_sources(path: str | Path) -> tuple[dict, str | None]:
    """Read a Discrete BERT RoBERTa checkpoint and, for fairseq's release, its dictionary.

    Args:
        path: S3PRL's `vq_wav2vec_kmeans_roberta.pt`; fairseq's `bert_kmeans.tar`; the folder it extracts to (one
            `.pt` and `dict.txt`); or that `.pt` itself, with `dict.txt` beside it.

    Returns:
        `(state, dictionary_text)`: the checkpoint dict and dict.txt's text (None for S3PRL's file, which holds it).

    Example:
        >>> state, text = load_discretebert_sources("bert_kmeans.tar")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        checkpoints = sorted(path.glob("*.pt"))
        if len(checkpoints) != 1:
            raise CheckpointFormatError(f"{path} must hold exactly one .pt file (and dict.txt), found "
                                        f"{[p.name for p in checkpoints]}")
        return _checkpoint_and_dictionary(checkpoints[0], path / "dict.txt")
    if path.is_file() and tarfile.is_tarfile(path):
        with tarfile.open(path) as archive, tempfile.TemporaryDirectory() as folder:
            members = [m for m in archive.getmembers() if m.isfile()]
            checkpoints = [m for m in members if m.name.endswith(".pt")]
            dictionaries = [m for m in members if Path(m.name).name == "dict.txt"]
            if len(checkpoints) != 1 or len(dictionaries) != 1:
                raise CheckpointFormatError(f"{path} must hold one .pt file and one dict.txt, found "
                                            f"{[m.name for m in members]}")
            target = Path(folder) / "checkpoint.pt"
            with archive.extractfile(checkpoints[0]) as source, open(target, "wb") as sink:
                while chunk := source.read(1 << 24):
                    sink.write(chunk)
            with archive.extractfile(dictionaries[0]) as source:
                text = source.read().decode("utf-8")
            state = load_original_checkpoint(target)
            return _materialize(state), text
    return _checkpoint_and_dictionary(path, path.parent / "dict.txt")


def _checkpoint_and_dictionary(checkpoint: Path, dictionary: Path) -> tuple[dict, str | None]:
    state = load_original_checkpoint(checkpoint)
    if S3PRL_LAYOUT_KEYS <= set(state) or not dictionary.is_file():
        return state, None
    return state, dictionary.read_text(encoding="utf-8")


def _materialize(state):
    """Copy the tensors of a memory-mapped checkpoint whose file is about to be deleted."""
    if isinstance(state, torch.Tensor):
        return state.clone()
    if isinstance(state, Mapping):
        return {key: _materialize(value) for key, value in state.items()}
    return state


# --- dictionary ----------------------------------------------------------------------------------------------------


def load_fairseq_dictionary(text: str) -> tuple[int, dict[str, int]]:
    """fairseq's `Dictionary.load` on dict.txt's text, then `add_symbol("<mask>")`, as S3PRL's loader does.

    Returns:
        `(size, indices)`: the number of symbols and the index of every word.

    Example:
        >>> load_fairseq_dictionary("0-1 5\\n1-0 3\\n")
        (7, {'<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3, '0-1': 4, '1-0': 5, '<mask>': 6})
    """
    size, indices = len(SPECIALS), {symbol: index for index, symbol in enumerate(SPECIALS)}
    # fairseq reads the file in text mode (universal newlines) and splits each line at its last space
    for number, line in enumerate(io.StringIO(text, newline=None).readlines(), start=1):
        try:
            word, field = line.rstrip().rsplit(" ", 1)
            overwrite = field == "#fairseq:overwrite"
            if overwrite:
                word, field = word.rsplit(" ", 1)
            int(field)
        except ValueError:
            raise CheckpointFormatError(f"dictionary line {number} is not '<token> <count> [flags]': "
                                        f"{line.rstrip()!r}") from None
        if word in indices and not overwrite:
            raise CheckpointFormatError(f"dictionary line {number}: duplicate word {word!r} without "
                                        f"#fairseq:overwrite (fairseq refuses it)")
        indices[word] = size  # an overwritten word moves to a new index, as fairseq's add_symbol does
        size += 1
    if "<mask>" not in indices:
        indices["<mask>"] = size
        size += 1
    return size, indices


def code_tokens(indices: Mapping[str, int], num_vars: int, num_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The words that S3PRL's tokeniser can produce ("-".join of `num_groups` indices below `num_vars`): their
    (N, groups) codeword tuples and (N,) tokens, in dictionary order.

    Example:
        >>> code_tokens({"<s>": 0, "0-1": 4, "01-2": 5, "2-9": 6}, num_vars=8, num_groups=2)
        (tensor([[0, 1]]), tensor([4]))
    """
    codes, tokens = [], []
    for word, index in indices.items():
        parts = word.split("-")
        if len(parts) == num_groups and all(CANONICAL_INT.fullmatch(p) and int(p) < num_vars for p in parts):
            codes.append([int(p) for p in parts])
            tokens.append(index)
    return (torch.tensor(codes, dtype=torch.long).view(-1, num_groups), torch.tensor(tokens, dtype=torch.long))


# --- RoBERTa -------------------------------------------------------------------------------------------------------


def split_roberta_checkpoint(state: dict, dictionary_text: str | None) -> tuple[dict, dict, str]:
    """Return `(args, weights, dictionary_text)` of a RoBERTa checkpoint in S3PRL's or fairseq's layout."""
    keys = set(state)
    if S3PRL_LAYOUT_KEYS <= keys:
        args, weights, text = namespace_to_dict(state["model_cfg"]), state["model_weight"], state["text_dictionary"]
        if not isinstance(text, str):
            raise CheckpointFormatError("the checkpoint's text_dictionary is not dict.txt's text")
    elif "model" in keys and ("args" in keys or "cfg" in keys):
        if state.get("args") is not None:
            args = namespace_to_dict(state["args"])
        elif state.get("cfg") is not None and namespace_to_dict(state["cfg"]).get("model") is not None:
            args = namespace_to_dict(namespace_to_dict(state["cfg"])["model"])
        else:
            raise CheckpointFormatError("this fairseq checkpoint has neither 'args' nor a 'cfg' with a model section")
        weights, text = state["model"], dictionary_text
        if text is None:
            raise CheckpointFormatError("fairseq's RoBERTa checkpoint holds no dictionary: give the dict.txt that "
                                        "comes with it (bert_kmeans.tar holds both)")
    elif {"task_cfg", "model_cfg", "model_weight"} <= keys:
        raise CheckpointFormatError("this S3PRL checkpoint has no text_dictionary: it is not Discrete BERT's RoBERTa "
                                    "(a wav2vec / vq-wav2vec checkpoint is the frontend, the second checkpoint)")
    else:
        raise CheckpointFormatError(f"unrecognised checkpoint layout with top-level keys {sorted(keys)}; expected "
                                    f"Discrete BERT's RoBERTa: S3PRL's (task_cfg, model_cfg, model_weight, "
                                    f"text_dictionary) or fairseq's (args or cfg, model)")
    name = str(args.get("arch") or args.get("_name") or "")
    if name and not name.startswith("roberta"):
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not a RoBERTa")
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointFormatError("the checkpoint's weights are not a flat dict of tensors")
    return args, dict(weights), text


def upgrade_legacy_keys(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The key upgrades fairseq's (and S3PRL's copied) `RobertaModel.load_state_dict` applies to older checkpoints.

    Example:
        >>> sorted(upgrade_legacy_keys({"decoder.sentence_encoder.emb_layer_norm.weight": torch.ones(2)}))
        ['encoder.sentence_encoder.layernorm_embedding.weight']
    """
    out = {}
    for key, value in weights.items():
        if key.startswith("decoder."):
            key = "encoder." + key[len("decoder."):]
        key = key.replace(".emb_layer_norm.", ".layernorm_embedding.")
        key = re.sub(r"(\.layers\.\d+)\.layer_norms\.0\.", r"\1.self_attn_layer_norm.", key)
        key = re.sub(r"(\.layers\.\d+)\.layer_norms\.1\.", r"\1.final_layer_norm.", key)
        match = re.fullmatch(r"(.*\.self_attn\.)in_proj_(weight|bias)", key)
        if match:
            prefix, kind = match.groups()
            q, k, v = value.chunk(3, dim=0)
            out.update({f"{prefix}q_proj.{kind}": q, f"{prefix}k_proj.{kind}": k, f"{prefix}v_proj.{kind}": v})
            continue
        out[key] = value
    return out


def _option(args: Mapping, key: str):
    return args[key] if key in args else ROBERTA_DEFAULTS[key]


def roberta_config_kwargs(args: Mapping) -> dict:
    """Translate fairseq RoBERTa args into `S3prlDiscreteBertConfig` keyword arguments (the encoder's)."""
    for key, (default, needs) in UNSUPPORTED.items():
        value = _option(args, key)
        if value != default and not (default is None and not value):
            raise CheckpointFormatError(f"{key}={value!r}: {needs} are not supported (the released model has "
                                        f"{key}={default!r})")
    if "max_positions" not in args:
        raise CheckpointFormatError("the RoBERTa args have no max_positions (S3PRL's expert needs it to cut the "
                                    "tokens into chunks)")
    activation = _option(args, "activation_fn")
    if activation not in ACTIVATIONS:
        raise CheckpointFormatError(f"activation_fn={activation!r}: expected one of {sorted(ACTIVATIONS)}")
    max_positions = int(args["max_positions"])
    return dict(
        hidden_size=int(_option(args, "encoder_embed_dim")),
        num_hidden_layers=int(_option(args, "encoder_layers")),
        num_attention_heads=int(_option(args, "encoder_attention_heads")),
        intermediate_size=int(_option(args, "encoder_ffn_embed_dim")),
        hidden_act=ACTIVATIONS[activation],
        hidden_dropout_prob=float(_option(args, "dropout")),
        attention_probs_dropout_prob=float(_option(args, "attention_dropout")),
        max_positions=max_positions,
        max_position_embeddings=max_positions + 2,  # fairseq: max_positions + padding_idx (1) + 1
    )


# --- the model -----------------------------------------------------------------------------------------------------


def convert_discretebert(state: dict, frontend_state: dict | None = None, *,
                         dictionary_text: str | None = None) -> S3prlDiscreteBertModel:
    """Build an `S3prlDiscreteBertModel` from Discrete BERT's RoBERTa and vq-wav2vec checkpoints' contents.

    Args:
        state: The RoBERTa checkpoint dict (`load_original_checkpoint`, or `load_discretebert_sources`).
        frontend_state: The vq-wav2vec checkpoint dict that tokenises the waveform (vq-wav2vec_kmeans.pt, in
            S3PRL's or fairseq's layout). Required; a keyword default only so that the signature reads like the
            one-checkpoint converters.
        dictionary_text: dict.txt's text, for fairseq's RoBERTa layout (S3PRL's file holds it).

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: a checkpoint of another layout or family, a missing frontend or dictionary, an
            unsupported option, or weights that do not fit the configs.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_discretebert(load_original_checkpoint("vq_wav2vec_kmeans_roberta.pt"),
        ...                              load_original_checkpoint("vq-wav2vec_kmeans.pt"))  # doctest: +SKIP
    """
    if frontend_state is None:
        raise CheckpointFormatError("Discrete BERT needs two checkpoints: the RoBERTa and the vq-wav2vec k-means "
                                    "model that tokenises the waveform (vq_wav2vec_kmeans's checkpoint)")
    args, weights, text = split_roberta_checkpoint(state, dictionary_text)
    frontend, frontend_weights = read_wav2vec_checkpoint(frontend_state)
    if frontend.vq_type == "none":
        raise CheckpointFormatError("the frontend checkpoint has no quantiser: Discrete BERT's tokens are "
                                    "vq-wav2vec codeword indices (give vq_wav2vec_kmeans's checkpoint)")
    vocab_size, indices = load_fairseq_dictionary(text)
    codes, tokens = code_tokens(indices, frontend.vq_vars, frontend.vq_groups)
    if codes.shape[0] == 0:
        raise CheckpointFormatError(f"no word of the dictionary spells a codeword tuple of this frontend "
                                    f"({frontend.vq_groups} groups of {frontend.vq_vars}, e.g. '0-1'): wrong "
                                    f"dict.txt or wrong vq-wav2vec checkpoint")

    weights = upgrade_legacy_keys(weights)
    embed_key = "encoder.sentence_encoder.embed_tokens.weight"
    if embed_key in weights and weights[embed_key].shape[0] != vocab_size:
        raise CheckpointFormatError(f"the dictionary has {vocab_size} tokens but the embedding {embed_key} has "
                                    f"{weights[embed_key].shape[0]} rows: not this RoBERTa's dict.txt")
    try:
        config = S3prlDiscreteBertConfig(
            frontend_config={name: getattr(frontend, name) for name in FRONTEND_FIELDS},
            vocab_size=vocab_size, num_code_tokens=int(codes.shape[0]), **roberta_config_kwargs(args))
    except (ValueError, StrictDataclassError) as error:  # config validators raise the latter
        raise CheckpointFormatError(f"unsupported configuration: {error}") from error

    renamed = rename_state_dict(weights, KEY_MAP)
    if not bool(_option(args, "no_scale_embedding")):
        # fairseq scales the token embeddings by sqrt(dim) before adding positions; scaling the table is the same
        key = "embeddings.word_embeddings.weight"
        if key in renamed:
            renamed[key] = renamed[key] * math.sqrt(config.hidden_size)
    renamed["embeddings.token_type_embeddings.weight"] = torch.zeros(1, config.hidden_size)
    renamed.update(rename_state_dict(frontend_weights, FRONTEND_KEY_MAP))
    renamed.update({f"code_dictionary.{key}": value
                    for key, value in dictionary_buffers(codes, tokens, frontend.vq_vars).items()})
    return build_model(S3prlDiscreteBertModel, config, renamed, post_load=_make_index_buffers)


def _make_index_buffers(model: S3prlDiscreteBertModel) -> None:
    """The embeddings' non-persistent index buffers are in no checkpoint: make them (the model was on meta)."""
    embeddings = model.embeddings
    embeddings.position_ids = torch.arange(model.config.max_position_embeddings).expand((1, -1))
    embeddings.token_type_ids = torch.zeros_like(embeddings.position_ids)


def convert_discretebert_files(roberta: str | Path, frontend: str | Path) -> S3prlDiscreteBertModel:
    """`convert_discretebert` from files: the RoBERTa (any form `load_discretebert_sources` reads) and the
    vq-wav2vec checkpoint.

    Example:
        >>> model = convert_discretebert_files("bert_kmeans.tar", "vq-wav2vec_kmeans.pt")  # doctest: +SKIP
    """
    state, text = load_discretebert_sources(roberta)
    return convert_discretebert(state, load_original_checkpoint(frontend), dictionary_text=text)


__all__ = ["convert_discretebert", "convert_discretebert_files", "load_discretebert_sources",
           "load_fairseq_dictionary"]


def convert_release(release) -> S3prlDiscreteBertModel:
    """The family's converter: the RoBERTa (S3PRL's .pt, or fairseq's bert_kmeans.tar / folder / .pt beside
    dict.txt) and, as the second file, the vq-wav2vec k-means checkpoint that tokenises the waveform."""
    frontend = release.require_second("its vq-wav2vec k-means frontend (vq_wav2vec_kmeans's checkpoint)")
    state, text = load_discretebert_sources(release.checkpoint)
    return convert_discretebert(state, load_original_checkpoint(frontend), dictionary_text=text)

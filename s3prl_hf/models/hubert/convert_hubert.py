"""Convert an original HuBERT checkpoint into `S3prlHubertModel`.

Two source layouts are read, both without fairseq:

- S3PRL-hosted (`s3prl/converted_ckpts/*.pt`, made by S3PRL's `upstream/hubert/convert.py`):
  `{"task_cfg": dict, "model_cfg": dict, "model_weight": state_dict, "dictionaries_symbols": [[str]]}`;
- fairseq release (`dl.fbaipublicfiles.com/hubert/*.pt`, written by fairseq's Trainer):
  `{"cfg": {"model": dict, "task": dict, ...}, "model": state_dict, "task_state": ...}`, or, for files that
  predate fairseq's hydra configs, `{"args": argparse.Namespace, "model": state_dict, ...}`.

Missing config keys take the defaults of S3PRL's `HubertConfig` / `HubertPretrainingConfig` dataclasses,
as S3PRL's `merge_with_parent` does, so the converted model is the one S3PRL builds.

S3PRL's `hubert_custom` also runs HuBERT networks trained by other code (ContentVec, mHuBERT, MS-HuBERT): it drops
config keys its `HubertConfig` lacks, ignores the fairseq model name, and loads the weights strictly. So does this
converter, except that names of other fairseq families are refused with a pointer, and so is ContentVec's
speaker-conditioned pre-training checkpoint (S3PRL's strict load fails on its extra layer), for which the authors
release the representation-only "legacy" checkpoint that S3PRL hosts.
"""

from __future__ import annotations

import logging
import re

from ... import registry
from ...conversion import CheckpointFormatError, build_model, rename_state_dict
# The shared fairseq tables, also importable from here (the WavLM converter does).
from ...conversion.fairseq import TRANSFORMER_KEY_MAP, add_identity_projection, check_flat_weights, merged_config, network_config_kwargs, split_fairseq_checkpoint
from .configuration_hubert import S3prlHubertConfig
from .modeling_hubert import S3prlHubertModel

logger = logging.getLogger(__name__)

# fmt: off
KEY_MAP = {  # fairseq / S3PRL key (regex)                        -> s3prl_hf key
    # the wav2vec 2.0 transformer network (models/wav2vec2/convert_wav2vec2.py)
    **TRANSFORMER_KEY_MAP,
    # Pretraining heads: not part of any hidden state.
    r"^(mask_emb|label_embs_concat)$":                             None,
    r"^(final_proj|target_glu)\.":                                 None,
}
# fmt: on

# S3PRL HubertConfig defaults (upstream/hubert/hubert_model.py) for the fields that shape the network.
MODEL_DEFAULTS = {
    "extractor_mode": "default", "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_type": "transformer", "dropout": 0.1,
    "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0, "layer_norm_first": False,
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False,
    "conv_pos": 128, "conv_pos_groups": 16,
}

# Config keys that would change the network but that S3PRL's HuBERT does not implement.
UNSUPPORTED_VALUES = {"pos_conv_depth": (None, 1), "conv_pos_batch_norm": (None, False)}

# fairseq model names (`_name` / `arch`) of the other wav2vec2-style families, whose files are refused with a pointer.
OTHER_FAMILY_NAMES = ("wav2vec", "data2vec", "wavlm", "unispeech", "mae_ast", "roberta", "multires_hubert")
# ContentVec's speaker-conditioned pre-training modules (auspicious3000/contentvec: the CondLayerNorms of its extra
# encoder layer, the encoder's final CondLayerNorm, the contrastive projection).
CONTENTVEC_SPEAKER_KEY = re.compile(r"(^|\.)(weight_ln|bias_ln)\.weight$|^encoder\.cond_layer_norm\.|^layer_proj\.")


def split_checkpoint(state: dict) -> tuple[dict, dict, dict]:
    """Return `(model_cfg, task_cfg, weights)` of a HuBERT checkpoint in either supported layout."""
    if {"task_cfg", "model_cfg", "model_weight"} <= set(state) and "dictionaries_symbols" not in state:
        raise CheckpointFormatError(
            "this S3PRL checkpoint has no 'dictionaries_symbols', which every S3PRL HuBERT checkpoint has; "
            "it looks like a wav2vec 2.0 / data2vec / wav2vec checkpoint of another family")
    model_cfg, task_cfg, weights, _ = split_fairseq_checkpoint(state, "a HuBERT checkpoint")
    name = str(model_cfg.get("_name") or "hubert")
    if name.startswith(OTHER_FAMILY_NAMES):
        raise CheckpointFormatError(f"this checkpoint holds a fairseq '{name}' model, not HuBERT")
    check_flat_weights(weights)
    if any(CONTENTVEC_SPEAKER_KEY.search(key) for key in weights):
        raise CheckpointFormatError(
            "this is ContentVec's speaker-conditioned pre-training checkpoint (conditional layer norms, layer_proj), "
            "which S3PRL's HuBERT expert cannot load: convert the authors' representation-only 'legacy' checkpoint "
            "(checkpoint_best_legacy_*.pt, what S3PRL's contentvec_km100 / contentvec_km500 host)")
    if not name.startswith("hubert"):
        # S3PRL's hubert_custom ignores the model name: a HuBERT network trained by other code is run as HuBERT
        logger.info("fairseq model name %r: converted as HuBERT, as S3PRL's hubert expert loads it", name)
    if any(key.startswith(("w2v_encoder.", "quantizer.", "project_q.")) for key in weights):
        raise CheckpointFormatError("the weights belong to a fine-tuned or wav2vec 2.0 model, not a pretrained "
                                    "HuBERT (found w2v_encoder / quantizer keys)")
    return model_cfg, task_cfg, weights


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlHubertConfig:
    """Translate fairseq/S3PRL HuBERT configs into `S3prlHubertConfig`, rejecting what S3PRL cannot run."""
    cfg = merged_config(model_cfg, MODEL_DEFAULTS)
    for key, accepted in UNSUPPORTED_VALUES.items():
        if cfg.get(key) not in accepted:
            raise CheckpointFormatError(f"{key}={cfg[key]!r} is not supported by S3PRL's HuBERT")
    if cfg["layer_type"] != "transformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: only 'transformer' HuBERT is supported")
    return S3prlHubertConfig(**network_config_kwargs(cfg, task_cfg))


def convert_hubert(state: dict) -> S3prlHubertModel:
    """Build an `S3prlHubertModel` from an original checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_hubert(load_original_checkpoint("hubert_base_ls960.pt"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights = split_checkpoint(state)
    config = config_from_original(model_cfg, task_cfg)
    weights = add_identity_projection(rename_state_dict(weights, KEY_MAP), config)
    return build_model(S3prlHubertModel, config, weights)


def convert_release(release) -> S3prlHubertModel:
    """The family's converter: a ContentVec checkpoint only under a contentvec name, and only it there.

    HuBERT, mHuBERT, MS-HuBERT and HuBERT-MGR networks are alike; the fairseq model name (`_name`) tells ContentVec
    ("contentvec") from the others. A checkpoint without a model name is converted under any of them, as S3PRL's
    hubert expert does.
    """
    if release.second is not None:
        raise ValueError(f"'{release.name}' is a one-file release; got a second file {release.second}")
    state = release.load()
    model_cfg, _, _ = split_checkpoint(state)
    name = model_cfg.get("_name")
    if name:
        evidence = f"its fairseq model is {name!r}"
        if str(name).startswith("contentvec"):
            release.check_method({"contentvec"}, evidence)
        else:
            family_methods = {spec.method for spec in registry.UPSTREAMS if spec.family == release.spec.family}
            release.check_method(family_methods - {"contentvec"}, evidence)
    return convert_hubert(state)

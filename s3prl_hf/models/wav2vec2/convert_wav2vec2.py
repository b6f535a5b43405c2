"""Convert an original wav2vec 2.0 / XLSR / XLS-R checkpoint into `S3prlWav2Vec2Model`; shared fairseq helpers.

Two source layouts are read, both without fairseq:

- S3PRL-hosted (`s3prl/converted_ckpts/*.pt`, made by S3PRL's `upstream/wav2vec2/convert.py`):
  `{"task_cfg": dict, "model_cfg": dict, "model_weight": state_dict}`;
- fairseq release (`dl.fbaipublicfiles.com/fairseq/wav2vec/*.pt`, written by fairseq's Trainer):
  `{"cfg": {"model": dict, "task": dict, ...}, "model": state_dict, ...}`, or, for the 2020 releases that
  predate fairseq's hydra configs (wav2vec_small.pt, libri960_big.pt, xlsr_53_56k.pt),
  `{"args": argparse.Namespace, "model": state_dict, ...}`.

Missing config keys take the defaults of S3PRL's `Wav2Vec2Config` dataclass and unknown keys are ignored, as
S3PRL's `merge_with_parent` does, so the converted model is the one S3PRL builds. Every architecture choice
comes from the checkpoint's config; the weights must then fit it exactly.

The reading of these layouts and the network's key maps are `s3prl_hf.conversion.fairseq`'s, shared with the
other fairseq wav2vec2-style families.
"""

from __future__ import annotations

from ...conversion import build_model, rename_state_dict
from ...conversion.fairseq import (MODEL_DEFAULTS, POS_CONV_STACK_KEY_MAP, TRANSFORMER_KEY_MAP, add_identity_projection,
                                   check_flat_weights, check_not_other_family, check_projection, merged_config,
                                   split_fairseq_checkpoint, wav2vec2_config_kwargs)
from ...conversion.checkpoints import CheckpointFormatError
from .configuration_wav2vec2 import S3prlWav2Vec2Config
from .modeling_wav2vec2 import S3prlWav2Vec2Model

# fmt: off
# wav2vec 2.0's pretraining heads (quantizer, its projections, the masked-frame embedding): in no hidden state.
PRETRAINING_KEY_MAP = {
    r"^mask_emb$":                                                 None,
    r"^(quantizer|project_q|final_proj|target_glu)\.":             None,
}
KEY_MAP = {**TRANSFORMER_KEY_MAP, **POS_CONV_STACK_KEY_MAP, **PRETRAINING_KEY_MAP}
# fmt: on


def config_from_original(model_cfg: dict, task_cfg: dict) -> S3prlWav2Vec2Config:
    """Translate fairseq/S3PRL wav2vec 2.0 configs into `S3prlWav2Vec2Config`, rejecting what S3PRL cannot run."""
    cfg = merged_config(model_cfg, MODEL_DEFAULTS)
    if cfg["layer_type"] != "transformer":
        raise CheckpointFormatError(f"layer_type={cfg['layer_type']!r}: this is a wav2vec 2.0 Conformer; convert it "
                                    f"under a wav2vec2_conformer_* name")
    return S3prlWav2Vec2Config(**wav2vec2_config_kwargs(cfg, task_cfg))


def convert_wav2vec2(state: dict) -> S3prlWav2Vec2Model:
    """Build an `S3prlWav2Vec2Model` from an original wav2vec 2.0 / XLSR / XLS-R checkpoint's contents.

    Args:
        state: The checkpoint dict, as returned by `s3prl_hf.conversion.load_original_checkpoint`.

    Returns:
        The model in eval mode, fp32.

    Raises:
        CheckpointFormatError: another layout or family, or weights that do not fit the config.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_wav2vec2(load_original_checkpoint("wav2vec_small.pt"))  # doctest: +SKIP
    """
    model_cfg, task_cfg, weights, hosted = split_fairseq_checkpoint(state, "a wav2vec 2.0 checkpoint")
    check_not_other_family(model_cfg, weights, hosted, state, "wav2vec 2.0")
    check_flat_weights(weights)
    config = config_from_original(model_cfg, task_cfg)
    check_projection(weights, config)
    weights = add_identity_projection(rename_state_dict(weights, KEY_MAP), config)
    return build_model(S3prlWav2Vec2Model, config, weights)

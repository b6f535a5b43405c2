"""Configuration of the DistilHuBERT family (distilhubert_base)."""

from __future__ import annotations

import math

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlDistilHubertConfig(S3prlWav2Vec2Config):
    """Architecture of a DistilHuBERT upstream: a shallow wav2vec 2.0 network plus layer-prediction heads.

    S3PRL returns `1 + num_hidden_layers + num_prediction_heads` hidden states: the projected CNN features, every
    transformer layer's output and every prediction head's output. See `S3prlWav2Vec2Config` for the shared
    arguments (defaults here are DistilHuBERT's own: 2 layers, no feature LayerNorm).

    Args:
        num_prediction_heads: Heads predicting teacher layers (S3PRL `n_tasks`).
        prediction_head_size: Output width of each head (`final_dim`).
        prediction_head_intermediate_size: Width of each head's GELU input (`out_layer_inter_dim`, or the model
            width when that is unset).
        prediction_layer_ids: The teacher layer each head was trained to predict (`pred_layer_id`); descriptive.

    Example:
        >>> config = S3prlDistilHubertConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64,
        ...                                  prediction_head_size=32, prediction_head_intermediate_size=32)
        >>> config.num_layers, config.hidden_sizes
        (6, (32, 32, 32, 32, 32, 32))
    """

    model_type = "s3prl_distilhubert"

    num_hidden_layers: int = 2
    activation_dropout: float | int = 0.1
    num_prediction_heads: int = 3
    prediction_head_size: int = 768
    prediction_head_intermediate_size: int = 768
    prediction_layer_ids: list[int] | tuple[int, ...] = (4, 8, 12)

    # DistilHuBERT has no LayerNorm between the CNN and the projection (transformers' HuBERT modules read this).
    feat_proj_layer_norm = False

    def validate_prediction_heads(self):
        """Reject head settings that do not describe one head per predicted teacher layer."""
        if self.num_prediction_heads < 1 or len(self.prediction_layer_ids) != self.num_prediction_heads:
            raise ValueError(f"num_prediction_heads={self.num_prediction_heads} needs one prediction_layer_id per "
                             f"head, got {list(self.prediction_layer_ids)}")
        if self.num_hidden_layers < 1:
            raise ValueError("DistilHuBERT needs at least one transformer layer")

    @property
    def num_layers(self) -> int:
        return 1 + self.num_hidden_layers + self.num_prediction_heads

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return ((self.hidden_size,) * (1 + self.num_hidden_layers)
                + (self.prediction_head_size,) * self.num_prediction_heads)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (math.prod(self.conv_stride),) * self.num_layers


# The released architecture: S3PRL's pretrain/distiller/config_model.yaml as DistilHuBERT used it (2 x 768
# post-LN layers, HuBERT Base CNN without feature LayerNorm, conv_pos 128 / 16 groups, 3 heads of 768 predicting
# layers 4, 8, 12 of hubert_base; DistilHuBERT paper, arXiv:2110.01900, Sec. 3 and Table 1).
REFERENCE_CONFIGS: dict[str, dict] = {
    "distilhubert_base": dict(
        num_hidden_layers=2, prediction_head_size=768, prediction_head_intermediate_size=768,
        num_prediction_heads=3, prediction_layer_ids=(4, 8, 12),
    ),
}

"""transformers' HuBERT / wav2vec 2.0 encoder layers run on the valid frames of a batch packed into one sequence.

Running each utterance of a padded batch alone wastes no compute on padding, but its matrix products are
small (a few hundred frames) and run well below the machine's GEMM speed on CPU. Every op of these layers but
attention works frame by frame, so the frames of all utterances are packed into one (frames, hidden) matrix for
the projections, LayerNorms and feed-forward blocks, and only attention runs per utterance: each utterance's
queries attend to its own valid frames (the keys S3PRL leaves unmasked), which is what the padded batch's mask
does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.hubert.modeling_hubert import (
    HubertAttention,
    HubertEncoderLayer,
    HubertEncoderLayerStableLayerNorm,
)

_PACKABLE_LAYERS = (HubertEncoderLayer, HubertEncoderLayerStableLayerNorm)


def supports_packing(layers: nn.ModuleList, attn_implementation: str | None) -> bool:
    """Whether every layer is a plain transformers HuBERT layer (subclasses may change the maths)."""
    return attn_implementation in (None, "sdpa") and all(type(layer) in _PACKABLE_LAYERS for layer in layers)


def _attention(attention: HubertAttention, hidden: torch.Tensor, spans: list[tuple[int, int, int]]) -> torch.Tensor:
    """Self-attention of packed frames; `spans` holds (start, frames, valid keys) per utterance."""
    query, key, value = attention.q_proj(hidden), attention.k_proj(hidden), attention.v_proj(hidden)
    heads, head_dim = attention.num_heads, attention.head_dim
    dropout = attention.dropout if attention.training else 0.0
    output = torch.empty_like(query)
    for start, frames, keys in spans:
        def split(states, length):  # (length, hidden) -> (1, heads, length, head_dim)
            return states[start : start + length].view(1, length, heads, head_dim).transpose(1, 2)

        attended = F.scaled_dot_product_attention(split(query, frames), split(key, keys), split(value, keys),
                                                  dropout_p=dropout, scale=attention.scaling)
        output[start : start + frames] = attended.transpose(1, 2).reshape(frames, -1)
    return attention.out_proj(output)


def _layer(layer: nn.Module, hidden: torch.Tensor, spans: list[tuple[int, int, int]]) -> torch.Tensor:
    """`HubertEncoderLayer.forward` / `HubertEncoderLayerStableLayerNorm.forward` on packed frames."""
    if isinstance(layer, HubertEncoderLayerStableLayerNorm):
        attended = layer.dropout(_attention(layer.attention, layer.layer_norm(hidden), spans))
        hidden = hidden + attended
        hidden = hidden + layer.feed_forward(layer.final_layer_norm(hidden))
        if layer.adapter_layer is not None:
            hidden = hidden + layer.adapter_layer(hidden)
        return hidden
    hidden = layer.layer_norm(hidden + layer.dropout(_attention(layer.attention, hidden, spans)))
    return layer.final_layer_norm(hidden + layer.feed_forward(hidden))


def run_packed_layers(layers: nn.ModuleList, hidden: torch.Tensor, frames: torch.Tensor,
                      keys: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of `layers` for each utterance's first `frames` frames, zeros elsewhere, as (B, T, hidden) tensors.

    Args:
        layers: Layers that pass `supports_packing`.
        hidden: (B, T, hidden) input of the first layer.
        frames: (B,) frames to compute per utterance.
        keys: (B,) unmasked frames per utterance (at most `frames`, at least 1): the keys of its attention.
    """
    counts = frames.tolist()
    starts = [0]
    for count in counts[:-1]:
        starts.append(starts[-1] + count)
    spans = list(zip(starts, counts, keys.tolist()))
    batch_index = torch.repeat_interleave(torch.arange(len(counts), device=hidden.device), frames)
    time_index = torch.cat([torch.arange(count, device=hidden.device) for count in counts])
    packed = hidden[batch_index, time_index]
    outputs = []
    for layer in layers:
        packed = _layer(layer, packed, spans)
        output = hidden.new_zeros(hidden.shape[:2] + packed.shape[1:])
        output[batch_index, time_index] = packed
        outputs.append(output)
    return outputs

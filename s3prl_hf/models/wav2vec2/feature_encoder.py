"""The wav2vec 2.0 CNN front end run on each utterance's valid frames only, with the same numbers.

transformers' `HubertFeatureEncoder` convolves the whole padded batch. Its first conv (1 input channel, kernel
10) is also slow as a convolution on CPU (under 10 GFLOP/s against ~160 for the later convs), and in base models
it is followed by a GroupNorm whose statistics span the padded length, so S3PRL's valid frames depend on the
padding. This module computes, for each utterance, only the frames the model keeps:

- the first conv is a matrix product on a strided view of the waveform (one row per 10-sample window);
- its GroupNorm (one group per channel) is folded into that product: the statistics of `W x + b` over the
  padded row follow from the mean and 10 x 10 covariance of the windows, and all-zero padding windows only
  add to the count (their output is the bias);
- the later convs (no norm, or a LayerNorm per frame) see only the windows their valid outputs need.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.hubert.modeling_hubert import (
    HubertGroupNormConvLayer,
    HubertLayerNormConvLayer,
    HubertNoLayerNormConvLayer,
)

_CONV_LAYER_TYPES = (HubertGroupNormConvLayer, HubertLayerNormConvLayer, HubertNoLayerNormConvLayer)


def conv_output_length(length: int, conv_layers: nn.ModuleList) -> int:
    """Frames the conv stack gives for `length` samples (0 when shorter than its receptive field)."""
    for layer in conv_layers:
        kernel, stride = layer.conv.kernel_size[0], layer.conv.stride[0]
        length = max((length - kernel) // stride + 1, 0)
    return length


def _input_length(frames: int, conv_layers) -> int:
    """Input positions that `frames` output frames of `conv_layers` read (0 for no frames)."""
    if frames <= 0:
        return 0
    for layer in reversed(list(conv_layers)):
        frames = (frames - 1) * layer.conv.stride[0] + layer.conv.kernel_size[0]
    return frames


def supports_per_utterance(conv_layers: nn.ModuleList) -> bool:
    """Whether `encode_per_utterance` knows every layer of this conv stack (else use the module itself)."""
    first = conv_layers[0]
    if not all(type(layer) in _CONV_LAYER_TYPES for layer in conv_layers) or first.conv.in_channels != 1:
        return False
    if any(layer.conv.padding != (0,) or layer.conv.dilation != (1,) or layer.conv.groups != 1
           for layer in conv_layers):
        return False
    # GroupNorm's statistics can be folded into the first conv only with one channel per group, as in fairseq
    if isinstance(first, HubertGroupNormConvLayer) and first.layer_norm.num_groups != first.conv.out_channels:
        return False
    return not any(isinstance(layer, HubertGroupNormConvLayer) for layer in conv_layers[1:])


def _windows(wav: torch.Tensor, count: int, kernel: int, stride: int) -> torch.Tensor:
    """(count, kernel) view of `wav`: row k holds samples [k * stride, k * stride + kernel)."""
    return wav.as_strided((count, kernel), (stride * wav.stride(0), wav.stride(0)))


def _group_norm_folded_conv(layer: HubertGroupNormConvLayer, windows: torch.Tensor, num_padded: int):
    """Weight (C, kernel) and bias (C,) of `GroupNorm(conv(x))` for a row of `num_padded` windows, the rest zero.

    GroupNorm with one channel per group normalises channel c over time: mean_c = w_c . m + b_c and
    var_c = w_c' S w_c, where m and S are the mean and covariance of the windows over the padded row.
    """
    conv, norm = layer.conv, layer.layer_norm
    weight = conv.weight[:, 0].double()
    bias = conv.bias.double() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    rows = windows.double()
    mean = rows.sum(0) / num_padded
    covariance = rows.T @ rows / num_padded - torch.outer(mean, mean)
    channel_mean = weight @ mean + bias
    channel_var = ((weight @ covariance) * weight).sum(1).clamp_min(0.0)
    scale = norm.weight.double() * torch.rsqrt(channel_var + norm.eps)
    folded_weight = weight * scale[:, None]
    folded_bias = (bias - channel_mean) * scale + norm.bias.double()
    return folded_weight.to(windows.dtype), folded_bias.to(windows.dtype)


def _first_layer(layer: nn.Module, wav: torch.Tensor, stats_frames: int, num_padded: int):
    """The first conv layer (norm and activation included) of one utterance, as `(start, frames) -> (C, frames)`.

    Its output for first-layer frames [start, start + frames) comes from the windows of those frames alone, so
    the utterance can be run in chunks; the GroupNorm statistics are set up here, once, from `stats_frames`.
    """
    conv = layer.conv
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    norm = None
    if isinstance(layer, HubertGroupNormConvLayer):
        weight, bias = _group_norm_folded_conv(layer, _windows(wav, stats_frames, kernel, stride), num_padded)
    else:
        weight, bias = conv.weight[:, 0], conv.bias
        norm = layer.layer_norm if isinstance(layer, HubertLayerNormConvLayer) else None

    def run(start: int, frames: int) -> torch.Tensor:
        windows = _windows(wav[start * stride :], frames, kernel, stride)
        if norm is None:  # channels first, ready for the next conv
            out = weight @ windows.T if bias is None else torch.addmm(bias[:, None], weight, windows.T)
            return layer.activation(out)
        out = windows @ weight.T if bias is None else torch.addmm(bias, windows, weight.T)
        out = F.layer_norm(out, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        return layer.activation(out).T

    return run


def encode_per_utterance(conv_layers: nn.ModuleList, wavs: torch.Tensor, wavs_len: torch.Tensor,
                         frame_counts: torch.Tensor, chunk_frames: int = 250) -> torch.Tensor:
    """(B, F, C) features of the padded batch for each utterance's first `frame_counts` frames; zeros after them.

    Equal to `HubertFeatureEncoder(wavs).transpose(1, 2)` on those frames, wherever the waveforms are zero after
    `wavs_len` (the forward contract's padding). Each utterance runs in chunks of `chunk_frames` output frames
    (with the overlap their receptive fields need), so the 512-channel activations at the sample rate / 5
    never exist for a whole long utterance at once.

    Args:
        conv_layers: `HubertFeatureEncoder.conv_layers`; check `supports_per_utterance` first.
        wavs: (B, T) padded waveforms, zero after each length.
        wavs_len: (B,) valid samples per utterance.
        frame_counts: (B,) frames to compute per utterance, each at most the padded batch's frame count.
        chunk_frames: Output frames per chunk.
    """
    first, later = conv_layers[0], conv_layers[1:]
    stride = first.conv.stride[0]
    later_stride = math.prod(layer.conv.stride[0] for layer in later)
    num_frames = conv_output_length(wavs.shape[1], conv_layers)
    num_padded = conv_output_length(wavs.shape[1], conv_layers[:1])
    features = wavs.new_zeros(wavs.shape[0], num_frames, conv_layers[-1].conv.out_channels)
    for index, (length, count) in enumerate(zip(wavs_len.tolist(), frame_counts.tolist())):
        if count <= 0:
            continue
        # GroupNorm statistics need every first-layer window that holds a valid sample
        stats_frames = min(-(-length // stride), num_padded)
        run_first = _first_layer(first, wavs[index], stats_frames, num_padded)
        for begin in range(0, count, chunk_frames):
            frames = min(chunk_frames, count - begin)
            hidden = run_first(begin * later_stride, _input_length(frames, later))[None]
            for layer in later:
                hidden = layer(hidden)
            features[index, begin : begin + frames] = hidden[0].T
    return features

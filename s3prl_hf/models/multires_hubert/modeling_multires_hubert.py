"""MR-HuBERT with S3PRL's hidden states: HuBERT's front end and layers in a multi-resolution U-net.

The CNN front end, the feature projection, HuBERT's frame padding rule, the positional conv and the transformer
layers are those of `s3prl_hf.models.hubert` (transformers' HuBERT modules). Written here: the blocks' wiring and
the conv resamplers between frame rates (fairseq's `ConvAdapter`, `ConvDownsampler`, `ConvUpsampler`).

S3PRL (`upstream/multires_hubert/expert.py`) hooks every block (the encoder blocks, the middle block, then the
decoder blocks, in the order they run) and records, per block, the input of each of its layers and then the
block's output (after its final LayerNorm in pre-LN models); the middle and decoder outputs are recorded before
the skip sums that follow them. Each state is repeated along time by its resolution's factor
(`S3prlMultiresHubertConfig.upsample_factors`) and all are cut to the shortest; `get_downsample_rates` says 320
for all.

Frames past an utterance's length are not masked out of the resamplers: their convs see them and their group
norms average over the padded batch length, so the padded frames are computed exactly as fairseq does (each
block zeroes its padded input frames, in place, before its positional conv).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.hubert.modeling_hubert import HubertEncoderLayer, HubertEncoderLayerStableLayerNorm

from ..hubert.modeling_hubert import S3prlHubertModel
from ..wav2vec2.modeling_wav2vec2 import positional_conv_embedding
from .configuration_multires_hubert import S3prlMultiresHubertConfig

# fairseq's resamplers scale every residual sum by sqrt(residual_scale), residual_scale = 0.4.
_RESIDUAL_SCALE = math.sqrt(0.4)


class MultiresTransformerBlock(nn.Module):
    """fairseq's `TransformerEncoder` as one MR-HuBERT block: optional positional conv, LayerNorm, layers."""

    def __init__(self, config: S3prlMultiresHubertConfig, num_layers: int, positional_conv: bool):
        super().__init__()
        self.pos_conv_embed = positional_conv_embedding(config) if positional_conv else None
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.pre_layer_norm = config.do_stable_layer_norm
        layer_class = HubertEncoderLayerStableLayerNorm if config.do_stable_layer_norm else HubertEncoderLayer
        self.layers = nn.ModuleList(layer_class(config) for _ in range(num_layers))

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> list[torch.Tensor]:
        """[input of each layer..., block output]; `hidden` must have its padded frames zeroed."""
        if self.pos_conv_embed is not None:
            hidden = hidden + self.pos_conv_embed(hidden)
        if not self.pre_layer_norm:
            hidden = self.layer_norm(hidden)
        hidden = self.dropout(hidden)
        states = []
        for layer in self.layers:
            states.append(hidden)
            hidden = layer(hidden, attention_mask=attention_mask)
        states.append(self.layer_norm(hidden) if self.pre_layer_norm else hidden)
        return states


def _group_norm_gelu(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    # fairseq's Fp32GroupNorm: statistics in fp32 whatever the model dtype
    out = F.group_norm(x.float(), norm.num_groups, norm.weight.float(), norm.bias.float(), norm.eps)
    return F.gelu(out.type_as(x))


class ConvResampler(nn.Module):
    """One resampling step between two frame rates, `upsample / downsample`, on (B, T, C) features.

    `mode="adapter"` is fairseq's `ConvAdapter`: a transposed conv up by `upsample` plus a repeated skip, then a
    strided conv down by `downsample` plus a strided skip, plus a highway of the repeated input taken every
    `downsample` frames. `"down"` (`ConvDownsampler`, upsample 1) and `"up"` (`ConvUpsampler`, downsample 1)
    keep one half. Each conv is followed by a one-group GroupNorm and GELU; each sum is scaled by sqrt(0.4).
    """

    MODES = ("adapter", "down", "up")

    def __init__(self, channels: int, kernel_size: int, upsample: int, downsample: int, mode: str = "adapter"):
        super().__init__()
        if mode not in self.MODES or (mode == "down" and upsample != 1) or (mode == "up" and downsample != 1):
            raise ValueError(f"a {mode!r} resampler cannot change the frame rate by {upsample}/{downsample}")
        self.upsample, self.downsample = upsample, downsample
        self.highway = mode == "adapter"
        self.upsample_conv = self.upsample_norm = self.downsample_conv = self.downsample_norm = None
        if mode != "down":
            self.upsample_conv = nn.ConvTranspose1d(channels, channels, kernel_size, stride=upsample, bias=False,
                                                    output_padding=upsample - 1)
            self.upsample_norm = nn.GroupNorm(1, channels)
        if mode != "up":
            self.downsample_conv = nn.Conv1d(channels, channels, kernel_size, stride=downsample, bias=False,
                                             padding=(kernel_size - 1) // 2)
            self.downsample_norm = nn.GroupNorm(1, channels)

    def output_length(self, length: int) -> int:
        """Frames out for `length` frames in."""
        if self.upsample_conv is not None:
            length *= self.upsample  # the transposed conv gives `kernel - 1` more, cut to the skip's length
        if self.downsample_conv is not None:
            conv = self.downsample_conv
            conv_length = (length + 2 * conv.padding[0] - conv.kernel_size[0]) // self.downsample + 1
            length = min(conv_length, -(-length // self.downsample))
        return length

    def forward(self, hidden: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Resampled (B, T', C) features and (B, T') padding mask (True on padded frames)."""
        x = hidden.transpose(1, 2)
        if self.upsample_conv is not None:
            skip = x.repeat_interleave(self.upsample, dim=2)
            up = _group_norm_gelu(self.upsample_norm, self.upsample_conv(x))
            x = _scaled_sum(up, skip)
            padding = padding.repeat_interleave(self.upsample, dim=1)
        if self.downsample_conv is not None:
            down = _group_norm_gelu(self.downsample_norm, self.downsample_conv(x))
            down = _scaled_sum(down, x[..., :: self.downsample])
            if self.highway:
                down = _scaled_sum(down, skip[..., :: self.downsample])
            x = down
            padding = padding[:, :: self.downsample]
        return x.transpose(1, 2), padding[:, : x.shape[2]]


def _scaled_sum(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    length = min(x.shape[2], skip.shape[2])
    return (x[..., :length] + skip[..., :length]) * _RESIDUAL_SCALE


class S3prlMultiresEncoder(nn.Module):
    """The U-net: encoder blocks and downsamplers, the middle block, upsamplers and decoder blocks.

    Module names follow fairseq's `MultiresHubertModel`. Only the first block has a positional conv (the middle
    block has it when there is no resampling at all).
    """

    def __init__(self, config: S3prlMultiresHubertConfig):
        super().__init__()
        ratios, kernel = config.resolution_ratios, config.resampler_kernel_size
        down_mode, up_mode = ("down", "up") if config.plain_resampling else ("adapter", "adapter")
        self.encoders = nn.ModuleList(MultiresTransformerBlock(config, layers, positional_conv=i == 0)
                                      for i, layers in enumerate(config.encoder_block_layers))
        self.downsample_modules = nn.ModuleList(ConvResampler(config.hidden_size, kernel, up, down, down_mode)
                                                for up, down in ratios)
        self.middle_encoder = MultiresTransformerBlock(config, config.middle_block_layers,
                                                       positional_conv=not ratios)
        self.upsample_modules = nn.ModuleList(ConvResampler(config.hidden_size, kernel, down, up, up_mode)
                                              for up, down in ratios)
        self.decoders = nn.ModuleList(MultiresTransformerBlock(config, layers, positional_conv=False)
                                      for layers in config.decoder_block_layers)

    def block_lengths(self, num_frames: int) -> list[int]:
        """Frames of every block's states for `num_frames` CNN frames, in `config.blocks` order."""
        lengths, skips, length = [], [], num_frames
        for down in self.downsample_modules:
            lengths.append(length)
            skips.append(length)
            length = down.output_length(length)
        lengths.append(length)
        for up, skip in zip(self.upsample_modules, reversed(skips)):
            length = up.output_length(length)
            lengths.append(length)
            length = min(length, skip)
        return lengths


class S3prlMultiresHubertModel(S3prlHubertModel):
    """MR-HuBERT upstream returning S3PRL's hidden states (every block's layer inputs and output).

    Example:
        >>> from s3prl_hf.models.multires_hubert import S3prlMultiresHubertConfig, S3prlMultiresHubertModel
        >>> config = S3prlMultiresHubertConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64,
        ...                                    conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
        ...                                    num_conv_pos_embedding_groups=4, encoder_block_layers=[1],
        ...                                    middle_block_layers=1, decoder_block_layers=[1])
        >>> model = S3prlMultiresHubertModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (6, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlMultiresHubertConfig
    base_model_prefix = "s3prl_multires_hubert"
    encoder_class = S3prlMultiresEncoder

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.ConvTranspose1d):
            init.kaiming_normal_(module.weight)

    def output_frames(self, num_samples: int) -> int:
        lengths = self.encoder.block_lengths(super().output_frames(num_samples))
        return min(length * factor for length, (_, _, factor) in zip(lengths, self.config.blocks))

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, valid = self._project_features(wavs, wavs_len)
        blocks, encoder = self.config.blocks, self.encoder
        lengths = encoder.block_lengths(features.shape[1])
        # S3PRL cuts every state to the shortest one after repeating, computed or not
        keep = min(length * factor for length, (_, _, factor) in zip(lengths, blocks))
        states: list[torch.Tensor] = []

        def record(block_states: list[torch.Tensor], factor: int) -> bool:
            for state in block_states:
                state = state if factor == 1 else state.repeat_interleave(factor, dim=1)
                states.append(state[:, :keep])
            return len(states) >= num_hidden_states

        hidden, padding = features, ~valid
        pairs = len(encoder.downsample_modules)
        skips = []
        for index in range(pairs):
            encoded = self._run_block(encoder.encoders[index], hidden, padding)
            if record(encoded, blocks[index][2]):
                return states
            skips.append(encoded[-1])
            hidden, padding = encoder.downsample_modules[index](encoded[-1], padding)
        # the middle block zeroes its input's padded frames in place, so the skip sum adds the zeroed input
        hidden = hidden.masked_fill(padding[..., None], 0.0)
        middle = self._run_block(encoder.middle_encoder, hidden, padding)
        if record(middle, blocks[pairs][2]):
            return states
        hidden = hidden + middle[-1]
        for index in range(pairs):
            # S3PRL runs upsample_modules[i] at step i (fairseq runs them in reverse: [pairs - 1 - i])
            hidden, padding = encoder.upsample_modules[index](hidden, padding)
            decoded = self._run_block(encoder.decoders[index], hidden, padding)
            if record(decoded, blocks[pairs + 1 + index][2]):
                return states
            skip = skips[pairs - 1 - index]
            length = min(decoded[-1].shape[1], skip.shape[1])
            hidden, padding = decoded[-1][:, :length] + skip[:, :length], padding[:, :length]
        return states

    def _run_block(self, block: MultiresTransformerBlock, hidden: torch.Tensor,
                   padding: torch.Tensor) -> list[torch.Tensor]:
        hidden = hidden.masked_fill(padding[..., None], 0.0)
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=~padding)
        return block(hidden, attention_mask)

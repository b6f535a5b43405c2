"""wav2vec 1.0 / vq-wav2vec with S3PRL's hidden states (S3PRL's `upstream/wav2vec/{expert,wav2vec_model}.py`).

S3PRL feeds the zero-padded batch of raw waveforms (no normalisation, no mask) to fairseq's `Wav2VecModel`:

1. the feature extractor: convs without bias, each followed by a GroupNorm over all channels *and* frames of the
   padded sequence (computed in fp32) and the activation; optional skip connections; optional `log(|z| + 1)`;
2. vq-wav2vec only: the quantiser replaces every frame by its codewords (arg-max of the Gumbel logits, or the
   nearest k-means codeword per group, in eval mode);
3. the context network ("aggregator"): causal convs (the input is left-padded by kernel - 1 by repeating the first
   frame, or with zeros), each followed by GroupNorm and the activation, with scaled residual connections.

The expert's hooks record the feature extractor's output z (before quantisation), the input of every aggregator
block after the first (= the output of the block before it, residual included) and the aggregator's output:
`len(aggregator) + 1` hidden states. Every frame sees the batch's zero padding (the GroupNorms span the padded
length), as in S3PRL; the module names are fairseq's, so the checkpoint's keys load unchanged.

vq-wav2vec loaded in bf16 / fp16 keeps its feature extractor and quantiser in fp32 (`_keep_in_fp32_modules_strict`):
the codes are arg-max decisions, which a lower precision would change; the context network runs in the requested
dtype, and every hidden state has that dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_wav2vec import S3prlWav2VecConfig

# Distance tensors of the k-means quantiser are built this many elements at a time (64 MiB in fp32).
KMEANS_CHUNK_ELEMENTS = 1 << 24


class Fp32GroupNorm(nn.GroupNorm):
    """fairseq's `Fp32GroupNorm`: statistics and affine in fp32 whatever the input dtype, cast back after."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type_as(x)


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.GELU()


class ZeroPad1d(nn.Module):
    """fairseq's `ZeroPad1d` (left / right zero padding of the time axis)."""

    def __init__(self, pad_left: int, pad_right: int):
        super().__init__()
        self.pad_left, self.pad_right = pad_left, pad_right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (self.pad_left, self.pad_right))


class S3prlWav2VecFeatureExtractor(nn.Module):
    """fairseq's `ConvFeatureExtractionModel`: (B, samples) -> (B, C, frames)."""

    def __init__(self, config: S3prlWav2VecConfig):
        super().__init__()
        self.conv_layers = nn.ModuleList()
        in_dim = 1
        for dim, kernel, stride in zip(config.conv_dim, config.conv_kernel, config.conv_stride):
            self.conv_layers.append(nn.Sequential(
                nn.Conv1d(in_dim, dim, kernel, stride=stride, bias=False),
                nn.Dropout(0.0),  # fairseq builds the extractor with dropout 0
                Fp32GroupNorm(1, dim, affine=not config.non_affine_group_norm),
                _activation(config.activation),
            ))
            in_dim = dim
        self.log_compression = config.log_compression
        self.skip_connections = config.skip_connections_feat
        self.residual_scale = math.sqrt(config.residual_scale)

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        x = wavs.unsqueeze(1)
        for conv in self.conv_layers:
            residual = x
            x = conv(x)
            if self.skip_connections and x.size(1) == residual.size(1):
                frames, residual_frames = x.size(2), residual.size(2)
                residual = residual[..., :: residual_frames // frames][..., :frames]
                x = (x + residual) * self.residual_scale
        if self.log_compression:
            x = (x.abs() + 1).log()
        return x


class S3prlWav2VecAggregator(nn.Module):
    """fairseq's `ConvAggegator` whose blocks S3PRL hooks; `forward` returns every block's output."""

    def __init__(self, config: S3prlWav2VecConfig):
        super().__init__()
        blocks, projections = [], []
        in_dim = config.conv_dim[-1]
        for dim, kernel, stride in zip(config.aggregator_dim, config.aggregator_kernel, config.aggregator_stride):
            # fairseq: ka + kb = kernel - 1 frames on the left, none on the right
            pad = ZeroPad1d(kernel - 1, 0) if config.aggregator_zero_pad else nn.ReplicationPad1d((kernel - 1, 0))
            blocks.append(nn.Sequential(
                pad,
                nn.Conv1d(in_dim, dim, kernel, stride=stride, bias=config.aggregator_conv_bias),
                nn.Dropout(config.dropout),
                Fp32GroupNorm(1, dim, affine=not config.non_affine_group_norm),
                _activation(config.activation),
            ))
            # fairseq stores None where no projection is needed; Identity keeps the indices of the others
            projections.append(nn.Conv1d(in_dim, dim, 1, bias=False)
                               if in_dim != dim and config.skip_connections_agg else nn.Identity())
            in_dim = dim
        self.conv_layers = nn.Sequential(*blocks)
        self.residual_proj = nn.ModuleList(projections)
        self.skip_connections = config.skip_connections_agg
        self.residual_scale = math.sqrt(config.residual_scale)

    def forward(self, x: torch.Tensor, num_blocks: int | None = None) -> list[torch.Tensor]:
        """Outputs (B, C, T) of the first `num_blocks` blocks (all by default), residuals included."""
        outputs = []
        for projection, conv in list(zip(self.residual_proj, self.conv_layers))[:num_blocks]:
            residual = x
            x = conv(x)
            if self.skip_connections:
                x = (x + projection(residual)) * self.residual_scale
            outputs.append(x)
        return outputs


class S3prlGumbelVectorQuantizer(nn.Module):
    """fairseq's `GumbelVectorQuantizer` as vq-wav2vec builds it (time second, projection factor 2).

    Eval mode takes each group's arg-max codeword, as fairseq does; training mode samples a hard Gumbel-softmax at
    the checkpoint's start temperature, where S3PRL (which never updates the schedule) stays.
    """

    def __init__(self, config: S3prlWav2VecConfig):
        super().__init__()
        dim, groups, num_vars = config.conv_dim[-1], config.vq_groups, config.vq_vars
        self.groups, self.num_vars, self.combine_groups = groups, num_vars, config.combine_groups
        self.var_dim = config.quantizer_dim // groups
        self.temperature = float(config.vq_temperature)
        self.vars = nn.Parameter(torch.empty(1, (1 if config.combine_groups else groups) * num_vars, self.var_dim))
        if config.vq_depth > 1:
            inner = dim * 2
            self.weight_proj = nn.Sequential(
                *[nn.Sequential(nn.Linear(dim if i == 0 else inner, inner), _activation(config.activation))
                  for i in range(config.vq_depth - 1)],
                nn.Linear(inner, groups * num_vars),
            )
        else:
            self.weight_proj = nn.Linear(dim, groups * num_vars)

    def codebooks(self) -> torch.Tensor:
        """(groups, num_vars, var_dim): each group's codewords."""
        vars = self.vars[0].view(-1, self.num_vars, self.var_dim)
        return vars.expand(self.groups, -1, -1) if self.combine_groups else vars

    def forward(self, x: torch.Tensor, sample: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, T) features -> ((B, vq_dim, T) quantised, (B, T, groups) codeword indices).

        Args:
            sample: Gumbel sampling (fairseq's training mode); defaults to `self.training`.
        """
        batch, _, frames = x.shape
        # the same ops and shapes as fairseq, so the logits (and their arg-max) are the same bits
        logits = self.weight_proj(x.transpose(1, 2).reshape(batch * frames, -1)).view(batch * frames * self.groups, -1)
        codebooks = self.codebooks()
        if self.training if sample is None else sample:
            one_hot = F.gumbel_softmax(logits.float(), tau=self.temperature, hard=True).type_as(logits)
            codes = one_hot.argmax(dim=-1).view(batch, frames, self.groups)
            quantized = torch.einsum("ngv,gvd->ngd", one_hot.view(batch * frames, self.groups, -1), codebooks)
        else:
            codes = logits.max(dim=-1).indices.view(batch, frames, self.groups)
            # fairseq multiplies a one-hot by the codebook and sums: exactly the selected codeword
            quantized = torch.stack([codebooks[g][codes[..., g]] for g in range(self.groups)], dim=-2)
        return quantized.reshape(batch, frames, -1).transpose(1, 2), codes


class S3prlKmeansVectorQuantizer(nn.Module):
    """fairseq's `KmeansVectorQuantizer` (time second): nearest codeword per group after a grouped 1x1 projection
    and GroupNorm; straight-through gradients in training mode."""

    def __init__(self, config: S3prlWav2VecConfig):
        super().__init__()
        dim, groups = config.conv_dim[-1], config.vq_groups
        self.groups, self.num_vars, self.combine_groups = groups, config.vq_vars, config.combine_groups
        self.var_dim = config.quantizer_dim // groups
        self.embedding = nn.Parameter(torch.empty(config.vq_vars, 1 if config.combine_groups else groups,
                                                  self.var_dim))
        self.projection = nn.Sequential(nn.Conv1d(dim, dim, kernel_size=1, groups=groups, bias=False),
                                        Fp32GroupNorm(groups, dim))

    def codebooks(self) -> torch.Tensor:
        """(num_vars, groups, var_dim): fairseq's `expand_embedding`."""
        if self.combine_groups:
            return self.embedding.expand(self.num_vars, self.groups, self.var_dim)
        return self.embedding

    def forward(self, x: torch.Tensor, sample: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, T) features -> ((B, C, T) quantised, (B, T, groups) codeword indices).

        Args:
            sample: Straight-through gradients to the projection (fairseq's training mode); defaults to
                `self.training`. The values are the codewords either way.
        """
        batch, _, frames = x.shape
        ze = self.projection(x)
        ze_ = ze.view(batch, self.groups, self.var_dim, frames).permute(0, 3, 1, 2)
        codebooks = self.codebooks()
        # fairseq forms every (codeword, frame) difference at once: (V, B, T, G, d); the same expression on slices
        # of the frames gives the same distances with bounded memory
        step = max(1, KMEANS_CHUNK_ELEMENTS // max(1, self.num_vars * batch * self.groups * self.var_dim))
        codes = []
        for start in range(0, frames, step):
            part = ze_[:, start : start + step]
            distances = (part.unsqueeze(0) - codebooks.unsqueeze(1).unsqueeze(1)).view(
                self.num_vars, batch, part.shape[1], self.groups, -1).norm(dim=-1, p=2)
            codes.append(distances.argmin(dim=0))
        codes = torch.cat(codes, dim=1) if codes else ze_.new_zeros(batch, 0, self.groups, dtype=torch.long)
        zq = torch.stack([codebooks[codes[..., g], g] for g in range(self.groups)], dim=-2)
        zq = zq.view(batch, frames, self.groups * self.var_dim).permute(0, 2, 1)
        if self.training if sample is None else sample:
            zq = zq.detach() + (ze - ze.detach())
        return zq, codes


def build_quantizer(config: S3prlWav2VecConfig) -> nn.Module | None:
    """The checkpoint's vector quantiser, or None for wav2vec 1.0."""
    if config.vq_type == "gumbel":
        return S3prlGumbelVectorQuantizer(config)
    if config.vq_type == "kmeans":
        return S3prlKmeansVectorQuantizer(config)
    return None


class S3prlWav2VecModel(UpstreamPreTrainedModel):
    """wav2vec 1.0 / vq-wav2vec upstream returning S3PRL's `len(aggregator) + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.wav2vec import S3prlWav2VecConfig, S3prlWav2VecModel
        >>> config = S3prlWav2VecConfig(conv_dim=(16,) * 7, aggregator_dim=(16,) * 3, aggregator_kernel=(2, 3, 4),
        ...                             aggregator_stride=(1,) * 3)
        >>> model = S3prlWav2VecModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (4, torch.Size([2, 100, 16]), [100, 50])
    """

    config_class = S3prlWav2VecConfig
    base_model_prefix = "s3prl_wav2vec"

    def __init__(self, config: S3prlWav2VecConfig):
        super().__init__(config)
        self.feature_extractor = S3prlWav2VecFeatureExtractor(config)
        self.vector_quantizer = build_quantizer(config)
        self.dropout_feats = nn.Dropout(config.dropout_features)
        self.feature_aggregator = S3prlWav2VecAggregator(config)
        if self.vector_quantizer is not None:
            # The codes are arg-max decisions that a lower precision would change: loaded in bf16 / fp16, the
            # feature extractor and quantiser stay in fp32, so the codes are those of the fp32 model.
            self._keep_in_fp32_modules_strict = ["feature_extractor", "vector_quantizer"]
            if config.vq_type == "kmeans":
                # the k-means codebook learns from fairseq's k-means loss only: no hidden state's gradient reaches it
                self._modules_outside_hidden_states = ("vector_quantizer",)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, S3prlGumbelVectorQuantizer):
            init.uniform_(module.vars)
        elif isinstance(module, S3prlKmeansVectorQuantizer):
            init.normal_(module.embedding, std=0.01)

    def quantize(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """vq-wav2vec's quantiser: (B, C, T) features -> ((B, C, T) codewords, (B, T, groups) indices).

        S3PRL's expert returns these as `codewords` / `codeids` (not hidden states); Discrete BERT tokenises the
        indices.
        """
        if self.vector_quantizer is None:
            raise ValueError("this wav2vec model has no quantizer (vq_type='none')")
        return self.vector_quantizer(features)

    def output_frames(self, num_samples: int) -> int | None:
        if any(stride != 1 for stride in self.config.aggregator_stride):
            return None  # the blocks' states have other frame counts (no released model strides them)
        frames = self.padded_samples(num_samples)
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            frames = max((frames - kernel) // stride + 1, 0)
        return frames

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features = self.feature_extractor(wavs.to(_dtype_of(self.feature_extractor)))
        dtype = _dtype_of(self.feature_aggregator)  # the dtype of the outputs (fp32 parts stay inside)
        hidden_states = [features.transpose(1, 2).to(dtype)]
        if num_hidden_states > 1:
            if self.vector_quantizer is not None:
                features = self.vector_quantizer(features.to(_dtype_of(self.vector_quantizer)))[0]
            outputs = self.feature_aggregator(self.dropout_feats(features.to(dtype)), num_hidden_states - 1)
            hidden_states += [x.transpose(1, 2) for x in outputs]
        return hidden_states


def _dtype_of(module: nn.Module) -> torch.dtype:
    """The dtype of a module's (first) parameter: parts of a model may be kept in fp32."""
    return next(module.parameters()).dtype

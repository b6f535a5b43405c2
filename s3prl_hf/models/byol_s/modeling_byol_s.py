"""BYOL-S with S3PRL's hidden state (S3PRL's `upstream/byol_s/expert.py`, `serab_byols/{serab,utils}.py`,
`byol_a/models/{audio_ntt,resnetish,cvt}.py`).

S3PRL's expert (serab's `get_timestamp_embeddings`), for a zero-padded batch of T samples:

1. `frame_audio`: pad 8000 zeros on each side, then 1 s frames every 800 samples: `T // 800 + 1` per utterance;
2. torchaudio `MelSpectrogram` of every frame (n_fft 1024, window 400, hop 160, 64 mels), `log(x + eps)`;
3. normalisation with statistics of the WHOLE batch of frames, both divided by the number of frames N = B x frames
   (`compute_timestamp_stats`: `mean = M.mean() / N`, `std = M.std() / N`; a bug, reproduced): each utterance's
   features depend on the rest of the batch and on its padding;
4. the network on every frame; one hidden state (B, frames, embedding), 800 samples per frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.resnet.modeling_resnet import ResNetBasicLayer, ResNetConvLayer

from ..byol_a.modeling_byol_a import (LOG_EPSILON, S3prlAudioNTT2020, S3prlLogMelPreTrainedModel,
                                      TorchaudioMelSpectrogram)
from .configuration_byol_s import S3prlByolSConfig

# ------------------------------------------------------------------------------------------------------------------
# resnetish (byol_a/models/resnetish.py) on transformers' ResNet layers
# ------------------------------------------------------------------------------------------------------------------


class S3prlResNetish(nn.Module):
    """ResNetish: 1-channel stem conv (stride 1), BN, ReLU, 3x3 max pool (stride 2), stages of BasicBlocks (stage
    i > 0 starts with stride 2), then max + mean over time of (mel x channels).

    torchvision's BasicBlock, which ResNetish uses, is transformers' `ResNetBasicLayer` (stride in the first conv,
    1x1-conv + BN shortcut where the shape changes); the stem is a `ResNetConvLayer` with stride 1 (transformers'
    `ResNetEmbeddings` has stride 2, so it is not used). Stages keep S3PRL's names `layer1`, `layer2`, ...
    """

    def __init__(self, config: S3prlByolSConfig):
        super().__init__()
        self.embedder = ResNetConvLayer(1, config.resnet_stem_channels, kernel_size=config.resnet_stem_kernel,
                                        stride=1)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = config.resnet_stem_channels
        for index, (blocks, planes) in enumerate(zip(config.resnet_layers, config.resnet_widths)):
            stride = 1 if index == 0 else 2
            layer = [ResNetBasicLayer(inplanes, planes, stride=stride)]
            layer += [ResNetBasicLayer(planes, planes) for _ in range(1, blocks)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))
            inplanes = planes
        self.num_stages = len(config.resnet_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.embedder(x))
        for index in range(self.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return _max_plus_mean_over_time(x)


def _max_plus_mean_over_time(x: torch.Tensor) -> torch.Tensor:
    """(batch, ch, mel, time) -> (batch, mel * ch): `x.mean(1) + x.amax(1)` over time, as BYOL-S's networks."""
    x = x.permute(0, 3, 2, 1)  # (batch, time, mel, ch)
    batch, time, mel, channels = x.shape
    x = x.reshape(batch, time, channels * mel)
    return x.mean(1) + x.amax(1)


# ------------------------------------------------------------------------------------------------------------------
# CvT (byol_a/models/cvt.py), S3PRL's module names
# ------------------------------------------------------------------------------------------------------------------


class S3prlChannelLayerNorm(nn.Module):
    """cvt.py's `LayerNorm` over the channel axis of (B, C, H, W): `(x - mean) / (std + eps) * g + b`, with the
    biased std and the epsilon added to the std (not to the variance as nn.LayerNorm does)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype, x = x.dtype, x.float()  # statistics in fp32 under a reduced compute dtype
        std = torch.var(x, dim=1, unbiased=False, keepdim=True).sqrt()
        mean = torch.mean(x, dim=1, keepdim=True)
        return ((x - mean) / (std + self.eps) * self.g + self.b).to(dtype)


class S3prlPreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = S3prlChannelLayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class S3prlCvtFeedForward(nn.Module):
    """1x1 conv, GELU, 1x1 conv (`net.0` and `net.3`)."""

    def __init__(self, dim: int, mult: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(dim, dim * mult, 1), nn.GELU(), nn.Dropout(dropout),
                                 nn.Conv2d(dim * mult, dim, 1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class S3prlDepthWiseConv2d(nn.Module):
    """Depthwise conv, BatchNorm, pointwise conv; no biases (as the attention builds them)."""

    def __init__(self, dim_in: int, dim_out: int, kernel_size: int, stride: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(dim_in, dim_in, kernel_size=kernel_size, padding=kernel_size // 2, groups=dim_in, stride=stride,
                      bias=False),
            nn.BatchNorm2d(dim_in),
            nn.Conv2d(dim_in, dim_out, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class S3prlCvtAttention(nn.Module):
    """cvt.py's `Attention`: conv projections, full softmax attention over all (mel, time) positions."""

    def __init__(self, dim: int, proj_kernel: int, kv_proj_stride: int, heads: int, dim_head: int,
                 dropout: float = 0.0):
        super().__init__()
        inner_dim = dim_head * heads
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_q = S3prlDepthWiseConv2d(dim, inner_dim, proj_kernel, stride=1)
        self.to_kv = S3prlDepthWiseConv2d(dim, inner_dim * 2, proj_kernel, stride=kv_proj_stride)
        self.to_out = nn.Sequential(nn.Conv2d(inner_dim, dim, 1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        heads = self.heads
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=1)

        def split(t):  # "b (h d) x y -> (b h) (x y) d"
            b, hd, xx, yy = t.shape
            return t.reshape(b, heads, hd // heads, xx * yy).transpose(-1, -2).reshape(b * heads, xx * yy, -1)

        q, k, v = split(q), split(k), split(v)
        dots = torch.einsum("b i d, b j d -> b i j", q, k) * self.scale
        attn = dots.softmax(dim=-1)
        out = torch.einsum("b i j, b j d -> b i d", attn, v)
        # "(b h) (x y) d -> b (h d) x y"
        out = out.reshape(batch, heads, height, width, -1).permute(0, 1, 4, 2, 3).reshape(batch, -1, height, width)
        return self.to_out(out)


class S3prlCvtTransformer(nn.Module):
    def __init__(self, dim: int, proj_kernel: int, kv_proj_stride: int, depth: int, heads: int, dim_head: int,
                 mlp_mult: int):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.ModuleList([
                S3prlPreNorm(dim, S3prlCvtAttention(dim, proj_kernel, kv_proj_stride, heads, dim_head)),
                S3prlPreNorm(dim, S3prlCvtFeedForward(dim, mlp_mult)),
            ]) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return x


class S3prlCvT(nn.Module):
    """cvt.py's `CvT` with pool "mean+max": stages of (conv embedding, channel LayerNorm, transformer), then max +
    mean over time of (mel x channels)."""

    def __init__(self, config: S3prlByolSConfig):
        super().__init__()
        stages, dim = [], 1
        for emb_dim, kernel, stride, proj_kernel, kv_stride, heads, depth, mult in zip(
                config.cvt_embed_dims, config.cvt_embed_kernels, config.cvt_embed_strides, config.cvt_proj_kernels,
                config.cvt_kv_proj_strides, config.cvt_heads, config.cvt_depths, config.cvt_mlp_mults):
            stages.append(nn.Sequential(
                nn.Conv2d(dim, emb_dim, kernel_size=kernel, padding=kernel // 2, stride=stride),
                S3prlChannelLayerNorm(emb_dim),
                S3prlCvtTransformer(emb_dim, proj_kernel, kv_stride, depth, heads, config.cvt_dim_head, mult)))
            dim = emb_dim
        self.layers = nn.Sequential(*stages)  # S3PRL appends an nn.Identity for "mean+max" (no weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _max_plus_mean_over_time(self.layers(x))


# ------------------------------------------------------------------------------------------------------------------
# The upstream
# ------------------------------------------------------------------------------------------------------------------


def build_byol_s_encoder(config: S3prlByolSConfig) -> nn.Module:
    """The network `encoder_type` names, with S3PRL's module names."""
    if config.encoder_type == "audio_ntt":
        return S3prlAudioNTT2020(config.conv_channels, config.feature_d, config.n_mels, config.hidden_dropout)
    if config.encoder_type == "resnetish":
        return S3prlResNetish(config)
    return S3prlCvT(config)


class S3prlByolSModel(S3prlLogMelPreTrainedModel):
    """BYOL-S upstream returning S3PRL's single hidden state: one embedding per 50 ms (1 s frames).

    Like S3PRL, the log-mel frames are normalised with statistics of the whole padded batch divided by the number
    of frames, so an utterance's output depends on the rest of its batch (and on its padding).

    Example:
        >>> from s3prl_hf.models.byol_s import S3prlByolSConfig, S3prlByolSModel
        >>> model = S3prlByolSModel(S3prlByolSConfig(conv_channels=[4, 4, 4], feature_d=16)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 8000), torch.tensor([8000, 4000]))
        >>> all_hs[0].shape, all_hs_len[0].tolist()
        (torch.Size([2, 10, 16]), [10, 5])
    """

    config_class = S3prlByolSConfig
    base_model_prefix = "s3prl_byol_s"

    def __init__(self, config: S3prlByolSConfig):
        super().__init__(config)
        self.frontend = TorchaudioMelSpectrogram(config.sampling_rate, config.n_fft, config.win_length,
                                                 config.hop_length, config.n_mels, config.f_min, config.f_max)
        self.encoder = build_byol_s_encoder(config)
        self.post_init()

    def frames(self, wavs: torch.Tensor) -> torch.Tensor:
        """serab's `frame_audio`: (B, T) -> (B, T // hop + 1, frame) centred frames of the zero-padded batch."""
        frame, hop = self.config.frame_samples, self.config.hop_samples
        padded = F.pad(wavs, (frame // 2, frame - frame // 2))
        return padded.unfold(1, frame, hop)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        frames = self.frames(wavs.float())
        batch, num_frames, _ = frames.shape
        mel = (self.frontend(frames.flatten(end_dim=1)) + LOG_EPSILON).log()
        # compute_timestamp_stats: float32 statistics of everything, divided by the number of frames, as floats
        count = mel.shape[0]
        mean, std = mel.mean(), mel.std()
        mean /= count
        std /= count
        std = std.item()
        if std == 0 and not self.config.s3prl_nan_silence:
            std = 1.0  # a silent batch: S3PRL divides by zero (inf / NaN); keep the features finite instead
        features = (mel - mean.item()) / std
        # S3PRLUpstream keeps ceil(T / hop) of the T // hop + 1 frames: the extra one (when hop divides T) is only
        # needed for the statistics above. S3PRL fails where that extra frame doubles the count (T == hop, i.e. a
        # batch whose longest utterance is at most 0.05 s); here it is dropped like any other.
        kept = -(-wavs.shape[1] // self.config.hop_samples)
        features = features.reshape(batch, num_frames, *features.shape[1:])[:, :kept].flatten(end_dim=1)
        embeddings = self.encoder(features.unsqueeze(1).to(self.dtype))
        return [embeddings.reshape(batch, kept, -1)]

"""PASE+ with S3PRL's hidden states (S3PRL's `upstream/pase/{hubconf,expert}.py`; PASE's `WaveFe`, `FeBlock`,
`SincConv_fast` from `s3prl/pase` be11486c and the QRNN of `s3prl/pytorch-qrnn` 6510af2f, reimplemented in torch).

S3PRL's expert runs `WaveFe` on the zero-padded batch `pad_sequence(wavs).unsqueeze(1)` (no lengths, no mask):

1. each `FeBlock`: pad on the fly (SincNet: `(K//2 - 1, K//2)` when strided, else `(K//2, K//2)`; plain conv with
   stride > 1 or even width: `(k//2 - 1, k//2)`, else `(k//2) * dilation` each side) with `pad_mode`, the conv,
   BatchNorm, PReLU; every block's output but the last goes through its 1x1 dense-skip conv;
2. the QRNN over the last block's output: `[Z, F, O] = Linear([x_t, x_{t-1}])` (x_{-1} = 0), `c_t = sigmoid(F) *
   tanh(Z) + (1 - sigmoid(F)) * c_{t-1}` from c_{-1} = 0, `h_t = sigmoid(O) * c_t`, layer after layer;
3. `W` (1x1 conv), then each dense skip added in order after `fuse_skip`: with `d = skip_frames // final_frames`,
   a skip with d > 1 is cut to `final_frames * d` frames and averaged over groups of d; then `norm_out`, `tanh_out`;
4. hidden states, in the order S3PRL's hooks fire: `denseskips[0..6]` outputs pooled to the final frame rate by the
   hub's `align_skip` (the same pooling), `W`'s output (before the skips are added), the model's output.

Every frame sees the batch's zero padding through the convolutions and the QRNN, as in S3PRL. The pooling factor d
comes from the padded batch's frame counts, so it is not always the stride ratio (e.g. 160 samples per frame of the
SincNet skip for 16000 samples, 12345 // 77 = 160 for 12345).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_pase_plus import S3prlPasePlusConfig


class S3prlSincConv(nn.Module):
    """PASE's `SincConv_fast` (padding "SAME"): band-pass filters from `low_hz_` / `band_hz_`, (B, 1, T) -> (B, C, T').

    The half window and half time axis (`window_`, `n_` in PASE) are not stored in the checkpoint; they are rebuilt in
    float32 on the CPU with PASE's own expressions (including its `linspace(0, K/2 - 1, K//2)` window grid) at every
    call, as cheap as reading them.
    """

    def __init__(self, out_channels: int, kernel_size: int, stride: int, pad_mode: str, sample_rate: int,
                 min_low_hz: float, min_band_hz: float):
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size + 1 if kernel_size % 2 == 0 else kernel_size
        self.stride, self.pad_mode = stride, pad_mode
        self.sample_rate, self.min_low_hz, self.min_band_hz = sample_rate, min_low_hz, min_band_hz
        self.low_hz_ = nn.Parameter(torch.empty(out_channels, 1))
        self.band_hz_ = nn.Parameter(torch.empty(out_channels, 1))

    def mel_initialisation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """PASE's initial `low_hz_` / `band_hz_`: mel-spaced edges from 30 Hz to sr / 2 - (min low + min band)."""
        low_hz, high_hz = 30.0, self.sample_rate / 2 - (self.min_low_hz + self.min_band_hz)
        to_mel = lambda hz: 2595 * math.log10(1 + hz / 700)  # noqa: E731
        mel = torch.linspace(to_mel(low_hz), to_mel(high_hz), self.out_channels + 1, dtype=torch.float64)
        hz = 700 * (10 ** (mel / 2595) - 1)
        return hz[:-1].view(-1, 1).float(), torch.diff(hz).view(-1, 1).float()

    def half_axes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """PASE's `window_` (half Hamming window) and `n_` (2 pi t / sr for t = -(K-1)/2 .. -1), float32."""
        kernel = self.kernel_size
        n_lin = torch.linspace(0, (kernel / 2) - 1, steps=int(kernel / 2), dtype=torch.float32)
        window = 0.54 - 0.46 * torch.cos(2 * math.pi * n_lin / kernel)
        n = (kernel - 1) / 2.0
        n_ = 2 * math.pi * torch.arange(-n, 0, dtype=torch.float32).view(1, -1) / self.sample_rate
        return window, n_

    def filters(self) -> torch.Tensor:
        """(C, 1, K) float32 band-pass filters, exactly as `SincConv_fast.forward` builds them."""
        window, n_ = (t.to(self.low_hz_.device) for t in self.half_axes())
        low = self.min_low_hz + torch.abs(self.low_hz_.float())
        high = torch.clamp(low + self.min_band_hz + torch.abs(self.band_hz_.float()), self.min_low_hz,
                           self.sample_rate / 2)
        band = (high - low)[:, 0]
        f_times_t_low = torch.matmul(low, n_)
        f_times_t_high = torch.matmul(high, n_)
        band_pass_left = ((torch.sin(f_times_t_high) - torch.sin(f_times_t_low)) / (n_ / 2)) * window
        band_pass_center = 2 * band.view(-1, 1)
        band_pass_right = torch.flip(band_pass_left, dims=[1])
        band_pass = torch.cat([band_pass_left, band_pass_center, band_pass_right], dim=1)
        band_pass = band_pass / (2 * band[:, None])
        return band_pass.view(self.out_channels, 1, self.kernel_size)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        half = self.kernel_size // 2
        padding = (half - 1, half) if self.stride > 1 else (half, half)
        x = F.pad(waveforms, padding, mode=self.pad_mode)
        return F.conv1d(x, self.filters().to(x.dtype), stride=self.stride)


class S3prlFeBlock(nn.Module):
    """PASE's `FeBlock` with bnorm and PReLU: pad, conv (SincNet or plain), BatchNorm1d, PReLU (PASE's module names)."""

    def __init__(self, config: S3prlPasePlusConfig, index: int, in_channels: int):
        super().__init__()
        fmaps = config.fmaps[index]
        self.kwidth, self.stride, self.dilation = config.kwidths[index], config.strides[index], config.dilations[index]
        self.pad_mode = config.pad_mode
        self.sincnet = config.sincnet and index == 0
        if self.sincnet:
            self.conv = S3prlSincConv(fmaps, self.kwidth, self.stride, config.pad_mode, config.sr,
                                      config.sinc_min_low_hz, config.sinc_min_band_hz)
        else:
            self.conv = nn.Conv1d(in_channels, fmaps, self.kwidth, self.stride, dilation=self.dilation)
        self.norm = nn.BatchNorm1d(fmaps)
        self.act = nn.PReLU(fmaps, init=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kwidth > 1 and not self.sincnet:
            if self.stride > 1 or self.kwidth % 2 == 0:
                padding = (self.kwidth // 2 - 1, self.kwidth // 2)
            else:
                pad = (self.kwidth // 2) * (self.dilation - 1) + (self.kwidth // 2)
                padding = (pad, pad)
            x = F.pad(x, padding, mode=self.pad_mode)
        return self.act(self.norm(self.conv(x)))


class S3prlQrnnLayer(nn.Module):
    """torchqrnn's `QRNNLayer(window=2, output_gate=True, zoneout=0)` on its CPU path; (T, B, C) in and out."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(2 * input_size, 3 * hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq_len, batch_size, _ = x.shape
        previous = torch.cat([x[:1] * 0, x[:-1]], 0) if seq_len > 1 else x[:1] * 0
        y = self.linear(torch.cat([x, previous], 2)).view(seq_len, batch_size, 3 * self.hidden_size)
        # gates and cell state in fp32 under a reduced compute dtype: c_t keeps a memory over many frames
        z, f, o = y.float().chunk(3, dim=2)
        z, f = torch.tanh(z), torch.sigmoid(f)
        # ForgetMult: c_t = f_t * z_t + (1 - f_t) * c_{t-1}, c_0 = f_0 * z_0 (CPUForgetMult's operation order)
        fz = f * z
        states, c = [], None
        for t in range(seq_len):
            c = fz[t] if c is None else fz[t] + (1 - f[t]) * c
            states.append(c)
        return (torch.sigmoid(o) * torch.stack(states)).to(x.dtype)


class S3prlQrnn(nn.Module):
    """torchqrnn's `QRNN`: stacked layers with dropout between them in training; (T, B, C) in and out."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(S3prlQrnnLayer(input_size if index == 0 else hidden_size, hidden_size)
                                    for index in range(num_layers))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if self.dropout and index < len(self.layers) - 1:
                x = F.dropout(x, p=self.dropout, training=self.training)
        return x


def align_skip(skip: torch.Tensor, frames: int) -> torch.Tensor:
    """PASE's `fuse_skip` / S3PRL's `align_skip`: average a (B, C, T) skip over `T // frames`-frame groups."""
    dfactor = skip.shape[2] // frames
    if dfactor > 1:
        skip = skip[:, :, : frames * dfactor]
        batch, channels, length = skip.shape
        skip = torch.mean(skip.view(batch, channels, length // dfactor, dfactor), dim=3)
    return skip


class S3prlPasePlusModel(UpstreamPreTrainedModel):
    """PASE+ upstream returning S3PRL's 9 hidden states: 7 dense skips pooled to the output rate, `W`'s output and the
    final output, all `emb_dim` wide at 160 samples per frame.

    Example:
        >>> from s3prl_hf.models.pase_plus import S3prlPasePlusConfig, S3prlPasePlusModel
        >>> model = S3prlPasePlusModel(S3prlPasePlusConfig(fmaps=[8] * 8, emb_dim=16, rnn_dim=16)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[-1].shape, all_hs_len[-1].tolist()
        (9, torch.Size([2, 100, 16]), [100, 50])
    """

    config_class = S3prlPasePlusConfig
    base_model_prefix = "s3prl_pase_plus"

    def __init__(self, config: S3prlPasePlusConfig):
        super().__init__(config)
        self.blocks = nn.ModuleList()
        in_channels = 1
        for index, fmaps in enumerate(config.fmaps):
            self.blocks.append(S3prlFeBlock(config, index, in_channels))
            in_channels = fmaps
        self.denseskips = nn.ModuleList(nn.Conv1d(fmaps, config.emb_dim, 1, bias=False)
                                        for fmaps in config.fmaps[:-1])
        if config.rnn_pool:
            self.rnn = S3prlQrnn(config.fmaps[-1], config.rnn_hidden_size, config.rnn_layers, config.rnn_dropout)
            self.W = nn.Conv1d(config.rnn_dim, config.emb_dim, 1)  # noqa: N815 (PASE's module name keeps the keys)
        else:
            self.W = nn.Conv1d(config.fmaps[-1], config.emb_dim, 1)
        if config.norm_out:
            self.norm_out = nn.BatchNorm1d(config.emb_dim, affine=False)
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, S3prlSincConv):
            low, band = module.mel_initialisation()
            init.copy_(module.low_hz_, low)
            init.copy_(module.band_hz_, band)
        elif isinstance(module, nn.PReLU):
            init.zeros_(module.weight)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        config = self.config
        h = wavs.to(self.dtype).unsqueeze(1)
        skips = []
        for index, block in enumerate(self.blocks):
            h = block(h)
            if index + 1 < len(self.blocks):
                skips.append(self.denseskips[index](h))
        frames = h.shape[2]
        skips = [align_skip(skip, frames) for skip in skips]
        hidden_states = [skip.transpose(1, 2) for skip in skips[: config.num_hooked_skips]]
        if num_hidden_states <= config.num_hooked_skips:
            return hidden_states
        if config.rnn_pool:
            h = self.rnn(h.transpose(1, 2).transpose(0, 1)).transpose(0, 1).transpose(1, 2)
        w = self.W(h)
        y = w
        for skip in skips:
            y = y + skip
        if config.norm_out:
            y = self.norm_out(y)
        if config.tanh_out:
            y = torch.tanh(y)
        return hidden_states + [w.transpose(1, 2), y.transpose(1, 2)]

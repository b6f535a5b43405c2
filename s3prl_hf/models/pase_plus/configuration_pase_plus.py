"""Configuration of PASE+ (S3PRL's `upstream/pase/{hubconf,expert}.py`; the network is `WaveFe` of the external
`s3prl/pase` repository, `pase/models/{frontend,modules}.py` at be11486c, with the QRNN of `s3prl/pytorch-qrnn`).

`WaveFe` is a stack of `FeBlock`s on the raw waveform: a SincNet layer (`SincConv_fast`: band-pass filters computed
from two learned frequencies per filter) then plain convs, each padded on the fly ("reflect"), batch-normalised and
followed by a PReLU; a 1x1 "dense skip" projection of every block's output but the last; a QRNN (window 2) over the
last block's output; a 1x1 conv `W`; the skips, each mean-pooled to the final frame rate, added to `W`'s output; and a
BatchNorm without affine (`norm_out`). S3PRL's hub entry hooks `denseskips[0..6]`, `W` and the whole model.

The fields are the keys of PASE's JSON cfg (`kwidths`, `strides`, `fmaps`, ...) with `WaveFe`'s defaults where the
released `PASE+.cfg` does not set them; the converter reads the cfg and checks every size against the checkpoint.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

# S3PRL's hub entry hooks `self.model.denseskips[i]` for i in range(7), then `W` and the model itself.
HOOKED_SKIPS = 7
# The expert's get_downsample_rates returns 160 whatever the strides.
DOWNSAMPLE_RATE = 160
PAD_MODES = ("reflect", "replicate", "constant", "circular")


@strict
class S3prlPasePlusConfig(UpstreamConfig):
    """Architecture of a PASE+ upstream (the names of PASE's cfg / `WaveFe` arguments).

    Args:
        sincnet: The first block is a SincNet layer (`SincConv_fast`) rather than a plain conv.
        kwidths: Kernel width of each block (a SincNet kernel of even width gets one more tap, as PASE does).
        strides: Stride of each block.
        dilations: Dilation of each plain-conv block (the SincNet layer ignores it, as `FeBlock` does).
        fmaps: Output channels of each block.
        pad_mode: `F.pad` mode of the on-the-fly padding of every block ("reflect").
        sr: Sampling rate of the SincNet filters' frequencies (`sr`, 16000).
        sinc_min_low_hz, sinc_min_band_hz: `SincConv_fast`'s minimum low frequency and band (50 Hz, not in the cfg).
        emb_dim: Width of the dense skips, of `W` and of the output.
        rnn_pool: A QRNN runs over the last block's output before `W`.
        rnn_dim: The QRNN's size argument; PASE builds `QRNN(hidden=2 * (rnn_dim // 2))` and `W` takes `rnn_dim`.
        rnn_layers: QRNN layers (window 2, output gate, no zoneout).
        rnn_dropout: Dropout between QRNN layers (training only).
        norm_out: BatchNorm1d(emb_dim, affine=False) on the output.
        tanh_out: tanh on the output (after `norm_out`).
        num_hooked_skips: How many dense skips S3PRL returns as hidden states (its hub entry hooks 7).
        downsample_rate: What S3PRL's expert reports for every hidden state (160).

    Example:
        >>> config = S3prlPasePlusConfig(fmaps=[8] * 8, emb_dim=16, rnn_dim=16)
        >>> config.num_layers, config.hidden_sizes[-1], config.downsample_rates[0]
        (9, 16, 160)
    """

    model_type = "s3prl_pase_plus"

    sincnet: bool = True
    kwidths: list[int] | tuple[int, ...] = (251, 20, 11, 11, 11, 11, 11, 11)
    strides: list[int] | tuple[int, ...] = (1, 10, 2, 1, 2, 1, 2, 2)
    dilations: list[int] | tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1, 1)
    fmaps: list[int] | tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512)
    pad_mode: str = "reflect"
    sr: int = 16000
    sinc_min_low_hz: float | int = 50
    sinc_min_band_hz: float | int = 50
    emb_dim: int = 256
    rnn_pool: bool = True
    rnn_dim: int = 512
    rnn_layers: int = 1
    rnn_dropout: float | int = 0
    norm_out: bool = True
    tanh_out: bool = False
    num_hooked_skips: int = HOOKED_SKIPS
    downsample_rate: int = DOWNSAMPLE_RATE

    def validate_architecture(self):
        """Shapes `WaveFe` builds and S3PRL's hooks can run on."""
        lists = {"kwidths": self.kwidths, "strides": self.strides, "dilations": self.dilations, "fmaps": self.fmaps}
        for name, values in lists.items():
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
                raise ValueError(f"{name} {list(values)} must be positive ints")
        lengths = {name: len(values) for name, values in lists.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"kwidths, strides, dilations and fmaps must have one entry per block, got {lengths}")
        if len(self.fmaps) < self.num_hooked_skips + 1:
            raise ValueError(f"{len(self.fmaps)} blocks give {len(self.fmaps) - 1} dense skips; S3PRL's hub entry "
                             f"hooks denseskips[0..{self.num_hooked_skips - 1}], so at least "
                             f"{self.num_hooked_skips + 1} blocks are needed")
        for index, (kwidth, stride, dilation) in enumerate(zip(self.kwidths, self.strides, self.dilations)):
            if (index > 0 or not self.sincnet) and dilation > 1 and kwidth > 1 and (stride > 1 or kwidth % 2 == 0):
                raise ValueError(f"block {index}: dilation {dilation} with stride {stride} / kernel {kwidth}: PASE's "
                                 f"FeBlock cannot pad a dilated conv that is strided or of even width")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        if self.rnn_pool and (self.rnn_dim < 2 or self.rnn_dim % 2):
            raise ValueError(f"rnn_dim {self.rnn_dim}: PASE's QRNN has 2 * (rnn_dim // 2) units and W takes rnn_dim "
                             f"inputs, so rnn_dim must be even")
        if self.rnn_layers < 1 or self.emb_dim < 1 or self.num_hooked_skips < 0 or self.sr < 1:
            raise ValueError("rnn_layers, emb_dim and sr must be positive, num_hooked_skips non-negative")

    @property
    def sinc_kernel_size(self) -> int:
        """Taps of the SincNet filters: `kwidths[0]`, plus one when even (`SincConv_fast` forces odd filters)."""
        return self.kwidths[0] + 1 - self.kwidths[0] % 2

    @property
    def rnn_hidden_size(self) -> int:
        """Units of the QRNN: `build_rnn_block(fmap, rnn_dim // 2, bidirectional=True)` doubles the halved size."""
        return 2 * (self.rnn_dim // 2)

    @property
    def num_layers(self) -> int:
        return self.num_hooked_skips + 2

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.emb_dim,) * self.num_layers

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (self.downsample_rate,) * self.num_layers


# The released architecture: the repository's cfg/frontend/PASE+.cfg (kwidths, strides, fmaps, rnn_dim 512,
# denseskips, norm_out, rnn_pool, one QRNN layer) on WaveFe's defaults (SincNet, bnorm, PReLU, reflect, emb_dim 256).
# The Dropbox PASE+.cfg S3PRL downloads could not be read here; a conversion always takes the cfg it is given.
REFERENCE_CONFIGS: dict[str, dict] = {
    "pase_plus": dict(kwidths=[251, 20, 11, 11, 11, 11, 11, 11], strides=[1, 10, 2, 1, 2, 1, 2, 2],
                      fmaps=[64, 64, 128, 128, 256, 256, 512, 512], rnn_dim=512, rnn_layers=1, emb_dim=256),
}

"""Configuration of Modified CPC (S3PRL's `upstream/cpc`, the Libri-Light CPC_audio model).

The network is S3PRL's `CPCModel(CPCEncoder(hiddenEncoder, normMode), CPCAR(...))`: five strided convs on the raw
waveform (160 samples per frame), each normalised and rectified, then an autoregressive RNN. The checkpoint's `config`
holds CPC_audio's argparse options; the converter maps them to these fields.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig

# CPCEncoder.DOWNSAMPLING, what S3PRL's expert reports (5 * 4 * 2 * 2 * 2).
DOWNSAMPLE_RATE = 160
NORM_MODES = ("layerNorm", "batchNorm", "instanceNorm", "ID")
AR_MODES = ("LSTM", "GRU", "RNN", "no_ar")


@strict
class S3prlModifiedCpcConfig(UpstreamConfig):
    """Architecture of a Modified CPC upstream (CPC_audio's option in brackets).

    Args:
        encoder_hidden_size: Channels of every encoder conv (`hiddenEncoder`).
        ar_hidden_size: Width of the autoregressive RNN (`hiddenGar`).
        norm_mode: The encoder's normalisation (`normMode`): "layerNorm" (S3PRL's ChannelNorm: over channels,
            unbiased variance), "batchNorm", "instanceNorm" or "ID" (none).
        ar_mode: The autoregressive network (`arMode`): "LSTM", "GRU", "RNN" (tanh), or "no_ar" (the encoder's
            output again).
        ar_num_layers: Layers of the RNN (`nLevelsGRU`).
        reverse: Run the RNN backwards in time (`cpc_mode="reverse"`).

    Example:
        >>> config = S3prlModifiedCpcConfig(encoder_hidden_size=32, ar_hidden_size=24)
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates
        (2, (32, 24), (160, 160))
    """

    model_type = "s3prl_modified_cpc"

    encoder_hidden_size: int = 256
    ar_hidden_size: int = 256
    norm_mode: str = "layerNorm"
    ar_mode: str = "LSTM"
    ar_num_layers: int = 1
    reverse: bool = False

    def validate_architecture(self):
        """Reject the options S3PRL's CPC expert cannot run or this port does not implement."""
        if self.norm_mode not in NORM_MODES:
            raise ValueError(f"norm_mode must be one of {NORM_MODES}, got {self.norm_mode!r}")
        if self.ar_mode not in AR_MODES:
            raise ValueError(f"ar_mode must be one of {AR_MODES}, got {self.ar_mode!r} (S3PRL fails on 'transformer': "
                             f"its `.transformers` module is not shipped)")
        if self.ar_num_layers < 1:
            raise ValueError(f"ar_num_layers must be at least 1, got {self.ar_num_layers}")

    @property
    def num_layers(self) -> int:
        return 2

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.encoder_hidden_size,
                self.encoder_hidden_size if self.ar_mode == "no_ar" else self.ar_hidden_size)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (DOWNSAMPLE_RATE, DOWNSAMPLE_RATE)


# The released architecture: CPC_audio's defaults (S3PRL's cpc_default_config.py: 256-channel encoder with
# ChannelNorm, one LSTM-256 level), which give the published 1.84 M parameters. The release's own config could not
# be read here; a conversion always takes the architecture from the checkpoint itself.
REFERENCE_CONFIGS: dict[str, dict] = {
    "modified_cpc": dict(encoder_hidden_size=256, ar_hidden_size=256, norm_mode="layerNorm", ar_mode="LSTM",
                         ar_num_layers=1),
}

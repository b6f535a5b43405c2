"""Configuration of DeCoAR (S3PRL's `upstream/decoar_layers` and `upstream/decoar`).

S3PRL's `Decoar()` hard-codes its architecture (80-dim fbank input, a linear projection to 1024, then 4 forward and
4 backward single-layer LSTMs of width 1024) and its frontend (`upstream/decoar_layers/audio.py`: S3PRL's APC fbank
with its defaults). The checkpoint holds no config: the converter reads the sizes from the weights' shapes.

S3PRL's two hub names load the same checkpoint: `decoar_layers` returns every depth's output, `decoar` (its older
expert, one 4-layer `nn.LSTM` per direction) only the last one. Which one a converted model reproduces is
`last_layer_only`, set by the converter from the name it converts for: the checkpoint cannot tell.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig
from ...frontends.fbank_cmvn import DEFAULT_AUDIO_CONFIG, FRAME_SHIFT_SAMPLES


@strict
class S3prlDecoarConfig(UpstreamConfig):
    """Architecture of a DeCoAR upstream.

    Args:
        hidden_size: Width of the projection and of every LSTM (S3PRL: 1024, hard-coded).
        num_hidden_layers: LSTM layers in each direction (S3PRL: 4, hard-coded).
        last_layer_only: Return only the last depth's state, as S3PRL's `decoar` entry does (`decoar_layers`
            returns one state per depth).
        s3prl_nan_cmvn: Reproduce S3PRL's CMVN of an utterance that gives one feature frame: NaN (the unbiased std
            of one value), spreading to its hidden states. Off by default: that frame comes out as zeros and the
            hidden states stay finite; longer utterances are S3PRL's numbers either way.

    The input is S3PRL's fixed frontend: 80-bin kaldi fbank (hamming) + CMVN per utterance.

    Example:
        >>> config = S3prlDecoarConfig(hidden_size=16, num_hidden_layers=2)
        >>> config.num_layers, config.hidden_sizes
        (2, (32, 32))
        >>> S3prlDecoarConfig(hidden_size=16, num_hidden_layers=2, last_layer_only=True).num_layers
        1
    """

    model_type = "s3prl_decoar"

    hidden_size: int = 1024
    num_hidden_layers: int = 4
    last_layer_only: bool = False
    s3prl_nan_cmvn: bool = False

    def validate_architecture(self):
        """At least one layer."""
        if self.num_hidden_layers < 1 or self.hidden_size < 1:
            raise ValueError(f"need hidden_size >= 1 and num_hidden_layers >= 1, got {self.hidden_size} and "
                             f"{self.num_hidden_layers}")

    @property
    def audio_config(self) -> dict:
        """S3PRL's fixed frontend (`create_transform()` without a config)."""
        return dict(DEFAULT_AUDIO_CONFIG)

    @property
    def feature_dim(self) -> int:
        """Mel bins of the frontend, the projection's input size (80)."""
        return DEFAULT_AUDIO_CONFIG["feat_dim"]

    @property
    def num_layers(self) -> int:
        return 1 if self.last_layer_only else self.num_hidden_layers

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        # forward and backward outputs concatenated
        return (2 * self.hidden_size,) * self.num_layers

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (FRAME_SHIFT_SAMPLES,) * self.num_layers


# What S3PRL's Decoar() hard-codes (upstream/decoar_layers/decoar.py, upstream/decoar/decoar.py); the released
# checkpoint's weights, read by the converter, must have these shapes for S3PRL to load them. Both names load that
# one checkpoint.
REFERENCE_CONFIGS: dict[str, dict] = {
    "decoar_layers": dict(hidden_size=1024, num_hidden_layers=4),
    "decoar": dict(hidden_size=1024, num_hidden_layers=4, last_layer_only=True),
}

"""Configuration of NPC, Non-Autoregressive Predictive Coding (S3PRL's `upstream/npc`).

The network is S3PRL's `NPC(feat_dim, **paras)`: `n_blocks` conv blocks (conv k3, BN, activation, 1x1 conv, BN,
residual, activation), a masked conv after each block (after the last only with `disable_cross_layer`) whose
outputs are summed, an optional VQ layer or bottleneck, and a linear `postnet`. The fields keep the names of the
checkpoint's `config.model.paras`; `audio_config` is its `config.data.audio`.
"""

from __future__ import annotations

import copy

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig
from ..apc.configuration_apc import APC_AUDIO, normalize_vq_config
from ...frontends.fbank_cmvn import FRAME_SHIFT_SAMPLES, normalize_audio_config

ACTIVATIONS = ("relu", "tanh")


@strict
class S3prlNpcConfig(UpstreamConfig):
    """Architecture of an NPC upstream, with S3PRL's parameter names.

    Args:
        hidden_size: Width of every block and masked conv.
        n_blocks: Conv blocks.
        kernel_size: Kernel of the masked convs (odd).
        mask_size: Width of the zeroed centre of the first masked conv's kernel (odd); block i masks
            `mask_size + 2 * (i + 1)` taps.
        dropout: Dropout in each block.
        residual: Residual connection in every block but the first.
        batch_norm: BatchNorm after both convs of each block.
        activate: The blocks' activation, "relu" or "tanh".
        disable_cross_layer: Only the last block has a masked conv.
        dim_bottleneck: Width of a linear bottleneck applied to the summed masked convs (the last hidden state),
            or None. S3PRL forbids it together with VQ.
        vq: S3PRL's `vq` paras (`codebook_size` and `code_dim` per group, `gumbel_temperature`), or None. VQ only
            feeds the `postnet`: no hidden state goes through it.
        audio_config: The checkpoint's S3PRL `data.audio` config (kaldi fbank + CMVN); 80 mel bins by default.
        s3prl_nan_cmvn: Reproduce S3PRL's CMVN of an utterance that gives one feature frame: NaN (the unbiased std
            of one value), spreading to its hidden states. Off by default: that frame comes out as zeros and the
            hidden states stay finite; longer utterances are S3PRL's numbers either way.

    Example:
        >>> config = S3prlNpcConfig(hidden_size=16, n_blocks=2)
        >>> config.num_layers, config.hidden_sizes
        (5, (16, 16, 16, 16, 16))
    """

    model_type = "s3prl_npc"

    hidden_size: int = 512
    n_blocks: int = 4
    kernel_size: int = 15
    mask_size: int = 5
    dropout: float | int = 0.1
    residual: bool = True
    batch_norm: bool = True
    activate: str = "relu"
    disable_cross_layer: bool = False
    dim_bottleneck: int | None = None
    vq: dict | None = None
    audio_config: dict | None = None
    s3prl_nan_cmvn: bool = False

    def __post_init__(self, **kwargs):
        audio = copy.deepcopy(self.audio_config) if self.audio_config is not None else APC_AUDIO
        self.audio_config = normalize_audio_config(audio)
        self.vq = normalize_vq_config(self.vq, self.hidden_size)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """S3PRL's NPC asserts."""
        if self.kernel_size % 2 == 0 or self.mask_size % 2 == 0:
            raise ValueError(f"kernel_size {self.kernel_size} and mask_size {self.mask_size} must be odd")
        if self.n_blocks < 1:
            raise ValueError("NPC needs at least one block")
        if self.kernel_size - (self.mask_size + 2 * self.n_blocks) <= 0:
            raise ValueError(f"the last masked conv would mask {self.mask_size + 2 * self.n_blocks} of "
                             f"{self.kernel_size} taps (S3PRL: 'Mask > kernel somewhere in the model')")
        if self.activate not in ACTIVATIONS:
            raise ValueError(f"activate must be one of {ACTIVATIONS}, got {self.activate!r}")
        if self.dim_bottleneck is not None and self.vq is not None:
            raise ValueError("dim_bottleneck and vq cannot both be set (S3PRL asserts it)")

    @property
    def feature_dim(self) -> int:
        """Mel bins of the fbank frontend, the first block's input size."""
        return self.audio_config["feat_dim"]

    @property
    def masked_blocks(self) -> tuple[int, ...]:
        """Indices of the blocks followed by a masked conv."""
        return (self.n_blocks - 1,) if self.disable_cross_layer else tuple(range(self.n_blocks))

    @property
    def num_layers(self) -> int:
        # each block's output, each masked conv's output, then their sum
        return self.n_blocks + len(self.masked_blocks) + 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        last = self.dim_bottleneck if self.dim_bottleneck is not None else self.hidden_size
        return (self.hidden_size,) * (self.num_layers - 1) + (last,)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (FRAME_SHIFT_SAMPLES,) * self.num_layers


# The released architecture: S3PRL's recipe pretrain/npc/config_model.yaml ("All hyper-parameters taken from the
# official implementation", Alexander-H-Liu/NPC config/self_supervised/npc_example.yml). The released checkpoints
# could not be read here; a conversion always takes the architecture from the checkpoint itself.
_NPC = dict(hidden_size=512, n_blocks=4, kernel_size=15, mask_size=5, dropout=0.1, residual=True, batch_norm=True,
            activate="relu", disable_cross_layer=False,
            vq={"codebook_size": [64, 64, 64, 64], "code_dim": [128, 128, 128, 128], "gumbel_temperature": 1.0},
            audio_config={**APC_AUDIO, "cmvn": True})
REFERENCE_CONFIGS: dict[str, dict] = {"npc_360hr": dict(_NPC), "npc_960hr": dict(_NPC)}

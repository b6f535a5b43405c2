"""Configuration of APC and VQ-APC (S3PRL's `upstream/apc`; `upstream/vq_apc` runs the same expert).

The network is S3PRL's `APC(feat_dim, num_layers, hidden_size, dropout, residual, vq)`: single-layer GRUs stacked
`num_layers` deep, an optional VQ layer after the last one (VQ-APC) and a linear `postnet`. The fields keep the
names of the checkpoint's `config.model.paras`, and `audio_config` is its `config.data.audio`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from huggingface_hub.dataclasses import strict

from ...modeling_utils import UpstreamConfig
from ...frontends.fbank_cmvn import FRAME_SHIFT_SAMPLES, normalize_audio_config

# S3PRL's expert hooks the inputs of rnn_layers[1] and rnn_layers[2]: fewer layers fail there.
MIN_LAYERS = 3
NUM_HIDDEN_STATES = 3


def normalize_vq_config(vq: Mapping | None, hidden_size: int) -> dict | None:
    """Check S3PRL's `vq` paras (`codebook_size`, `code_dim` lists, `gumbel_temperature`) as APC / NPC assert them.

    Example:
        >>> normalize_vq_config({"codebook_size": [8], "code_dim": [16], "gumbel_temperature": 0.5}, 16)
        {'codebook_size': [8], 'code_dim': [16], 'gumbel_temperature': 0.5}
    """
    if vq is None:
        return None
    if not isinstance(vq, Mapping) or set(vq) != {"codebook_size", "code_dim", "gumbel_temperature"}:
        raise ValueError(f"vq must hold exactly codebook_size, code_dim and gumbel_temperature (S3PRL's VQLayer "
                         f"arguments), got {vq!r}")
    sizes, dims = [int(v) for v in vq["codebook_size"]], [int(v) for v in vq["code_dim"]]
    if len(sizes) != len(dims) or not sizes or sum(dims) != hidden_size:
        raise ValueError(f"vq groups: codebook_size {sizes} and code_dim {dims} must pair up and the code dims sum "
                         f"to the hidden size {hidden_size} (S3PRL asserts both)")
    return {"codebook_size": sizes, "code_dim": dims, "gumbel_temperature": float(vq["gumbel_temperature"])}


@strict
class S3prlApcConfig(UpstreamConfig):
    """Architecture of an APC / VQ-APC upstream, with S3PRL's parameter names.

    Args:
        num_layers_rnn: Depth of the GRU stack (S3PRL's `num_layers`; at least 3, as S3PRL's expert needs).
        hidden_size: GRU width.
        dropout: Dropout after each GRU layer.
        residual: Add each layer's input to its output, from the second layer on.
        vq: S3PRL's `vq` paras (`codebook_size` and `code_dim` per group, `gumbel_temperature`) for VQ-APC, or None.
            The VQ layer quantises the last layer's output for pretraining only: no hidden state goes through it.
        audio_config: The checkpoint's S3PRL `data.audio` config (kaldi fbank + CMVN); 80 mel bins by default.
        s3prl_nan_cmvn: Reproduce S3PRL's CMVN of an utterance that gives one feature frame: NaN (the unbiased std
            of one value), spreading to its hidden states. Off by default: that frame comes out as zeros and the
            hidden states stay finite; longer utterances are S3PRL's numbers either way.

    Example:
        >>> config = S3prlApcConfig(hidden_size=32)
        >>> config.num_layers, config.hidden_sizes, config.feature_dim
        (3, (32, 32, 32), 80)
    """

    model_type = "s3prl_apc"

    num_layers_rnn: int = 3
    hidden_size: int = 512
    dropout: float | int = 0.1
    residual: bool = True
    vq: dict | None = None
    audio_config: dict | None = None
    s3prl_nan_cmvn: bool = False

    def __post_init__(self, **kwargs):
        audio = copy.deepcopy(self.audio_config) if self.audio_config is not None else APC_AUDIO
        self.audio_config = normalize_audio_config(audio)
        self.vq = normalize_vq_config(self.vq, self.hidden_size)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Reject a GRU stack that S3PRL's expert cannot hook."""
        if self.num_layers_rnn < MIN_LAYERS:
            raise ValueError(f"num_layers_rnn={self.num_layers_rnn}: S3PRL's APC expert hooks rnn_layers[1] and [2], "
                             f"so it needs at least {MIN_LAYERS} layers")

    @property
    def feature_dim(self) -> int:
        """Mel bins of the fbank frontend, the GRU stack's input size."""
        return self.audio_config["feat_dim"]

    @property
    def num_layers(self) -> int:
        return NUM_HIDDEN_STATES

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,) * NUM_HIDDEN_STATES

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (FRAME_SHIFT_SAMPLES,) * NUM_HIDDEN_STATES


# pretrain/apc/config_model.yaml (no `cmvn` key: create_transform's default True applies).
APC_AUDIO = {"feat_type": "fbank", "feat_dim": 80, "frame_length": 25, "frame_shift": 10, "decode_wav": False}
# The released architectures, from S3PRL's recipes pretrain/apc/config_model.yaml and pretrain/vq_apc/config_model.yaml
# (the latter: "All hyper-parameters taken from the official implementation", iamyuanchung/VQ-APC@96230cc). The
# released checkpoints could not be read here; a conversion always takes the architecture from the checkpoint itself.
_APC = dict(num_layers_rnn=3, hidden_size=512, dropout=0.1, residual=True, audio_config=APC_AUDIO)
_VQ = dict(vq={"codebook_size": [512], "code_dim": [512], "gumbel_temperature": 0.5},
           audio_config={**APC_AUDIO, "cmvn": True})
REFERENCE_CONFIGS: dict[str, dict] = {
    "apc_360hr": dict(_APC),
    "apc_960hr": dict(_APC),
    "vq_apc_360hr": {**_APC, **_VQ},
    "vq_apc_960hr": {**_APC, **_VQ},
}

"""Modified CPC with S3PRL's hidden states (S3PRL's `upstream/cpc/{expert,model}.py`).

S3PRL feeds the zero-padded batch of raw waveforms (no normalisation, no mask) to `CPCModel`:

1. the encoder: five convs (kernel/stride/padding 10/5/3, 8/4/2, then 4/2/1 three times), each followed by its
   normalisation and a ReLU;
2. the autoregressive RNN over the whole padded batch, from a zero state (backwards in time when `reverse`);
3. hidden states, from the expert's hooks: the encoder's output (B, T, C) and the RNN's output.

Every frame, padded ones included, sees the batch's zero padding, as in S3PRL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...modeling_utils import UpstreamPreTrainedModel
from ..rnn_alignment import AlignedRnnWeightsMixin
from .configuration_modified_cpc import S3prlModifiedCpcConfig

# (kernel, stride, padding) of CPCEncoder's convs.
ENCODER_CONVS = ((10, 5, 3), (8, 4, 2), (4, 2, 1), (4, 2, 1), (4, 2, 1))
RNNS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}


class S3prlChannelNorm(nn.Module):
    """S3PRL's `ChannelNorm` (CPC_audio's "layerNorm"): normalise each frame over channels with the unbiased variance,
    then a per-channel affine; (B, C, T) in and out."""

    def __init__(self, num_features: int, epsilon: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, num_features, 1))
        self.bias = nn.Parameter(torch.zeros(1, num_features, 1))
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype, x = x.dtype, x.float()  # statistics in fp32 under a reduced compute dtype
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True)
        return ((x - mean) * torch.rsqrt(var + self.epsilon) * self.weight + self.bias).to(dtype)


def _norm_layer(mode: str, channels: int) -> nn.Module:
    if mode == "layerNorm":
        return S3prlChannelNorm(channels)
    if mode == "batchNorm":
        return nn.BatchNorm1d(channels)
    if mode == "instanceNorm":
        return nn.InstanceNorm1d(channels, affine=True)
    return nn.Identity()


class S3prlCpcEncoder(nn.Module):
    """S3PRL's `CPCEncoder`: (B, 1, samples) -> (B, C, samples // 160)."""

    def __init__(self, config: S3prlModifiedCpcConfig):
        super().__init__()
        channels = config.encoder_hidden_size
        for index, (kernel, stride, padding) in enumerate(ENCODER_CONVS):
            conv = nn.Conv1d(1 if index == 0 else channels, channels, kernel, stride=stride, padding=padding)
            self.add_module(f"conv{index}", conv)
            self.add_module(f"batchNorm{index}", _norm_layer(config.norm_mode, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(len(ENCODER_CONVS)):
            x = F.relu(getattr(self, f"batchNorm{index}")(getattr(self, f"conv{index}")(x)))
        return x


class S3prlCpcAR(nn.Module):
    """S3PRL's `CPCAR`: an RNN from a zero state over (B, T, C) frames, optionally backwards in time."""

    def __init__(self, config: S3prlModifiedCpcConfig):
        super().__init__()
        self.baseNet = RNNS[config.ar_mode](config.encoder_hidden_size, config.ar_hidden_size,  # noqa: N815
                                            num_layers=config.ar_num_layers, batch_first=True)
        self.reverse = config.reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reverse:
            x = torch.flip(x, [1])
        x = self.baseNet(x)[0]
        return torch.flip(x, [1]) if self.reverse else x


class S3prlModifiedCpcModel(AlignedRnnWeightsMixin, UpstreamPreTrainedModel):
    """Modified CPC upstream returning S3PRL's 2 hidden states: the encoder's and the autoregressive RNN's outputs.

    Example:
        >>> from s3prl_hf.models.modified_cpc import S3prlModifiedCpcConfig, S3prlModifiedCpcModel
        >>> model = S3prlModifiedCpcModel(S3prlModifiedCpcConfig(encoder_hidden_size=16, ar_hidden_size=16)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> [hs.shape for hs in all_hs], all_hs_len[1].tolist()
        ([torch.Size([2, 100, 16]), torch.Size([2, 100, 16])], [100, 50])
    """

    config_class = S3prlModifiedCpcConfig
    base_model_prefix = "s3prl_modified_cpc"
    # the recurrent state stays fp32 under a reduced compute dtype (bf16 erodes long memories); the conv encoder
    # does not carry state and runs in the compute dtype
    _keep_in_fp32_modules_strict = ["gAR"]

    def __init__(self, config: S3prlModifiedCpcConfig):
        super().__init__(config)
        self.gEncoder = S3prlCpcEncoder(config)  # noqa: N815 (S3PRL's module names keep the weights' keys)
        self.gAR = S3prlCpcAR(config) if config.ar_mode != "no_ar" else nn.Identity()  # noqa: N815
        self.post_init()

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        encoded = self.gEncoder(wavs.to(self.dtype).unsqueeze(1)).transpose(1, 2)
        if num_hidden_states < 2:
            return [encoded]
        recurrent = next(self.gAR.parameters(), encoded).dtype  # fp32 when kept so (no parameters: "no_ar")
        return [encoded, self.gAR(encoded.to(recurrent)).to(encoded.dtype)]

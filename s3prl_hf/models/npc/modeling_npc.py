"""NPC with S3PRL's hidden states (S3PRL's `upstream/npc/{expert,npc,audio,vq}.py`).

S3PRL:

1. kaldi fbank + CMVN per utterance, zero-padded into a batch (`s3prl_hf/frontends/fbank_cmvn.py`); no lengths reach the
   network, so the convolutions see the zero padding as S3PRL's do;
2. conv blocks, each followed by a masked conv (a conv whose kernel centre is zeroed, then tanh); the masked convs'
   outputs are summed (only the last block's counts with `disable_cross_layer`), then optionally go through a
   linear bottleneck;
3. hidden states, from the expert's hooks in the order they fire: block 0's output, masked conv 0's output, block
   1's output, ..., then the model's returned feature (the sum, or the bottleneck's output). VQ is not in them.
"""

from __future__ import annotations

import torch
from torch import nn

from ...frontends.fbank_cmvn import S3prlFbankFrontend
from ..apc.modeling_apc import S3prlFbankPreTrainedModel, S3prlVQLayer, vector_quantize
from .configuration_npc import S3prlNpcConfig

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class S3prlNpcConvBlock(nn.Module):
    """S3PRL's `ConvBlock`: conv k3, BN, act, 1x1 conv, BN, dropout, residual, act; (B, C, T) in and out."""

    def __init__(self, input_size: int, config: S3prlNpcConfig, residual: bool):
        super().__init__()
        hidden = config.hidden_size
        self.residual = residual
        self.act = ACTIVATIONS[config.activate]()
        self.conv = nn.Conv1d(input_size, hidden, kernel_size=3, stride=1, padding=1)
        self.linear = nn.Conv1d(hidden, hidden, kernel_size=1, stride=1, padding=0)
        if config.batch_norm:
            self.bn1 = nn.BatchNorm1d(hidden)
            self.bn2 = nn.BatchNorm1d(hidden)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        out = self.conv(feat)
        if hasattr(self, "bn1"):
            out = self.bn1(out)
        out = self.linear(self.act(out))
        if hasattr(self, "bn2"):
            out = self.bn2(out)
        out = self.dropout(out)
        if self.residual:
            out = out + feat
        return self.act(out)


class S3prlNpcMaskConvBlock(nn.Module):
    """S3PRL's `MaskConvBlock`: a conv whose `mask_size` central taps are zeroed, then tanh; (B, C, T) -> (B, T, C).

    S3PRL stores the mask as a buffer of ones and zeros and multiplies it into the weight; here the same taps are
    zeroed on the fly (an exact product by 1 or 0), so the mask is neither stored nor left uninitialised on load.
    """

    def __init__(self, hidden_size: int, kernel_size: int, mask_size: int):
        super().__init__()
        self.pad_size = (kernel_size - 1) // 2
        self.conv = nn.Conv1d(hidden_size, hidden_size, kernel_size=kernel_size, padding=self.pad_size)
        self.mask_head = (kernel_size - mask_size) // 2
        self.mask_tail = self.mask_head + mask_size

    def mask(self) -> torch.Tensor:
        """S3PRL's `conv_mask`: ones with the central taps zeroed, shaped like the conv weight."""
        mask = torch.ones_like(self.conv.weight)
        mask[:, :, self.mask_head : self.mask_tail] = 0
        return mask

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        weight = self.conv.weight * self.mask()
        out = nn.functional.conv1d(feat, weight, bias=self.conv.bias, padding=self.pad_size)
        return torch.tanh(out.permute(0, 2, 1))


class S3prlNpcModel(S3prlFbankPreTrainedModel):
    """NPC upstream returning S3PRL's hidden states: `n_blocks` block outputs interleaved with the masked convs'
    outputs, then their sum.

    The VQ layers (or the bottleneck's input side) and the `postnet` keep the checkpoint's weights; only the
    bottleneck enters a hidden state.

    Example:
        >>> from s3prl_hf.models.npc import S3prlNpcConfig, S3prlNpcModel
        >>> model = S3prlNpcModel(S3prlNpcConfig(hidden_size=16, n_blocks=2)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[-1].shape
        (5, torch.Size([2, 100, 16]))
    """

    config_class = S3prlNpcConfig
    base_model_prefix = "s3prl_npc"
    _modules_outside_hidden_states = ("vq_layers", "postnet")

    def __init__(self, config: S3prlNpcConfig):
        super().__init__(config)
        self.frontend = S3prlFbankFrontend(config.audio_config, nan_on_one_frame=config.s3prl_nan_cmvn)
        hidden = config.hidden_size
        self.blocks = nn.ModuleList([
            S3prlNpcConvBlock(config.feature_dim if i == 0 else hidden, config, residual=i > 0 and config.residual)
            for i in range(config.n_blocks)])
        # S3PRL keeps None in the list for blocks without a masked conv, so the weights keep their block index.
        self.masked_convs = nn.ModuleList([
            S3prlNpcMaskConvBlock(hidden, config.kernel_size, config.mask_size + 2 * (i + 1))
            if i in config.masked_blocks else None for i in range(config.n_blocks)])
        if config.vq is not None:
            self.vq_layers = nn.ModuleList([S3prlVQLayer(dim, size, dim)
                                            for size, dim in zip(config.vq["codebook_size"], config.vq["code_dim"])])
        if config.dim_bottleneck is not None:
            self.ae_bottleneck = nn.Linear(hidden, config.dim_bottleneck, bias=False)
        self.postnet = nn.Linear(config.dim_bottleneck or hidden, config.feature_dim)
        self.post_init()

    def quantize(self, features: torch.Tensor) -> torch.Tensor:
        """The VQ codes of (..., hidden_size) features (e.g. the last hidden state), as S3PRL's eval-mode VQ."""
        if self.config.vq is None:
            raise ValueError("this NPC model has no VQ layers")
        return vector_quantize(self.vq_layers, self.config.vq["code_dim"], features)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, _ = self.frontend(wavs, wavs_len)
        unmasked = features.to(self.dtype).transpose(1, 2)  # (B, C, T), as S3PRL's permute
        states, summed = [], None
        for block, masked_conv in zip(self.blocks, self.masked_convs):
            if len(states) >= num_hidden_states:
                return states
            unmasked = block(unmasked)
            states.append(unmasked.transpose(1, 2))
            if masked_conv is not None:
                masked = masked_conv(unmasked)
                states.append(masked)
                summed = masked if summed is None else summed + masked
        if self.config.dim_bottleneck is not None:
            summed = self.ae_bottleneck(summed)
        return states + [summed]

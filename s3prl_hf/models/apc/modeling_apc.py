"""APC and VQ-APC with S3PRL's hidden states (S3PRL's `upstream/apc/{expert,apc,audio,vq}.py`).

S3PRL:

1. kaldi fbank + CMVN per utterance, zero-padded into a batch (`s3prl_hf/frontends/fbank_cmvn.py`);
2. the GRU stack on the packed batch (`pack_padded_sequence` with the utterances' frame counts): layer i reads the
   previous layer's output, dropout follows each layer, and from the second layer on the layer's input is added
   (`residual`); VQ-APC quantises the last layer's output for the `postnet` only;
3. hidden states, from the expert's hooks: the inputs of `rnn_layers[1]` and `rnn_layers[2]` (the outputs of layers
   0 and 1) and the model's returned feature (the last layer's output, before VQ). Always 3, whatever the depth.

Padded frames are zero in every hidden state, as `pad_packed_sequence` leaves them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import initialization as init

from ...frontends import init_frontend_buffers
from ...modeling_utils import UpstreamPreTrainedModel
from ..rnn_alignment import AlignedRnnWeightsMixin
from .configuration_apc import NUM_HIDDEN_STATES, S3prlApcConfig
from ...frontends.fbank_cmvn import S3prlFbankFrontend


class S3prlVQLayer(nn.Module):
    """S3PRL's `VQLayer` (upstream/apc/vq.py) in inference mode: the arg-max code of each frame.

    Example:
        >>> layer = S3prlVQLayer(input_size=16, codebook_size=8, code_dim=16)
        >>> logits, codes = layer(torch.randn(2, 5, 16))
        >>> logits.shape, codes.shape
        (torch.Size([2, 5, 8]), torch.Size([2, 5, 16]))
    """

    def __init__(self, input_size: int, codebook_size: int, code_dim: int):
        super().__init__()
        self.vq_logits = nn.Linear(input_size, codebook_size)
        self.codebook_CxE = nn.Linear(codebook_size, code_dim, bias=False)  # noqa: N815 (S3PRL's name)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, codes) of (..., input_size) inputs, S3PRL's `testing=True` branch."""
        logits = self.vq_logits(inputs)
        onehot = torch.zeros_like(logits).scatter_(-1, logits.argmax(dim=-1, keepdim=True), 1.0)
        return logits, self.codebook_CxE(onehot)


def vector_quantize(vq_layers: nn.ModuleList, code_dims: list[int], features: torch.Tensor) -> torch.Tensor:
    """Quantise (..., sum(code_dims)) features group by group with S3PRL's VQ layers; returns the codes."""
    codes, offset = [], 0
    for layer, dim in zip(vq_layers, code_dims):
        codes.append(layer(features[..., offset : offset + dim])[1])
        offset += dim
    return torch.cat(codes, dim=-1)


class S3prlFbankPreTrainedModel(AlignedRnnWeightsMixin, UpstreamPreTrainedModel):
    """Shared by the families with S3PRL's fbank frontend: recomputed frontend buffers, realigned RNN weights."""

    def _init_weights(self, module):
        super()._init_weights(module)
        # Windows and filterbanks are not saved; transformers leaves them uninitialised after loading.
        init_frontend_buffers(module, init.copy_)

    def output_frames(self, num_samples: int) -> int:
        # the longest utterance gives the most fbank frames; the networks keep the frame count
        return self.frontend.num_frames(self.padded_samples(num_samples))


class S3prlApcModel(S3prlFbankPreTrainedModel):
    """APC / VQ-APC upstream returning S3PRL's 3 hidden states.

    The VQ layers (VQ-APC) and the `postnet` are kept with the checkpoint's weights but no hidden state uses them;
    `quantize` applies the VQ layers as S3PRL does in eval mode.

    Example:
        >>> from s3prl_hf.models.apc import S3prlApcConfig, S3prlApcModel
        >>> model = S3prlApcModel(S3prlApcConfig(hidden_size=16)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 100, 16]), [100, 50])
    """

    config_class = S3prlApcConfig
    base_model_prefix = "s3prl_apc"
    # Pretraining heads with the checkpoint's weights that no hidden state depends on.
    _modules_outside_hidden_states = ("vq_layers", "postnet")
    # A bf16 GRU state erodes the memory its gates keep over hundreds of frames, and the GRU stack is nearly all of
    # APC's compute: under a reduced compute dtype the whole model stays fp32 (see s3prl_hf.precision).
    _keep_in_fp32_modules_strict = ["rnn_layers", "vq_layers", "postnet"]

    def __init__(self, config: S3prlApcConfig):
        super().__init__(config)
        self.frontend = S3prlFbankFrontend(config.audio_config, nan_on_one_frame=config.s3prl_nan_cmvn)
        in_sizes = [config.feature_dim] + [config.hidden_size] * (config.num_layers_rnn - 1)
        self.rnn_layers = nn.ModuleList([nn.GRU(size, config.hidden_size, batch_first=True) for size in in_sizes])
        self.rnn_dropout = nn.Dropout(config.dropout)
        if config.vq is not None:
            self.vq_layers = nn.ModuleList([
                S3prlVQLayer(dim, size, dim)
                for size, dim in zip(config.vq["codebook_size"], config.vq["code_dim"])])
        self.postnet = nn.Linear(config.hidden_size, config.feature_dim)
        self.post_init()

    def quantize(self, features: torch.Tensor) -> torch.Tensor:
        """VQ-APC's codes of (..., hidden_size) features (e.g. the last hidden state), as S3PRL's eval-mode VQ.

        Example:
            >>> codes = model.quantize(all_hs[-1])  # doctest: +SKIP
        """
        if self.config.vq is None:
            raise ValueError("this APC model has no VQ layers (not a VQ-APC checkpoint)")
        return vector_quantize(self.vq_layers, self.config.vq["code_dim"], features)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, lengths = self.frontend(wavs, wavs_len)
        total = features.shape[1]
        cpu_lengths = lengths.cpu()
        # hidden state k < 2 is the output of layer k; the last one needs the whole stack
        depth = num_hidden_states if num_hidden_states < NUM_HIDDEN_STATES else len(self.rnn_layers)
        inputs = features.to(self.dtype)
        outputs = []
        for index, layer in enumerate(self.rnn_layers[:depth]):
            packed = pack_padded_sequence(inputs, cpu_lengths, batch_first=True, enforce_sorted=False)
            hidden, _ = pad_packed_sequence(layer(packed)[0], batch_first=True, total_length=total)
            hidden = self.rnn_dropout(hidden)
            if self.config.residual and index > 0:
                hidden = hidden + inputs
            outputs.append(hidden)
            inputs = hidden
        # the inputs of rnn_layers[1] and [2], then the model's feature
        return (outputs[:2] + outputs[-1:])[:num_hidden_states]

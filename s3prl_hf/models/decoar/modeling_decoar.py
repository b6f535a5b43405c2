"""DeCoAR with S3PRL's hidden states (S3PRL's `upstream/decoar_layers/{expert,decoar,audio}.py` and `upstream/decoar`).

S3PRL:

1. kaldi fbank + CMVN per utterance (80 bins), zero-padded into a batch;
2. a linear projection, then a stack of single-layer forward LSTMs on the packed batch (each reading the previous
   one's output) and a stack of backward LSTMs on each utterance reversed within its length;
3. hidden states: for each depth k, `cat(forward_k, backward_k re-reversed)`, zero on padded frames.

S3PRL's `decoar` expert runs the same checkpoint as one 4-layer `nn.LSTM` per direction (the same computation as the
stack) and returns only the last depth's state (`config.last_layer_only`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ...frontends.fbank_cmvn import S3prlFbankFrontend, normalize_audio_config
from ..apc.modeling_apc import S3prlFbankPreTrainedModel
from .configuration_decoar import S3prlDecoarConfig


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each (T, C) sequence of a (B, T, C) batch over its first `lengths[b]` frames (S3PRL's `flipBatch`).

    Example:
        >>> reverse_within_lengths(torch.arange(4.0).view(1, 4, 1), torch.tensor([3])).flatten().tolist()
        [2.0, 1.0, 0.0, 3.0]
    """
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[2]))


class S3prlDecoarModel(S3prlFbankPreTrainedModel):
    """DeCoAR upstream returning S3PRL's hidden states: one (forward, backward) LSTM pair output per depth.

    Example:
        >>> from s3prl_hf.models.decoar import S3prlDecoarConfig, S3prlDecoarModel
        >>> model = S3prlDecoarModel(S3prlDecoarConfig(hidden_size=8, num_hidden_layers=2)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape
        (2, torch.Size([2, 100, 16]))
    """

    config_class = S3prlDecoarConfig
    base_model_prefix = "s3prl_decoar"
    # bf16 LSTM cell states lose what the forget gates keep over long spans, and the LSTMs are nearly all of the
    # compute: under a reduced compute dtype the whole model stays fp32 (see s3prl_hf.precision).
    _keep_in_fp32_modules_strict = ["post_extract_proj", "forward_lstms", "backward_lstms"]

    def __init__(self, config: S3prlDecoarConfig):
        super().__init__(config)
        self.frontend = S3prlFbankFrontend(normalize_audio_config(config.audio_config),
                                           nan_on_one_frame=config.s3prl_nan_cmvn)
        hidden = config.hidden_size
        self.post_extract_proj = nn.Linear(config.feature_dim, hidden)
        self.forward_lstms = nn.ModuleList([nn.LSTM(hidden, hidden, batch_first=True)
                                            for _ in range(config.num_hidden_layers)])
        self.backward_lstms = nn.ModuleList([nn.LSTM(hidden, hidden, batch_first=True)
                                             for _ in range(config.num_hidden_layers)])
        self.post_init()

    @staticmethod
    def _run_stack(lstms, inputs: torch.Tensor, lengths: torch.Tensor, total: int) -> list[torch.Tensor]:
        packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        outputs = []
        for lstm in lstms:
            packed = lstm(packed)[0]
            outputs.append(pad_packed_sequence(packed, batch_first=True, total_length=total)[0])
        return outputs

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        if self.config.last_layer_only:  # the one state is the deepest: every layer runs
            return self._depth_states(wavs, wavs_len, self.config.num_hidden_layers)[-1:]
        return self._depth_states(wavs, wavs_len, num_hidden_states)

    def _depth_states(self, wavs, wavs_len, depth: int) -> list[torch.Tensor]:
        """The (forward, backward) output of each of the first `depth` depths."""
        features, lengths = self.frontend(wavs, wavs_len)
        total, cpu_lengths = features.shape[1], lengths.cpu()
        projected = self.post_extract_proj(features.to(self.dtype))
        forward = self._run_stack(self.forward_lstms[:depth], projected, cpu_lengths, total)
        reversed_inputs = reverse_within_lengths(projected, lengths)
        backward = self._run_stack(self.backward_lstms[:depth], reversed_inputs, cpu_lengths, total)
        return [torch.cat((fwd, reverse_within_lengths(bwd, lengths)), dim=-1) for fwd, bwd in zip(forward, backward)]

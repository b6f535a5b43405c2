"""ESPnet HuBERT with S3PRL's hidden states: torchaudio's wav2vec 2.0 / HuBERT network on transformers' modules.

S3PRL's `espnet_hubert` expert builds the model with ESPnet (`HubertTask.build_model_from_file`) and returns
`encoder.hubert_pretrain_model.wav2vec2.extract_features(wavs, wavs_len)[0]`: torchaudio's network, whose modules
compute what transformers' HuBERT modules compute (CNN feature extractor, feature LayerNorm + projection, weight-normed
positional conv with an even kernel's last frame dropped, post-LN or pre-LN layers, exact GELU, LayerNorm eps 1e-5).
It differs from S3PRL's fairseq HuBERT in what is returned and in how padding is masked:

- the hidden states are the outputs of the `num_hidden_layers` transformer layers, nothing else: no encoder input,
  and no final LayerNorm for pre-LN models (torchaudio applies that LayerNorm in `forward` only);
- the valid frames of an utterance are the conv stack's output length, in integer arithmetic clamped at 0 after each
  conv (`ConvLayerBlock`); projected features past it are zeroed and masked as keys (torchaudio adds -10000 to their
  attention scores). An utterance with no valid frame (under 400 samples in a longer batch) has every key masked,
  so it attends uniformly to all its frames, which are then all equal (zero features plus the positional conv's
  bias): attending to all of them unmasked is the same, and that is what is done here.
"""

from __future__ import annotations

import torch

from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Model
from .configuration_espnet_hubert import S3prlEspnetHubertConfig


class S3prlEspnetHubertModel(S3prlWav2Vec2Model):
    """ESPnet HuBERT upstream returning S3PRL's `num_hidden_layers` hidden states.

    Example:
        >>> from s3prl_hf.models.espnet_hubert import S3prlEspnetHubertConfig, S3prlEspnetHubertModel
        >>> model = S3prlEspnetHubertModel(S3prlEspnetHubertConfig(num_hidden_layers=2, hidden_size=32,
        ...                                num_attention_heads=4, intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (2, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlEspnetHubertConfig
    base_model_prefix = "s3prl_espnet_hubert"

    @property
    def _modules_outside_hidden_states(self) -> tuple[str, ...]:
        """Pre-LN models keep the encoder's final LayerNorm from the checkpoint, but no hidden state goes through it."""
        return ("encoder.layer_norm",) if self.config.do_stable_layer_norm else ()

    def _frame_lengths(self, wavs_len: torch.Tensor, padded_len: int, num_frames: int) -> torch.Tensor:
        """Valid frames per utterance: torchaudio's `ConvLayerBlock` length rule."""
        lengths = wavs_len
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            lengths = torch.clamp(torch.div(lengths - kernel, stride, rounding_mode="floor") + 1, min=0)
        return torch.clamp(lengths, max=num_frames)

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        features, valid = self._project_features(wavs, wavs_len)
        # an utterance without a valid frame attends uniformly to its (all equal) frames: make them all keys
        keys = valid | ~valid.any(dim=1, keepdim=True)
        hidden_states = self._encode(features, keys, num_hidden_states, needed=self._needed_frames(wavs_len, keys))
        return hidden_states[1:]  # layer outputs only: torchaudio's `extract_features` does not return the input

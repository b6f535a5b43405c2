"""HuBERT with S3PRL's hidden states: the wav2vec 2.0 network with fairseq HuBERT's frame padding rule.

Frames are masked with `HubertModel.forward_padding_mask`: the padded waveform is cut into one chunk of
`T_padded // T_frames` samples per frame, and a frame is padding only when its whole chunk is. This keeps
one frame more than the conv-length rule for many lengths, and changes every frame of the shorter
utterances in a padded batch, so it is reproduced exactly.
"""

from __future__ import annotations

import torch

from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Model
from .configuration_hubert import S3prlHubertConfig


class S3prlHubertModel(S3prlWav2Vec2Model):
    """HuBERT upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.hubert import S3prlHubertConfig, S3prlHubertModel
        >>> model = S3prlHubertModel(S3prlHubertConfig(num_hidden_layers=2, hidden_size=32,
        ...                          num_attention_heads=4, intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlHubertConfig
    base_model_prefix = "s3prl_hubert"

    def _frame_lengths(self, wavs_len: torch.Tensor, padded_len: int, num_frames: int) -> torch.Tensor:
        """Valid frames per utterance under fairseq HuBERT's all-chunk rule."""
        chunk = padded_len // num_frames
        return torch.clamp(torch.div(wavs_len + chunk - 1, chunk, rounding_mode="floor"), max=num_frames)

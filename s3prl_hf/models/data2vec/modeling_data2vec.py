"""data2vec (audio) with S3PRL's hidden states.

fairseq's data2vec audio model (S3PRL `upstream/data2vec/data2vec_model.py`) is wav2vec 2.0's network with a
positional conv stack (`pos_conv_depth` convs without weight norm, each followed by a parameter-free LayerNorm
and GELU: transformers' `Data2VecAudioPositionalConvEmbedding`) and an always-present feature projection. Its
hidden states, padding rule (conv-length) and final LayerNorm of pre-LN models are wav2vec 2.0's, so the model
is `S3prlWav2Vec2Model` with data2vec's config; its pretraining parts (`final_proj`, the EMA teacher) are not
part of any hidden state.
"""

from __future__ import annotations

from ..wav2vec2.modeling_wav2vec2 import S3prlWav2Vec2Model
from .configuration_data2vec import S3prlData2VecConfig


class S3prlData2VecModel(S3prlWav2Vec2Model):
    """data2vec upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> import torch
        >>> from s3prl_hf.models.data2vec import S3prlData2VecConfig, S3prlData2VecModel
        >>> model = S3prlData2VecModel(S3prlData2VecConfig(num_hidden_layers=2, hidden_size=32,
        ...                            num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 50, 32]), [50, 25])
    """

    config_class = S3prlData2VecConfig
    base_model_prefix = "s3prl_data2vec"

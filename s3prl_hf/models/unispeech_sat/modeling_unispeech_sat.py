"""UniSpeech-SAT with S3PRL's hidden states.

S3PRL runs UniSpeech-SAT with its WavLM code (`upstream/unispeech_sat/expert.py` imports `wavlm.WavLM`) with the
relative position bias off, which is fairseq HuBERT's network and frame padding rule exactly. transformers'
`UniSpeechSat*` modules are themselves generated from the wav2vec 2.0 modules (`modular_unispeech_sat.py`), so the
shared network is reused as it is; only the config and `model_type` are UniSpeech-SAT's.
"""

from __future__ import annotations

from ..hubert.modeling_hubert import S3prlHubertModel
from .configuration_unispeech_sat import S3prlUniSpeechSatConfig


class S3prlUniSpeechSatModel(S3prlHubertModel):
    """UniSpeech-SAT upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> import torch
        >>> from s3prl_hf.models.unispeech_sat import S3prlUniSpeechSatConfig, S3prlUniSpeechSatModel
        >>> model = S3prlUniSpeechSatModel(S3prlUniSpeechSatConfig(num_hidden_layers=2, hidden_size=32,
        ...                                num_attention_heads=4, intermediate_size=64)).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[-1].shape
        (3, torch.Size([2, 50, 32]))
    """

    config_class = S3prlUniSpeechSatConfig
    base_model_prefix = "s3prl_unispeech_sat"

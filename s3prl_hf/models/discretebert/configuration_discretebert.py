"""Configuration of Discrete BERT (S3PRL's `upstream/roberta`: RoBERTa over vq-wav2vec codes).

The upstream is a pipeline of two checkpoints: a vq-wav2vec model (`frontend_config`, the fields of
`S3prlWav2VecConfig`; only its feature extractor and quantiser run) turns the waveform into codeword indices, which
fairseq's dictionary maps to tokens, and a RoBERTa encoder (the other fields, with transformers' `RobertaConfig`
names, so transformers' RoBERTa modules are built from this config directly) runs over them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from huggingface_hub.dataclasses import strict

from ...modeling_utils import EncoderLayersConfig
from ..wav2vec.configuration_wav2vec import DOWNSAMPLE_RATE, REFERENCE_CONFIGS as WAV2VEC_REFERENCE_CONFIGS
from ..wav2vec.configuration_wav2vec import S3prlWav2VecConfig

# The architecture fields of the frontend (those S3prlWav2VecConfig declares itself).
FRONTEND_FIELDS = tuple(S3prlWav2VecConfig.__annotations__)


def normalize_frontend_config(frontend: Mapping | None) -> dict:
    """Validate a vq-wav2vec frontend config and return all its architecture fields (JSON-ready lists).

    Example:
        >>> normalize_frontend_config({"vq_type": "kmeans", "vq_vars": 8, "conv_dim": [16] * 7})["vq_vars"]
        8
    """
    frontend = dict(WAV2VEC_REFERENCE_CONFIGS["vq_wav2vec_kmeans"] if frontend is None else frontend)
    unknown = sorted(set(frontend) - set(FRONTEND_FIELDS))
    if unknown:
        raise ValueError(f"frontend_config has {unknown}, which are not fields of S3prlWav2VecConfig")
    config = S3prlWav2VecConfig(**copy.deepcopy(frontend))
    if config.vq_type == "none":
        raise ValueError("the frontend must quantise (vq_type 'kmeans' or 'gumbel'): its codeword indices are the "
                         "RoBERTa's tokens")
    out = {}
    for name in FRONTEND_FIELDS:
        value = getattr(config, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


@strict
class S3prlDiscreteBertConfig(EncoderLayersConfig):
    """Architecture of a Discrete BERT upstream (fairseq's RoBERTa option in brackets).

    Args:
        frontend_config: The vq-wav2vec tokeniser: the fields of `S3prlWav2VecConfig` (its context network is not
            used and has no weights here). Defaults to vq_wav2vec_kmeans's architecture.
        vocab_size: Tokens of fairseq's dictionary: `<s>`, `<pad>`, `</s>`, `<unk>`, dict.txt's entries, `<mask>`.
        num_code_tokens: How many of the dictionary's words are codeword tuples the frontend can produce
            ("i-j" for two groups); the model stores these and their tokens, every other tuple is `<unk>`.
        hidden_size: Encoder width (`encoder_embed_dim`).
        num_hidden_layers: Encoder layers (`encoder_layers`).
        num_attention_heads: Attention heads (`encoder_attention_heads`).
        intermediate_size: Feed-forward width (`encoder_ffn_embed_dim`).
        hidden_act: Feed-forward activation (`activation_fn`, in transformers' naming).
        hidden_dropout_prob: Dropout after embeddings, attention and feed-forward (`dropout`).
        attention_probs_dropout_prob: Dropout on attention weights (`attention_dropout`).
        max_positions: Longest token sequence the encoder takes (`max_positions`): longer ones are cut into
            chunks of this many tokens, each encoded on its own, as S3PRL's expert does.
        max_position_embeddings: Rows of the learned position table: `max_positions + pad_token_id + 1`.
        layer_norm_eps: Epsilon of every LayerNorm (fairseq uses 1e-5).
        bos_token_id, pad_token_id, eos_token_id, unk_token_id: fairseq's special tokens (0, 1, 2, 3).
        type_vocab_size: One (all-zero) token type: fairseq's RoBERTa has none.
        initializer_range: Std of the normal init of freshly built (not loaded) weights.

    Example:
        >>> config = S3prlDiscreteBertConfig(vocab_size=70, num_code_tokens=64, hidden_size=32, num_hidden_layers=2,
        ...                                  num_attention_heads=4, intermediate_size=64)
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates
        (3, (32, 32, 32), (160, 160, 160))
    """

    model_type = "s3prl_discretebert"

    frontend_config: dict | None = None
    vocab_size: int = 102405
    num_code_tokens: int = 102400
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    max_positions: int = 512
    max_position_embeddings: int = 514
    layer_norm_eps: float = 1e-5
    bos_token_id: int = 0
    pad_token_id: int = 1
    eos_token_id: int = 2
    unk_token_id: int = 3
    type_vocab_size: int = 1
    initializer_range: float = 0.02

    # what transformers' RoBERTa layers read besides the fields above: an encoder, no cross-attention
    is_decoder = False
    add_cross_attention = False

    def __post_init__(self, **kwargs):
        self.frontend_config = normalize_frontend_config(self.frontend_config)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Reject shapes the encoder cannot be built with."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                             f"{self.num_attention_heads}")
        specials = (self.bos_token_id, self.pad_token_id, self.eos_token_id, self.unk_token_id)
        if not all(0 <= token < self.vocab_size for token in specials):
            raise ValueError(f"special tokens {specials} must be below vocab_size {self.vocab_size}")
        frontend = self.frontend
        if not 0 <= self.num_code_tokens <= min(self.vocab_size, frontend.vq_vars ** frontend.vq_groups):
            raise ValueError(f"num_code_tokens {self.num_code_tokens} must be at most vocab_size {self.vocab_size} "
                             f"and the {frontend.vq_vars ** frontend.vq_groups} codeword tuples of the frontend")
        if self.max_positions < 1 or self.max_position_embeddings < self.max_positions + self.pad_token_id + 1:
            raise ValueError(f"max_position_embeddings {self.max_position_embeddings} must hold max_positions "
                             f"{self.max_positions} + pad_token_id {self.pad_token_id} + 1 rows (fairseq numbers "
                             f"positions from pad_token_id + 1)")

    @property
    def frontend(self) -> S3prlWav2VecConfig:
        """The frontend's config as an `S3prlWav2VecConfig`."""
        return S3prlWav2VecConfig(**self.frontend_config)

    @property
    def frame_stride(self) -> int:
        return DOWNSAMPLE_RATE


# The released architecture: RoBERTa BASE on vq_wav2vec_kmeans's codes (vq-wav2vec paper, arXiv:1910.05453, §4.2:
# BERT base, 12 layers, 768 wide, 12 heads, FFN 3072) with fairseq's default 512 positions. The dictionary's size is
# not known here (the released dict.txt was not inspected); the default vocab_size is the largest a 2 x 320 codebook
# can need (every code pair + 5 specials: num_code_tokens 102400), so a parameter count from this config is an upper
# bound. A converted
# checkpoint always takes its architecture and dictionary from its own files.
REFERENCE_CONFIGS: dict[str, dict] = {
    "vq_wav2vec_kmeans_roberta": dict(frontend_config=WAV2VEC_REFERENCE_CONFIGS["vq_wav2vec_kmeans"]),
}

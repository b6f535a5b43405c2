"""Discrete BERT with S3PRL's hidden states (S3PRL's `upstream/roberta/{hubconf,expert}.py`), on transformers'
RoBERTa embeddings and layers.

S3PRL's `vq_wav2vec_kmeans_roberta` runs, for a batch of waveforms:

1. vq-wav2vec (eval mode, no gradient) on the zero-padded batch: the feature extractor, then the quantiser's
   codeword indices (B, T, groups). The context network's output is not used.
2. Its legacy `Featurizer(..., "codeids")` keeps the first `round(len / 160)` frames of each utterance (Python's
   round, half to even), which can include frames computed over the batch's padding.
3. Each utterance becomes the string `"<s> i-j i-j ... </s>"`; fairseq's dictionary maps each word to its token
   (an unseen code pair to `<unk>`); the token rows are right-padded with `<pad>`.
4. The tokens are cut into chunks of `max_positions`, each encoded by RoBERTa on its own (positions restart in each
   chunk), and the chunks' states are concatenated in time.
5. The hidden states are fairseq's `inner_states`: the embeddings after their LayerNorm with padding positions
   zeroed, then every layer's output (post-LN layers, no final LayerNorm): `num_hidden_layers + 1` states of
   `tokens + 2` frames, the `<s>` token shifting the audio by one frame.

The dictionary lookup is stored as two tensors, the flattened code pairs the dictionary holds (sorted) and their
tokens, so no string handling runs at inference. Loaded in bf16 / fp16, the tokeniser stays in fp32, so the tokens
do not depend on the precision; and it is never trained with the upstream (S3PRL runs it without gradients).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.roberta.modeling_roberta import RobertaEmbeddings, RobertaLayer

from ...modeling_utils import UpstreamPreTrainedModel
from ..wav2vec.configuration_wav2vec import DOWNSAMPLE_RATE
from ..wav2vec.modeling_wav2vec import S3prlWav2VecFeatureExtractor, build_quantizer
from .configuration_discretebert import S3prlDiscreteBertConfig


def flatten_codes(codes: torch.Tensor, num_vars: int) -> torch.Tensor:
    """(..., groups) codeword indices -> (...) integers in base `num_vars`, group 0 most significant."""
    flat = torch.zeros(codes.shape[:-1], dtype=torch.long, device=codes.device)
    for group in range(codes.shape[-1]):
        flat = flat * num_vars + codes[..., group].long()
    return flat


def dictionary_buffers(codes: torch.Tensor, tokens: torch.Tensor, num_vars: int) -> dict[str, torch.Tensor]:
    """The model's two dictionary buffers for (N, groups) codeword tuples and their (N,) tokens: the flattened
    tuples, sorted, and their tokens in that order.

    Example:
        >>> dictionary_buffers(torch.tensor([[1, 0], [0, 2]]), torch.tensor([4, 5]), num_vars=3)
        {'dictionary_codes': tensor([2, 3]), 'dictionary_tokens': tensor([5, 4])}
    """
    flat = flatten_codes(codes, num_vars)
    order = torch.argsort(flat)
    flat, tokens = flat[order].contiguous(), tokens.long()[order].contiguous()
    if bool((flat[1:] == flat[:-1]).any()):
        raise ValueError("a codeword tuple appears twice in the dictionary")
    return {"dictionary_codes": flat, "dictionary_tokens": tokens}


class S3prlCodeDictionary(nn.Module):
    """fairseq's dictionary restricted to codeword tuples: the flattened tuples it holds (sorted) and their tokens
    (`dictionary_buffers`); any other tuple is `<unk>`."""

    def __init__(self, config: S3prlDiscreteBertConfig):
        super().__init__()
        self.num_vars = config.frontend.vq_vars
        self.unk_token_id = config.unk_token_id
        self.register_buffer("dictionary_codes", torch.zeros(config.num_code_tokens, dtype=torch.long))
        self.register_buffer("dictionary_tokens", torch.zeros(config.num_code_tokens, dtype=torch.long))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., groups) codeword indices -> tokens, as fairseq's `Dictionary.encode_line` maps "i-j" words."""
        flat = flatten_codes(codes, self.num_vars)
        keys = self.dictionary_codes
        unknown = torch.full_like(flat, self.unk_token_id)
        if keys.numel() == 0:
            return unknown
        position = torch.searchsorted(keys, flat).clamp(max=keys.numel() - 1)
        return torch.where(keys[position] == flat, self.dictionary_tokens[position], unknown)


class S3prlVqWav2VecTokenizerFrontend(nn.Module):
    """vq-wav2vec's feature extractor and quantiser: padded waveforms -> (B, T, groups) codeword indices."""

    def __init__(self, config: S3prlDiscreteBertConfig):
        super().__init__()
        frontend = config.frontend
        self.feature_extractor = S3prlWav2VecFeatureExtractor(frontend)
        self.vector_quantizer = build_quantizer(frontend)

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        return self.vector_quantizer(self.feature_extractor(wavs), sample=False)[1]


class S3prlDiscreteBertModel(UpstreamPreTrainedModel):
    """Discrete BERT upstream returning S3PRL's `num_hidden_layers + 1` hidden states.

    Example:
        >>> from s3prl_hf.models.discretebert import S3prlDiscreteBertConfig, S3prlDiscreteBertModel
        >>> frontend = dict(conv_dim=[16] * 7, vq_type="kmeans", vq_vars=8, combine_groups=True)
        >>> config = S3prlDiscreteBertConfig(frontend_config=frontend, vocab_size=70, num_code_tokens=64,
        ...                                  hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                                  intermediate_size=64)
        >>> model = S3prlDiscreteBertModel(config).eval()
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> len(all_hs), all_hs[0].shape, all_hs_len[0].tolist()
        (3, torch.Size([2, 100, 32]), [100, 50])
    """

    config_class = S3prlDiscreteBertConfig
    base_model_prefix = "s3prl_discretebert"
    # S3PRL runs the tokeniser without gradients: it is not trained with the upstream
    _modules_outside_hidden_states = ("frontend",)
    _no_split_modules = ["RobertaLayer"]
    _supports_sdpa = True

    def __init__(self, config: S3prlDiscreteBertConfig):
        super().__init__(config)
        self.frontend = S3prlVqWav2VecTokenizerFrontend(config)
        # the tokens are arg-max decisions that a lower precision would change: loaded in bf16 / fp16, the
        # tokeniser stays in fp32, so the tokens are those of the fp32 model
        self._keep_in_fp32_modules_strict = ["frontend"]
        self.code_dictionary = S3prlCodeDictionary(config)
        self.embeddings = RobertaEmbeddings(config)
        self.layers = nn.ModuleList([RobertaLayer(config, layer_idx=i) for i in range(config.num_hidden_layers)])
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, RobertaEmbeddings):
            init.zeros_(module.token_type_embeddings.weight)  # fairseq's RoBERTa has no token types
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            init.zeros_(module.token_type_ids)

    def tokenize(self, wavs: torch.Tensor, wavs_len: torch.Tensor) -> torch.Tensor:
        """The (B, L) token ids S3PRL feeds RoBERTa for a zero-padded batch, `<pad>` after each row's end."""
        # S3PRL runs the frontend in eval mode without gradients, whatever the upstream's mode
        with torch.no_grad():
            codes = self.frontend(wavs.to(next(self.frontend.parameters()).dtype))
        tokens = self.code_dictionary(codes)
        # the legacy Featurizer keeps round(len / 160) frames (Python's round: half to even)
        keep = [min(codes.shape[1], round(length / DOWNSAMPLE_RATE)) for length in wavs_len.tolist()]
        rows = torch.full((len(keep), max(keep) + 2), self.config.pad_token_id, dtype=torch.long,
                          device=codes.device)
        for index, length in enumerate(keep):
            rows[index, 0] = self.config.bos_token_id
            rows[index, 1 : length + 1] = tokens[index, :length]
            rows[index, length + 1] = self.config.eos_token_id
        return rows

    def _encode_chunk(self, tokens: torch.Tensor, num_layers: int) -> list[torch.Tensor]:
        """fairseq's `inner_states` of one chunk: embeddings (padding zeroed), then the first `num_layers` layers.

        Rows that are all padding (an utterance that ended in an earlier chunk) are not run: their states are
        zeros (fairseq's embedding state is zero there too; its layer outputs are padding).
        """
        valid = tokens.ne(self.config.pad_token_id)
        active = valid.any(dim=1)
        dtype = self.embeddings.word_embeddings.weight.dtype
        states = [tokens.new_zeros(*tokens.shape, self.config.hidden_size, dtype=dtype)
                  for _ in range(num_layers + 1)]
        if not bool(active.any()):
            return states
        tokens, mask = tokens[active], valid[active]
        hidden = self.embeddings(input_ids=tokens)
        hidden = hidden * mask[..., None].to(hidden.dtype)
        states[0][active] = hidden
        if num_layers:
            # fairseq masks the keys only when the chunk holds padding; a mask without padding changes nothing
            attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=mask)
            for index, layer in enumerate(self.layers[:num_layers]):
                hidden = layer(hidden, attention_mask=attention_mask)
                states[index + 1][active] = hidden
        return states

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        tokens = self.tokenize(wavs, wavs_len)
        chunks = [self._encode_chunk(tokens[:, start : start + self.config.max_positions], num_hidden_states - 1)
                  for start in range(0, tokens.shape[1], self.config.max_positions)]
        return [torch.cat(states, dim=1) for states in zip(*chunks)]

"""For the model cards: what S3PRL's hidden states of the discretebert family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns `num_hidden_layers + 1` states (13 x 768): RoBERTa's embedding output (after its LayerNorm, "
    "padding positions zeroed) and every layer's output (post-LN, no final LayerNorm), over the tokens `<s> "
    "codes </s>`: the vq-wav2vec k-means codes of each utterance (`round(len / 160)` frames of them), each code "
    "pair `i-j` mapped by fairseq's dictionary (unseen pairs to `<unk>`). The `<s>` token shifts the audio by "
    "one frame. None of vq-wav2vec's own states is returned."
)

QUIRKS = (
    "The tokeniser is vq_wav2vec_kmeans run on the zero-padded batch (its GroupNorms span the padding) in eval "
    "mode without gradients; `round(len / 160)` codes are kept per utterance (Python's half-to-even round), "
    "which can include codes computed over the batch's padding. It stays in fp32 when the model is loaded in "
    "bf16.",
    "Token sequences longer than `max_positions` (512) are cut into chunks encoded independently, positions "
    "restarting in each, and concatenated in time, as S3PRL's expert does; chunk rows that are all padding are "
    "zeros.",
    "The converted repository holds both checkpoints: the RoBERTa and the feature extractor + quantiser of "
    "vq_wav2vec_kmeans (its context network is not used), plus the dictionary's code pairs and their tokens.",
)

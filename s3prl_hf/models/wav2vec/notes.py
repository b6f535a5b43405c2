"""For the model cards: what S3PRL's hidden states of the wav2vec family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns `len(aggregator) + 1` states (13 for the released models) at 160 samples per frame: state 0 "
    "is the CNN feature extractor's output z, states 1 to 11 are the outputs of context-network blocks 1 to 11 "
    "(what S3PRL hooks as the inputs of blocks 2 to 12, residual included), and the last state is the context "
    "network's output c. The input waveform is not normalised."
)

QUIRKS = (
    "Every GroupNorm (one per conv, over all channels and frames) normalises over the whole zero-padded batch "
    "length, so an utterance's features depend on how much the batch pads it, exactly as in S3PRL; nothing is "
    "masked.",
    "The context network's convs are causal (left-padded by kernel - 1 by repeating the first frame), and the "
    "feature extractor's receptive field (465 samples) gives `(len - 465) // 160 + 1` frames, two or three "
    "fewer than the `ceil(len / 160)` S3PRL reports valid: the last valid frames are copies of the last frame "
    "(S3PRLUpstream's length matching).",
)

METHOD_NOTES = {
    "vq_wav2vec": (
        "State 0 is taken before quantisation; the context network runs on the codewords. `model.quantize(z)` "
        "gives the codewords and indices S3PRL's expert also returns (`codewords`, `codeids`)."
    ),
}

METHOD_QUIRKS = {
    "vq_wav2vec": (
        "Eval mode takes each group's arg-max (Gumbel) or nearest (k-means) codeword; training mode samples a "
        "hard Gumbel-softmax at the checkpoint's start temperature, as S3PRL (which never advances fairseq's "
        "schedule) does. Loaded in bf16 / fp16, the feature extractor and quantiser stay in fp32 so the codes "
        "are the fp32 model's.",
    ),
}

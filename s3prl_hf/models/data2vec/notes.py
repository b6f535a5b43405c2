"""For the model cards: what S3PRL's hidden states of the data2vec family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` states. "
    "The released models are post-LN: state 0 is LayerNorm(CNN features + positional conv stack), state i is "
    "the output of layer i-1. The positional conv is data2vec's stack of 5 convs (kernel 19, no weight norm), "
    "each followed by a LayerNorm without parameters and GELU."
)

QUIRKS = (
    "Frames are masked with fairseq wav2vec 2.0's conv-length rule, as fairseq writes it: frame `conv_len - 1` "
    "marks the end with Python indexing, so an utterance shorter than the CNN's receptive field (400 samples) "
    "in a padded batch wraps around (conv_len 0 keeps every frame valid, -1 all but the last), and a batch "
    "without padding gets no mask at all.",
    "The checkpoint's EMA teacher (`_ema`) and regression head (`final_proj`) are dropped, as S3PRL's loader "
    "does; a checkpoint without `_ema` is refused, as S3PRL's loader fails on it.",
)

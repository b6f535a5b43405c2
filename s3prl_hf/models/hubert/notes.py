"""For the model cards: what S3PRL's hidden states of the hubert family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` states. "
    "Post-LN models (base): state 0 is LayerNorm(CNN features + positional conv), state i is the output of "
    "layer i-1. Pre-LN models (large): state 0 has no LayerNorm, and the last state is the encoder's final "
    "LayerNorm of the last layer's output."
)

QUIRKS = (
    "Frames are masked with fairseq HuBERT's all-chunk rule (a frame is padding only if all of its `T_padded // "
    "T_frames` samples are), which keeps one frame more than transformers' conv-length rule for many lengths "
    "and changes the shorter utterances of a padded batch.",
    "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
    "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
)

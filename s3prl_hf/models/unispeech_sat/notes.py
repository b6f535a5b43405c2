"""For the model cards: what S3PRL's hidden states of the unispeech_sat family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL runs UniSpeech-SAT with its WavLM code, relative position bias off, and records the input of every "
    "transformer layer and the encoder output: `num_hidden_layers + 1` states, defined as for HuBERT (post-LN "
    "base models: state 0 is LayerNorm(CNN features + positional conv); pre-LN large: no LayerNorm in state 0, "
    "final LayerNorm in the last state)."
)

QUIRKS = (
    "Frames are masked with fairseq HuBERT's all-chunk rule (`WavLM.forward_padding_mask`), which keeps one "
    "frame more than transformers' conv-length rule for many lengths and changes the shorter utterances of a "
    "padded batch.",
    "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
    "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
)

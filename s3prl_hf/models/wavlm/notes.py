"""For the model cards: what S3PRL's hidden states of the wavlm family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` states, "
    "defined as for HuBERT (post-LN base models: state 0 is LayerNorm(CNN features + positional conv); pre-LN "
    "large: no LayerNorm in state 0, final LayerNorm in the last state). Every layer adds WavLM's gated "
    "relative position bias to its attention."
)

QUIRKS = (
    "Frames are masked with fairseq HuBERT's all-chunk rule (`WavLM.forward_padding_mask`), which keeps one "
    "frame more than transformers' conv-length rule for many lengths and changes the shorter utterances of a "
    "padded batch.",
    "The relative position bias uses the checkpoint's `num_buckets` and `max_distance` (S3PRL's default "
    "`max_distance` is 1280, transformers' 800).",
    "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
    "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
)

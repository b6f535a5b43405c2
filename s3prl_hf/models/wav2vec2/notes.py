"""For the model cards: what S3PRL's hidden states of the wav2vec2 family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` states. "
    "Post-LN models (wav2vec2_base_960, wav2vec2_large_960): state 0 is LayerNorm(CNN features + positional "
    "conv), state i is the output of layer i-1. Pre-LN models (Libri-Light, XLSR, XLS-R): state 0 has no "
    "LayerNorm, and the last state is the encoder's final LayerNorm of the last layer's output (which "
    "transformers 5's own `hidden_states` leave out)."
)

QUIRKS = (
    "Frames are masked with fairseq wav2vec 2.0's conv-length rule, as fairseq writes it: frame `conv_len - 1` "
    "marks the end with Python indexing, so an utterance shorter than the CNN's receptive field (400 samples) "
    "in a padded batch wraps around (conv_len 0 keeps every frame valid, -1 all but the last), and a batch "
    "without padding gets no mask at all.",
    "The group norm of the first conv (wav2vec2_base_960, wav2vec2_large_960) normalises over the whole padded "
    "batch length, so an utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
    "Waveforms are standardised per utterance (`F.layer_norm`, eps 1e-5, over the valid samples) when the "
    "checkpoint's `task_cfg.normalize` says so (the Libri-Light, XLSR and XLS-R models).",
    "`crop_seq_to_multiple` from the checkpoint's config is applied (drops trailing frames; S3PRLUpstream then "
    "repeats the new last frame).",
)

"""For the model cards: what S3PRL's hidden states of the modified_cpc family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 2 states: the conv encoder's output (160 samples per frame) and the autoregressive LSTM's "
    "output, computed from the raw waveform (no normalisation)."
)

QUIRKS = (
    "The encoder and the LSTM run over the zero-padded waveforms of the batch, so a shorter utterance's last "
    "frames (and, for an RNN run backwards, all of them) depend on how much the batch pads it, as in S3PRL.",
)

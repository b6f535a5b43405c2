"""For the model cards: what S3PRL's hidden states of the distilhubert family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 6 states: 0 is the projected CNN features (before the positional conv, no feature LayerNorm, "
    "padded frames zeroed), 1 and 2 are the outputs of the two transformer layers, and 3 to 5 are the "
    "prediction heads trained to predict HuBERT Base layers 4, 8 and 12. transformers' own DistilHuBERT port "
    "drops the heads; this one keeps them. The DistilHuBERT paper uses state 2."
)

QUIRKS = (
    "Frames are masked with the distiller's `cal_pad_mask`: the conv-length formula with truncating division, "
    "applied with Python slicing (a negative length masks only the last frames).",
    "The group norm of the first conv normalises over the whole padded batch length, so an utterance's features "
    "depend on how much the batch pads it, exactly as in S3PRL.",
    "Waveforms are not normalised (the distiller has no `normalize` option).",
)

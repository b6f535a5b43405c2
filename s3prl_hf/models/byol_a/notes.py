"""For the model cards: what S3PRL's hidden states of the byol_a family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 1 state: the AudioNTT2020 embedding (max + mean over time of the per-step MLP output) of "
    "every 1 s window, windows every 1 s (16000 samples per frame). Each window's input is the torchaudio "
    "`MelSpectrogram` (64 HTK mel bands, 60-7800 Hz, n_fft 1024, periodic Hann window of 1024, hop 160, centred "
    "with reflect padding, power 2) and `log(x + eps)`, computed in pure torch with torchaudio's numbers, "
    "normalised with the fixed statistics the expert writes in code (mean -5.4919195, std 5.0389895)."
)

QUIRKS = (
    "The batch is zero-padded to whole 1 s windows of its longest utterance; a shorter utterance's windows past "
    "its end hold only padding, and its last valid window includes the zeros after it.",
    "The normalisation statistics are fixed constants, not those of the input (S3PRL's FIXME: 'should use "
    "downstream dataset statistics').",
    "S3PRL's loader keeps only the `features.*` / `fc.*` weights of the file (after unwrapping a `state_dict` "
    "entry and cutting any prefix before them); the converter does the same, and reads the conv channels, depth "
    "and embedding width from the weights.",
)

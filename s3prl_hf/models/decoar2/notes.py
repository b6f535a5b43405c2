"""For the model cards: what S3PRL's hidden states of the decoar2 family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns `num_hidden_layers + 1` states (13), at 320 samples per frame: the input of every "
    "transformer layer (state 0 = LayerNorm(projected fbank + positional conv), post-LN layers) and the "
    "encoder's output. The input is S3PRL's kaldi fbank (80 bins, hamming window, 25 ms / 10 ms) with "
    "per-utterance CMVN, computed in pure torch with torchaudio's numbers. Every second fbank frame is kept."
)

QUIRKS = (
    "kaldi fbank per utterance gives `1 + (len - 400) // 160` frames, two or three fewer than the `ceil(len / "
    "160)` S3PRL reports valid: in a padded batch a shorter utterance's last valid frames are the network's "
    "output on padding, alone copies of its last frame. An utterance under 400 samples in a batch whose longest "
    "is 0.05 s or more fails, as in S3PRL, and one with a single fbank frame (400 to 559 samples) gets NaN from "
    "the unbiased CMVN std.",
    "Padded frames are zeroed before the positional conv and masked as attention keys, as fairseq does; the "
    "extra frame S3PRL adds to reach an even count is masked and trimmed, so it changes nothing and is not "
    "added.",
    "S3PRL fixes the architecture in code (12 heads among it); the converter reads widths, depth and the "
    "positional conv from the weights and keeps S3PRL's 12 heads, which no weight shape records.",
)

"""For the model cards: what S3PRL's hidden states of the decoar2 family are, and the S3PRL behaviours it reproduces."""

from ...frontends.notes import FBANK_QUIRK

HIDDEN_STATES = (
    "S3PRL returns `num_hidden_layers + 1` states (13), at 320 samples per frame: the input of every "
    "transformer layer (state 0 = LayerNorm(projected fbank + positional conv), post-LN layers) and the "
    "encoder's output. The input is S3PRL's kaldi fbank (80 bins, hamming window, 25 ms / 10 ms) with "
    "per-utterance CMVN, computed in pure torch with torchaudio's numbers. Every second fbank frame is kept."
)

QUIRKS = (
    FBANK_QUIRK,
    "Padded frames are zeroed before the positional conv and masked as attention keys, as fairseq does; the "
    "extra frame S3PRL adds to reach an even count is masked and trimmed, so it changes nothing and is not "
    "added.",
    "S3PRL fixes the architecture in code (12 heads among it); the converter reads widths, depth and the "
    "positional conv from the weights and keeps S3PRL's 12 heads, which no weight shape records.",
)

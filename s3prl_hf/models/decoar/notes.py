"""For the model cards: what S3PRL's hidden states of the decoar family are, and the S3PRL behaviours it reproduces."""

from ...frontends.notes import FBANK_QUIRK

HIDDEN_STATES = (
    "S3PRL returns one state per depth (4): the outputs of forward LSTM k and backward LSTM k concatenated (2 x "
    "1024), the backward stack reading each utterance reversed. The input projection has no state of its own. "
    "The input is S3PRL's kaldi fbank (80 bins, hamming window, 25 ms / 10 ms) with per-utterance CMVN, "
    "computed in pure torch with torchaudio's numbers."
)

QUIRKS = (
    FBANK_QUIRK,
    "Both LSTM stacks run on packed sequences, so padding never leaks into an utterance; padded frames are "
    "zero.",
    "S3PRL hard-codes 1024 units and 4 layers; the converter reads the sizes from the checkpoint's weights and "
    "accepts both the released multi-layer LSTM names and S3PRL's per-layer names.",
)

NAME_NOTES = {
    "decoar": (
        "S3PRL's `decoar` entry returns 1 state: the last layer's output of the forward and the backward LSTM "
        "stacks concatenated (2 x 1024), the backward stack reading each utterance reversed; it is the last of "
        "decoar_layers' 4 states for the same checkpoint. The input is S3PRL's kaldi fbank (80 bins, hamming "
        "window, 25 ms / 10 ms) with per-utterance CMVN, computed in pure torch with torchaudio's numbers."
    ),
}

NAME_QUIRKS = {
    "decoar": (
        "S3PRL's `decoar` expert loads the checkpoint non-strictly under the released multi-layer LSTM names "
        "only: a checkpoint with S3PRL's per-layer names would run random LSTMs there, and is refused under "
        "this name (convert it as decoar_layers).",
    ),
}

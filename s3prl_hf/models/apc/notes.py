"""For the model cards: what S3PRL's hidden states of the apc family are, and the S3PRL behaviours it reproduces."""

from ...frontends.notes import FBANK_QUIRK

HIDDEN_STATES = (
    "S3PRL returns 3 states whatever the depth of the GRU stack: the outputs of layers 1 and 2 (what it hooks "
    "as the inputs of layers 2 and 3; from layer 2 on each output includes the residual) and the last layer's "
    "output. The input is S3PRL's kaldi fbank (80 bins, hamming window, 25 ms / 10 ms) with per-utterance CMVN, "
    "computed in pure torch with torchaudio's numbers."
)

QUIRKS = (
    FBANK_QUIRK,
    "The GRUs run on packed sequences (each utterance's own frames only), so padding never leaks into an "
    "utterance; padded frames are zero in every state.",
)

METHOD_NOTES = {
    "vq_apc": (
        "The VQ layer quantises the last layer's output for pretraining only: every state is taken before it. "
        "The converted model keeps its weights (`model.quantize(states[-1])` gives S3PRL's eval-mode codes)."
    ),
}

"""For the model cards: what S3PRL's hidden states of the npc family are, and the S3PRL behaviours it reproduces."""

from ...frontends.notes import FBANK_QUIRK

HIDDEN_STATES = (
    "S3PRL returns `2 * n_blocks + 1` states (9 for the released 4 blocks), in the order its hooks fire: block "
    "1's output, masked conv 1's output, block 2's output, ..., then the sum of the masked convs' outputs, "
    "NPC's representation (before VQ, which only feeds the pretraining head). The input is S3PRL's kaldi fbank "
    "(80 bins, hamming window, 25 ms / 10 ms) with per-utterance CMVN, computed in pure torch with torchaudio's "
    "numbers."
)

QUIRKS = (
    FBANK_QUIRK,
    "The conv blocks and masked convs run over the whole zero-padded batch (NPC gets no lengths), so a shorter "
    "utterance's last frames see its padding, and BatchNorm uses the checkpoint's running statistics.",
)

"""For the model cards: what S3PRL's hidden states of the npc family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns `2 * n_blocks + 1` states (9 for the released 4 blocks), in the order its hooks fire: block "
    "1's output, masked conv 1's output, block 2's output, ..., then the sum of the masked convs' outputs, "
    "NPC's representation (before VQ, which only feeds the pretraining head). The input is S3PRL's kaldi fbank "
    "(80 bins, hamming window, 25 ms / 10 ms) with per-utterance CMVN, computed in pure torch with torchaudio's "
    "numbers."
)

QUIRKS = (
    "kaldi fbank per utterance gives `1 + (len - 400) // 160` frames, two or three fewer than the `ceil(len / "
    "160)` S3PRL reports valid: in a padded batch a shorter utterance's last valid frames are the network's "
    "output on padding, alone copies of its last frame. An utterance under 400 samples in a batch whose longest "
    "is 0.05 s or more fails, as in S3PRL, and one with a single fbank frame (400 to 559 samples) gets NaN from "
    "the unbiased CMVN std.",
    "The conv blocks and masked convs run over the whole zero-padded batch (NPC gets no lengths), so a shorter "
    "utterance's last frames see its padding, and BatchNorm uses the checkpoint's running statistics.",
)

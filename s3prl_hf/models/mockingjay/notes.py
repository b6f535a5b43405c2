"""For the model cards: what S3PRL's hidden states of the mockingjay family are, and the S3PRL behaviours it reproduces."""

from ...frontends.notes import CMVN_NAN

HIDDEN_STATES = (
    "S3PRL returns `num_hidden_layers + 1` states: state 0 is LayerNorm(Linear(input features) + sinusoidal "
    "positions), state i the output of transformer layer i (post-LN BERT layers). Audio ALBERT applies one "
    "shared layer at every depth. The input features are the checkpoint's own (80-dim log-mel for the logMel "
    "names, 240-dim kaldi fbank + deltas for fbankBase), computed in pure torch with torchaudio's numbers."
)

QUIRKS = (
    "Log-mel / linear checkpoints: each utterance is scaled to -25 dB, then the whole zero-padded batch goes "
    "through one STFT (centred, reflect padding at the batch's ends only), so the last frames of a shorter "
    "utterance see its zero padding instead of a reflection.",
    "CMVN normalises each utterance over `round(len / (padded_len / frames))` frames (Python's round-half-even "
    "on S3PRL's float expression): this can differ by one from the utterance's own frame count and depends on "
    "the batch's longest utterance. Later frames are zero.",
    "The attention mask lets the first N frames attend, N being the number of frames whose features sum to "
    "non-zero (CMVN's zero padding); without CMVN nothing is masked.",
    "fbank checkpoints: kaldi fbank per utterance gives `1 + (len - 400) // 160` frames, two or three fewer "
    "than the `ceil(len / 160)` S3PRL reports valid; in a batch those last valid frames are the encoder's "
    "output on zero features, alone copies of the last frame. An utterance under 400 samples in a batch whose "
    "longest is 0.05 s or more fails, as in S3PRL, and so does a batch whose longest utterance has 801..879 "
    "samples (too few fbank frames for S3PRL's length matching); this model raises a ValueError naming the "
    "lengths that pass.",
    "CMVN over one frame: a kaldi-fbank utterance of 400 to 559 samples, or a log-mel one of roughly 80 to 240 "
    "samples beside longer ones (its CMVN covers one frame, by the rounding above). " + CMVN_NAN,
    "Inputs longer than `sequence_length` frames (1500; 3000 for the seq3k names; 500 in the LinearLarge "
    "recipe) are cut with `torch.chunk` into `ceil(frames / sequence_length)` equal chunks of the batch's frame "
    "axis, encoded independently with positions restarting at 0: no attention across chunks, and the chunk "
    "boundaries depend on the batch's longest utterance.",
    "So an utterance's features depend on the rest of its batch. `batch_invariant=True` (a config field: "
    "`AutoUpstream.from_pretrained(name, batch_invariant=True)`) runs each utterance alone, as S3PRL would in a "
    "batch of one, at the cost of one forward per utterance.",
)

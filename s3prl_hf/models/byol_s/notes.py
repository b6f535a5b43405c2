"""For the model cards: what S3PRL's hidden states of the byol_s family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 1 state: the network's embedding (max + mean over time of mel x channel features; 2048 wide "
    "for the released networks) of 1 s frames centred every 50 ms (800 samples per frame). Each frame's input "
    "is the torchaudio `MelSpectrogram` (64 HTK mel bands, 60-7800 Hz, n_fft 1024, periodic Hann window of 400, "
    "hop 160, centred with reflect padding, power 2) and `log(x + eps)`, computed in pure torch with "
    "torchaudio's numbers, normalised with statistics of the whole batch (see below)."
)

QUIRKS = (
    "The log-mel frames are normalised with the mean and unbiased std of ALL frames of the padded batch, both "
    "divided by the number of frames N = batch x frames (serab-byols' `compute_timestamp_stats`, a bug): an "
    "utterance's hidden states depend on the other utterances of its batch and on how much it is padded, and "
    "the network sees inputs scaled by about N. Reproduced exactly; run utterances one at a time to avoid it.",
    "A batch of digital silence throughout has a constant log-mel and a zero std, by which S3PRL divides: its "
    "hidden states are inf / NaN. Here the std is taken as 1 and they stay finite; `s3prl_nan_silence=True` (a "
    "config field) gives S3PRL's values.",
    "Frames are centred (8000 zeros on each side of the padded batch), `len // 800 + 1` of them; S3PRLUpstream "
    "keeps `ceil(len / 800)`. When 800 divides the batch length the extra frame still enters the statistics.",
    "S3PRL fails an assertion on a batch whose longest utterance is at most 800 samples (0.05 s: 2 frames for "
    "the 1 it expects); this model drops the extra frame there too and returns the 1 expected frame.",
    "The network (`default` AudioNTT2020, `resnetish34`, `cvt`) is recognised from the checkpoint's key names "
    "and its sizes read from the weights; strides, CvT's 64 channels per attention head and its mean+max pool "
    "are S3PRL's code.",
)

"""For the model cards: the quirks of the shared kaldi fbank + CMVN frontend, worded once for every family using it
(APC, VQ-APC, NPC, DeCoAR, DeCoAR 2.0, TERA fbank, the kaldi baselines)."""

CMVN_NAN = (
    "S3PRL's CMVN of a single frame is NaN (the unbiased std of one value), which spreads to all the utterance's "
    "hidden states; here that frame's features are zeros and the hidden states finite. `s3prl_nan_cmvn=True` (a "
    "config field: `AutoUpstream.from_pretrained(name, s3prl_nan_cmvn=True)`) gives S3PRL's NaN."
)

FBANK_QUIRK = (
    "kaldi fbank per utterance gives `1 + (len - 400) // 160` frames, two or three fewer than the `ceil(len / 160)` "
    "S3PRL reports valid: in a padded batch a shorter utterance's last valid frames are the network's output on "
    "padding, alone copies of its last frame. An utterance under 400 samples in a batch whose longest is 0.05 s or "
    "more fails, as in S3PRL, and so does a batch whose longest utterance has 801..879 samples (too few frames for "
    "S3PRL's length matching); this model raises a ValueError naming the lengths that pass. A single fbank frame "
    "(400 to 559 samples): " + CMVN_NAN
)

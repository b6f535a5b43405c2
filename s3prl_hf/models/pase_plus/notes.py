"""For the model cards: what S3PRL's hidden states of the pase_plus family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 9 states (256 wide, 160 samples per frame), in the order its hooks fire: the 1x1 dense-skip "
    "projections of conv blocks 1 to 7, each averaged over groups of `skip_frames // final_frames` frames to "
    "the final frame rate; the output of `W` (the 1x1 conv after the QRNN, before the skips are added); and the "
    "model's output (W + the 7 pooled skips, then BatchNorm without affine). The network runs on the raw "
    "waveform: a SincNet layer (64 band-pass filters of 251 taps computed from the learned frequencies), 7 "
    "strided convs with BatchNorm and PReLU, and a one-layer QRNN (window 2), reimplemented in pure torch."
)

QUIRKS = (
    "The whole zero-padded batch goes through the convs (reflect-padded at the batch's ends only) and the QRNN, "
    "so a shorter utterance's last frames see its padding.",
    "The strided convs give `floor(ceil(len / 10) / 16)` frames for the padded batch's length, up to one fewer "
    "than the `ceil(len / 160)` S3PRL reports: the last frame is then repeated (S3PRLUpstream's length "
    "matching).",
    "The skip pooling factor comes from the padded batch's frame counts (`skip_frames // final_frames`): 160 "
    "samples of the SincNet skip per frame for 16000 or 12345 samples, but 950 // 5 = 190 for 950; a skip's "
    "frames past `final_frames * factor` are dropped.",
    "The SincNet half window is PASE's `0.54 - 0.46 cos(2 pi n / K)` on `linspace(0, K/2 - 1, K // 2)` (a "
    "non-integer grid), rebuilt at every call rather than stored.",
    "Two original files: the encoder weights and the JSON cfg (the architecture), found beside each other or given "
    "as `--frontend-checkpoint`; a combined `{\"cfg\", \"ckpt\"}` file converts too.",
)

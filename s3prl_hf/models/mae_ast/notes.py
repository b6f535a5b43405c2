"""For the model cards: what S3PRL's hidden states of the mae_ast family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns the output of every encoder layer (12; no input state), each reshaped from tokens to time "
    "steps: (batch, time steps, frequency patches x 768), so 768 wide at 320 samples per frame for "
    "mae_ast_frame (2-frame x 128-bin patches) and 8 x 768 = 6144 wide at 2560 samples per frame for "
    "mae_ast_patch (16 x 16 patches). The input is kaldi fbank (128 bins, povey window, 25 ms / 10 ms, no "
    "normalisation), then the checkpoint's BatchNorm statistics times 0.5, computed in pure torch."
)

QUIRKS = (
    "The sinusoidal position of a token is its index in the flattened (time, frequency patch) sequence, not its "
    "time step, and it is zero at padded tokens; the checkpoint's 147 MB position tables are checked against "
    "the formula at conversion and recomputed, not stored.",
    "Padded tokens are masked as attention keys only when some utterance is shorter than the batch in fbank "
    "frames; utterance i then keeps `ceil(frames_i / patch_frames) * (128 // patch_bins)` tokens, with 128 "
    "whatever the mel bins (a default argument of S3PRL's `forward_padding_mask`). Patches straddling the end "
    "of an utterance include the batch-normalised zero padding.",
    "S3PRL fails an assertion when the longest utterance gives under half the time steps it expects (`ceil(len "
    "/ stride)`): for mae_ast_frame a longest utterance of 800-879 or 961-1199 samples, for mae_ast_patch under "
    "5360 or 7681-7919 samples; this model raises a ValueError there. Any utterance under 400 samples (one "
    "fbank window) fails too.",
    "The pretraining decoder, reconstruction / classification heads, mask embeddings and the unused input "
    "LayerNorm are dropped at conversion: no hidden state depends on them.",
)

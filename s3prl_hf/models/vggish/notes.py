"""For the model cards: what S3PRL's hidden states of the vggish family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 1 state: the postprocessed embedding of every 0.96 s example (96 frames of a 64-band log "
    "mel, 25 ms / 10 ms, computed as S3PRL's numpy code in float64, in pure torch): PCA, clamp to [-2, 2] and "
    "8-bit quantisation, so the values are the integer levels 0..255 (as floats; the gradient through the "
    "rounding is zero). S3PRL reports a stride of 16000 samples, although an example covers 15360."
)

QUIRKS = (
    "Each utterance gives `1 + (frames - 96) // 96` examples (incomplete ones dropped), with `frames = 1 + (len "
    "- 400) // 160`. Lengths are `ceil(len / 16000)`: a shorter utterance's valid frames past its own examples "
    "are the expert's zero padding, and the longest utterance's last example is repeated to `ceil(len / 16000)` "
    "frames (or cut, from 25 s on).",
    "S3PRL fails on an utterance shorter than one example (15600 samples, 0.975 s) and on a batch whose longest "
    "utterance has 16001..30959 samples (one example for two expected frames); this model raises a ValueError "
    "in both cases.",
    "Two original files: the network and the PCA parameters (found beside the network file, or given as "
    "`--frontend-checkpoint`); S3PRL's own combined file (`{\"vggish\", \"pca\"}`) converts too.",
)

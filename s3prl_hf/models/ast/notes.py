"""For the model cards: what S3PRL's hidden states of the ast family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL's `ast` entry returns 1 state (feature_selection=\"cls\"): the AudioSet head's 527 logits of the "
    "averaged class and distillation tokens after the final LayerNorm, one per 10.24 s window (163840 samples "
    "per frame). With `feature_selection=\"hidden_states\"` (a config option, as S3PRL's extra_conf) it returns "
    "the output of every block (12; no embeddings, no final LayerNorm), patch tokens reshaped to (time, 12 "
    "frequency patches x 768 = 9216) at 1600 samples per frame. Each window's input is kaldi fbank (128 bins, "
    "hanning window, htk_compat, 25 ms / 10 ms, no dither, computed in pure torch) of the zero-padded "
    "utterance, normalised as `(x + 4.2677393) / (4.5689974 * 2)` and only then zero-padded to the window's "
    "frames (transformers' ASTFeatureExtractor pads first)."
)

QUIRKS = (
    "S3PRL builds the AudioSet head (`mlp_head`) anew with random weights and discards the checkpoint's, so its "
    "default output differs from run to run; this model keeps the checkpoint's trained head (the fixture checks "
    "S3PRL's computation with that head).",
    "Windows are processed independently (the batch only sets how many there are) and their frames "
    "concatenated; a window gives fewer frames than its length at the reported stride (AST: 101 per 10.24 s for "
    "102.4, SSAST frame: 99 per 1 s for 100, patch: 9 for 10), so each later window's frames sit earlier than "
    "the audio they cover, and S3PRL repeats the last frame to the expected count.",
    "The release's 12 x 101 positional embedding is cut from the middle (windows under 10.24 s) or bilinearly "
    "interpolated in time, per window length, as S3PRL does when it builds the model; `window_secs` / "
    "`stride_secs` are config options (S3PRL's hub arguments). timm's ImageNet heads are dropped; the LayerNorm "
    "eps is timm's 1e-6 in the blocks and 1e-5 in the head.",
)

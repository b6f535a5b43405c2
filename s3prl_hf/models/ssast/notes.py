"""For the model cards: what S3PRL's hidden states of the ssast family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns the output of every block (12; no embeddings, no final LayerNorm), patch tokens reshaped to "
    "(time, frequency patches x 768): 768 wide at 160 samples per frame for ssast_frame_base (128 x 2 patches, "
    "stride 128 x 1), 12 x 768 = 9216 wide at 1600 samples per frame for ssast_patch_base (16 x 16 patches, "
    "stride 10 x 10), 1 s windows every 1 s. Each window's input is kaldi fbank (128 bins, hanning window, "
    "htk_compat, 25 ms / 10 ms, no dither, computed in pure torch) of the zero-padded utterance, normalised as "
    "`(x + 4.2677393) / (4.5689974 * 2)` and only then zero-padded to the window's frames (transformers' "
    "ASTFeatureExtractor pads first)."
)

QUIRKS = (
    "Windows are processed independently (the batch only sets how many there are) and their frames "
    "concatenated; a window gives fewer frames than its length at the reported stride (AST: 101 per 10.24 s for "
    "102.4, SSAST frame: 99 per 1 s for 100, patch: 9 for 10), so each later window's frames sit earlier than "
    "the audio they cover, and S3PRL repeats the last frame to the expected count.",
    "The pretraining positional grid (module.p_input_fdim / p_input_tdim) is cut or interpolated to the "
    "window's as S3PRL does, quirks included: when interpolating the time axis S3PRL resizes to (8, t) whatever "
    "the frequency patches, then to (f, t).",
    "S3PRL's hub builds both as model size \"base\" (12 heads, which no weight records); the converter reads "
    "widths, depth and the patch shape (frame or patch model) from the weights. The pretext heads (cpredlayer, "
    "gpredlayer, mask_embed), timm's ImageNet heads and the unused final LayerNorm are dropped.",
)

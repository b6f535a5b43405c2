"""For the model cards: what S3PRL's hidden states of the passt family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns 1 state, one frame per 50 ms (800 samples): for each 160 ms window of the audio resampled to "
    "32 kHz (torchaudio's sinc resampler, in pure torch), PaSST's 527 AudioSet logits followed by its 768 "
    "features (the mean of the class and distillation tokens after the final LayerNorm), 1295 values. The "
    "2-level entries append the same for 5 times (base2levelmel: 4 times) longer windows, the mel entries then "
    "the window's own log-mel spectrogram (6 frames x 128 bins = 768 values of a 1920 / 960 / 600-sample "
    "window). Each window's input is hear21passt's log-mel: pre-emphasis 0.97, a centred 1024-point STFT with "
    "an 800-sample Hann window and a hop of 320 (hop100 / hop160 entries: 100 / 160) samples, kaldi's 128-bin "
    "mel filterbank over 0-15 kHz, `(log(x + 1e-5) + 4.5) / 5`."
)

QUIRKS = (
    "Windows are centred every 50 ms on the 32 kHz version of the zero-padded batch, which is reflect-padded by "
    "half a window at both ends: a shorter utterance's last windows include the batch's zeros, and the windows "
    "past the end of the longest utterance reflect it. The batch gives `len // 800 + 1` windows, one more than "
    "the `ceil(len / 800)` frames S3PRLUpstream keeps when 800 divides the length.",
    "S3PRL fails on a batch whose longest utterance is too short for that reflect padding: under 1281 samples "
    "(0.08 s), 5121 for passt_base2levelmel, 6401 for the other 2-level entries; this model raises a ValueError "
    "there, including on every batch under 0.05 s.",
    "Which windows and mel hop an entry uses is fixed by its hear21passt module, not by the checkpoint (the "
    "three base entries share one release); the converter takes them from the entry's name and checks that the "
    "checkpoint's time positional embedding is the one that entry builds (99 columns for 10 s at hop 320, 200 "
    "for 20 s at hop 320 or 10 s at hop 160, 300 for 30 s, 320 for 10 s at hop 100; the 20 s and hop-160 "
    "releases have the same shapes, so only the name tells them apart). `window_secs` / `stride_secs` are "
    "config options, as S3PRL's `extra_conf`.",
    "Loaded in train mode, S3PRL's mel frontend draws a random mel range and masks frequency and time "
    "(SpecAugment); this model always computes the eval-mode features. The distillation head is dropped at "
    "conversion: no hidden state uses it.",
)

"""For the model cards: what S3PRL's hidden states of the spectral family are, and the S3PRL behaviours it reproduces."""

from ...frontends.notes import CMVN_NAN

HIDDEN_STATES = (
    "One state: the features themselves, as S3PRL's yaml config of the name defines them (`feature_config` in "
    "config.json, verbatim). Kaldi features (fbank, fbank_no_cmvn, mfcc, spectrogram): "
    "torchaudio.compliance.kaldi per utterance, then deltas and CMVN. OnlinePreprocessor features (mel, "
    "linear): torch.stft of the padded batch, then log, deltas and CMVN. stft_mag: torch.stft magnitudes per "
    "utterance. All in pure torch with torchaudio's numbers; no weights."
)

QUIRKS = (
    "Kaldi features: CMVN is `(x - mean) / (std + 1e-10)` over the utterance's own frames with the unbiased "
    "std; an utterance shorter than a 400-sample window fails, as in S3PRL. A single frame (400 to 559 "
    "samples): " + CMVN_NAN,
    "OnlinePreprocessor features (mel, linear): S3PRL's preprocessor is called without lengths, so each "
    "utterance's length is taken to end at its last non-zero sample (the whole padded length if it has none); "
    "the STFT runs on the whole zero-padded batch (its re-padding slices the channel axis), and CMVN covers "
    "`round(len / (padded_len / frames))` frames, zeroing the rest.",
    "OnlinePreprocessor features: the expert then keeps `round(len * frames / len_0)` frames of each utterance, "
    "the ratio taken from the batch's first utterance, and zero-pads.",
    "stft_mag: S3PRL's hub function has no default config (`S3PRLUpstream(\"stft_mag\")` raises a TypeError); "
    "it runs with `extra_conf={\"model_config\": \".../log_stft/stft_mag.yaml\"}`, whose values are built in "
    "here. Its frames are 20 ms apart (`hop_length` 320).",
)

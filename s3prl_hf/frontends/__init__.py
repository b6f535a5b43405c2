"""Audio frontends in pure torch, with the numerics of the torchaudio code S3PRL calls (see `features`).

- `features`: torchaudio's functional pieces, kaldi fbank / spectrogram / MFCC, S3PRL's STFT preprocessors;
- `fbank_cmvn`: S3PRL's kaldi fbank + per-utterance CMVN frontend (APC, VQ-APC, NPC, DeCoAR, DeCoAR 2.0);
- `resample`: torchaudio's band-limited sinc resampling.
"""

from .features import (KALDI_DEFAULTS, KALDI_EPSILON, KALDI_WINDOWS, MFCC_LOG_OFFSET, MFCC_N_MELS, ONLINE_FEATURES,
                       STFT_FEATURES, Float32BuffersModule, KaldiFeatures, StftFeatures, StftMagnitude, append_deltas,
                       compute_deltas, create_dct, float32_on_cpu, hz_to_mel, init_frontend_buffers, kaldi_frame_sizes,
                       kaldi_mel_banks, kaldi_output_dim, kaldi_window, materialize_frontend_buffers, mel_to_hz,
                       melscale_fbanks, utterance_cmvn)
from .resample import resample, resampled_length

__all__ = [
    "KALDI_DEFAULTS", "KALDI_EPSILON", "KALDI_WINDOWS", "MFCC_LOG_OFFSET", "MFCC_N_MELS", "ONLINE_FEATURES",
    "STFT_FEATURES", "Float32BuffersModule", "KaldiFeatures", "StftFeatures", "StftMagnitude", "append_deltas",
    "compute_deltas", "create_dct", "float32_on_cpu", "hz_to_mel", "init_frontend_buffers", "kaldi_frame_sizes",
    "kaldi_mel_banks", "kaldi_output_dim", "kaldi_window", "materialize_frontend_buffers", "mel_to_hz",
    "melscale_fbanks", "resample", "resampled_length", "utterance_cmvn",
]

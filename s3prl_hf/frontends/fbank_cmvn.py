"""The kaldi fbank + CMVN frontend of S3PRL's APC family, shared by APC, VQ-APC, NPC, DeCoAR and DeCoAR 2.0.

S3PRL's `upstream/apc/audio.py` (copied verbatim as `npc/audio.py`, `decoar_layers/audio.py` and `decoar2/audio.py`,
the last one keeping every second frame) runs, for each utterance alone:

1. `torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=feat_dim, sample_frequency=16000, window_type="hamming",
   **rest)`, `rest` being the audio config's remaining keys (`frame_length`, `frame_shift`), all other kaldi options
   at their defaults (dither 0, pre-emphasis 0.97, DC removal, snip_edges, power-of-two FFT, low_freq 20);
2. CMVN over time, `(x - mean) / (1e-10 + std)` with the unbiased std, unless `cmvn` is False;

then the experts zero-pad the utterances into a batch (`pad_sequence`). The kaldi part is `s3prl_hf.frontends`'
pure-torch `KaldiFeatures`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .features import KALDI_DEFAULTS, KaldiFeatures, kaldi_frame_sizes, utterance_cmvn

SAMPLE_RATE = 16000
# The stride every expert of these families reports (`get_downsample_rates`), before any frame skipping.
FRAME_SHIFT_SAMPLES = 160
# What S3PRL's create_transform pops before passing the rest to kaldi.fbank.
_S3PRL_KEYS = ("feat_type", "feat_dim", "decode_wav", "cmvn")
# Arguments FeatureExtractor passes to kaldi.fbank itself: a config repeating them fails in S3PRL.
_FIXED_KALDI_ARGS = {"num_mel_bins", "sample_frequency", "window_type"}
# FeatureExtractor()'s defaults, the whole frontend of DeCoAR and DeCoAR 2.0 (their create_transform takes no config).
DEFAULT_AUDIO_CONFIG = {"feat_type": "fbank", "feat_dim": 80, "cmvn": True}


def normalize_audio_config(audio: Mapping) -> dict:
    """Check an S3PRL `data.audio` config of the APC family and return it with S3PRL's defaults filled in.

    The result keeps S3PRL's schema: `feat_type` ("fbank"), `feat_dim` (mel bins = model input size), `cmvn`
    (default True) and the kaldi.fbank options S3PRL passes on (`frame_length`, `frame_shift`, ...). `decode_wav`
    only concerns reading files and is dropped.

    Raises:
        ValueError: a config S3PRL cannot run, or one whose frames are not the 160-sample hop S3PRL reports.

    Example:
        >>> normalize_audio_config({"feat_type": "fbank", "feat_dim": 80, "frame_length": 25, "frame_shift": 10})
        {'feat_type': 'fbank', 'feat_dim': 80, 'cmvn': True, 'frame_length': 25.0, 'frame_shift': 10.0}
    """
    if not isinstance(audio, Mapping):
        raise ValueError(f"the audio config must be a mapping, got {type(audio).__name__}")
    if audio.get("feat_type") != "fbank":
        raise ValueError(f"feat_type {audio.get('feat_type')!r}: S3PRL's APC-family frontend only computes 'fbank'")
    if "feat_dim" not in audio:
        raise ValueError("the audio config has no feat_dim (S3PRL's create_transform requires it)")
    options = {k: v for k, v in audio.items() if k not in _S3PRL_KEYS}
    clashing = sorted(_FIXED_KALDI_ARGS & set(options))
    if clashing:
        raise ValueError(f"the audio config sets {clashing}, which S3PRL's FeatureExtractor already passes to "
                         f"kaldi.fbank (S3PRL fails on it)")
    unknown = sorted(set(options) - set(KALDI_DEFAULTS["fbank"]))
    if unknown:
        raise ValueError(f"unknown kaldi.fbank options in the audio config: {unknown}")
    if float(options.get("dither", 0.0)) != 0.0:
        raise ValueError("dither != 0 makes the features random; only dither=0.0 is reproducible")
    for key in ("frame_length", "frame_shift"):
        if key in options:
            options[key] = float(options[key])
    shift = kaldi_frame_sizes(**options, sample_frequency=SAMPLE_RATE)[1]
    if shift != FRAME_SHIFT_SAMPLES:
        raise ValueError(f"a frame shift of {shift} samples: S3PRL's expert reports {FRAME_SHIFT_SAMPLES}")
    return {"feat_type": "fbank", "feat_dim": int(audio["feat_dim"]), "cmvn": bool(audio.get("cmvn", True)),
            **options}


class S3prlFbankFrontend(nn.Module):
    """S3PRL's `FeatureExtractor` on each utterance of a padded batch, zero-padded again afterwards.

    Args:
        audio_config: A config as returned by `normalize_audio_config`.
        frame_skip: Keep every `frame_skip`-th frame (DeCoAR 2.0's `y[::2]`).
        nan_on_one_frame: S3PRL's CMVN of a one-frame utterance (NaN) instead of zeros (see `utterance_cmvn`).

    Example:
        >>> frontend = S3prlFbankFrontend(normalize_audio_config(DEFAULT_AUDIO_CONFIG))
        >>> feats, lengths = frontend(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> feats.shape, lengths.tolist()
        (torch.Size([2, 98, 80]), [98, 48])
    """

    def __init__(self, audio_config: Mapping, frame_skip: int = 1, nan_on_one_frame: bool = False):
        super().__init__()
        options = {k: v for k, v in audio_config.items() if k not in _S3PRL_KEYS}
        self.fbank = KaldiFeatures("fbank", num_mel_bins=audio_config["feat_dim"], sample_frequency=SAMPLE_RATE,
                                   window_type="hamming", **options)
        self.cmvn = bool(audio_config["cmvn"])
        self.frame_skip = frame_skip
        self.nan_on_one_frame = nan_on_one_frame

    def num_frames(self, num_samples: int) -> int:
        """Frames of an utterance of `num_samples` samples (0 where kaldi gives none)."""
        return -(-self.fbank.num_frames(num_samples) // self.frame_skip)

    def forward(self, wavs: torch.Tensor, wavs_len: torch.Tensor) -> tuple[torch.Tensor, torch.LongTensor]:
        """(batch, frames, feat_dim) float32 features, zero after each utterance, and the frames per utterance."""
        feats = []
        for wav, length in zip(wavs.float(), wavs_len.tolist()):
            feat = self.fbank(wav[:length])
            if self.cmvn:
                # S3PRL's layout (1, dim, frames), reduced over the last axis: the same float rounding
                feat = utterance_cmvn(feat.transpose(0, 1).unsqueeze(0), dim=2,
                                      nan_on_one_frame=self.nan_on_one_frame).squeeze(0).transpose(0, 1)
            feats.append(feat[:: self.frame_skip])
        lengths = torch.tensor([len(feat) for feat in feats], dtype=torch.long, device=wavs.device)
        return nn.utils.rnn.pad_sequence(feats, batch_first=True), lengths

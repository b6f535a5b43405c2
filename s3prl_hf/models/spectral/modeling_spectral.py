"""S3PRL's signal-processing baselines: one hidden state, the features themselves; no weights.

What S3PRL's experts do with the (already unpadded) utterances `S3PRLUpstream` hands them:

- kaldi features (`upstream/baseline/extracter.py`): per utterance, torchaudio.compliance.kaldi features, deltas and
  CMVN over the utterance's frames, then zero-padded to the longest;
- `OnlinePreprocessor` features (`upstream/baseline/{expert,preprocessor}.py`): the batch is zero-padded, and the
  preprocessor, called without lengths, takes each utterance's length to end at its last non-zero sample (all of the
  padded length if it has none); its re-padding slices the wrong axis, so the STFT sees the whole padded batch and
  only the CMVN uses those lengths: `round(len / (padded_len / frames))` frames. The expert then keeps `round(len * frames_0 / len_0)` frames of each
  utterance, a ratio taken from the *first* utterance, and zero-pads;
- STFT magnitudes (`upstream/log_stft/expert.py`): per utterance, then zero-padded.

`S3PRLUpstream` then matches the lengths to `ceil(samples / stride)` frames; `UpstreamPreTrainedModel.forward` does
that part for every family.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers import initialization as init

from ...frontends import (KaldiFeatures, StftFeatures, StftMagnitude, append_deltas, init_frontend_buffers,
                          utterance_cmvn)
from ...modeling_utils import UpstreamPreTrainedModel
from .configuration_spectral import SAMPLE_RATE, S3prlSpectralConfig


class S3prlSpectralModel(UpstreamPreTrainedModel):
    """One of S3PRL's baseline features (fbank, MFCC, spectrograms, STFT magnitudes) as an upstream.

    The model has no weights: windows and filterbanks are computed from the config, and `from_pretrained` needs only
    a `config.json` (or, through `AutoUpstream`, a name). Features are float32, as S3PRL computes them.

    Example:
        >>> from s3prl_hf.models.spectral import S3prlSpectralConfig, S3prlSpectralModel
        >>> model = S3prlSpectralModel(S3prlSpectralConfig()).eval()  # S3PRL's fbank.yaml
        >>> all_hs, all_hs_len = model(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> all_hs[0].shape, all_hs_len[0].tolist()
        (torch.Size([2, 100, 240]), [100, 50])
    """

    config_class = S3prlSpectralConfig
    base_model_prefix = "s3prl_spectral"

    def __init__(self, config: S3prlSpectralConfig):
        super().__init__(config)
        frontend = config.frontend
        self.kind = frontend["kind"]
        if self.kind == "kaldi":
            feat_type = frontend["kaldi"]["feat_type"]
            self.kaldi = KaldiFeatures(feat_type, **frontend["kaldi"][feat_type], sample_frequency=SAMPLE_RATE)
            self.delta, self.cmvn = frontend["delta"], frontend["cmvn"]
        elif self.kind == "online":
            feature = frontend["input"]
            self.stft = StftFeatures(sample_rate=frontend["sample_rate"], win_ms=frontend["win_ms"],
                                     hop_ms=frontend["hop_ms"], n_freq=frontend["n_freq"], n_mels=frontend["n_mels"],
                                     n_mfcc=frontend["n_mfcc"], feat_type=feature["feat_type"], log=feature["log"],
                                     delta=feature["delta"], cmvn=feature["cmvn"], eps=frontend["eps"],
                                     nan_on_one_frame=config.s3prl_nan_cmvn)
        else:
            self.magnitude = StftMagnitude(frontend["n_fft"], frontend["hop_length"], frontend["win_length"],
                                           center=frontend["center"], log=frontend["log"])
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args,
                        config: S3prlSpectralConfig | None = None, output_loading_info: bool = False,
                        device_map=None, **kwargs):
        """Build the model from its config alone: a folder or Hub repo with just `config.json` is complete.

        transformers' loader would look for a weights file, which a weight-less model does not have (its
        `save_pretrained` writes none). `dtype` is accepted and ignored: the features are float32, as in S3PRL.
        """
        kwargs.pop("dtype", None)
        kwargs.pop("torch_dtype", None)
        if config is None:
            config, kwargs = cls.config_class.from_pretrained(pretrained_model_name_or_path,
                                                              return_unused_kwargs=True, **kwargs)
        config.check()  # keyword overrides are set after the config was built
        model = cls(config).eval()
        device = _single_device(device_map)
        if device is not None:
            model.to(device)
        if output_loading_info:
            return model, {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
        return model

    @property
    def device(self) -> torch.device:
        """Where the windows and filterbanks are (the model has no parameters)."""
        return next(self.buffers()).device

    @property
    def dtype(self) -> torch.dtype:
        """Always float32: the features are computed in float32 whatever the model is cast to."""
        return torch.float32

    def _init_weights(self, module):
        super()._init_weights(module)
        init_frontend_buffers(module, init.copy_)

    def output_frames(self, num_samples: int) -> int:
        padded = self.padded_samples(num_samples)
        if self.kind == "kaldi":
            return self.kaldi.num_frames(padded)
        if self.kind == "log_stft":
            return self.magnitude.num_frames(padded)
        frames = self.stft.num_frames(padded)
        if not self.stft.cmvn:
            return frames
        # S3PRL's CMVN keeps the frames of each utterance's non-zero samples (taken to be all of the longest one's)
        return round(num_samples / (padded / frames))

    def _forward_hidden_states(self, wavs, wavs_len, num_hidden_states):
        wavs = wavs.float()
        lengths = wavs_len.tolist()
        if self.kind == "online":
            feats = self._online_features(wavs, lengths)
        elif self.kind == "kaldi":
            feats = [self._kaldi_features(wav[:length]) for wav, length in zip(wavs, lengths)]
        else:
            feats = [self.magnitude(wav[:length]) for wav, length in zip(wavs, lengths)]
        return [nn.utils.rnn.pad_sequence(feats, batch_first=True)]

    def _kaldi_features(self, wav: torch.Tensor) -> torch.Tensor:
        """`get_extracter`'s pipeline on one utterance: kaldi features, deltas, CMVN over its frames."""
        feat = append_deltas(self.kaldi(wav), self.delta["order"], self.delta["win_length"], self.delta["mode"])
        if not self.cmvn["use_cmvn"]:
            return feat
        return utterance_cmvn(feat, dim=0, eps=self.cmvn["eps"], nan_on_one_frame=self.config.s3prl_nan_cmvn)

    def _online_features(self, wavs: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
        """The baseline expert's `_preprocessor_forward` on a zero-padded batch: one (frames, dim) tensor each."""
        # OnlinePreprocessor without wavs_len: each utterance ends at its last non-zero sample (all of the batch
        # if it has none). Its re-padding slices the channel axis (`wav[:len]` of a (1, samples) row), so the STFT
        # still runs on the whole padded batch: only the CMVN lengths change.
        nonzero_lengths = []
        for wav in wavs:
            nonzero = torch.nonzero(wav)
            nonzero_lengths.append(int(nonzero[-1, 0]) + 1 if len(nonzero) else wavs.shape[-1])
        feats, _ = self.stft(wavs, nonzero_lengths)
        # the expert's lengths: a ratio from the first utterance, Python floats and rounding
        ratio = feats.shape[1] / lengths[0]
        return [feat[: round(length * ratio)] for feat, length in zip(feats, lengths)]


def _single_device(device_map) -> torch.device | str | int | None:
    """The one device a `device_map` names; a model without weights is never split across devices."""
    if isinstance(device_map, dict):
        devices = set(device_map.values())
        if len(devices) != 1:
            raise ValueError(f"device_map {device_map}: a model without weights goes to one device")
        device_map = devices.pop()
    if device_map == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device_map

"""Configuration of the spectral family: S3PRL's signal-processing baselines (no weights).

Two S3PRL experts compute these features; each reads a small yaml file, kept verbatim in `feature_config`:

- `upstream/baseline` (`fbank`, `fbank_no_cmvn`, `mfcc`, `spectrogram`, `mel`, `linear`, `baseline`; any yaml through
  `baseline_local`): with a `kaldi` section, `extracter.py` (torchaudio.compliance.kaldi per utterance, deltas,
  CMVN); without one, `preprocessor.py:OnlinePreprocessor` on the padded batch (STFT, mel / linear / MFCC / phase /
  complex, log, deltas, CMVN);
- `upstream/log_stft` (`stft_mag`, which S3PRL only runs with `extra_conf={"model_config": yaml}`): STFT magnitude
  per utterance, optionally its log.

`normalize_extracter_config`, `normalize_preprocessor_config` and `normalize_log_stft_config` check a yaml as S3PRL's
code would read it and return the values that shape the features, with S3PRL's defaults filled in.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from huggingface_hub.dataclasses import strict

from ...frontends import KALDI_DEFAULTS, MFCC_N_MELS, ONLINE_FEATURES, kaldi_output_dim
from ...modeling_utils import UpstreamConfig

# S3PRL's baseline and log_stft experts assume 16 kHz input (expert.py SAMPLE_RATE).
SAMPLE_RATE = 16000
EXPERTS = ("baseline", "log_stft")

# OnlinePreprocessor's keyword defaults (upstream/baseline/preprocessor.py); it ignores other keys (**kwargs).
_PREPROCESSOR_DEFAULTS = {"sample_rate": 16000, "win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 40,
                          "n_mfcc": 13, "eps": 1e-10}
# OnlinePreprocessor.get_feat_config's defaults for the input feature.
_FEATURE_DEFAULTS = {"log": False, "delta": 0, "cmvn": False}
# The modes torch.nn.functional.pad accepts for compute_deltas' padding.
_DELTA_MODES = ("replicate", "reflect", "constant", "circular")


def normalize_extracter_config(config: Mapping) -> dict:
    """Check a `kaldi` config of S3PRL's baseline extracter (`upstream/baseline/extracter.py:get_extracter`).

    Returns:
        `{"kaldi": {"feat_type", <feat_type>: options}, "delta": {"order", "win_length", "mode"},
        "cmvn": {"use_cmvn", "eps"}}`: the kaldi options as given (S3PRL adds `sample_frequency=16000`), the
        `Delta` and `CMVN` modules' arguments with their defaults.

    Raises:
        ValueError: a config S3PRL cannot run, or one this package does not reproduce (dither, VTLN).

    Example:
        >>> normalize_extracter_config({"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80}},
        ...                             "cmvn": {"use_cmvn": True}})["delta"]
        {'order': 2, 'win_length': 5, 'mode': 'replicate'}
    """
    kaldi = config["kaldi"]
    if not isinstance(kaldi, Mapping):
        raise ValueError("the 'kaldi' section must be a mapping")
    feat_type = kaldi.get("feat_type", "fbank")  # ExtractAudioFeature's default
    if feat_type not in KALDI_DEFAULTS:
        raise ValueError(f"kaldi feat_type must be one of {sorted(KALDI_DEFAULTS)}, got {feat_type!r}")
    if not isinstance(kaldi.get(feat_type), Mapping):
        raise ValueError(f"the kaldi section has no '{feat_type}' options (S3PRL reads kaldi[{feat_type!r}])")
    options = dict(kaldi[feat_type])
    # S3PRL passes sample_frequency=16000 itself; giving it again fails in S3PRL.
    unknown = sorted(set(options) - set(KALDI_DEFAULTS[feat_type]) | ({"sample_frequency"} & set(options)))
    if unknown:
        raise ValueError(f"unsupported kaldi {feat_type} options: {unknown}")
    if options.get("dither", 0.0) != 0.0:
        raise ValueError("dither != 0 makes the features random; only dither=0.0 is reproducible")
    delta = dict(config.get("delta") or {})
    unknown = sorted(set(delta) - {"order", "win_length", "mode"})
    if unknown:
        raise ValueError(f"unsupported delta options {unknown}: S3PRL's Delta takes order, win_length and mode")
    delta = {"order": int(delta.get("order", 2)), "win_length": int(delta.get("win_length", 5)),
             "mode": delta.get("mode", "replicate")}
    if delta["order"] < 0 or delta["win_length"] < 3 or delta["mode"] not in _DELTA_MODES:
        raise ValueError(f"delta {delta}: need order >= 0, win_length >= 3 and mode in {_DELTA_MODES}")
    cmvn = dict(config.get("cmvn") or {})
    if "use_cmvn" not in cmvn:
        raise ValueError("the config has no cmvn.use_cmvn (S3PRL's CMVN module requires it)")
    unknown = sorted(set(cmvn) - {"use_cmvn", "eps"})
    if unknown:
        raise ValueError(f"unsupported cmvn options {unknown}: S3PRL's CMVN takes use_cmvn and eps")
    return {"kaldi": {"feat_type": feat_type, feat_type: options}, "delta": delta,
            "cmvn": {"use_cmvn": bool(cmvn["use_cmvn"]), "eps": float(cmvn.get("eps", 1e-10))}}


def normalize_preprocessor_config(config: Mapping) -> dict:
    """Check a config of S3PRL's `OnlinePreprocessor` (`upstream/baseline/preprocessor.py:get_preprocessor`).

    Returns:
        The preprocessor's arguments with their defaults (`sample_rate`, `win_ms`, `hop_ms`, `n_freq`, `n_mels`,
        `n_mfcc`, `eps`) and `input: {feat_type, log, delta, cmvn}` cast as `select_feat` casts them. Other keys
        (`target`, `target_level`, ...) are ignored, as the expert ignores them.

    Raises:
        ValueError: a config S3PRL cannot run.

    Example:
        >>> normalize_preprocessor_config({"n_mels": 80, "input": {"feat_type": "mel", "log": True}})["input"]
        {'feat_type': 'mel', 'log': True, 'delta': 0, 'cmvn': False}
    """
    if not isinstance(config.get("input"), Mapping):
        raise ValueError("the config has neither a 'kaldi' nor an 'input' section (S3PRL's baseline expert reads one)")
    out = {key: config.get(key, value) for key, value in _PREPROCESSOR_DEFAULTS.items()}
    feature = {**_FEATURE_DEFAULTS, **config["input"]}
    feat_type = feature.get("feat_type")
    if feat_type == "wav":
        raise ValueError("feat_type 'wav' gives one frame per sample; S3PRLUpstream cannot match that to the hop "
                         "and fails on it")
    if feat_type not in ONLINE_FEATURES:
        raise ValueError(f"input feat_type must be one of {ONLINE_FEATURES}, got {feat_type!r}")
    unknown = sorted(set(feature) - {"feat_type", "channel", "log", "delta", "cmvn"})
    if unknown:
        raise ValueError(f"unsupported input options {unknown}")
    # get_preprocessor sets channel 0 whatever the config says; select_feat casts the rest
    out["input"] = {"feat_type": feat_type, "log": bool(feature["log"]), "delta": int(feature["delta"]),
                    "cmvn": bool(feature["cmvn"])}
    if out["input"]["delta"] < 0:
        raise ValueError(f"input delta must be >= 0, got {out['input']['delta']}")
    if out["sample_rate"] != SAMPLE_RATE:
        raise ValueError(f"sample_rate {out['sample_rate']}: S3PRL's baseline expert assumes {SAMPLE_RATE} Hz")
    if out["n_freq"] != 201:
        raise ValueError(f"n_freq {out['n_freq']}: OnlinePreprocessor applies torchaudio's MelScale (n_stft=201) on "
                         f"every call and fails on other sizes")
    if not 0 < out["n_mfcc"] <= MFCC_N_MELS:
        raise ValueError(f"n_mfcc {out['n_mfcc']}: torchaudio's MFCC (computed on every call) needs 1 to "
                         f"{MFCC_N_MELS}")
    win = round(out["win_ms"] * SAMPLE_RATE / 1000)
    hop = round(out["hop_ms"] * SAMPLE_RATE / 1000)
    if not 0 < win <= (out["n_freq"] - 1) * 2 or hop <= 0:
        raise ValueError(f"a window of {win} and a hop of {hop} samples: torch.stft needs 0 < window <= "
                         f"{(out['n_freq'] - 1) * 2} (the FFT size) and a positive hop")
    return out


def normalize_log_stft_config(config: Mapping) -> dict:
    """Check a config of S3PRL's `log_stft` expert (`upstream/log_stft/expert.py:Spectrogram`).

    Returns:
        `{"n_fft", "hop_length", "win_length", "center", "log"}`.

    Raises:
        ValueError: a config S3PRL cannot run.

    Example:
        >>> normalize_log_stft_config({"spectrogram": {"n_fft": 512, "hop_length": 320, "win_length": 512,
        ...                            "window": "hann", "center": True, "log": False}})["hop_length"]
        320
    """
    section = config.get("spectrogram")
    if not isinstance(section, Mapping):
        raise ValueError("a log_stft config needs a 'spectrogram' section")
    required = ("n_fft", "hop_length", "win_length", "window", "center", "log")
    missing = [key for key in required if key not in section]
    if missing:
        raise ValueError(f"the 'spectrogram' section lacks {missing} (S3PRL reads every one)")
    if section["window"] != "hann":
        raise ValueError(f"window {section['window']!r}: S3PRL's log_stft expert only defines 'hann'")
    out = {"n_fft": int(section["n_fft"]), "hop_length": int(section["hop_length"]),
           "win_length": int(section["win_length"]), "center": bool(section["center"]), "log": bool(section["log"])}
    if not 0 < out["win_length"] <= out["n_fft"] or out["hop_length"] <= 0:
        raise ValueError(f"{out}: torch.stft needs 0 < win_length <= n_fft and hop_length > 0")
    return out


def normalize_feature_config(expert: str, config: Mapping) -> dict:
    """`{"kind": "kaldi" | "online" | "log_stft", **normalised}` for S3PRL's `expert` reading `config`."""
    if expert not in EXPERTS:
        raise ValueError(f"expert must be one of {EXPERTS}, got {expert!r}")
    if not isinstance(config, Mapping):
        raise ValueError(f"feature_config must be a mapping (S3PRL's yaml), got {type(config).__name__}")
    if expert == "log_stft":
        return {"kind": "log_stft", **normalize_log_stft_config(config)}
    if "kaldi" in config:  # the baseline expert's own test
        return {"kind": "kaldi", **normalize_extracter_config(config)}
    return {"kind": "online", **normalize_preprocessor_config(config)}


def feature_dim(frontend: Mapping) -> int:
    """Features per frame of a normalised feature config."""
    if frontend["kind"] == "log_stft":
        return frontend["n_fft"] // 2 + 1
    if frontend["kind"] == "kaldi":
        feat_type = frontend["kaldi"]["feat_type"]
        return kaldi_output_dim(feat_type, **frontend["kaldi"][feat_type]) * (frontend["delta"]["order"] + 1)
    feature = frontend["input"]
    base = {"linear": frontend["n_freq"], "phase": frontend["n_freq"], "complx": 2 * frontend["n_freq"],
            "mel": frontend["n_mels"], "mfcc": frontend["n_mfcc"]}[feature["feat_type"]]
    return base * (feature["delta"] + 1)


def downsample_rate(frontend: Mapping) -> int:
    """The stride each S3PRL expert reports (`get_downsample_rates`), computed as it computes it."""
    if frontend["kind"] == "log_stft":
        return frontend["hop_length"]
    if frontend["kind"] == "kaldi":
        feat_type = frontend["kaldi"]["feat_type"]
        return round(frontend["kaldi"][feat_type].get("frame_shift", 10.0) * SAMPLE_RATE / 1000)
    return round(frontend["hop_ms"] * SAMPLE_RATE / 1000)


@strict
class S3prlSpectralConfig(UpstreamConfig):
    """A signal-processing baseline of S3PRL: which expert computes it and its yaml config, verbatim.

    Args:
        expert: S3PRL's expert: "baseline" (`upstream/baseline`) or "log_stft" (`upstream/log_stft`).
        feature_config: The expert's yaml config as S3PRL loads it (a mapping); S3PRL's `fbank.yaml` by default.
        s3prl_nan_cmvn: Reproduce S3PRL's CMVN of an utterance that gives one feature frame: NaN (the unbiased std
            of one value), spreading to its hidden states. Off by default: that frame comes out as zeros and the
            hidden states stay finite; longer utterances are S3PRL's numbers either way.

    Example:
        >>> config = S3prlSpectralConfig()
        >>> config.num_layers, config.hidden_sizes, config.downsample_rates
        (1, (240,), (160,))
    """

    model_type = "s3prl_spectral"

    expert: str = "baseline"
    feature_config: dict | None = None
    s3prl_nan_cmvn: bool = False

    def __post_init__(self, **kwargs):
        config = FBANK if self.feature_config is None else self.feature_config
        if not isinstance(config, Mapping):
            raise ValueError(f"feature_config must be a mapping (S3PRL's yaml), got {type(config).__name__}")
        self.feature_config = copy.deepcopy(dict(config))
        normalize_feature_config(self.expert, self.feature_config)  # a config S3PRL cannot run fails here
        if self.sampling_rate != SAMPLE_RATE:
            raise ValueError(f"sampling_rate {self.sampling_rate}: S3PRL's baseline features assume {SAMPLE_RATE} Hz")
        super().__post_init__(**kwargs)

    @property
    def frontend(self) -> dict:
        """The normalised feature config (see `normalize_feature_config`)."""
        return normalize_feature_config(self.expert, self.feature_config)

    @property
    def num_layers(self) -> int:
        return 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (feature_dim(self.frontend),)

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (downsample_rate(self.frontend),)


# S3PRL 0.4.18's yaml files, verbatim values (upstream/baseline/*.yaml, upstream/log_stft/stft_mag.yaml).
FBANK = {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80, "frame_length": 25.0, "frame_shift": 10.0,
                                                   "use_log_fbank": True}},
         "delta": {"order": 2, "win_length": 5}, "cmvn": {"use_cmvn": True}}
FBANK_NO_CMVN = {**FBANK, "cmvn": {"use_cmvn": False}}
MFCC = {"kaldi": {"feat_type": "mfcc", "mfcc": {"num_ceps": 13, "frame_length": 25.0, "frame_shift": 10.0}},
        "delta": {"order": 2, "win_length": 5}, "cmvn": {"use_cmvn": True}}
SPECTROGRAM = {"kaldi": {"feat_type": "spectrogram", "spectrogram": {"frame_length": 25.0, "frame_shift": 10.0}},
               "delta": {"order": 0, "win_length": 5}, "cmvn": {"use_cmvn": True}}
MEL = {"win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80, "n_mfcc": 13,
       "input": {"feat_type": "mel", "channel": 0, "log": True, "delta": 0, "cmvn": True}}
LINEAR = {"win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80, "n_mfcc": 13,
          "input": {"feat_type": "linear", "channel": 0, "log": True, "delta": 0, "cmvn": True}}
STFT_MAG = {"feat_type": "spectrogram", "spectrogram": {"n_fft": 512, "hop_length": 320, "win_length": 512,
                                                        "window": "hann", "center": True, "log": False}}

# name -> config: what S3PRL's hub function runs (`baseline` is S3PRL's alias of `fbank`).
REFERENCE_CONFIGS: dict[str, dict] = {
    "fbank": dict(expert="baseline", feature_config=FBANK),
    "fbank_no_cmvn": dict(expert="baseline", feature_config=FBANK_NO_CMVN),
    "mfcc": dict(expert="baseline", feature_config=MFCC),
    "spectrogram": dict(expert="baseline", feature_config=SPECTROGRAM),
    "mel": dict(expert="baseline", feature_config=MEL),
    "linear": dict(expert="baseline", feature_config=LINEAR),
    "stft_mag": dict(expert="log_stft", feature_config=STFT_MAG),
}

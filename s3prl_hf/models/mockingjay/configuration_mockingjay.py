"""Configuration of the Mockingjay family: Mockingjay, TERA and Audio ALBERT (S3PRL's `upstream/mockingjay`).

The three methods share one network (S3PRL runs all of them with `upstream/mockingjay/expert.py`): a spectrogram
frontend, a linear input projection + sinusoidal positions + LayerNorm, and BERT layers (one layer shared across
depth for Audio ALBERT). The frontend is described by the checkpoint's own S3PRL `audio` config, kept in
`audio_config` in S3PRL's schema (see `normalize_audio_config`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from huggingface_hub.dataclasses import strict

from ...frontends import STFT_FEATURES, kaldi_frame_sizes, kaldi_output_dim
from ...modeling_utils import EncoderLayersConfig
from ..spectral.configuration_spectral import normalize_extracter_config

# S3PRL's mockingjay expert reports this stride whatever the frontend (`get_downsample_rates` returns 160).
DOWNSAMPLE_RATE = 160
SAMPLE_RATE = 16000

# The 80-dim log-mel input of every logMel checkpoint (pretrain/tera/exp_model_config/logMelBase-T.yaml).
LOG_MEL_80 = {"target_level": -25, "sample_rate": 16000, "win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80,
              "eps": 1e-10, "input": {"feat_type": "mel", "log": True, "delta": 0, "cmvn": True}}
# The 240-dim fbank of tera_fbankBase (pretrain/tera/exp_model_config/fbankBase-T-F.yaml).
FBANK_240 = {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80, "frame_length": 25.0, "frame_shift": 10.0,
                                                       "use_log_fbank": True}},
             "delta": {"order": 2, "win_length": 5, "mode": "replicate"}, "cmvn": {"use_cmvn": True, "eps": 1e-10}}

# OnlinePreprocessor's keyword defaults (upstream/baseline/preprocessor.py) for the keys a config may omit.
_ONLINE_DEFAULTS = {"sample_rate": 16000, "win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 40, "eps": 1e-10}
# select_feat's defaults for the input feature.
_FEATURE_DEFAULTS = {"log": False, "delta": 0, "cmvn": False}


def normalize_audio_config(audio: Mapping) -> dict:
    """Check an S3PRL `audio` config and return the part that shapes the input features, with S3PRL's defaults.

    Two schemas, chosen as S3PRL's builder chooses (`"kaldi" in audio`):

    - online (`upstream/baseline/preprocessor.py`, all logMel checkpoints): `target_level` (dB of the per-utterance
      normalisation), `win_ms`, `hop_ms`, `n_freq`, `n_mels`, `eps` and `input: {feat_type, log, delta, cmvn}`;
      the pretraining `target` and the channels are dropped (S3PRL's expert ignores them);
    - kaldi (`upstream/baseline/extracter.py`, tera_fbankBase): `kaldi: {feat_type, <feat_type>: {options of
      torchaudio.compliance.kaldi.<feat_type>}}`, `delta: {order, win_length, mode}`, `cmvn: {use_cmvn, eps}`.

    Raises:
        ValueError: a config S3PRL cannot run, or a feature this package does not reproduce.

    Example:
        >>> normalize_audio_config({"target_level": -25, "n_mels": 80, "input": {"feat_type": "mel"}})["input"]
        {'feat_type': 'mel', 'log': False, 'delta': 0, 'cmvn': False}
    """
    if not isinstance(audio, Mapping):
        raise ValueError(f"audio config must be a mapping, got {type(audio).__name__}")
    return _normalize_kaldi(audio) if "kaldi" in audio else _normalize_online(audio)


def _normalize_online(audio: Mapping) -> dict:
    if "target_level" not in audio:
        raise ValueError("the online audio config has no 'target_level' (S3PRL's builder requires it)")
    if not isinstance(audio.get("input"), Mapping):
        raise ValueError("the online audio config has no 'input' feature section")
    out = {"target_level": audio["target_level"], **{k: audio.get(k, v) for k, v in _ONLINE_DEFAULTS.items()}}
    feature = {**_FEATURE_DEFAULTS, **audio["input"]}
    feat_type = feature.get("feat_type")
    if feat_type not in STFT_FEATURES:
        raise ValueError(f"input feat_type {feat_type!r} is not supported: S3PRL's OnlinePreprocessor input must be "
                         f"one of {STFT_FEATURES} here (no released checkpoint uses mfcc, phase, complx or wav)")
    # select_feat's casts: bool(log), int(delta), bool(cmvn)
    out["input"] = {"feat_type": feat_type, "log": bool(feature["log"]), "delta": int(feature["delta"]),
                    "cmvn": bool(feature["cmvn"])}
    if out["sample_rate"] != SAMPLE_RATE:
        raise ValueError(f"sample_rate {out['sample_rate']}: S3PRL feeds these upstreams 16 kHz audio")
    hop = round(out["hop_ms"] * out["sample_rate"] / 1000)
    if hop != DOWNSAMPLE_RATE:
        raise ValueError(f"a hop of {hop} samples: S3PRL's mockingjay expert assumes {DOWNSAMPLE_RATE}")
    if feat_type == "mel" and out["n_freq"] != 201:
        raise ValueError(f"mel features need n_freq=201 (S3PRL's MelScale uses torchaudio's default), got "
                         f"{out['n_freq']}")
    return out


def _normalize_kaldi(audio: Mapping) -> dict:
    # S3PRL's mockingjay expert builds this frontend with the baseline extracter (`upstream/baseline/extracter.py`)
    out = normalize_extracter_config(audio)
    feat_type = out["kaldi"]["feat_type"]
    shift = kaldi_frame_sizes(**out["kaldi"][feat_type])[1]
    if shift != DOWNSAMPLE_RATE:
        raise ValueError(f"a frame shift of {shift} samples: S3PRL's mockingjay expert assumes {DOWNSAMPLE_RATE}")
    return out


def audio_feature_dim(audio: Mapping) -> int:
    """Features per frame that the frontend described by a normalised audio config produces."""
    if "kaldi" in audio:
        feat_type = audio["kaldi"]["feat_type"]
        return kaldi_output_dim(feat_type, **audio["kaldi"][feat_type]) * (audio["delta"]["order"] + 1)
    feature = audio["input"]
    base = audio["n_mels"] if feature["feat_type"] == "mel" else audio["n_freq"]
    return base * (feature["delta"] + 1)


@strict
class S3prlMockingjayConfig(EncoderLayersConfig):
    """Architecture of a Mockingjay / TERA / Audio ALBERT upstream, with transformers' BERT field names.

    The transformer fields are those of S3PRL's `TransformerConfig` (the same names as `transformers.BertConfig`),
    so transformers' `BertLayer` is built from this config directly.

    Args:
        hidden_size: Transformer width.
        num_hidden_layers: Transformer depth (applications of the shared layer when `share_layer`).
        num_attention_heads: Attention heads.
        intermediate_size: Feed-forward width.
        hidden_act: Feed-forward activation: "gelu" (erf), "relu" or "swish".
        hidden_dropout_prob: Dropout after the input block, attention and feed-forward.
        attention_probs_dropout_prob: Dropout on attention weights.
        initializer_range: Std of the normal init of freshly built (not loaded) weights.
        layer_norm_eps: Epsilon of every LayerNorm (TF style, inside the square root).
        share_layer: One layer applied `num_hidden_layers` times (Audio ALBERT).
        pre_layer_norm: Pre-LN layers, with a LayerNorm on every returned hidden state.
        sequence_length: S3PRL's `task.sequence_length`: longer inputs (in frames) are cut into
            `ceil(frames / sequence_length)` chunks encoded independently; 0 disables chunking.
        audio_config: The checkpoint's S3PRL `audio` config (see `normalize_audio_config`); 80-dim log-mel by
            default.
        batch_invariant: Encode each utterance of a batch alone, so its features do not depend on the rest of the
            batch (S3PRL's frontend padding, CMVN rounding and chunking make them depend on it). Off by default,
            which reproduces S3PRL's batched numbers.
        s3prl_nan_cmvn: Reproduce S3PRL's CMVN of an utterance that gives one feature frame: NaN (the unbiased std
            of one value), spreading to its hidden states. Off by default: that frame comes out as zeros and the
            hidden states stay finite; longer utterances are S3PRL's numbers either way.

    Example:
        >>> config = S3prlMockingjayConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                                intermediate_size=64)
        >>> config.num_layers, config.downsample_rates[0], config.feature_dim
        (3, 160, 80)
    """

    model_type = "s3prl_mockingjay"

    hidden_size: int = 768
    num_hidden_layers: int = 3
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    share_layer: bool = False
    pre_layer_norm: bool = False
    sequence_length: int = 1500
    audio_config: dict | None = None
    batch_invariant: bool = False
    s3prl_nan_cmvn: bool = False

    # transformers' BertLayer reads these; S3PRL's layers are encoder-only.
    is_decoder = False
    add_cross_attention = False

    def __post_init__(self, **kwargs):
        self.audio_config = normalize_audio_config(copy.deepcopy(self.audio_config) if self.audio_config is not None
                                                   else LOG_MEL_80)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Reject inconsistent shapes and unknown activations before any module is built."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                             f"{self.num_attention_heads}")
        if self.hidden_act not in ("gelu", "relu", "swish"):
            raise ValueError(f"hidden_act must be one of S3PRL's 'gelu', 'relu', 'swish', got {self.hidden_act!r}")
        if self.num_hidden_layers < 1 or self.sequence_length < 0:
            raise ValueError(f"need num_hidden_layers >= 1 and sequence_length >= 0, got {self.num_hidden_layers} "
                             f"and {self.sequence_length}")

    @property
    def feature_dim(self) -> int:
        """Features per frame that the frontend feeds the input projection."""
        return audio_feature_dim(self.audio_config)

    @property
    def frame_stride(self) -> int:
        return DOWNSAMPLE_RATE


# The released architectures, from S3PRL's pretraining recipes: 3-layer "Base" = pretrain/tera/exp_model_config/
# logMelBase-T.yaml (Mockingjay, alteration "T") and logMelBase-T-F-M.yaml (TERA); "LinearLarge" =
# pretrain/mockingjay/config_model_large.yaml (12 layers, sequence_length 500, log-mel in / linear out);
# tera_fbankBase = pretrain/tera/exp_model_config/fbankBase-T-F.yaml; Audio ALBERT = pretrain/audio_albert/
# config_model.yaml (3 applications of one shared layer). The names' documented differences are applied
# ("drop1": dropout 0.1 instead of the recipes' 0.3; "seq3k": sequence_length 3000 instead of 1500). The released
# checkpoints' own configs could not be read here: these describe the models for cards and parameter counts, and a
# conversion always takes the architecture from the checkpoint itself.
_BASE = dict(hidden_size=768, num_hidden_layers=3, num_attention_heads=12, intermediate_size=3072,
             hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3, sequence_length=1500, audio_config=LOG_MEL_80)
_DROP1 = dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
REFERENCE_CONFIGS: dict[str, dict] = {
    "mockingjay_logMelBase_T_AdamW_b32_200k_100hr": dict(_BASE),
    "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1": {**_BASE, **_DROP1, "num_hidden_layers": 12,
                                                                  "sequence_length": 500},
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr": dict(_BASE),
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1": {**_BASE, **_DROP1},
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k": {**_BASE, "sequence_length": 3000},
    "tera_logMelBase_T_F_AdamW_b32_200k_100hr": dict(_BASE),
    "tera_logMelBase_T_F_M_AdamW_b32_200k_100hr": dict(_BASE),
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr": dict(_BASE),
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1": {**_BASE, **_DROP1},
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k": {**_BASE, "sequence_length": 3000},
    "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1": {**_BASE, **_DROP1},
    "tera_fbankBase_T_F_AdamW_b32_200k_100hr": {**_BASE, "audio_config": FBANK_240},
    "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1": {**_BASE, **_DROP1, "share_layer": True},
    # pretrain/spec_augment/config_model.yaml: the Base transformer with dropout 0.1 on log-mel
    "spec_augment": {**_BASE, **_DROP1},
}

"""Sane bounds for every size and value of every upstream config, checked when a config is built.

A config comes from an original checkpoint (a converter translates its sizes) or from a `config.json`; either may be
corrupt or crafted. Nothing may allocate, loop or pad by a size that was not checked first, so every config runs
`check_config` at construction (`UpstreamConfig.validate_bounds`): each field must have its annotated type (`True`,
not `"yes"`; an int, not `1e12`), and each number must lie in the range `FIELD_BOUNDS` gives for its field name,
the same for every family. Numbers in dict fields (S3PRL's audio configs, VQ paras, a frontend's config) are checked
by the same table where their key is in it, and must at least be finite elsewhere.

The bounds are far beyond every released upstream (48 layers, 1920 wide, 16 heads, 16 kHz) and far below what
would exhaust a machine; families add their own structural checks in their `validate_*` hooks.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass

from huggingface_hub.errors import StrictDataclassError

MAX_LAYERS = 256
MAX_WIDTH = 65536
MAX_HEADS = 1024
MAX_KERNEL = 4096
MAX_STRIDE = 4096
MAX_FFT = 32768  # STFT / analysis windows, in samples
MAX_MEL_BINS = 1024
MAX_VOCAB = 1 << 22
MAX_FRAMES = 1 << 20  # positions, chunk lengths, frame counts
MAX_ITEMS = 1024  # entries of any list or dict in a config
MAX_DEPTH = 8  # nesting of dict fields
MIN_SAMPLING_RATE, MAX_SAMPLING_RATE = 1000, 192000
MAX_SECONDS = 60.0  # analysis windows and strides given in seconds
MAX_MS = 1000.0  # analysis windows and hops given in milliseconds
MAX_MAGNITUDE = 1e12  # any other number in a config


@dataclass(frozen=True)
class Bound:
    """An allowed range: integers in [low, high], or finite floats in [low, high] (`(low, high]` if `open_low`)."""

    low: float
    high: float
    integer: bool = True
    open_low: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        left = "(" if self.open_low else "["
        return f"{kind} in {left}{_number(self.low)}, {_number(self.high)}]"

    def accepts(self, value) -> bool:
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (value > self.low if self.open_low else value >= self.low) and value <= self.high


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _ints(low: int, high: int) -> Bound:
    return Bound(low, high)


def _floats(low: float, high: float, *, open_low: bool = False) -> Bound:
    return Bound(low, high, integer=False, open_low=open_low)


_LAYERS = _ints(0, MAX_LAYERS)
_WIDTH = _ints(1, MAX_WIDTH)
_KERNEL = _ints(1, MAX_KERNEL)
_STRIDE = _ints(1, MAX_STRIDE)
_FFT = _ints(1, MAX_FFT)
_PROBABILITY = _floats(0.0, 1.0)
_EPS = _floats(0.0, 1.0, open_low=True)
_HZ = _floats(0.0, MAX_SAMPLING_RATE / 2)
_SECONDS = _floats(1e-3, MAX_SECONDS)
_MS = _floats(0.0, MAX_MS, open_low=True)
_POSITIVE = _floats(0.0, MAX_MAGNITUDE, open_low=True)
_FINITE = _floats(-MAX_MAGNITUDE, MAX_MAGNITUDE)
_TOKEN = _ints(0, MAX_VOCAB)

# field name -> bound of the value, or of each entry of a list value. One table for every family: a field name
# means the same kind of quantity wherever it appears (a config's own fields and keys inside its dict fields).
FIELD_BOUNDS: dict[str, Bound] = {
    # sampling rates, in Hz
    "sampling_rate": _ints(MIN_SAMPLING_RATE, MAX_SAMPLING_RATE),
    "sr": _ints(MIN_SAMPLING_RATE, MAX_SAMPLING_RATE),
    "sample_rate": _ints(MIN_SAMPLING_RATE, MAX_SAMPLING_RATE),
    # layer and block counts
    "num_hidden_layers": _ints(1, MAX_LAYERS),
    "num_layers_rnn": _ints(1, MAX_LAYERS),
    "ar_num_layers": _LAYERS,
    "rnn_layers": _LAYERS,
    "n_blocks": _ints(1, MAX_LAYERS),
    "middle_block_layers": _LAYERS,
    "encoder_block_layers": _LAYERS,
    "decoder_block_layers": _LAYERS,
    "resnet_layers": _LAYERS,
    "cvt_depths": _LAYERS,
    "num_prediction_heads": _LAYERS,
    "prediction_layer_ids": _LAYERS,
    "num_hooked_skips": _LAYERS,
    "pos_conv_depth": _ints(1, MAX_LAYERS),
    "vq_depth": _ints(1, MAX_LAYERS),
    # widths
    "hidden_size": _WIDTH,
    "intermediate_size": _WIDTH,
    "layer_intermediate_sizes": _WIDTH,
    "conv_dim": _WIDTH,
    "aggregator_dim": _WIDTH,
    "conv_channels": _WIDTH,
    "cvt_embed_dims": _WIDTH,
    "cvt_dim_head": _WIDTH,
    "cvt_mlp_mults": _ints(1, 64),
    "attention_head_dim": _WIDTH,
    "fmaps": _WIDTH,
    "emb_dim": _WIDTH,
    "rnn_dim": _WIDTH,
    "ar_hidden_size": _WIDTH,
    "encoder_hidden_size": _WIDTH,
    "feature_d": _WIDTH,
    "prediction_head_size": _WIDTH,
    "prediction_head_intermediate_size": _WIDTH,
    "resnet_stem_channels": _WIDTH,
    "resnet_widths": _WIDTH,
    "embedding_sizes": _WIDTH,
    "features_config": _WIDTH,  # VGGish's conv widths (its "M" entries are max-pools)
    "pca_size": _WIDTH,
    "dim_bottleneck": _WIDTH,
    "vq_dim": _ints(0, MAX_WIDTH),  # 0: the quantiser's own width
    "code_dim": _WIDTH,
    "feat_dim": _ints(1, 4 * MAX_MEL_BINS),
    # attention heads and groups
    "num_attention_heads": _ints(1, MAX_HEADS),
    "layer_attention_heads": _ints(1, MAX_HEADS),
    "cvt_heads": _ints(1, MAX_HEADS),
    "num_conv_pos_embedding_groups": _ints(1, MAX_WIDTH),
    "vq_groups": _ints(1, MAX_HEADS),
    # kernels, strides and dilations
    "conv_kernel": _KERNEL,
    "aggregator_kernel": _KERNEL,
    "kwidths": _KERNEL,
    "cvt_embed_kernels": _KERNEL,
    "cvt_proj_kernels": _KERNEL,
    "kernel_size": _KERNEL,
    "kernel_size_time": _KERNEL,
    "kernel_size_chan": _KERNEL,
    "num_conv_pos_embeddings": _KERNEL,
    "conv_depthwise_kernel_size": _KERNEL,
    "resnet_stem_kernel": _KERNEL,
    "resampler_kernel_size": _KERNEL,
    "mask_size": _KERNEL,
    "conv_stride": _STRIDE,
    "aggregator_stride": _STRIDE,
    "strides": _STRIDE,
    "cvt_embed_strides": _STRIDE,
    "cvt_kv_proj_strides": _STRIDE,
    "stride_time": _STRIDE,
    "stride_chan": _STRIDE,
    "frequency_stride": _STRIDE,
    "time_stride": _STRIDE,
    "dilations": _STRIDE,
    "crop_seq_to_multiple": _STRIDE,
    "seq_len_multiple": _STRIDE,
    "resolution_ratios": _ints(1, 64),
    "window_scales": _ints(1, 64),
    "downsample_rate": _ints(1, int(MAX_SAMPLING_RATE * MAX_SECONDS)),
    # analysis windows, in samples, frames or bins
    "n_fft": _FFT,
    "win_length": _FFT,
    "hop_length": _FFT,
    "stft_window_length": _FFT,
    "stft_hop_length": _FFT,
    "mel_hop_length": _FFT,
    "mel_window_samples": _FFT,
    "n_freq": _ints(1, MAX_FFT // 2 + 1),
    "n_mels": _ints(1, MAX_MEL_BINS),
    "num_mel_bins": _ints(1, MAX_MEL_BINS),
    "n_mfcc": _ints(1, MAX_MEL_BINS),
    "num_ceps": _ints(1, MAX_MEL_BINS),
    "example_window_frames": _ints(1, MAX_FRAMES),
    "example_hop_frames": _ints(1, MAX_FRAMES),
    "patch_size": _ints(1, MAX_KERNEL),
    "time_patches": _ints(1, MAX_FRAMES),
    "frequency_patches": _ints(1, MAX_FRAMES),
    "position_embedding_grid": _ints(1, MAX_FRAMES),
    "max_positions": _ints(1, MAX_FRAMES),
    "max_position_embeddings": _ints(1, MAX_FRAMES),
    "max_token_length": _ints(1, MAX_FRAMES),
    "sequence_length": _ints(0, MAX_FRAMES),  # 0: no chunking
    "num_buckets": _ints(1, MAX_FRAMES),
    "max_bucket_distance": _ints(1, MAX_FRAMES),
    "order": _ints(0, 8),  # delta order
    "delta": _ints(0, 8),
    "channel": _ints(0, 64),
    # durations
    "window_secs": _SECONDS,
    "stride_secs": _SECONDS,
    "hop_secs": _SECONDS,
    "win_ms": _MS,
    "hop_ms": _MS,
    "frame_length": _MS,
    "frame_shift": _MS,
    # frequencies, in Hz
    "f_min": _HZ,
    "f_max": _HZ,
    "mel_min_hz": _HZ,
    "mel_max_hz": _HZ,
    "sinc_min_band_hz": _HZ,
    "sinc_min_low_hz": _HZ,
    # vocabularies, codebooks and labels
    "vocab_size": _ints(1, MAX_VOCAB),
    "num_code_tokens": _TOKEN,
    "num_labels": _ints(1, MAX_VOCAB),
    "type_vocab_size": _ints(1, MAX_HEADS),
    "vq_vars": _ints(1, MAX_VOCAB),
    "codebook_size": _ints(1, MAX_VOCAB),
    "bos_token_id": _TOKEN,
    "eos_token_id": _TOKEN,
    "pad_token_id": _TOKEN,
    "unk_token_id": _TOKEN,
    # epsilons, probabilities and other reals
    "layer_norm_eps": _EPS,
    "batch_norm_eps": _EPS,
    "head_layer_norm_eps": _EPS,
    "eps": _EPS,
    "hidden_dropout": _PROBABILITY,
    "activation_dropout": _PROBABILITY,
    "attention_dropout": _PROBABILITY,
    "feat_proj_dropout": _PROBABILITY,
    "attention_probs_dropout_prob": _PROBABILITY,
    "hidden_dropout_prob": _PROBABILITY,
    "conformer_conv_dropout": _PROBABILITY,
    "dropout": _PROBABILITY,
    "dropout_features": _PROBABILITY,
    "rnn_dropout": _PROBABILITY,
    "initializer_range": _floats(0.0, 10.0),
    "residual_scale": _FINITE,
    "vq_temperature": _POSITIVE,
    "gumbel_temperature": _POSITIVE,
    "norm_mean": _FINITE,
    "norm_std": _POSITIVE,
    "log_offset": _POSITIVE,
    "quantize_min_val": _FINITE,
    "quantize_max_val": _FINITE,
    "rotary_embedding_base": _floats(1.0, MAX_MAGNITUDE),
    "target_level": _floats(-1000.0, 1000.0),
}
# Fields whose values are checked by their family's `validate_*` hooks rather than by range: strings (a family's
# choices), booleans and dicts (their type is checked here, their numbers by the table above) need no entry.


class ConfigError(ValueError, StrictDataclassError):
    """An upstream config S3PRL's network cannot run or that is out of sane bounds: one line naming the field.

    A `ValueError`; also a `StrictDataclassError`, which `@strict` configs raise for failed checks.
    """


class ConfigBoundsError(ConfigError):
    """A config field has the wrong type or a value outside its sane range."""


def check_config(config) -> None:
    """Check the type and range of every field `config`'s s3prl_hf classes declare (see the module docstring).

    Raises:
        ConfigBoundsError: the first field that is out of bounds, named with its value and allowed range.

    Example:
        >>> from s3prl_hf.models.hubert import S3prlHubertConfig
        >>> S3prlHubertConfig(sampling_rate=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ConfigBoundsError: s3prl_hubert config: sampling_rate=0 is out of range: expected an integer in [1000, 192000]
    """
    for name, annotation in declared_fields(type(config)).items():
        value = getattr(config, name)
        try:
            _check_type(name, value, annotation)
            _check_value(name, value, depth=0)
        except ConfigBoundsError as error:
            raise ConfigBoundsError(f"{config.model_type} config: {error}") from None


def declared_fields(config_class: type) -> dict[str, object]:
    """{field: resolved annotation} for the dataclass fields that s3prl_hf's classes in `config_class`'s MRO declare."""
    cached = _DECLARED.get(config_class)
    if cached is None:
        names = {f.name for f in dataclasses.fields(config_class)}
        cached = {}
        for klass in reversed(config_class.__mro__):
            if not klass.__module__.startswith(__package__ + "."):
                continue
            namespace = vars(sys.modules[klass.__module__])
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if name in names:
                    cached[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
        _DECLARED[config_class] = cached
    return cached


_DECLARED: dict[type, dict[str, object]] = {}


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_type(name: str, value, annotation) -> None:
    if not _matches(value, annotation):
        raise ConfigBoundsError(f"{name}={_show(value)} has the wrong type: expected {_describe(annotation)}")


def _matches(value, annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is None or annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:  # JSON writes 1.0 as 1.0, but hand-written configs may say 1
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation is dict or origin is dict:
        return isinstance(value, Mapping)
    if origin in (list, tuple):
        if not isinstance(value, origin) or len(value) > MAX_ITEMS:
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    return True  # annotations this checker does not know are left to the family


def _describe(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is None or annotation is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(arg) for arg in args))
    if annotation is bool:
        return "true or false"
    if annotation in (int, float, str):
        return {int: "an integer", float: "a number", str: "a string"}[annotation]
    if annotation is dict or origin is dict:
        return "a mapping"
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
        return f"a list of at most {MAX_ITEMS} entries" + (f", each {_describe(args[0])}" if args else "")
    return str(annotation)


def _check_value(name: str, value, *, depth: int, key: str | None = None) -> None:
    """Check `value` (of field or key `key`, shown as `name`) and everything inside it against the table."""
    key = name if key is None else key
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        bound = FIELD_BOUNDS.get(key)
        if bound is not None and not bound.accepts(value):
            raise ConfigBoundsError(f"{name}={_show(value)} is out of range: expected {bound.describe()}")
        if bound is None and not (math.isfinite(value) and abs(value) <= MAX_MAGNITUDE):
            raise ConfigBoundsError(f"{name}={_show(value)} is out of range: expected a finite number of magnitude "
                                    f"at most {MAX_MAGNITUDE:g}")
        return
    if depth > MAX_DEPTH:
        raise ConfigBoundsError(f"{name} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        if len(value) > MAX_ITEMS:
            raise ConfigBoundsError(f"{name} has {len(value)} entries, more than {MAX_ITEMS}")
        for item_key, item in value.items():
            _check_value(f"{name}.{item_key}", item, depth=depth + 1, key=str(item_key))
        return
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise ConfigBoundsError(f"{name} has {len(value)} entries, more than {MAX_ITEMS}")
        for index, item in enumerate(value):
            _check_value(f"{name}[{index}]", item, depth=depth + 1, key=key)
        return

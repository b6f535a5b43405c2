"""The forward contract shared by every upstream family.

`UpstreamPreTrainedModel.forward` reproduces `s3prl.nn.S3PRLUpstream.forward` (s3prl 0.4.18,
`s3prl/nn/upstream.py`) once for all families: input checks, the 0.05 s minimum padding, the per-layer
length matching (truncate, or repeat the last frame), `ceil(len / stride)` output lengths and the optional
hidden-state layer norm. A family only implements `_forward_hidden_states`, which returns S3PRL's hidden
states for an already padded batch.
"""

from __future__ import annotations

import copy
import operator
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from .config_bounds import ConfigError, check_config
from .length_matching import length_error, matchable
from .safe_loading import no_conversion_requests, pickle_only_error, safetensors_kwargs
from .weight_shapes import HUB_KWARGS, check_weights_fit_config

# S3PRLUpstream pads every batch whose longest utterance is shorter than this (s3prl/nn/upstream.py).
MIN_SECONDS = 0.05


@dataclass
class UpstreamOutput(ModelOutput):
    """All hidden states of an upstream and their valid lengths.

    Unpacks like the tuple that `S3PRLUpstream` returns: `all_hs, all_hs_len = model(wavs, wavs_len)`.

    Attributes:
        hidden_states: One (B, T_l, D_l) tensor per layer, in S3PRL's order.
        hidden_states_lengths: One (B,) LongTensor per layer: the valid frames of each utterance.
    """

    hidden_states: tuple[torch.Tensor, ...] | None = None
    hidden_states_lengths: tuple[torch.Tensor, ...] | None = None

    def __iter__(self):
        # A plain ModelOutput iterates over its keys; S3PRL users unpack values.
        return iter(self.to_tuple())

    @property
    def last_hidden_state(self) -> torch.Tensor:
        """The last entry of `hidden_states`."""
        return self.hidden_states[-1]


@strict
class UpstreamConfig(PreTrainedConfig):
    """Fields shared by every upstream config.

    Args:
        sampling_rate: Sampling rate the model expects, in Hz.
        normalize: Apply `layer_norm` over the feature dimension of every returned hidden state, as
            `S3PRLUpstream(normalize=True)` does. Not part of the pretrained model; off by default.
        s3prl_name: Canonical S3PRL name of the checkpoint this model was converted from, if any.
    """

    sampling_rate: int = 16000
    normalize: bool = False
    s3prl_name: str | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # @strict runs the validate_* hooks right after __init__ but wraps their errors in a two-line
        # StrictDataclassClassValidationError; running them here first makes a bad config one ValueError line.
        self.check()

    def check(self) -> None:
        """Run every `validate_*` hook (the shared bounds of `config_bounds` and the family's own checks).

        Configs are checked when built; call this again after setting fields on a built config.

        Raises:
            ConfigError: a field with the wrong type, out of its bounds, or inconsistent with others.

        Example:
            >>> from s3prl_hf.models.hubert import S3prlHubertConfig
            >>> config = S3prlHubertConfig()
            >>> config.normalize = "yes"
            >>> config.check()  # doctest: +IGNORE_EXCEPTION_DETAIL
            Traceback (most recent call last):
            ConfigBoundsError: s3prl_hubert config: normalize='yes' has the wrong type: expected true or false
        """
        check_config(self)  # the bounds first: the family's hooks may loop over sizes
        for validator in type(self).__class_validators__:
            try:
                validator(self)
            except ConfigError:
                raise
            except (ValueError, TypeError) as error:
                raise ConfigError(f"{self.model_type} config: {error}") from None

    def validate_bounds(self):
        """Every field has its annotated type and a value within the shared sane bounds (`config_bounds`)."""
        check_config(self)

    @property
    def num_layers(self) -> int:
        """Number of hidden states the model returns."""
        raise NotImplementedError

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Feature dimension of each hidden state."""
        raise NotImplementedError

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        """Input samples per output frame, for each hidden state."""
        raise NotImplementedError


@strict
class EncoderLayersConfig(UpstreamConfig):
    """An upstream whose hidden states are its encoder's input and the output of each of `num_hidden_layers` layers,
    all `hidden_size` wide at `frame_stride` input samples per frame. Subclasses define those three."""

    @property
    def frame_stride(self) -> int:
        """Input samples per frame of every hidden state."""
        raise NotImplementedError

    @property
    def num_layers(self) -> int:
        return self.num_hidden_layers + 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,) * self.num_layers

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        return (self.frame_stride,) * self.num_layers


class UpstreamPreTrainedModel(PreTrainedModel):
    """Base class of every upstream model: S3PRL's forward semantics around a family's network.

    Example:
        >>> from s3prl_hf import AutoUpstream
        >>> model = AutoUpstream.from_pretrained("hubert_base")  # doctest: +SKIP
        >>> all_hs, all_hs_len = model(wavs, wavs_len)  # doctest: +SKIP
    """

    config_class = UpstreamConfig
    main_input_name = "wavs"
    input_modalities = "audio"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None, *model_args,
                        config: PreTrainedConfig | str | os.PathLike | None = None, **kwargs):
        """transformers' `from_pretrained`, from safetensors only, once the config passes its checks and the
        weights fit it.

        Weights are never read from a pickle (`safe_loading`). The config's bounds are checked again (keyword
        overrides are set after it was built), and the weights' names and shapes are read from the safetensors
        headers and compared with a model built on the meta device (`weight_shapes`), so a folder whose
        config.json contradicts its weights is refused before anything is allocated.

        Raises:
            ConfigError: a config value out of bounds.
            WeightsMismatchError: weights missing, unexpected or reshaped.
            s3prl_hf.safe_loading.PickledWeightsError: the weights exist only as `pytorch_model.bin`.

        Example:
            >>> model = S3prlHubertModel.from_pretrained("converted/hubert_base")  # doctest: +SKIP
        """
        kwargs = safetensors_kwargs(kwargs)
        if isinstance(config, UpstreamConfig):
            config.check()
        try:
            with no_conversion_requests():
                if pretrained_model_name_or_path is not None:
                    hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
                    checked = config
                    if not isinstance(checked, PreTrainedConfig):
                        checked = cls.config_class.from_pretrained(
                            config if config is not None else pretrained_model_name_or_path, **hub_kwargs)
                    # a copy: building a model may record choices (attention implementation) in its config
                    check_weights_fit_config(cls, copy.deepcopy(checked), pretrained_model_name_or_path, hub_kwargs)
                return super().from_pretrained(pretrained_model_name_or_path, *model_args, config=config, **kwargs)
        except OSError as error:
            clearer = pickle_only_error(pretrained_model_name_or_path, error) \
                if pretrained_model_name_or_path is not None else error
            if clearer is error:
                raise
            raise clearer from None

    @property
    def num_layers(self) -> int:
        """Number of hidden states returned by `forward`."""
        return self.config.num_layers

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Feature dimension of each hidden state."""
        return self.config.hidden_sizes

    @property
    def downsample_rates(self) -> tuple[int, ...]:
        """Input samples per output frame, for each hidden state."""
        return self.config.downsample_rates

    @property
    def sampling_rate(self) -> int:
        """Sampling rate of the expected input, in Hz."""
        return self.config.sampling_rate

    def padded_samples(self, num_samples: int) -> int:
        """Samples the network sees for a longest utterance of `num_samples`: S3PRL pads shorter than 0.05 s."""
        return max(num_samples, int(MIN_SECONDS * self.sampling_rate))

    def output_frames(self, num_samples: int) -> int | None:
        """Frames of every hidden state the network gives for a batch whose longest utterance has `num_samples`
        samples (before S3PRL's 0.05 s padding), from the config; None where the family does not say.

        Families whose receptive field can leave too few frames for S3PRL's length matching define it, so that a
        refused batch is named with the lengths that pass (`length_matching`).
        """
        return None

    def _forward_hidden_states(
        self, wavs: torch.Tensor, wavs_len: torch.LongTensor, num_hidden_states: int
    ) -> list[torch.Tensor]:
        """Return the first `num_hidden_states` of S3PRL's hidden states for a padded batch.

        Args:
            wavs: (B, T) float waveforms, zero after each utterance's length; T == max(wavs_len).
            wavs_len: (B,) valid samples per utterance.
            num_hidden_states: How many hidden states are needed (the rest need not be computed).
        """
        raise NotImplementedError

    def compile_body(self, **compile_kwargs) -> UpstreamPreTrainedModel:
        """Compile the network (`_forward_hidden_states`) with `torch.compile`, leaving `forward`'s checks eager.

        `forward` validates the inputs and makes its data-dependent decisions (lengths, S3PRL's minimum padding,
        layer selection) in Python, then calls the compiled body on the padded batch: the families of the
        wav2vec 2.0 stack trace it with no graph break (`fullgraph=True` works). A compiled body always runs the
        padded batch, also on CPU where `skip_padding` would otherwise run utterance by utterance: valid frames
        are the same, padded frames hold what the padded batch computes there. Returns the model.

        Example:
            >>> model = AutoUpstream.from_pretrained("hubert").cuda().compile_body()  # doctest: +SKIP
        """
        body = type(self)._forward_hidden_states.__get__(self)
        self._forward_hidden_states = torch.compile(body, **compile_kwargs)
        return self

    def forward(
        self,
        wavs: torch.Tensor | Sequence[torch.Tensor],
        wavs_len: torch.Tensor | Sequence[int] | None = None,
        layers: Sequence[int] | None = None,
        normalize: bool | None = None,
    ) -> UpstreamOutput:
        """Extract hidden states exactly as `S3PRLUpstream.forward` does.

        Args:
            wavs: (B, T) or (B, T, 1) float waveforms at `sampling_rate`, or a list of 1-D tensors.
            wavs_len: (B,) valid samples per utterance; all of T when omitted.
            layers: Indices of the hidden states to return (negative counts from the end); all by default.
                Layers after the deepest one requested are not computed.
            normalize: Layer-norm each hidden state over its features; defaults to `config.normalize`.

        Returns:
            UpstreamOutput with `hidden_states` and `hidden_states_lengths`.

        Example:
            >>> wavs = torch.randn(2, 32000)
            >>> all_hs, all_hs_len = model(wavs, torch.tensor([16000, 32000]))  # doctest: +SKIP
        """
        wavs, wavs_len = _check_inputs(wavs, wavs_len)
        wavs = wavs.to(self.device)
        wavs_len = wavs_len.to(self.device)
        selected = check_layers(layers, self.num_layers)
        normalize = self.config.normalize if normalize is None else normalize
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize={normalize!r}: expected True, False or None (the config's default)")

        # S3PRL unpads and re-pads to the longest utterance, so group norms see exactly that length and
        # zeros after each utterance, whatever the caller's padding held.
        original_wavs_len = wavs_len
        max_len = longest = int(wavs_len.max())
        wavs = _zero_padding(wavs[:, :max_len], wavs_len)
        min_samples = int(MIN_SECONDS * self.sampling_rate)
        if max_len < min_samples:
            # S3PRL adds the padding to every utterance's length, so the model sees the zeros as signal.
            pad = min_samples - max_len
            wavs = F.pad(wavs, (0, pad))
            wavs_len = wavs_len + pad
            max_len = min_samples

        hidden_states = self._forward_hidden_states(wavs, wavs_len, max(selected) + 1)
        if len(hidden_states) < max(selected) + 1:
            raise RuntimeError(f"{type(self).__name__} returned {len(hidden_states)} hidden states, "
                               f"expected at least {max(selected) + 1}")

        all_hs, all_lens = [], []
        for index in selected:
            stride = self.downsample_rates[index]
            target = -(-max_len // stride)
            if not matchable(hidden_states[index].shape[1], target):
                raise length_error(self, longest, hidden_states[index].shape[1], index)
            hs = _match_length(hidden_states[index], target)
            hs_len = torch.div(original_wavs_len - 1, stride, rounding_mode="floor") + 1
            hs = hs[:, : int(hs_len.max())]
            if normalize:
                hs = F.layer_norm(hs, hs.shape[-1:])
            all_hs.append(hs)
            all_lens.append(hs_len)
        return UpstreamOutput(hidden_states=tuple(all_hs), hidden_states_lengths=tuple(all_lens))


# A (batch, samples) tensor of more than this many rows of at most this many samples is (samples, channels) audio,
# as soundfile returns it (stereo, or mono read with always_2d): no utterance is 2 ms long, and 32 channels covers
# microphone arrays.
MAX_CHANNELS = 32
# Largest sample magnitude accepted: float audio is in [-1, 1]; unscaled 16-bit PCM values cast to float (up to
# 32768, as S3PRL accepts them) keep working. Anything larger is not audio at this scale and can overflow float32
# inside a model (24/32-bit PCM cast to float, a float64 value over 3.4e38 that would become inf).
MAX_SAMPLE_MAGNITUDE = 65536.0
_MIX_DOWN = "mix the channels down first, e.g. wav.mean(dim=-1) for a (samples, channels) tensor"


def _check_inputs(wavs, wavs_len) -> tuple[torch.Tensor, torch.LongTensor]:
    """Validate and normalise forward inputs to a (B, T) float tensor and (B,) int64 lengths.

    Refused with a `ValueError` that says what to do: empty batches; (samples, channels) audio (soundfile's stereo
    layout) or any other shape than (B, T), (B, T, 1) or a list of 1-D waveforms; integer or bool samples (every
    item of a list is checked); NaN, infinite or out-of-scale samples (magnitude over `MAX_SAMPLE_MAGNITUDE`);
    lengths that are not integers, not one per waveform, or out of [1, T]. List items of several float dtypes are
    promoted to a common one.
    """
    if isinstance(wavs, (list, tuple)):
        if len(wavs) == 0:
            raise ValueError("wavs is an empty list: expected at least one 1-D waveform")
        items = []
        for i, w in enumerate(wavs):
            w = torch.as_tensor(w)
            if w.dim() == 2 and w.shape[-1] == 1:
                w = w[:, 0]
            if w.dim() != 1:
                hint = (f": it looks like (samples, channels) audio; {_MIX_DOWN}"
                        if w.dim() == 2 and 1 < w.shape[-1] <= MAX_CHANNELS < w.shape[0] else "")
                raise ValueError(f"wavs[{i}] has shape {tuple(w.shape)}: each waveform in a list must be 1-D "
                                 f"(T,){hint}")
            _check_dtype(w, f"wavs[{i}]")
            if w.shape[0] == 0:
                raise ValueError(f"wavs[{i}] is empty: every waveform needs at least one sample")
            items.append(w)
        devices = {w.device for w in items}
        if len(devices) > 1:
            raise ValueError(f"the listed waveforms are on several devices ({sorted(map(str, devices))}): put them "
                             f"on one")
        dtype = items[0].dtype
        for w in items[1:]:
            dtype = torch.promote_types(dtype, w.dtype)
        list_len = torch.tensor([w.shape[0] for w in items], dtype=torch.long)
        if wavs_len is not None:
            given = _as_lengths(wavs_len, torch.device("cpu"))
            if not torch.equal(given.reshape(-1), list_len) or given.dim() != 1:
                raise ValueError(f"wavs_len {given.tolist()} disagrees with the lengths of the listed waveforms "
                                 f"{list_len.tolist()}; omit wavs_len when passing a list")
        wavs = torch.nn.utils.rnn.pad_sequence([w.to(dtype) for w in items], batch_first=True)
        wavs_len = list_len
    else:
        wavs = torch.as_tensor(wavs)
        if wavs.dim() == 3 and wavs.shape[-1] == 1:
            wavs = wavs[..., 0]
        if wavs.dim() != 2:
            hint = ""
            if wavs.dim() == 1:
                hint = " (a single utterance: pass wavs[None])"
            elif wavs.dim() == 3 and 1 < wavs.shape[-1] <= MAX_CHANNELS:
                hint = f": it looks like multi-channel audio; mix the channels down first, e.g. wavs.mean(dim=-1)"
            raise ValueError(f"wavs has shape {tuple(wavs.shape)}: expected (batch, samples) or "
                             f"(batch, samples, 1){hint}")
        if wavs.shape[1] <= MAX_CHANNELS < wavs.shape[0]:
            raise ValueError(f"wavs has shape {tuple(wavs.shape)}, which looks like (samples, channels) audio "
                             f"(soundfile's layout), not (batch, samples): {_MIX_DOWN}, then pass wav[None] or a "
                             f"list of 1-D waveforms")
        _check_dtype(wavs, "wavs")
    batch, samples = wavs.shape
    if batch == 0 or samples == 0:
        raise ValueError(f"wavs has shape {tuple(wavs.shape)}: the batch and the waveforms must not be empty")
    if wavs_len is None:
        wavs_len = torch.full((batch,), samples, dtype=torch.long)
    wavs_len = _as_lengths(wavs_len, wavs.device)
    if wavs_len.shape != (batch,):
        raise ValueError(f"wavs_len has shape {tuple(wavs_len.shape)}: expected ({batch},), one length per "
                         f"waveform in the batch")
    if int(wavs_len.min()) < 1 or int(wavs_len.max()) > samples:
        raise ValueError(f"wavs_len {wavs_len.tolist()} out of range: each length must be in [1, {samples}] "
                         f"(the padded number of samples)")
    if not torch.isfinite(wavs).all():
        raise ValueError("wavs contains NaN or infinite values")
    peak = float(wavs.abs().max())
    if peak > MAX_SAMPLE_MAGNITUDE:
        raise ValueError(f"wavs holds samples of magnitude {peak:.3g}: expected float audio in [-1, 1] (raw 16-bit "
                         f"PCM values up to 32768 are tolerated); scale integer PCM first, e.g. / 2**31 for 32-bit")
    return wavs, wavs_len


def _as_lengths(wavs_len, device: torch.device) -> torch.LongTensor:
    """`wavs_len` as an int64 tensor, refusing float and bool lengths (a tensor, a list or a numpy array alike)."""
    try:
        lengths = torch.as_tensor(wavs_len)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"wavs_len must be integer sample counts, got {type(wavs_len).__name__}: {error}") from None
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"wavs_len has dtype {lengths.dtype}: expected integer sample counts")
    return lengths.to(device=device, dtype=torch.long)


def _check_dtype(wav: torch.Tensor, name: str = "wavs") -> None:
    if not wav.is_floating_point():
        raise ValueError(f"{name} has dtype {wav.dtype}: expected float samples in [-1, 1]; scale integer PCM "
                         f"first, e.g. wavs.float() / 32768 for int16")


def check_layers(layers: Sequence[int] | None, num_layers: int) -> list[int]:
    """Turn a layer selection into non-negative indices, all layers by default (numpy integers are accepted)."""
    if layers is None:
        return list(range(num_layers))
    if isinstance(layers, int) or _is_index(layers):
        layers = [layers]
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise ValueError(f"layers={layers!r}: expected an int or a sequence of ints")
    layers = list(layers)
    selected = []
    for layer in layers:
        if not _is_index(layer) or not -num_layers <= operator.index(layer) < num_layers:
            raise ValueError(f"layers={layers}: each entry must be an int in "
                             f"[{-num_layers}, {num_layers - 1}] for this {num_layers}-layer upstream")
        selected.append(operator.index(layer) % num_layers)
    if not selected:
        raise ValueError("layers is empty: select at least one hidden state, or pass None for all")
    return selected


def _is_index(value) -> bool:
    """An integer (Python, numpy or a 0-d integer tensor), not a bool."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return False
    if isinstance(value, torch.Tensor) and (value.dim() != 0 or value.is_floating_point() or
                                            value.dtype == torch.bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _zero_padding(wavs: torch.Tensor, wavs_len: torch.Tensor) -> torch.Tensor:
    """Zero every sample past each utterance's length, as S3PRL's unpad + pad_sequence does."""
    valid = torch.arange(wavs.shape[1], device=wavs.device)[None, :] < wavs_len[:, None]
    return wavs.masked_fill(~valid, 0.0)


def _match_length(hs: torch.Tensor, target_len: int) -> torch.Tensor:
    """Truncate, or repeat the last frame, to `target_len` frames (`S3PRLUpstream._match_length`)."""
    length = hs.shape[1]
    if length > target_len:
        if length // target_len != 1:
            raise RuntimeError(f"hidden state has {length} frames, over twice the expected {target_len}")
        return hs[:, :target_len]
    if length < target_len:
        if target_len // length != 1:
            raise RuntimeError(f"hidden state has {length} frames, under half the expected {target_len}")
        return torch.cat([hs, hs[:, -1:].expand(-1, target_len - length, -1)], dim=1)
    return hs


def normalize_waveforms(wavs: torch.Tensor, wavs_len: torch.Tensor) -> torch.Tensor:
    """Standardise each utterance over its valid samples: `F.layer_norm(wav, wav.shape)` in S3PRL's experts.

    Padding stays zero. Computed per utterance with the same op as S3PRL so the numbers match bit for bit; under
    torch.compile (where a loop over the lengths would break the graph) the same statistics are computed for the
    whole batch at once with masks, equal to float rounding.
    """
    if torch.compiler.is_compiling():
        valid = torch.arange(wavs.shape[1], device=wavs.device)[None, :] < wavs_len[:, None]
        count = wavs_len[:, None].to(wavs.dtype)
        mean = wavs.masked_fill(~valid, 0.0).sum(1, keepdim=True) / count
        centred = (wavs - mean).masked_fill(~valid, 0.0)
        var = centred.pow(2).sum(1, keepdim=True) / count
        return centred * torch.rsqrt(var + 1e-5)
    out = torch.zeros_like(wavs)
    for i, length in enumerate(wavs_len.tolist()):
        out[i, :length] = F.layer_norm(wavs[i, :length], (length,))
    return out

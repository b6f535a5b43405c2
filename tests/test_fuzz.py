"""Fuzz the forward contract of every model type with hypothesis.

Every family variant of `tiny_models.FAMILY_CLASSES`, built from its tiny config (`Family.tiny_configs`),
gets random batches: 1 to 4 utterances; lengths from 1 sample up, drawn around what matters (a few samples, the
0.05 s padding, every run of longest-utterance lengths S3PRL's length matching refuses and its neighbours, the
per-utterance minimum of the family) or at random; float16 / bfloat16 / float32 / float64 samples (noise, silence,
a constant, raw 16-bit PCM values, spikes), as a padded tensor with garbage in its padding or as a list of 1-D
tensors (of mixed dtypes); `wavs_len` omitted or given as a tensor, a list or a numpy array; random `layers` and
`normalize`. Each call must either return hidden states that keep the contract (as many as selected, shapes
`(B, ceil(max_len / stride), hidden_size)`, lengths `ceil(len / stride)`, all finite) or raise one of the
`ValueError`s the contract documents (`DOCUMENTED_ERRORS`); a refused length must be one the model's own
`output_frames` predicts, and the other way round.

The run is seeded (`derandomize=True`) and CI-sized: `S3PRL_HF_FUZZ_EXAMPLES` examples per model type (default 12,
about 370 inputs in all, 20 s on an idle 2-core machine). For a long run, e.g. 10,000+ inputs:

    S3PRL_HF_FUZZ_EXAMPLES=330 python -m pytest -q tests/test_fuzz.py
"""

import os
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s3prl_hf  # noqa: F401
from tiny_models import FAMILY_CLASSES
from s3prl_hf.length_matching import refused, refused_ranges
from s3prl_hf.modeling_utils import MIN_SECONDS
from tiny_models import TINY_CONFIGS

EXAMPLES = int(os.environ.get("S3PRL_HF_FUZZ_EXAMPLES", "12"))
MAX_LEN = 24000  # 1.5 s: long enough for every family's windows, short enough for CI
MAX_BATCH = 4
LENGTH_MATCHING = "S3PRL fails on such a batch too"
# S3PRL's online spectral features end each utterance at its last non-zero sample, so their frame count depends on
# the samples (silence, trailing zeros), which `output_frames` cannot know: it assumes the longest utterance ends
# with a non-zero sample. The refusal itself is checked, not its prediction.
CONTENT_DEPENDENT_FRAMES = {"spectral"}
# What a valid-looking batch may legitimately be refused for, family by family; anything else is a bug.
DOCUMENTED_ERRORS = (
    LENGTH_MATCHING,  # modeling_utils / length_matching: S3PRL's _match_length assertion
    r"needs at least one window of \d+ samples",  # kaldi features of an utterance under one window (S3PRL fails)
    r"MAE-AST's kaldi fbank needs at least \d+ samples per utterance",
    r"fewer than the \d+ of one MAE-AST patch",
    r"VGGish needs at least \d+ samples",  # one example per utterance
    r"S3PRL cannot return VGGish features for this batch",
    r"PaSST needs the longest utterance of a batch to have at least \d+ samples",
    r"this STFT .* needs at least \d+ samples per utterance",
)


def tiny_model(family):
    config_class, model_class = FAMILY_CLASSES[family]
    torch.manual_seed(0)
    return model_class(config_class(**TINY_CONFIGS[family])).eval()


def interesting_lengths(model) -> list[int]:
    """Lengths where behaviour changes: tiny, the 0.05 s padding, refused runs and per-utterance minimums."""
    pad = int(MIN_SECONDS * model.sampling_rate)
    lengths = {1, 2, 3, 17, pad - 1, pad, pad + 1, 399, 400, 401, 559, 560}
    for low, high in refused_ranges(model, 4 * pad + 4 * max(model.downsample_rates[:1] + (pad,))):
        lengths |= {low - 1, low, (low + high) // 2, high, high + 1}
    minimum = getattr(model.config, "min_input_samples", None)
    if minimum:
        lengths |= {minimum - 1, minimum, minimum + 1}
    return sorted(length for length in lengths if 1 <= length <= MAX_LEN)


class Fuzzed(tuple):
    """(family, model, interesting lengths), shown by its family alone in hypothesis' reports."""

    def __repr__(self):
        return repr(self[0])


@pytest.fixture(scope="module", params=sorted(FAMILY_CLASSES))
def fuzzed(request):
    model = tiny_model(request.param)
    return Fuzzed((request.param, model, interesting_lengths(model)))


class Call(tuple):
    """(wavs, wavs_len, lengths, layers, normalize), shown without the samples in hypothesis' reports."""

    def __repr__(self):
        wavs, wavs_len, lengths, layers, normalize = self
        kind = (f"list of {[(len(w), str(w.dtype)[6:]) for w in wavs]}" if isinstance(wavs, list)
                else f"tensor {tuple(wavs.shape)} {str(wavs.dtype)[6:]}")
        return (f"Call(wavs={kind}, wavs_len={wavs_len!r}, lengths={lengths}, layers={layers!r}, "
                f"normalize={normalize!r})")


DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


@st.composite
def waveform(draw, length: int, dtype: torch.dtype) -> torch.Tensor:
    kind = draw(st.sampled_from(["noise", "noise", "silence", "constant", "pcm", "spikes"]))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    if kind == "silence":
        wav = torch.zeros(length)
    elif kind == "constant":
        wav = torch.full((length,), draw(st.sampled_from([1.0, -0.5, 1e-4])))
    elif kind == "pcm":  # unscaled 16-bit values, which S3PRL also takes
        wav = (torch.rand(length, generator=generator) * 2 - 1) * 32767
    elif kind == "spikes":
        wav = torch.zeros(length)
        wav[torch.randint(0, length, (max(1, length // 100),), generator=generator)] = 1.0
    else:
        scale = 10 ** draw(st.floats(-4, 0))
        wav = torch.randn(length, generator=generator) * scale
    return wav.to(dtype)


@st.composite
def forward_call(draw, model, lengths_of_interest):
    batch = draw(st.integers(1, MAX_BATCH))
    length = st.one_of(st.sampled_from(lengths_of_interest), st.integers(1, MAX_LEN))
    lengths = [draw(length) for _ in range(batch)]
    dtype = draw(st.sampled_from(DTYPES))
    if draw(st.booleans()):  # a list of 1-D waveforms, maybe of several float dtypes
        wavs = [draw(waveform(n, draw(st.sampled_from([dtype] + DTYPES)))) for n in lengths]
        wavs_len = draw(st.sampled_from([None, "list", "tensor"]))
    else:
        width = max(lengths) + draw(st.integers(0, 50))
        wavs = torch.randn(batch, width).to(dtype)  # garbage in the padding, which must be ignored
        for i, n in enumerate(lengths):
            wavs[i, :n] = draw(waveform(n, dtype))
        wavs_len = draw(st.sampled_from([None, "list", "tensor", "int32", "numpy"]))
        if wavs_len is None:  # every row is an utterance of the full width, padding included
            lengths = [width] * batch
    wavs_len = {None: None, "list": list(lengths), "tensor": torch.tensor(lengths),
                "int32": torch.tensor(lengths, dtype=torch.int32), "numpy": np.array(lengths)}[wavs_len]
    num = model.num_layers
    layers = draw(st.one_of(st.none(), st.integers(-num, num - 1),
                            st.lists(st.integers(-num, num - 1), min_size=1, max_size=3)))
    normalize = draw(st.sampled_from([None, True, False]))
    return Call((wavs, wavs_len, lengths, layers, normalize))


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
@torch.no_grad()
def test_forward_keeps_the_contract_or_raises_a_documented_error(fuzzed, data):
    family, model, lengths_of_interest = fuzzed
    wavs, wavs_len, lengths, layers, normalize = data.draw(forward_call(model, lengths_of_interest))
    longest = max(lengths)
    predicted_refusal = None if family in CONTENT_DEPENDENT_FRAMES else refused(model, longest)
    try:
        out = model(wavs, wavs_len, layers=layers, normalize=normalize)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(re.search(pattern, message) for pattern in DOCUMENTED_ERRORS), f"{family}: undocumented {error!r}"
        assert "\n" not in message
        if LENGTH_MATCHING in message and predicted_refusal is not None:
            assert predicted_refusal, f"{family}: refused {lengths}, which output_frames says passes"
        return
    assert not predicted_refusal, f"{family}: {lengths} passed, but output_frames predicts S3PRL refuses it"
    selected = range(model.num_layers) if layers is None else [layers] if isinstance(layers, int) else layers
    selected = [index % model.num_layers for index in selected]
    assert len(out.hidden_states) == len(out.hidden_states_lengths) == len(selected)
    expected_lengths = torch.tensor(lengths)
    for hs, hs_len, index in zip(out.hidden_states, out.hidden_states_lengths, selected):
        stride = model.downsample_rates[index]
        want = (expected_lengths - 1) // stride + 1
        assert torch.equal(hs_len.cpu(), want), f"{family} state {index}: lengths {hs_len.tolist()} != {want}"
        assert hs.shape == (len(lengths), int(want.max()), model.hidden_sizes[index]), f"{family} state {index}"
        assert torch.isfinite(hs).all(), f"{family} state {index}: non-finite values from finite input {lengths}"

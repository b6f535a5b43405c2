"""Which batch lengths S3PRL's length matching refuses, and the error that says so.

`S3PRLUpstream._match_length` (s3prl/nn/upstream.py) stretches each hidden state to `ceil(len / stride)` frames
by truncating or repeating the last frame, and asserts when the two counts differ by a factor of two or more. A
network whose receptive field is long next to its stride gives too few frames for some short batches: HuBERT and
wav2vec 2.0 (400 samples of receptive field, 320 of stride) for a longest utterance of 961..1039 samples, kaldi
fbank models (400 / 160) for 801..879. Shorter batches pass because S3PRL pads them to 0.05 s first.

A model says how many frames its network gives with `output_frames(num_samples)`, derived from its config;
from that the lengths around a failing batch are found and named in a `ValueError`.
"""

from __future__ import annotations

# The longest run of refused lengths searched on either side of a failing batch; real runs are under 1000.
MAX_SCAN = 1 << 20


def matchable(frames: int, target: int) -> bool:
    """Whether `S3PRLUpstream._match_length` accepts `frames` frames for `target` (truncate or repeat the last)."""
    if frames == target:
        return True
    if frames < 1 or target < 1:
        return False
    return (frames // target if frames > target else target // frames) == 1


def expected_frames(model, num_samples: int, index: int) -> int:
    """`ceil(padded / stride)`: the frames S3PRL stretches hidden state `index` to for a longest utterance of
    `num_samples` samples."""
    return -(-model.padded_samples(num_samples) // model.downsample_rates[index])


def refused(model, num_samples: int, index: int = 0) -> bool | None:
    """Whether a batch whose longest utterance has `num_samples` samples fails S3PRL's length matching for hidden
    state `index`, by the model's own `output_frames`; None when the model does not say."""
    frames = model.output_frames(num_samples)
    if frames is None:
        return None
    return not matchable(frames, expected_frames(model, num_samples, index))


def refused_range(model, num_samples: int, index: int = 0) -> tuple[int, int] | None:
    """The run of longest-utterance lengths around `num_samples` that fail like it, or None if the model does not
    say (or says `num_samples` passes)."""
    if not refused(model, num_samples, index):
        return None
    low = num_samples
    while low > 1 and num_samples - low < MAX_SCAN and refused(model, low - 1, index):
        low -= 1
    high = num_samples
    while high - num_samples < MAX_SCAN and refused(model, high + 1, index):
        high += 1
    return low, high


def refused_ranges(model, up_to: int, index: int = 0) -> list[tuple[int, int]]:
    """Every run of longest-utterance lengths in [1, up_to] that fails S3PRL's length matching (empty if the
    model does not say).

    Example:
        >>> refused_ranges(hubert_model, 4000)  # doctest: +SKIP
        [(961, 1039)]
    """
    ranges: list[tuple[int, int]] = []
    for length in range(1, up_to + 1):
        if refused(model, length, index):
            if ranges and ranges[-1][1] == length - 1:
                ranges[-1] = (ranges[-1][0], length)
            else:
                ranges.append((length, length))
    return ranges


def length_error(model, num_samples: int, frames: int, index: int) -> ValueError:
    """The error for a batch whose longest utterance (`num_samples`) gives `frames` frames S3PRL cannot match."""
    target = expected_frames(model, num_samples, index)
    rate = model.sampling_rate
    span = refused_range(model, num_samples, index)
    name = type(model).__name__.removeprefix("S3prl").removesuffix("Model")
    what = (f"the longest utterance has {num_samples} samples, for which {name} gives {frames} frames of hidden "
            f"state {index} where S3PRL expects {target}; S3PRL fails on such a batch too (S3PRLUpstream."
            f"_match_length refuses a factor of 2)")
    if span is None:
        return ValueError(f"{what}; pad the batch to a longer longest utterance")
    low, high = span
    minimum = high + 1
    return ValueError(f"{what}: with this config, batches whose longest utterance has {low}..{high} samples fail, "
                      f"so pad the batch to at least {minimum} samples ({minimum / rate:g} s)")

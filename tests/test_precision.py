"""Reduced precision on CPU: bf16 models give finite hidden states close to the fp32 ones, for every family.

The tolerance is relative to each layer's largest fp32 magnitude on valid frames. bf16 keeps 8 bits of
mantissa (relative step 2**-8 = 0.4 %); errors grow through the layers of these small random models: the worst
layer measured across all fixture families was 5.6 % (data2vec; 0.6-5 % elsewhere), so 0.1 catches real
breakage (a wrong dtype cast, overflow, NaN) without flaking.
"""

import pytest
import torch

from conftest import fixture_dirs, fixture_meta, load_cases
from s3prl_hf import AutoUpstream

BF16_RELATIVE_TOLERANCE = 0.1


def one_fixture_per_model_type():
    seen, chosen = set(), []
    for folder in fixture_dirs():
        family = fixture_meta(folder)["family"]
        if family not in seen:
            seen.add(family)
            chosen.append(folder)
    return chosen


@pytest.mark.parametrize("folder", one_fixture_per_model_type(), ids=lambda f: f.name)
@torch.no_grad()
def test_bf16_matches_fp32_within_tolerance(folder, converted_fixture):
    path = converted_fixture(folder)
    full = AutoUpstream.from_pretrained(path)
    half = AutoUpstream.from_pretrained(path, dtype=torch.bfloat16)
    case = load_cases(folder)["batch"]
    ref = full(case["wavs"], case["wavs_len"])
    got = half(case["wavs"], case["wavs_len"])
    for index, (a, b, lengths) in enumerate(zip(got.hidden_states, ref.hidden_states, ref.hidden_states_lengths)):
        assert torch.isfinite(a.float()).all(), f"hidden state {index} not finite in bf16"
        valid = torch.arange(b.shape[1])[None, :] < lengths[:, None]
        scale = max(1.0, b[valid].abs().max().item())
        error = (a.float() - b).abs()[valid].max().item() / scale
        assert error <= BF16_RELATIVE_TOLERANCE, f"hidden state {index}: bf16 relative error {error:.3g}"

"""Parity with S3PRL 0.4.18 on checkpoints S3PRL built (tests/fixtures, made by conversion/reference).

Each fixture holds a small random checkpoint in its original format(s) and the hidden states S3PRL's
`S3PRLUpstream` computed from it. The checkpoint goes through the project's converter and
`AutoUpstream.from_pretrained`; every layer must match on every valid frame (DESIGN.md tolerance), with
exactly S3PRL's shapes and lengths. Frames past an utterance's length only need to be finite.
"""

import pytest
import torch

from conftest import fixture_dirs, fixture_meta, load_cases
from s3prl_hf import AutoUpstream

# The fairseq release of the wav2vec 2.0 conformers has no file extension (LL_relpos_PT_no_FT). Upstreams without
# weights have S3PRL's yaml config as their original.
FAIRSEQ_SOURCES = ["original_fairseq.pt", "original_fairseq"]
SOURCES = ["original_s3prl.pt", *FAIRSEQ_SOURCES, "original_s3prl.yaml"]
PARAMS = [pytest.param(folder, source, id=f"{folder.name}-{source.split('_')[1].split('.')[0]}")
          for folder in fixture_dirs() for source in SOURCES if (folder / source).exists()]


def test_fixtures_exist():
    assert PARAMS, "no parity fixture found under tests/fixtures"


def assert_hidden_states_match(got_hs, got_len, expected_hs, expected_len, label):
    assert len(got_hs) == len(expected_hs), f"{label}: {len(got_hs)} hidden states, S3PRL has {len(expected_hs)}"
    for index, (hs, hs_len, ref, ref_len) in enumerate(zip(got_hs, got_len, expected_hs, expected_len)):
        where = f"{label}, hidden state {index}"
        assert hs.shape == ref.shape, f"{where}: shape {tuple(hs.shape)} vs S3PRL {tuple(ref.shape)}"
        assert torch.equal(hs_len, ref_len), f"{where}: lengths {hs_len.tolist()} vs S3PRL {ref_len.tolist()}"
        valid = torch.arange(ref.shape[1])[None, :] < ref_len[:, None]
        diff = (hs - ref).abs()[valid].max().item()
        tolerance = 1e-4 * max(1.0, ref[valid].abs().max().item())
        assert diff <= tolerance, f"{where}: max |diff| {diff:.3g} over tolerance {tolerance:.3g}"
        assert torch.isfinite(hs).all(), f"{where}: non-finite values (padding frames included)"


@pytest.mark.parametrize("folder, source", PARAMS)
@torch.no_grad()
def test_converted_checkpoint_matches_s3prl(folder, source, converted_fixture):
    model = AutoUpstream.from_pretrained(converted_fixture(folder, source))
    meta = fixture_meta(folder)
    reported = meta["s3prl_upstream"]  # what S3PRLUpstream itself reported
    assert model.num_layers == reported["num_layers"]
    assert list(model.hidden_sizes) == reported["hidden_sizes"]
    assert list(model.downsample_rates) == reported["downsample_rates"]
    cases = load_cases(folder)
    assert set(cases) == set(meta["cases"])
    for case, expected in cases.items():
        out = model(expected["wavs"], expected["wavs_len"], normalize=meta["cases"][case]["normalize"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected["hs"], expected["hs_len"],
                                   f"{folder.name}/{case}")


def fairseq_source(folder):
    return next((name for name in FAIRSEQ_SOURCES if (folder / name).exists()), None)


@pytest.mark.parametrize("folder", [f for f in fixture_dirs() if fairseq_source(f)])
def test_both_source_formats_give_identical_weights(folder, converted_fixture):
    from safetensors.torch import load_file

    a = load_file(converted_fixture(folder, "original_s3prl.pt") / "model.safetensors")
    b = load_file(converted_fixture(folder, fairseq_source(folder)) / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

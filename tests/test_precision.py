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


# ---- every family's tiny model, the compute-dtype helpers, and the extraction options (issue 18.1) ----

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from s3prl_hf import S3PRLUpstream, extract_features, extract_to_dir  # noqa: E402
from s3prl_hf import precision  # noqa: E402
from s3prl_hf.extraction.sharded import ExtractionError  # noqa: E402
from tiny_models import TINY_CONFIGS, tiny_model  # noqa: E402


def _relative_errors(got, ref):
    errors = []
    for a, b, lengths in zip(got.hidden_states, ref.hidden_states, ref.hidden_states_lengths):
        assert torch.isfinite(a.float()).all()
        valid = torch.arange(b.shape[1])[None, :] < lengths[:, None]
        errors.append((a.float() - b).abs()[valid].max().item() / max(1.0, b[valid].abs().max().item()))
    return errors


@pytest.mark.parametrize("key", sorted(TINY_CONFIGS))
@torch.no_grad()
def test_cast_model_bf16_within_tolerance_for_every_family(key):
    """cast_model(model, bf16) on every family's tiny model: finite, within 0.1 relative of fp32 on every layer,
    the fp32 parts the family declares stay fp32, and the original model is untouched."""
    torch.manual_seed(0)
    model = tiny_model(key)
    before = {name: p.dtype for name, p in model.named_parameters()}
    half = precision.cast_model(model, torch.bfloat16)
    assert {name: p.dtype for name, p in model.named_parameters()} == before
    kept = precision.kept_in_float32(model, torch.bfloat16)
    for name, p in half.named_parameters():
        if p.is_floating_point():
            assert p.dtype == (torch.float32 if kept(name) else torch.bfloat16), name
    assert precision.computes_in(half, torch.bfloat16)
    assert precision.cast_model(half, torch.bfloat16) is half
    wavs, lengths = torch.randn(2, 8000) * 0.1, torch.tensor([8000, 6000])
    errors = _relative_errors(half(wavs, lengths), model(wavs, lengths))
    assert max(errors) <= BF16_RELATIVE_TOLERANCE, errors


def test_parse_and_resolve_compute_dtype():
    assert precision.parse_compute_dtype("bfloat16") is torch.bfloat16
    assert precision.parse_compute_dtype(torch.float16) is torch.float16
    assert precision.parse_compute_dtype(None) is None
    with pytest.raises(ValueError, match="compute_dtype='int8'"):
        precision.parse_compute_dtype("int8")
    assert precision.resolve_compute_dtype("auto", "cpu") is torch.float32
    assert precision.resolve_compute_dtype(None, "cuda") is torch.bfloat16
    assert precision.resolve_compute_dtype("float32", "cuda") is torch.float32


def test_cpu_without_native_support_refuses_fp16_and_warns_about_bf16(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    monkeypatch.setattr(precision, "_warned", set())
    with pytest.raises(ValueError, match="float16 is refused on this CPU"):
        precision.check_compute_dtype(torch.float16, "cpu")
    with pytest.warns(precision.SlowComputeDtypeWarning, match="without native bf16"):
        precision.check_compute_dtype(torch.bfloat16, "cpu")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(precision, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        precision.check_compute_dtype(torch.bfloat16, "cpu")
        precision.check_compute_dtype(torch.float16, "cuda")  # GPUs are not checked


@pytest.fixture
def wav_folder(tmp_path):
    rng, folder = np.random.default_rng(0), tmp_path / "wavs"
    folder.mkdir()
    for i, n in enumerate((16000, 9000, 4000)):
        sf.write(folder / f"{i}.wav", (rng.standard_normal(n) * 0.1).astype(np.float32), 16000, subtype="PCM_16")
    return folder


def _last_layer(dataset):
    return [c for c in dataset.column_names if c.startswith("layer_") and not c.endswith("_length")][-1]


def _hubert_fixture(converted_fixture):
    return converted_fixture(next(f for f in fixture_dirs() if f.name == "hubert_base_like"))


@pytest.mark.filterwarnings("ignore::s3prl_hf.precision.SlowComputeDtypeWarning")
def test_extract_to_dir_compute_dtype_is_a_setting(converted_fixture, wav_folder, tmp_path):
    """bf16 features are close to fp32 ones, and an output folder never mixes the two compute dtypes."""
    from s3prl_hf import load_features

    path = _hubert_fixture(converted_fixture)
    options = dict(layers=[0, -1], dtype="float32", progress=False)
    extract_to_dir(wav_folder, tmp_path / "fp32", path, compute_dtype="float32", **options)
    extract_to_dir(wav_folder, tmp_path / "bf16", path, compute_dtype="bfloat16", **options)
    full, half = load_features(tmp_path / "fp32"), load_features(tmp_path / "bf16")
    column = _last_layer(full)
    for a, b in zip(full.with_format("numpy")[column], half.with_format("numpy")[column]):
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        assert np.abs(a - b).max() <= BF16_RELATIVE_TOLERANCE * max(1.0, np.abs(a).max())
    with pytest.raises(ExtractionError, match="other settings.*compute_dtype"):
        extract_to_dir(wav_folder, tmp_path / "fp32", path, compute_dtype="bfloat16", **options)


@pytest.mark.filterwarnings("ignore::s3prl_hf.precision.SlowComputeDtypeWarning")
def test_extract_features_cache_tells_compute_dtypes_apart(converted_fixture):
    import datasets

    model = AutoUpstream.from_pretrained(_hubert_fixture(converted_fixture))
    rng = np.random.default_rng(1)
    dataset = datasets.Dataset.from_dict(
        {"audio": [{"array": (rng.standard_normal(n) * 0.1).astype(np.float32), "sampling_rate": 16000}
                   for n in (8000, 5000)]})
    full = extract_features(dataset, model, layers=[-1], dtype="float32", compute_dtype="float32")
    half = extract_features(dataset, model, layers=[-1], dtype="float32", compute_dtype="bfloat16")
    assert full._fingerprint != half._fingerprint
    a = np.asarray(full.with_format("numpy")[0]["layer_-1"] if "layer_-1" in full.column_names
                   else full.with_format("numpy")[0][full.column_names[-2]], np.float32)
    b = np.asarray(half.with_format("numpy")[0][half.column_names[-2]], np.float32)
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.abs(a - b).max() <= BF16_RELATIVE_TOLERANCE * max(1.0, np.abs(a).max())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the caller's model is not cast


@pytest.mark.filterwarnings("ignore::s3prl_hf.precision.SlowComputeDtypeWarning")
def test_drop_in_compute_dtype(converted_fixture):
    path = _hubert_fixture(converted_fixture)
    full = S3PRLUpstream("hubert", path_or_url=str(path)).eval()
    half = S3PRLUpstream("hubert", path_or_url=str(path), compute_dtype="bfloat16").eval()
    assert all(p.dtype == torch.float32 for p in full.parameters())
    wavs, lengths = torch.randn(2, 8000) * 0.1, torch.tensor([8000, 6000])
    with torch.no_grad():
        (ref, ref_len), (got, _) = full(wavs, lengths), half(wavs, lengths)
    for a, b in zip(got, ref):
        assert a.dtype == torch.bfloat16
        assert (a.float() - b).abs().max() <= BF16_RELATIVE_TOLERANCE * max(1.0, b.abs().max().item())
    with pytest.raises(ValueError, match="compute_dtype"):
        S3PRLUpstream("hubert", path_or_url=str(path), compute_dtype="int8")

"""The compiled path: the network body (`_forward_hidden_states`) traces with no graph break, outputs as eager."""

import pytest
import torch
from tiny_models import TINY_CONFIGS, tiny_model

# The families of the wav2vec 2.0 stack (the CNN feature encoder + transformer layers), every variant declared
TRACED = sorted(key for key in TINY_CONFIGS
                if key.split("-")[0] in {"hubert", "wav2vec2", "wavlm", "data2vec", "unispeech_sat",
                                         "distilhubert", "wav2vec2_conformer"})


@pytest.mark.parametrize("key", TRACED)
@torch.no_grad()
def test_body_traces_without_graph_break_and_equals_eager(key):
    torch.manual_seed(0)
    model = tiny_model(key)
    wavs, wavs_len = torch.randn(3, 12000) * 0.1, torch.tensor([12000, 7000, 3001])
    layers = [0, model.num_layers - 1]
    expected = model(wavs, wavs_len, layers=layers)
    torch._dynamo.reset()
    model.compile_body(backend="eager", fullgraph=True, dynamic=False)  # fullgraph: a graph break is an error
    got = model(wavs, wavs_len, layers=layers)
    for hs, hs_ref, hs_len, hs_len_ref in zip(got.hidden_states, expected.hidden_states,
                                              got.hidden_states_lengths, expected.hidden_states_lengths):
        assert torch.equal(hs_len, hs_len_ref)
        assert hs.shape == hs_ref.shape
        for row, length in zip(range(len(hs_len)), hs_len.tolist()):  # valid frames (skip_padding zeroes the rest)
            torch.testing.assert_close(hs[row, :length], hs_ref[row, :length], rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_compiled_forward_keeps_the_input_checks():
    model = tiny_model("hubert").compile_body(backend="eager", fullgraph=True)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(torch.full((1, 8000), float("nan")))
    with pytest.raises(ValueError, match="out of range"):
        model(torch.zeros(1, 8000), torch.tensor([9000]))


def test_cuda_benchmark_script_runs_in_smoke_mode(tmp_path):
    """benchmarks/cuda_path.py, the one-command GPU benchmark, works end to end (tiny model, CPU)."""
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "cuda_path.py"
    spec = importlib.util.spec_from_file_location("cuda_path", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "smoke.json"
    module.main(["--smoke", "--device", "cpu", "--out", str(out)])
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"s3prl_hf eager", "s3prl_hf compiled", "transformers sdpa"}
    for entry in report["results"].values():
        assert entry["min_cosine_to_fp32"] > 0.99
        assert entry["padded"]["audio_s_per_s"] > 0 and entry["bucketed"]["audio_s_per_s"] > 0


def test_extract_with_compiled_body_writes_the_same_features(converted_fixture, tmp_path):
    """`s3prl-hf extract --compile` (here the eager backend): same features in the input order, same plan."""
    import argparse

    import numpy as np
    import soundfile as sf
    from conftest import fixture_dirs

    from s3prl_hf import AutoUpstream, extract_to_dir, load_features
    from s3prl_hf.extraction.cli import add_parser

    folder = tmp_path / "wavs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, n in enumerate([16000, 5000, 12000, 9000]):
        sf.write(folder / f"{i}.wav", (rng.standard_normal(n) * 0.1).astype(np.float32), 16000, subtype="PCM_16")
    model_dir = converted_fixture(next(f for f in fixture_dirs() if f.name == "hubert_base_like"))
    options = {"layers": [0, -1], "dtype": "float32", "batch_seconds": 2.0, "progress": False}
    extract_to_dir(folder, tmp_path / "eager", AutoUpstream.from_pretrained(model_dir), **options)
    torch._dynamo.reset()
    extract_to_dir(folder, tmp_path / "compiled", AutoUpstream.from_pretrained(model_dir), compile="eager", **options)
    eager, compiled = load_features(tmp_path / "eager"), load_features(tmp_path / "compiled")
    assert eager["id"] == compiled["id"]
    assert (tmp_path / "eager" / "plan.json").read_text() == (tmp_path / "compiled" / "plan.json").read_text()
    layers = [c for c in eager.column_names if c.startswith("layer_") and not c.endswith("_length")]
    assert len(layers) == 2
    for column in layers:
        assert eager[f"{column}_length"] == compiled[f"{column}_length"]
        for a, b in zip(eager[column], compiled[column]):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    common = ["extract", "--model", "m", "--input", "i", "--output", "o"]
    assert parser.parse_args(common).compile is False
    assert parser.parse_args(common + ["--compile"]).compile == "inductor"
    assert parser.parse_args(common + ["--compile", "eager"]).compile == "eager"


def test_waveform_normalisation_under_compile_equals_the_per_utterance_op():
    from s3prl_hf.modeling_utils import normalize_waveforms

    torch.manual_seed(0)
    wavs_len = torch.tensor([9000, 4001, 12000])
    wavs = torch.randn(3, 12000) * 0.2 + 0.05
    wavs[1, 4001:] = 0.0
    wavs[0, 9000:] = 0.0
    torch._dynamo.reset()
    compiled = torch.compile(normalize_waveforms, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(wavs, wavs_len), normalize_waveforms(wavs, wavs_len), rtol=1e-5, atol=1e-5)

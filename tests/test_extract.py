"""Feature extraction at scale: datasets.map with caching, audio reading, and the sharded `s3prl-hf extract`."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import Array2D, Audio, List, Value

from conftest import fixture_dirs
from s3prl_hf import AudioError, AutoUpstream, extract_features, extract_to_dir, load_features, set_feature_format
from s3prl_hf.extraction.audio import to_mono
from s3prl_hf.frontends import resample, resampled_length
from s3prl_hf.cli import main
from s3prl_hf.extraction.sharded import ExtractionError, IncompleteExtractionError, make_batches, padding_ratio

HUBERT = next(f for f in fixture_dirs() if f.name == "hubert_base_like")  # group norm: padding matters
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(converted_fixture):
    return converted_fixture(HUBERT)


@pytest.fixture
def model(model_dir):
    return AutoUpstream.from_pretrained(model_dir)


class ForwardCounter:
    """Counts forward calls through a hook (weights, hence the model's digest, stay the same)."""

    def __init__(self, model, fail_at=None):
        self.calls = 0
        self.fail_at = fail_at
        self.handle = model.register_forward_hook(self)

    def __call__(self, *_):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise KeyboardInterrupt("simulated interruption")


def _noise(n, seed, channels=1):
    rng = np.random.default_rng(seed)
    shape = (n,) if channels == 1 else (n, channels)
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)


def _write_wavs(folder: Path, spec):
    """spec: {relative name: (samples, rate, channels)}; 16-bit PCM so reads are exact."""
    for seed, (name, (n, rate, channels)) in enumerate(spec.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, _noise(n, seed, channels), rate, subtype="PCM_16")
    return folder


MIXED = {"a.wav": (16000, 16000, 1), "b/c.wav": (3000, 16000, 1), "b/d.wav": (12000, 16000, 1),
         "e.wav": (700, 16000, 1), "f.wav": (9000, 16000, 1), "g.wav": (20000, 16000, 1),
         "h.wav": (5000, 16000, 1), "stereo_8k.flac": (4000, 8000, 2)}


def _saved(dataset, tmp_path, name="ds"):
    """A dataset backed by cache files, as datasets caches map results only for those."""
    dataset.save_to_disk(tmp_path / name)
    return datasets.load_from_disk(str(tmp_path / name))


# --- audio ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orig", [8000, 22050, 44100, 48000])
def test_resample_is_band_limited_interpolation(orig):
    t = torch.arange(orig, dtype=torch.float64) / orig
    out = resample(torch.sin(2 * math.pi * 440 * t).float(), orig, 16000)
    assert out.shape[0] == resampled_length(orig, orig, 16000) == 16000
    expected = torch.sin(2 * math.pi * 440 * torch.arange(16000, dtype=torch.float64) / 16000)
    assert (out.double() - expected)[100:-100].abs().max() < 2e-3


def test_channels_are_mixed_or_refused_never_guessed():
    stereo = np.stack([np.ones(100), -np.ones(100) * 0.5], axis=1).astype(np.float32)
    assert torch.allclose(to_mono(stereo), torch.full((100,), 0.25))
    assert torch.equal(to_mono(stereo.T), to_mono(stereo))  # (channels, time) recognised
    with pytest.raises(AudioError, match="stereo='error'"):
        to_mono(stereo, stereo="error", name="x.wav")
    with pytest.raises(AudioError, match="cannot tell channels from time"):
        to_mono(np.zeros((20, 30), np.float32))


# --- datasets.map ----------------------------------------------------------------------------------------


def test_extract_features_values_fp16_and_cache(model, tmp_path):
    lengths = [16000, 8000, 3000, 700, 12000]
    dataset = _saved(datasets.Dataset.from_dict({"audio": [_noise(n, i) for i, n in enumerate(lengths)],
                                                 "id": [f"u{i}" for i in range(5)]}), tmp_path)
    counter = ForwardCounter(model)
    result = extract_features(dataset, model, layers=[0, -1], batch_size=2)
    assert counter.calls == 3
    assert result.features["layer_2"] == Array2D(shape=(None, model.hidden_sizes[2]), dtype="float16")
    assert result.column_names == ["audio", "id", "layer_0", "layer_0_length", "layer_2", "layer_2_length"]

    # Values: the native API on the same batches (rows [0,1], [2,3], [4]), cast to float16.
    arrays = set_feature_format(result, "numpy")
    for start in range(0, 5, 2):
        rows = range(start, min(start + 2, 5))
        with torch.no_grad():
            out = model([torch.from_numpy(_noise(lengths[i], i)) for i in rows], layers=[0, 2])
        for k, i in enumerate(rows):
            row = arrays[i]
            for name, hs, hs_len in zip(("layer_0", "layer_2"), out.hidden_states, out.hidden_states_lengths):
                assert row[name].dtype == np.float16, "fp16 storage must read back as fp16"
                assert row[name + "_length"] == int(hs_len[k]) == row[name].shape[0]
                assert np.array_equal(row[name], hs[k, : int(hs_len[k])].half().numpy())
    tensors = set_feature_format(result, "torch")
    assert tensors[1]["layer_0"].dtype == torch.float16 and isinstance(tensors[1]["layer_0_length"], int)

    # Same call again: served from the cache file, no forward pass.
    counter.calls = 0
    again = extract_features(dataset, model, layers=[0, -1], batch_size=2)
    assert counter.calls == 0, "the re-run recomputed instead of loading the cache"
    assert again.cache_files == result.cache_files
    # Anything that changes the numbers changes the cache key.
    extract_features(dataset, model, layers=[0], batch_size=2)
    assert counter.calls == 3
    with torch.no_grad():
        model.encoder.layer_norm.weight.add_(1.0)
    extract_features(dataset, model, layers=[0, -1], batch_size=2)
    assert counter.calls == 6, "changed weights must not be served stale features"


def test_extract_features_reads_audio_files_struct_rows_and_rates(model, tmp_path):
    folder = _write_wavs(tmp_path / "wavs", {"mono.wav": (8000, 16000, 1), "st.flac": (4000, 8000, 2)})
    paths = [str(folder / "mono.wav"), str(folder / "st.flac")]
    reference = []
    for path in paths:  # by hand: soundfile, mean over channels, resample, model
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
        reference.append(resample(torch.from_numpy(samples.mean(axis=1)), rate, 16000))
    with torch.no_grad():
        expected = model(reference, layers=[1]).hidden_states[0]

    audio = datasets.Dataset.from_dict({"audio": paths}).cast_column("audio", Audio())
    # (time, channels) arrays with their rate, as {"array", "sampling_rate"} structs.
    struct_type = {"array": List(List(Value("float32"))), "sampling_rate": Value("int64")}
    structs = datasets.Dataset.from_dict(
        {"audio": [{"array": sf.read(p, dtype="float32", always_2d=True)[0], "sampling_rate": sf.info(p).samplerate}
                   for p in paths]}, features=datasets.Features({"audio": struct_type}))
    for dataset in (audio, audio.cast_column("audio", Audio(decode=False)), structs):
        out = extract_features(dataset, model, layers=[1], dtype="float32", batch_size=2, decoder="soundfile")
        assert out.features["audio"] == dataset.features["audio"], "the audio column is handed back unchanged"
        out = set_feature_format(out.remove_columns("audio"))  # rows of a decoded Audio column need torchcodec
        for i in range(2):
            n = out[i]["layer_1_length"]
            assert np.array_equal(out[i]["layer_1"], expected[i, :n].numpy())

    with pytest.raises(AudioError, match="st.flac: 2 channels"):
        extract_features(audio, model, layers=[1], stereo="error", decoder="soundfile")
    with pytest.raises(AudioError, match="row 1: sampling rate 8000 Hz.*resampling is off"):
        extract_features(structs, model, layers=[1], resample=False)


# --- sharded extraction ----------------------------------------------------------------------------------


def test_length_bucketing_cuts_padding():
    rng = np.random.default_rng(0)
    lengths = {i: int(n) for i, n in enumerate(rng.integers(8000, 320000, size=400))}
    budget = 16000 * 100
    batches = make_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(400))
    assert all(len(b) * max(lengths[i] for i in b) <= budget for b in batches)
    in_order, current = [], []  # the same budget, in input order
    for i in range(400):
        if current and (len(current) + 1) * max(lengths[j] for j in current + [i]) > budget:
            in_order.append(current)
            current = []
        current.append(i)
    in_order.append(current)
    assert padding_ratio(batches, lengths) < 0.05 < 0.5 < padding_ratio(in_order, lengths)


def _run_cli(args, nproc=None, tmp_path=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))  # torchrun's thread count, for both
    launcher = [sys.executable, "-m", "s3prl_hf.cli"] if nproc is None else \
        [str(Path(sys.executable).parent / "torchrun"), "--standalone", f"--nproc_per_node={nproc}", "-m",
         "s3prl_hf.cli"]
    return subprocess.run(launcher + ["extract", *args], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)


def test_two_processes_write_byte_identical_features(model_dir, tmp_path):
    folder = _write_wavs(tmp_path / "wavs", MIXED)
    common = ["--model", str(model_dir), "--input", str(folder), "--layers", "0,-1", "--batch-seconds", "1.5",
              "--shard-seconds", "1.5"]
    one = _run_cli(common + ["--output", str(tmp_path / "one")], tmp_path=tmp_path)
    assert one.returncode == 0, one.stderr
    two = _run_cli(common + ["--output", str(tmp_path / "two")], nproc=2, tmp_path=tmp_path)
    assert two.returncode == 0, two.stderr
    assert "extracted 8 of 8 inputs" in one.stdout + two.stdout

    shards = sorted(p.name for p in (tmp_path / "one").glob("shard-*.arrow"))
    assert len(shards) >= 3 and shards == sorted(p.name for p in (tmp_path / "two").glob("shard-*.arrow"))
    writers = {json.loads((tmp_path / "two" / s).with_suffix(".json").read_text())["rank"] for s in shards}
    assert writers == {0, 1}, "both ranks must have written shards"
    for run in ("one", "two"):  # no temporary file or claim to finish is left in a finished folder
        assert not [p.name for p in (tmp_path / run).iterdir() if p.name.startswith(".")]
    for name in shards:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name

    features = load_features(tmp_path / "one")
    assert features["id"] == sorted(MIXED) and features[0]["layer_2"].dtype == np.float16


def test_interrupted_run_resumes_without_redoing_or_losing_shards(model, tmp_path):
    folder = _write_wavs(tmp_path / "wavs", MIXED)
    options = dict(layers=[1], batch_seconds=1.5, shard_seconds=1.5, progress=False)
    counter = ForwardCounter(model, fail_at=4)
    with pytest.raises(KeyboardInterrupt):
        extract_to_dir(folder, tmp_path / "out", model, **options)
    out = tmp_path / "out"
    plan = json.loads((out / "plan.json").read_text())
    done = sorted(out.glob("shard-*.arrow"))
    assert 0 < len(done) < len(plan["shards"])
    assert not list(out.glob(".*tmp*")), "a half-written shard was left behind"
    assert not (out / "manifest.json").exists()
    with pytest.raises(IncompleteExtractionError, match="rerun the same command"):
        load_features(out)
    partial = load_features(out, allow_partial=True)
    assert 0 < len(partial) < len(MIXED)

    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in done}
    counter.fail_at, counter.calls = None, 0
    summary = extract_to_dir(folder, out, model, **options)
    remaining = sum(len(plan["shards"][k]) for k in range(len(plan["shards"])) if f"shard-{k:05d}.arrow" not in stamps)
    assert counter.calls == remaining and summary.shards_already_done == len(done) and summary.complete
    assert stamps == {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in done}, "finished shards rewritten"

    straight = extract_to_dir(folder, tmp_path / "straight", model, **options)
    assert straight.complete
    for shard in sorted(out.glob("shard-*.arrow")):
        assert shard.read_bytes() == (tmp_path / "straight" / shard.name).read_bytes()
    assert len(load_features(out)) == len(MIXED)

    with pytest.raises(ExtractionError, match="other settings.*layers"):
        extract_to_dir(folder, out, model, **{**options, "layers": [0]})


def test_bad_files_are_reported_and_skipped_or_stop_the_run(model, tmp_path):
    folder = _write_wavs(tmp_path / "wavs", {"good_long.wav": (20000, 16000, 1), "good.wav": (9000, 16000, 1),
                                             "rate8k.wav": (4000, 8000, 1)})
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk" + bytes(range(256)))
    sf.write(folder / "empty.wav", np.zeros(0, np.float32), 16000)
    nan = _noise(6000, 9)
    nan[100] = np.nan
    sf.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")  # header fine, fails when decoded
    options = dict(layers=[1], batch_seconds=1.3, shard_seconds=1.0, progress=False, resample=False)

    with pytest.raises(ExtractionError) as stopped:  # header problems stop before anything is written
        extract_to_dir(folder, tmp_path / "stop", model, **options)
    message = str(stopped.value)
    for name in ("corrupt.wav", "empty.wav", "rate8k.wav"):
        assert str(folder / name) in message
    assert "cannot read the audio header" in message and "empty audio" in message and "8000 Hz" in message
    assert not (tmp_path / "stop").exists()

    # Only the NaN file left: it fails mid-run, after the longer files' shard is written.
    for name in ("corrupt.wav", "empty.wav", "rate8k.wav"):
        (folder / name).rename(tmp_path / name)
    with pytest.raises(ExtractionError, match="nan.wav: audio contains NaN"):
        extract_to_dir(folder, tmp_path / "mid", model, **options)
    kept = {p.name: p.read_bytes() for p in (tmp_path / "mid").glob("shard-*.arrow")}
    assert kept, "shards written before the bad file must be kept"
    summary = extract_to_dir(folder, tmp_path / "mid", model, **{**options, "on_error": "skip"})
    assert summary.complete and [e["path"] for e in summary.errors] == [str(folder / "nan.wav")]
    assert kept == {n: (tmp_path / "mid" / n).read_bytes() for n in kept}
    reported = json.loads((tmp_path / "mid" / "errors.json").read_text())
    assert reported[0]["error"] == "audio contains NaN or infinite samples"

    for name in ("corrupt.wav", "empty.wav", "rate8k.wav"):
        (tmp_path / name).rename(folder / name)
    code = main(["extract", "--model", str(model.name_or_path), "--input", str(folder), "--output",
                 str(tmp_path / "skip"), "--layers", "1", "--on-error", "skip", "--no-resample", "--no-progress"])
    assert code == 0
    errors = json.loads((tmp_path / "skip" / "errors.json").read_text())
    assert sorted(Path(e["path"]).name for e in errors) == ["corrupt.wav", "empty.wav", "nan.wav", "rate8k.wav"]
    assert load_features(tmp_path / "skip")["id"] == ["good.wav", "good_long.wav"]


def test_cli_reads_file_lists_and_saved_datasets(model_dir, tmp_path, capsys):
    folder = _write_wavs(tmp_path / "wavs", {"x.wav": (8000, 16000, 1), "y.wav": (5000, 16000, 1)})
    (tmp_path / "list.txt").write_text("# utterances\nutt-y\twavs/y.wav\nwavs/x.wav\n\n")
    assert main(["extract", "--model", str(model_dir), "--input", str(tmp_path / "list.txt"), "--output",
                 str(tmp_path / "from_list"), "--layers", "-1", "--dtype", "float32", "--no-progress"]) == 0
    assert "load_features" in capsys.readouterr().out
    from_list = load_features(tmp_path / "from_list")
    assert from_list["id"] == ["utt-y", "wavs/x.wav"] and from_list[0]["layer_2"].dtype == np.float32

    rows = {"clip": [sf.read(folder / f"{n}.wav", dtype="float32")[0] for n in "yx"], "key": ["utt-y", "x"]}
    datasets.Dataset.from_dict(rows).save_to_disk(tmp_path / "saved")
    assert main(["extract", "--model", str(model_dir), "--input", str(tmp_path / "saved"), "--output",
                 str(tmp_path / "from_ds"), "--layers", "-1", "--dtype", "float32", "--audio-column", "clip",
                 "--id-column", "key", "--no-progress"]) == 0
    from_ds = load_features(tmp_path / "from_ds")
    assert from_ds["id"] == ["utt-y", "x"]
    for a, b in zip(from_list, from_ds):  # same audio, same batch: same numbers
        assert np.array_equal(a["layer_2"], b["layer_2"])

    assert main(["extract", "--model", str(model_dir), "--input", str(tmp_path / "missing"), "--output",
                 str(tmp_path / "none")]) == 2
    assert "no such file or folder" in capsys.readouterr().err

"""Files on disk: read-only extraction folders, leftovers of killed runs, rewritten and truncated audio, modes.

The tests run as root on some machines, where `chmod` stops no write: "writes nothing" is checked by comparing a
folder's listing, sizes, modes and mtimes before and after, by refusing Python-level writes under the folder, and
(where mount namespaces are available) on a real read-only bind mount.
"""

import builtins
import errno
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import fixture_dirs
from s3prl_hf import AutoUpstream, extract_to_dir, load_features

HUBERT = next(f for f in fixture_dirs() if f.name == "hubert_base_like")
ROOT = Path(__file__).resolve().parents[1]
SPEC = {"a.wav": 16000, "b.wav": 3000, "c.wav": 12000, "d.wav": 700, "e.wav": 9000}
OPTIONS = dict(layers=[1], batch_seconds=1.5, shard_seconds=1.5, progress=False)


@pytest.fixture(scope="module")
def model_dir(converted_fixture):
    return converted_fixture(HUBERT)


@pytest.fixture
def model(model_dir):
    return AutoUpstream.from_pretrained(model_dir)


def noise(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)


def write_wavs(folder: Path, spec: dict[str, int] = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, n) in enumerate(spec.items()):
        sf.write(folder / name, noise(n, seed), 16000, subtype="PCM_16")
    return folder


def snapshot(folder: Path) -> dict:
    """Every entry under `folder` (itself included): kind, size, mode, inode and mtime."""
    entries = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        entries[str(path.relative_to(folder))] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mode,
                                                  info.st_ino, info.st_mtime_ns)
    return entries


@contextmanager
def refusing_writes_under(folder: Path):
    """Make every Python-level write, creation, rename or deletion under `folder` fail as on a read-only mount."""
    folder = os.path.realpath(folder)
    originals = {}

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        real = os.path.realpath(os.fspath(path))
        return real == folder or real.startswith(folder + os.sep)

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system (test)", os.fspath(path))

    def guard(module, name, paths_at=(0,), check=None):
        original = getattr(module, name)
        originals[(module, name)] = original

        def guarded(*args, **kwargs):
            for position in paths_at:
                if position < len(args) and inside(args[position]) and (check is None or check(*args, **kwargs)):
                    refuse(args[position])
            return original(*args, **kwargs)

        setattr(module, name, guarded)

    def writes_mode(file, mode="r", *args, **kwargs):
        return any(flag in mode for flag in "wax+")

    def writes_flags(path, flags, *args, **kwargs):
        return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))

    guard(builtins, "open", check=writes_mode)
    guard(io, "open", check=writes_mode)
    guard(os, "open", check=writes_flags)
    for name in ("mkdir", "rmdir", "remove", "unlink", "chmod", "utime", "truncate"):
        guard(os, name)
    for name in ("rename", "replace", "link", "symlink"):
        guard(os, name, paths_at=(0, 1))
    try:
        yield
    finally:
        for (module, name), original in originals.items():
            setattr(module, name, original)


def make_read_only(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)


# --- load_features on a read-only folder -----------------------------------------------------------------


def test_load_features_writes_nothing_into_the_extraction_folder(model, tmp_path):
    out = tmp_path / "out"
    summary = extract_to_dir(write_wavs(tmp_path / "wavs"), out, model, **OPTIONS)
    assert summary.complete and summary.num_shards >= 2  # several shards: the input order needs a permutation
    make_read_only(out)
    before = snapshot(out)
    with refusing_writes_under(out):
        features = load_features(out)
        storage = load_features(out, order="storage")
        ids = list(features["id"])
        first = features[0]["layer_1"]
    assert snapshot(out) == before, "load_features changed the extraction folder"
    assert ids == sorted(SPEC) and list(storage["id"]) != ids  # sorted back into input order, in memory
    assert first.dtype == np.float16 and first.shape[0] == features[0]["layer_1_length"]


def test_load_features_on_a_read_only_bind_mount(model, tmp_path):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("no mount namespace here (needs root or user namespaces)")
    out = tmp_path / "out"
    extract_to_dir(write_wavs(tmp_path / "wavs"), out, model, **OPTIONS)
    before = snapshot(out)
    code = textwrap.dedent(f"""
        from s3prl_hf import load_features
        features = load_features({str(out)!r})
        print("ids", list(features["id"]))
    """)
    script = (f"mount --bind {out} {out} && mount -o remount,bind,ro {out} && touch {out}/probe 2>/dev/null "
              f"&& echo 'mount is writable' && exit 3; exec {sys.executable} -c \"$0\"")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ids {sorted(SPEC)}" in result.stdout
    assert snapshot(out) == before


# --- leftovers of killed runs ---------------------------------------------------------------------------

KILLED_RUN = """
import os, signal, sys
from s3prl_hf import extract_to_dir
from s3prl_hf.extraction import sharded

wavs, out, model, stage = sys.argv[1:]
real_replace = os.replace

def replace(source, target, *args, **kwargs):
    if stage == "shard" and str(target).endswith("shard-00001.arrow"):
        os.kill(os.getpid(), signal.SIGKILL)  # killed with the shard's temporary file written, before its rename
    return real_replace(source, target, *args, **kwargs)

def write_manifest(*args):
    os.kill(os.getpid(), signal.SIGKILL)  # killed after claiming the finish, before the manifest

os.replace = replace
if stage == "manifest":
    sharded._write_manifest = write_manifest
extract_to_dir(wavs, out, model, layers=[1], batch_seconds=1.5, shard_seconds=0.5, progress=False)
"""


def dot_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_resumed_run_deletes_what_killed_runs_left_but_not_live_writers_files(model_dir, tmp_path):
    wavs, out = write_wavs(tmp_path / "wavs"), tmp_path / "out"

    def killed(stage):
        result = subprocess.run([sys.executable, "-c", KILLED_RUN, str(wavs), str(out), str(model_dir), stage],
                                capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == -9, result.stderr
        return result

    killed("shard")
    [temporary] = dot_files(out)
    assert temporary.startswith(".shard-00001.arrow.tmp-")
    killed("manifest")  # the resumed run finishes every shard, claims the finish and dies
    [claim] = dot_files(out)
    assert claim.startswith(".finished-"), "the first run's temporary file must be gone"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / claim).stat().st_mode) == 0o666 & ~umask, "a claim is a plain file, not executable"
    assert not (out / "manifest.json").exists()

    # A temporary file of a process that is alive (another run into this folder) is not touched.
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live = out / f".shard-00009.arrow.tmp-{writer.pid}"
        live.write_bytes(b"being written")
        summary = extract_to_dir(wavs, out, AutoUpstream.from_pretrained(model_dir), layers=[1],
                                 batch_seconds=1.5, shard_seconds=0.5, progress=False)
        assert summary.complete and summary.shards_already_done == summary.num_shards == 3
        assert dot_files(out) == [live.name]
    finally:
        writer.kill()
        writer.wait()
    extract_to_dir(wavs, out, model_dir, layers=[1], batch_seconds=1.5, shard_seconds=0.5, progress=False)
    assert dot_files(out) == [], "a finished folder holds no temporary files or claims"
    assert list(load_features(out)["id"]) == sorted(SPEC)


# --- extract_features and files rewritten in place --------------------------------------------------------


class ForwardCounter:
    def __init__(self, model):
        self.calls = 0
        model.register_forward_hook(self)

    def __call__(self, *_):
        self.calls += 1


def rewrite_in_place(path: Path, seed: int) -> None:
    """New samples, same length and format (so the same size), and a later mtime even on coarse clocks."""
    before = path.stat()
    info = sf.info(path)
    sf.write(path, noise(info.frames, seed), info.samplerate, subtype=info.subtype)
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))


@pytest.mark.parametrize("column", ["paths", "audio_files", "selection"])
def test_extract_features_reads_a_file_rewritten_in_place_anew(model, tmp_path, column):
    import datasets
    from datasets import Audio

    from s3prl_hf import extract_features

    wavs = write_wavs(tmp_path / "wavs", {"x.wav": 8000, "y.wav": 5000})
    dataset = datasets.Dataset.from_dict({"audio": [str(wavs / "x.wav"), str(wavs / "y.wav")]})
    if column != "paths":
        dataset = dataset.cast_column("audio", Audio(decode=False))
    # Backed by a file (map results are cached only then), with the rows still pointing to the wav files:
    # save_to_disk would embed the audio bytes of an Audio column.
    dataset = dataset.map(lambda rows: rows, batched=True, cache_file_name=str(tmp_path / "rows.arrow"))
    assert dataset.cache_files and dataset[0]["audio"] is not None
    if column == "selection":
        dataset = dataset.select([1, 0])  # an indices mapping over the table
    counter = ForwardCounter(model)
    first = extract_features(dataset, model, layers=[1], dtype="float32", batch_size=2)
    extract_features(dataset, model, layers=[1], dtype="float32", batch_size=2)
    assert counter.calls == 1, "an unchanged dataset is served from the cache"

    rewrite_in_place(wavs / "y.wav", seed=99)
    again = extract_features(dataset, model, layers=[1], dtype="float32", batch_size=2)
    assert counter.calls == 2, "a file rewritten in place was served from the cache"
    row = 0 if column == "selection" else 1
    assert not np.array_equal(np.asarray(first[row]["layer_1"]), np.asarray(again[row]["layer_1"]))
    other = 1 - row
    assert np.array_equal(np.asarray(first[other]["layer_1"]), np.asarray(again[other]["layer_1"]))
    order = ["y.wav", "x.wav"] if column == "selection" else ["x.wav", "y.wav"]
    with torch.no_grad():  # the new samples, in the same padded batch (group norm sees the padding)
        out = model([torch.from_numpy(sf.read(wavs / name, dtype="float32")[0]) for name in order], layers=[1])
    frames = int(out.hidden_states_lengths[0][row])
    assert np.array_equal(np.asarray(again[row]["layer_1"]), out.hidden_states[0][row, :frames].numpy())


def test_extract_to_dir_extracts_a_file_rewritten_in_place_again(model, tmp_path):
    wavs = write_wavs(tmp_path / "wavs", {"x.wav": 8000, "y.wav": 5000, "z.wav": 6000})
    out = tmp_path / "out"
    # one shard per utterance, so the test also sees that only the changed file's shard is written again
    options = dict(layers=[1], dtype="float32", shard_seconds=0.1, batch_seconds=0.1, on_error="skip",
                   progress=False)
    first = extract_to_dir(wavs, out, model, **options)
    assert first.complete and first.num_shards == 3
    before = {row["id"]: np.asarray(row["layer_1"]) for row in load_features(out)}
    shards = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.arrow")}

    rewrite_in_place(wavs / "y.wav", seed=99)
    again = extract_to_dir(wavs, out, model, **options)
    assert again.inputs_changed == 1 and again.shards_written == 1 and again.complete
    after = {row["id"]: np.asarray(row["layer_1"]) for row in load_features(out)}
    assert np.array_equal(after["x.wav"], before["x.wav"]) and np.array_equal(after["z.wav"], before["z.wav"])
    with torch.no_grad():
        expected = model([torch.from_numpy(sf.read(wavs / "y.wav", dtype="float32")[0])], layers=[1])
    assert np.array_equal(after["y.wav"], expected.hidden_states[0][0].numpy())
    assert sum(p.stat().st_mtime_ns != shards[p.name] for p in out.glob("shard-*.arrow")) == 1

    (wavs / "z.wav").write_text("not audio any more")  # now bad: its features must go, reported as an error
    broken = extract_to_dir(wavs, out, model, **options)
    assert [e["id"] for e in broken.errors] == ["z.wav"]
    assert sorted(row["id"] for row in load_features(out)) == ["x.wav", "y.wav"]

    sf.write(wavs / "z.wav", noise(7000, 3), 16000, subtype="PCM_16")  # and readable again
    mended = extract_to_dir(wavs, out, model, **options)
    assert not mended.errors and sorted(row["num_samples"] for row in load_features(out)) == [5000, 7000, 8000]
    assert extract_to_dir(wavs, out, model, **options).inputs_changed == 0


def test_audio_rows_holding_their_bytes_need_no_file_stamp(model, tmp_path):
    import datasets
    from datasets import Audio

    from s3prl_hf.extraction.waveforms import audio_files_stamp

    wavs = write_wavs(tmp_path / "wavs", {"x.wav": 8000})
    by_path = datasets.Dataset.from_dict({"audio": [str(wavs / "x.wav")]}).cast_column("audio", Audio(decode=False))
    embedded = datasets.Dataset.from_dict({"audio": [{"bytes": (wavs / "x.wav").read_bytes(), "path": "x.wav"}]})
    embedded = embedded.cast_column("audio", Audio(decode=False))
    arrays = datasets.Dataset.from_dict({"audio": [noise(100, 0)]})
    assert audio_files_stamp(embedded, "audio") is None and audio_files_stamp(arrays, "audio") is None
    stamp = audio_files_stamp(by_path, "audio")
    rewrite_in_place(wavs / "x.wav", seed=5)
    assert audio_files_stamp(by_path, "audio") not in (None, stamp)


# --- truncated audio ---------------------------------------------------------------------------------------


def truncate(path: Path, keep: float = 2 / 3) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("container, subtype", [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("WAV", "ULAW"),
                                                ("WAVEX", "PCM_24"), ("RF64", "PCM_16"), ("AIFF", "PCM_16")])
def test_a_file_cut_short_is_an_audio_error_not_fewer_samples(tmp_path, container, subtype):
    from s3prl_hf.extraction.audio import AudioError, audio_info, read_audio
    from s3prl_hf.extraction.wav_header import declared_frames

    path = tmp_path / ("cut.aiff" if container == "AIFF" else "cut.wav")
    sf.write(path, np.stack([noise(16000, 0), noise(16000, 1)], axis=1), 16000, format=container, subtype=subtype)
    assert declared_frames(path) == audio_info(path).frames == read_audio(path)[0].shape[0] == 16000
    truncate(path)
    assert 0 < sf.info(path).frames < 16000, "libsndfile reads the cut file short, without an error"
    for read in (audio_info, read_audio, lambda p: read_audio(p.read_bytes(), str(p))):
        with pytest.raises(AudioError, match=f"{path}: truncated file: the header declares 16000 samples"):
            read(path)


def test_streamed_wav_of_unknown_size_is_read_whole(tmp_path):
    from s3prl_hf.extraction.audio import audio_info, read_audio

    path = tmp_path / "streamed.wav"
    sf.write(path, noise(16000, 0), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    start = data.find(b"data")
    data[4:8] = data[start + 4:start + 8] = b"\xff\xff\xff\xff"  # what a writer to a pipe leaves
    path.write_bytes(bytes(data))
    assert audio_info(path).frames == read_audio(path)[0].shape[0] == 16000


def test_truncated_wav_is_reported_by_extract_and_extract_features(model, model_dir, tmp_path, capsys):
    import datasets
    from datasets import Audio

    from s3prl_hf import AudioError, extract_features
    from s3prl_hf.cli import main

    wavs = write_wavs(tmp_path / "wavs", {"good.wav": 9000, "cut.wav": 16000})
    cut = wavs / "cut.wav"
    raw = cut.read_bytes()
    truncate(cut)
    common = ["extract", "--model", str(model_dir), "--input", str(wavs), "--layers", "1", "--no-progress"]
    assert main(common + ["--output", str(tmp_path / "stop")]) == 2
    err = capsys.readouterr().err
    assert f"{cut}: truncated file: the header declares 16000 samples" in err and "Traceback" not in err
    assert any(line.startswith("s3prl-hf extract: error: ") for line in err.splitlines())
    assert main(common + ["--output", str(tmp_path / "skip"), "--on-error", "skip"]) == 0
    [error] = json.loads((tmp_path / "skip" / "errors.json").read_text())
    assert error["path"] == str(cut) and error["error"].startswith("truncated file")
    assert list(load_features(tmp_path / "skip")["id"]) == ["good.wav"]

    paths = datasets.Dataset.from_dict({"audio": [str(wavs / "good.wav"), str(cut)]})
    with pytest.raises(AudioError, match=f"{cut}: truncated file"):
        extract_features(paths, model, layers=[1])
    rows = datasets.Dataset.from_dict({"audio": [{"bytes": raw[: len(raw) // 2], "path": "in/archive/cut.wav"}]})
    with pytest.raises(AudioError, match="in/archive/cut.wav: truncated file"):
        extract_features(rows.cast_column("audio", Audio(decode=False)), model, layers=[1])


# --- modes ----------------------------------------------------------------------------------------------

UNDER_UMASK = """
import os, stat, sys
from pathlib import Path
from urllib.parse import urlsplit

umask = int(sys.argv[1], 8)
os.umask(umask)
root = Path(sys.argv[2])
os.environ["S3PRL_HF_CACHE"] = str(root / "cache")
import datasets, numpy as np, soundfile as sf
from loopback import LoopbackServer
from s3prl_hf import AutoUpstream, extract_features, extract_to_dir, registry
from s3prl_hf.conversion import convert_checkpoint

fixtures = Path("fixtures")
name = "hubert_large_ll60k"  # the conversion cache: download, sha256 record, lock files, converted folder
url = urlsplit(registry.get_spec(name).download_options[0][0].url)
with LoopbackServer(files={url.hostname + url.path: (fixtures / "hubert_large_like/original_s3prl.pt").read_bytes()}) as server:
    os.environ["S3PRL_HF_MIRROR"] = server.url + "/originals"
    model = AutoUpstream.from_pretrained(name)
convert_checkpoint("hubert_base", fixtures / "hubert_base_like/original_s3prl.pt", root / "converted")
wavs = root / "wavs"
wavs.mkdir()
for i, n in enumerate([16000, 3000, 9000]):
    sf.write(wavs / f"{i}.wav", np.zeros(n, np.float32), 16000, subtype="PCM_16")
extract_to_dir(wavs, root / "features", root / "converted", layers=[1], shard_seconds=0.3, progress=False)
rows = datasets.Dataset.from_dict({"audio": [str(p) for p in sorted(wavs.iterdir())]})
rows = rows.map(lambda r: r, batched=True, cache_file_name=str(root / "rows" / "rows.arrow"))
extract_features(rows, model, layers=[1])
for path in sorted(p for p in root.rglob("*") if not p.is_relative_to(wavs)):
    print(oct(stat.S_IMODE(path.lstat().st_mode)), "d" if path.is_dir() else "f", path.relative_to(root))
"""


@pytest.mark.parametrize("umask", ["022", "002", "077"])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask):
    result = subprocess.run([sys.executable, "-c", UNDER_UMASK, umask, str(tmp_path)], capture_output=True,
                            text=True, timeout=300, cwd=Path(__file__).parent, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    listing = [line.split(" ", 2) for line in result.stdout.splitlines() if line.startswith("0o")]
    written = {path for _, _, path in listing}
    for expected in ("cache/locks", "cache/downloads", "converted/model.safetensors", "features/manifest.json",
                     "features/shard-00000.arrow", "rows"):
        assert any(path.startswith(expected) for path in written), f"{expected} was not written"
    assert any(path.endswith("/model.safetensors") and path.startswith("cache/converted/") for path in written)
    assert any(path.startswith("rows/cache-") for path in written), "extract_features' cache file"
    want = {"d": 0o777 & ~int(umask, 8), "f": 0o666 & ~int(umask, 8)}
    wrong = [f"{mode} {path}" for mode, kind, path in listing if int(mode, 8) != want[kind]]
    assert not wrong, f"modes other than the umask gives (files {oct(want['f'])}, folders {oct(want['d'])}): {wrong}"

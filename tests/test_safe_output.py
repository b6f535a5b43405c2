"""`convert` never loses a user's files: what `--force` may replace, the atomic commit, file modes."""

import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import FIXTURES
from s3prl_hf.cli import main
from s3prl_hf.conversion.folders import commit_folder, is_converted_folder

HUBERT = FIXTURES / "hubert_base_like" / "original_s3prl.pt"
APC = FIXTURES / "apc_like" / "original_s3prl.pt"


def convert_args(output, checkpoint=HUBERT, name="hubert_base", force=False):
    return ["convert", "--name", name, "--checkpoint", str(checkpoint), "--output", str(output)] + \
        (["--force"] if force else [])


def test_force_refuses_a_folder_holding_user_files(tmp_path, capsys):
    output = tmp_path / "mine"
    output.mkdir()
    (output / "thesis.tex").write_text("years of work")
    assert main(convert_args(output, force=True)) == 2
    assert "not a folder that s3prl_hf wrote" in capsys.readouterr().err
    assert (output / "thesis.tex").read_text() == "years of work" and len(list(output.iterdir())) == 1


def test_force_refuses_the_checkpoints_own_folder_the_cwd_and_files(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    checkpoint = folder / "hubert.pt"
    shutil.copy(HUBERT, checkpoint)
    assert main(convert_args(folder, checkpoint, force=True)) == 2
    assert "holds the input" in capsys.readouterr().err
    assert checkpoint.read_bytes() == HUBERT.read_bytes()
    assert main(convert_args(checkpoint, checkpoint, force=True)) == 2
    assert checkpoint.read_bytes() == HUBERT.read_bytes()

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep")
    assert main(convert_args(".", force=True)) == 2
    assert "current directory" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "keep"

    assert main(convert_args(tmp_path / "notes.txt", force=True)) == 2
    assert "is a file" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "keep"

    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert main(convert_args(tmp_path / "link")) == 2
    err = capsys.readouterr().err
    assert err.startswith("s3prl-hf convert: error: ") and "symbolic link" in err and err.count("\n") == 1


def test_force_replaces_an_empty_or_converted_folder(tmp_path):
    output = tmp_path / "converted"
    output.mkdir()
    assert main(convert_args(output, force=True)) == 0  # empty
    assert is_converted_folder(output)
    first = (output / "model.safetensors").read_bytes()
    assert main(convert_args(output, APC, name="apc_360hr", force=True)) == 0  # converted
    assert '"s3prl_apc"' in (output / "config.json").read_text() and (output / "model.safetensors").read_bytes() != first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(convert_args(tmp_path / "out")) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()} == {0o644}


def test_concurrent_converts_into_one_new_folder_succeed_once(tmp_path):
    output = tmp_path / "shared"
    jobs = [(HUBERT, "hubert_base"), (HUBERT, "hubert_base"), (APC, "apc_360hr"), (APC, "apc_360hr")]
    processes = [subprocess.Popen([sys.executable, "-m", "s3prl_hf.cli", *convert_args(output, ckpt, name)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for ckpt, name in jobs]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in processes]
    winners = [i for i, (code, _) in enumerate(results) if code == 0]
    assert len(winners) == 1, results
    losers = [err for code, err in results if code != 0]
    last_lines = [err.strip().splitlines()[-1] for err in losers]  # progress bars may come first
    assert all(line.startswith("s3prl-hf convert: error:") and "exists" in line for line in last_lines), losers
    assert not any("Traceback" in err for err in losers)
    model_type = "s3prl_hubert" if jobs[winners[0]][1] == "hubert_base" else "s3prl_apc"
    assert f'"{model_type}"' in (output / "config.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_readers_never_see_a_half_replaced_folder(tmp_path):
    output = tmp_path / "model"
    assert main(convert_args(output)) == 0
    template = tmp_path / "template"
    shutil.copytree(output, template)
    seen_broken = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            if not ((output / "config.json").is_file() and (output / "model.safetensors").is_file()):
                seen_broken.append(sorted(p.name for p in output.iterdir()) if output.exists() else None)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(200):
            staging = tmp_path / "staging"
            shutil.copytree(template, staging)
            commit_folder(staging, output, force=True)
    finally:
        stop.set()
        reader.join()
    assert seen_broken == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "template"]


@pytest.mark.parametrize("bad", ["not-a-folder-we-wrote", "extra-file"])
def test_is_converted_folder_is_strict(tmp_path, bad):
    assert main(convert_args(tmp_path / "c")) == 0
    folder = tmp_path / "c"
    if bad == "extra-file":
        (folder / "data.wav").write_bytes(b"RIFF")
    else:
        (folder / "config.json").write_text('{"model_type": "bert"}')
    assert not is_converted_folder(folder)
    assert main(convert_args(folder, force=True)) == 2
    assert Path(folder / "config.json").exists()

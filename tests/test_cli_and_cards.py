"""The `s3prl-hf` command line and the committed model cards."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES
from s3prl_hf import cards, registry
from s3prl_hf.models import family_names
from s3prl_hf.cli import main

REPO = Path(__file__).parents[1]


def test_list_info_and_pattern(capsys):
    assert main(["list", "hubert*"]) == 0
    out = capsys.readouterr().out
    assert "hubert_base" in out and "wavlm" not in out
    assert "original from huggingface.co, converted on first use" in out
    assert main(["info", "hubert"]) == 0
    out = capsys.readouterr().out
    assert "hubert_base" in out and "13 hidden states" in out and "@article{hsu2021hubert" in out
    assert "weights:     original from huggingface.co" in out
    assert main(["list", "--family", "wavlm"]) == 0
    assert "wavlm_large" in capsys.readouterr().out
    # every name says where its weights come from; none is called available without a source
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for spec in registry.UPSTREAMS:
        line = next(line for line in out.splitlines() if line.split() and line.split()[0] == spec.name)
        built_in = not spec.has_weights
        assert ("built in (no weights)" if built_in else "converted on first use") in line, line
        assert spec.family in family_names(), line
        assert ("not redistributable" in line) == (not spec.redistributable), line


def test_import_list_and_info_load_neither_torch_nor_transformers():
    code = ("import sys, s3prl_hf; from s3prl_hf.cli import main; main(['list']); main(['info', 'hubert_large_ll60k']); "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers'}); "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "25 hidden states, sizes [1024]" in result.stdout


def test_architectures_file_is_up_to_date():
    from s3prl_hf.cards import ARCHITECTURES_FILE, architectures

    assert json.loads(ARCHITECTURES_FILE.read_text()) == architectures(), \
        "stale s3prl_hf/data/architectures.json: run `python -m s3prl_hf.cards model_cards`"


def test_errors_exit_2_with_a_message(capsys, tmp_path):
    assert main(["info", "huburt"]) == 2
    assert "Did you mean" in capsys.readouterr().err
    assert main(["convert", "--name", "hubert_base", "--checkpoint", str(tmp_path / "x.pt"),
                 "--output", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith(f"s3prl-hf {command}: error: ")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def _write_wav(path):
    import wave

    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
        handle.writeframes(bytes(32000))


@pytest.mark.parametrize("make, expected", [
    (lambda path: path.write_text("hello " * 101), "not a readable PyTorch checkpoint"),
    (_write_wav, "not a readable PyTorch checkpoint"),
    (lambda path: path.write_bytes(b""), "not a readable PyTorch checkpoint"),
    (lambda path: path.write_bytes((FIXTURES / "hubert_base_like" / "original_s3prl.pt").read_bytes()[:3000]),
     "truncated or corrupt"),
    (lambda path: path.write_bytes((FIXTURES / "apc_like" / "original_s3prl.pt").read_bytes()),
     "'model_cfg'|not .*HuBERT|unrecognised"),
])
def test_a_file_that_is_no_checkpoint_of_the_name_is_one_error_line(tmp_path, capsys, make, expected):
    make(tmp_path / "checkpoint.pt")
    assert main(["convert", "--name", "hubert_base", "--checkpoint", str(tmp_path / "checkpoint.pt"),
                 "--output", str(tmp_path / "out")]) == 2
    import re

    assert re.search(expected, _one_error_line(capsys, "convert"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


@pytest.mark.parametrize("name, fixture, message", [
    ("vq_apc_360hr", "apc_like", "a checkpoint of APC .*no vq layers.*convert it under apc_360hr or apc_960hr"),
    ("apc_360hr", "vq_apc_like", "a checkpoint of VQ-APC .*convert it under vq_apc_360hr or vq_apc_960hr"),
    ("tera_100hr", "mockingjay_large_like", "a checkpoint of Mockingjay \\(its task masks time only"),
    ("mockingjay_100hr", "tera_fbank_like", "a checkpoint of TERA \\(its task alters frequency or magnitude"),
    ("mockingjay_100hr", "audio_albert_like", "a checkpoint of Audio ALBERT"),
    ("audio_albert", "spec_augment_like", "a checkpoint of SpecAugment"),
    ("spec_augment", "tera_chunked_like", "a checkpoint of TERA"),
    ("wav2vec", "vq_wav2vec_gumbel_like", "a checkpoint of vq-wav2vec \\(its fairseq config has vq_type='gumbel'"),
    ("vq_wav2vec", "wav2vec_large_like", "a checkpoint of wav2vec \\(its fairseq config has vq_type='none'"),
    ("hubert_base", "contentvec_like", "a checkpoint of ContentVec"),
])
def test_a_checkpoint_whose_config_names_another_method_is_refused(tmp_path, capsys, name, fixture, message):
    import re

    checkpoint = next((FIXTURES / fixture).glob("original_s3prl.pt"))
    assert main(["convert", "--name", name, "--checkpoint", str(checkpoint), "--output", str(tmp_path / "out")]) == 2
    assert re.search(message, _one_error_line(capsys, "convert"))
    assert not (tmp_path / "out").exists()


def test_an_unexpected_error_is_one_line_too(capsys, monkeypatch):
    def broken(args):
        raise LookupError("something we did not foresee")

    monkeypatch.setattr("s3prl_hf.cli.cmd_list", broken)
    monkeypatch.delenv("S3PRL_HF_DEBUG", raising=False)
    assert main(["list"]) == 1
    line = _one_error_line(capsys, "list")
    assert "LookupError: something we did not foresee" in line and "S3PRL_HF_DEBUG=1" in line
    monkeypatch.setenv("S3PRL_HF_DEBUG", "1")
    with pytest.raises(LookupError):
        main(["list"])


def test_convert_command_writes_a_loadable_folder(tmp_path, capsys):
    output = tmp_path / "converted"
    args = ["convert", "--name", "hubert_large_ll60k", "--checkpoint",
            str(FIXTURES / "hubert_large_like" / "original_fairseq.pt"), "--output", str(output)]
    assert main(args) == 0
    assert (output / "model.safetensors").exists()
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


def test_demo_runs_offline_in_a_fresh_interpreter(tmp_path):
    result = subprocess.run([sys.executable, "-m", "s3prl_hf.cli", "demo"], capture_output=True, text=True,
                            timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 3  # the demo checkpoint has 2 transformer layers -> 3 hidden states
    assert all(int(row[1]) == 213 for row in rows)  # ceil(68084 samples / 320)


@pytest.mark.parametrize("spec", registry.UPSTREAMS, ids=lambda s: s.name)
def test_committed_model_cards_are_up_to_date(spec):
    path = REPO / "model_cards" / f"{spec.name}.md"
    assert path.exists(), "missing card: run `python -m s3prl_hf.cards model_cards`"
    assert path.read_text() == cards.render_card(spec), f"stale card {path.name}: run `python -m s3prl_hf.cards model_cards`"


def test_no_card_without_registry_entry():
    names = {spec.name for spec in registry.UPSTREAMS}
    extra = [p.name for p in (REPO / "model_cards").glob("*.md") if p.stem not in names and p.name != "README.md"]
    assert not extra


def test_demo_checkpoint_is_the_s3prl_made_fixture():
    demo = REPO / "s3prl_hf" / "demo" / "hubert_demo.pt"
    assert demo.read_bytes() == (FIXTURES / "hubert_base_like" / "original_s3prl.pt").read_bytes(), \
        "run conversion/make_demo_assets.sh"

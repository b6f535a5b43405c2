"""Loading by registry name from a Hugging Face cache with HF_HUB_OFFLINE=1 (the real download path)."""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import FIXTURES

NAMESPACE = "s3prl-hf-test"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def populate_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """Lay `folder` out as huggingface_hub's cache does: blobs, a snapshot of symlinks, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for file in folder.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.write_bytes(file.read_bytes())
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))


def run_offline(code: str, cache: Path) -> subprocess.CompletedProcess:
    # HF_HUB_OFFLINE is read when huggingface_hub is imported: use a fresh interpreter.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "S3PRL_HF_NAMESPACE": NAMESPACE}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_load_by_name_and_alias_from_offline_cache(tmp_path, converted_fixture):
    converted = converted_fixture(FIXTURES / "hubert_base_like")
    populate_cache(tmp_path / "hub", f"{NAMESPACE}/hubert_base", converted)
    result = run_offline("""
        import torch
        from safetensors.torch import load_file
        from s3prl_hf import AutoUpstream
        by_alias = AutoUpstream.from_pretrained("hubert")
        by_name = AutoUpstream.from_pretrained("hubert_base")
        by_repo = AutoUpstream.from_pretrained("s3prl-hf-test/hubert_base")
        wavs = torch.randn(2, 8000)
        outs = [m(wavs, torch.tensor([8000, 5000])).hidden_states for m in (by_alias, by_name, by_repo)]
        assert all(torch.equal(a, b) for other in outs[1:] for a, b in zip(outs[0], other))
        print("layers", by_alias.num_layers, "eval", not by_alias.training)
    """, tmp_path / "hub")
    assert result.returncode == 0, result.stderr
    assert "layers 3 eval True" in result.stdout


def test_offline_without_cache_says_repo_offline_and_how_to_convert(tmp_path):
    result = run_offline("""
        from s3prl_hf import AutoUpstream
        from s3prl_hf.auto import UpstreamNotAvailableError
        try:
            AutoUpstream.from_pretrained("hubert_large_ll60k")
        except UpstreamNotAvailableError as error:
            print(error)
    """, tmp_path / "empty")
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert f"{NAMESPACE}/hubert_large_ll60k" in message
    assert "offline" in message
    assert "s3prl-hf convert --name hubert_large_ll60k" in message
    assert "hubert_large_ll60k.pt" in message  # where to get the original checkpoint

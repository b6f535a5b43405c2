"""The publish pipeline (conversion/publish.py) and `s3prl-hf verify`, all on loopback.

- Originals: the fixtures' S3PRL-made checkpoints, served as the registry's URLs by a local server through
  `S3PRL_HF_MIRROR` (tests/loopback.py).
- Verification data: CI has no S3PRL, so the test stages precomputed reference outputs (`--reference-outputs`) made
  from each fixture's `expected.safetensors`: the inputs S3PRL ran and the hidden states `S3PRLUpstream` computed from
  exactly the served file (its sha256 is recorded and checked by the pipeline). With S3PRL available,
  `--reference-python` runs it instead (README's "Publishing" section; not part of CI).
- The Hub: `huggingface_hub.HfApi` is replaced by a subclass whose network methods record their calls, so the
  pipeline's calls (repo ids, uploaded files, commit messages, tags, the collection) are asserted without a Hub.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar
from urllib.parse import urlsplit

import huggingface_hub
import pytest
from huggingface_hub import CommitInfo, HfApi
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import FIXTURES, fixture_meta
from loopback import LoopbackServer
from s3prl_hf import AutoUpstream, registry
from s3prl_hf.cli import main as cli_main
from s3prl_hf.verification.data import compare

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "conversion"))
import publish  # conversion/publish.py

# name -> the fixture standing in for its original (S3PRL-made, with S3PRL's hidden states)
SERVED = {"hubert_large_ll60k": "hubert_large_like", "wavlm_large": "wavlm_large_like",
          "byol_a_2048": "byol_a_like"}  # byol_a_2048: licence does not allow re-hosting
MISSING = "wavlm_base_plus"  # every source answers 404
NAMESPACE = "test-org"
REPO_FILES = {"README.md", "config.json", "model.safetensors", "verification/info.json",
              "verification/inputs.safetensors", "verification/s3prl_hidden_states.safetensors"}


def s3prl_url(name: str) -> str:
    return registry.get_spec(name).s3prl_urls[0]


def key(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname + parts.path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage_reference(root: Path, name: str, fixture: str) -> None:
    """`--reference-outputs` data for `name` from the fixture's S3PRL outputs: its `batch` and `single` cases."""
    folder = FIXTURES / fixture
    meta = fixture_meta(folder)
    expected = load_file(folder / "expected.safetensors")
    inputs, states = {}, {}
    for case in ("batch", "single"):
        assert not meta["cases"][case]["normalize"] and "inputs_from" not in meta["cases"][case]
        inputs[f"{case}.wavs_int16"] = expected[f"{case}.wavs_int16"]
        inputs[f"{case}.wavs_len"] = expected[f"{case}.wavs_len"]
        states.update({k: v for k, v in expected.items() if k.startswith((f"{case}.hs.", f"{case}.hs_len."))})
    out = root / name
    out.mkdir(parents=True)
    save_file(inputs, str(out / "inputs.safetensors"))
    save_file(states, str(out / "s3prl_hidden_states.safetensors"))
    original = folder / "original_s3prl.pt"
    record = {"hub_entry": meta["hub_entry"], "versions": meta["versions"],
              "call": f"S3PRLUpstream({meta['hub_entry']!r}, path_or_url='original_s3prl.pt').eval()",
              **meta["s3prl_upstream"],
              "sources": [{"url": s3prl_url(name), "sha256": sha256(original), "size": original.stat().st_size}]}
    (out / "reference.json").write_text(json.dumps(record))


class RecordingHubApi(HfApi):
    """`HfApi` with its network calls replaced: records them and answers as the Hub does."""

    instances: ClassVar[list] = []

    def __init__(self, *args, **kwargs):
        super().__init__(endpoint="http://127.0.0.1:9", token="hf_not_a_token")
        self.calls, self.uploads, self.tags, self.collection = [], [], {}, None
        RecordingHubApi.instances.append(self)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs.get("exist_ok")))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, commit_message=None, commit_description=None, **kwargs):
        folder = Path(folder_path)
        files = {p.relative_to(folder).as_posix(): sha256(p) for p in folder.rglob("*") if p.is_file()}
        oid = hashlib.sha1(json.dumps([repo_id, sorted(files.items())]).encode()).hexdigest()
        self.uploads.append(dict(repo_id=repo_id, folder=folder, files=files, message=commit_message,
                                 description=commit_description, oid=oid, **kwargs))
        self.calls.append(("upload_folder", repo_id))
        return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/{oid}", commit_message=commit_message,
                          commit_description=commit_description or "", oid=oid)

    def create_tag(self, repo_id, *, tag, revision=None, tag_message=None, **kwargs):
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        self.calls.append(("create_tag", repo_id, tag, revision))
        if (repo_id, tag) in self.tags:
            request = httpx2.Request("POST", f"https://hub.invalid/api/models/{repo_id}/tag/main")
            raise HfHubHTTPError("409 Conflict: tag exists", response=httpx2.Response(409, request=request))
        self.tags[(repo_id, tag)] = revision

    def delete_tag(self, repo_id, *, tag, **kwargs):
        self.calls.append(("delete_tag", repo_id, tag))
        del self.tags[(repo_id, tag)]

    def create_collection(self, title, *, namespace=None, description=None, exists_ok=False, **kwargs):
        self.calls.append(("create_collection", namespace, title, exists_ok))
        if self.collection is None:
            self.collection = SimpleNamespace(slug=f"{namespace}/s3prl-upstreams-0123", title=title, items=[])
        return self.collection

    def add_collection_item(self, collection_slug, item_id, item_type, **kwargs):
        self.calls.append(("add_collection_item", collection_slug, item_id, item_type))
        self.collection.items.append(SimpleNamespace(item_id=item_id, item_type=item_type))
        return self.collection


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh cache, a pins file, staged S3PRL outputs, the originals on a loopback server, and a recording HfApi."""
    monkeypatch.setenv("S3PRL_HF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHubApi)
    RecordingHubApi.instances.clear()
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"files": {}, "revisions": {}}, indent=2) + "\n")
    reference = tmp_path / "reference"
    for name, fixture in SERVED.items():
        stage_reference(reference, name, fixture)
    files = {key(s3prl_url(name)): (FIXTURES / fixture / "original_s3prl.pt").read_bytes()
             for name, fixture in SERVED.items()}
    with LoopbackServer(files=files) as server:
        monkeypatch.setenv("S3PRL_HF_MIRROR", f"{server.url}/originals")
        yield SimpleNamespace(out=tmp_path / "out", pins=pins, reference=reference, server=server, tmp=tmp_path)


def publish_args(env, *names, push=True, jobs=2):
    args = [*names, "--output", str(env.out), "--reference-outputs", str(env.reference), "--jobs", str(jobs),
            "--no-progress", "--pins", str(env.pins)]
    return args + (["--push", "--namespace", NAMESPACE] if push else [])


def test_publish_builds_verifies_pushes_and_pins(env, capsys):
    names = [*SERVED, MISSING]
    assert publish.main(publish_args(env, *names)) == 1  # one name failed; the others were done
    out = capsys.readouterr().out
    assert f"{MISSING}: cannot fetch the original of '{MISSING}'" in out and "HTTP 404" in out
    assert "3 built, 0 skipped, 1 failed" in out

    manifest = json.loads((env.out / "manifest.json").read_text())
    assert sorted(manifest["names"]) == sorted(SERVED)
    for name, fixture in SERVED.items():
        folder, entry, original = env.out / name, manifest["names"][name], FIXTURES / fixture / "original_s3prl.pt"
        repo = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert repo == REPO_FILES
        assert entry["sources"] == [{"url": s3prl_url(name), "sha256": sha256(original),
                                     "size": original.stat().st_size}]
        assert entry["files"] == {path: {"sha256": sha256(folder / path), "size": (folder / path).stat().st_size}
                                  for path in REPO_FILES}
        assert entry["weights"] == ["model.safetensors"] and entry["converter_version"] == 1
        spec = registry.get_spec(name)
        assert (entry["license"], entry["redistributable"]) == (spec.license, spec.redistributable)
        assert entry["parity"]["ok"] and entry["parity"]["max_relative_diff"] <= 1e-4
        # the folder is at parity with S3PRL's own outputs, recomputed here
        report = compare(AutoUpstream.from_pretrained(folder), folder)
        assert report.ok and report.layers and sorted(report.cases) == ["batch", "single"]
        card = (folder / "README.md").read_text()
        assert sha256(original) in card and f"s3prl-hf verify {name}" in card and "```bibtex" in card
        assert f"{entry['parity']['max_relative_diff']:.2e}" in card
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert f"{entry['parity']['max_relative_diff']:.1e}" in row
        info = json.loads((folder / "verification" / "info.json").read_text())
        assert info["sources"] == entry["sources"] and info["tolerance"]["relative"] == 1e-4
        assert info["reference"]["hub_entry"] == fixture_meta(FIXTURES / fixture)["hub_entry"]

    [api] = RecordingHubApi.instances
    pushed = ["hubert_large_ll60k", "wavlm_large"]  # byol_a_2048 is built and verified but never pushed
    assert [u["repo_id"] for u in api.uploads] == [f"{NAMESPACE}/{n}" for n in pushed]
    assert ("create_repo", f"{NAMESPACE}/hubert_large_ll60k", True) in api.calls
    assert not any(NAMESPACE + "/byol_a_2048" in str(call) for call in api.calls)
    assert "byol_a_2048" in out and "not pushed: licence does not allow re-hosting" in out
    pins = json.loads(env.pins.read_text())
    for upload in api.uploads:
        name = upload["repo_id"].split("/")[1]
        entry = manifest_entry(env, name)
        assert set(upload["files"]) == REPO_FILES and upload["folder"] == env.out / name
        assert upload["files"] == {path: record["sha256"] for path, record in entry["files"].items()}
        source = entry["sources"][0]
        assert upload["message"] == f"Convert {name} from {Path(urlsplit(source['url']).path).name} " \
                                    f"(sha256 {source['sha256']})"
        assert upload["delete_patterns"] == ["*"]
        assert api.tags[(upload["repo_id"], "converter-v1")] == upload["oid"]
        assert entry["push"]["commit"] == upload["oid"] and entry["push"]["tag"] == "converter-v1"
        assert pins["revisions"][name] == upload["oid"]  # from_pretrained(name) loads the verified commit
        assert pins["files"][source["url"]] == {"sha256": source["sha256"], "size": source["size"]}
    assert sorted(pins["revisions"]) == pushed
    assert env.pins.read_text() == json.dumps(pins, indent=2, sort_keys=True) + "\n"  # stable formatting
    assert ("create_collection", NAMESPACE, "S3PRL upstreams for transformers", True) in api.calls
    assert sorted(item.item_id for item in api.collection.items) == [f"{NAMESPACE}/{n}" for n in pushed]


def manifest_entry(env, name):
    return json.loads((env.out / "manifest.json").read_text())["names"][name]


def test_rerun_skips_unchanged_and_resumes_an_interrupted_run(env, capsys):
    assert publish.main(publish_args(env, *SERVED)) == 0
    first = json.loads((env.out / "manifest.json").read_text())
    requests = sum(env.server.requests.values())
    capsys.readouterr()

    assert publish.main(publish_args(env, *SERVED)) == 0
    out = capsys.readouterr().out
    assert "0 built, 3 skipped, 0 failed" in out and "already pushed" in out
    assert json.loads((env.out / "manifest.json").read_text()) == first
    assert sum(env.server.requests.values()) == requests  # the originals come from the download cache
    assert [len(api.uploads) for api in RecordingHubApi.instances] == [2, 0]

    # an interrupted run: a half-made folder in .staging and a name whose folder never got committed
    (env.out / ".staging" / "wavlm_large-dead").mkdir(parents=True)
    (env.out / ".staging" / "wavlm_large-dead" / "partial.safetensors").write_bytes(b"x")
    wavlm = env.out / "wavlm_large"
    wavlm.rename(env.tmp / "moved")
    assert publish.main(publish_args(env, *SERVED, push=False)) == 0
    out = capsys.readouterr().out
    assert "1 built, 2 skipped, 0 failed" in out
    assert not (env.out / ".staging").exists()
    assert {p.relative_to(wavlm).as_posix() for p in wavlm.rglob("*") if p.is_file()} == REPO_FILES
    # the same bytes, converted again, make the same repo: the next push pushes nothing
    assert manifest_entry(env, "wavlm_large")["content_sha256"] == first["names"]["wavlm_large"]["content_sha256"]
    assert publish.main(publish_args(env, *SERVED)) == 0
    assert "already pushed" in capsys.readouterr().out
    assert [len(api.uploads) for api in RecordingHubApi.instances] == [2, 0, 0]


def test_a_model_off_s3prl_is_refused_and_other_bytes_are_not_verified(env, capsys):
    states = env.reference / "wavlm_large" / "s3prl_hidden_states.safetensors"
    tensors = load_file(states)
    tensors["batch.hs.2"] = tensors["batch.hs.2"] * 1.01  # S3PRL's states no longer what the weights give
    save_file(tensors, str(states))
    record = json.loads((env.reference / "hubert_large_ll60k" / "reference.json").read_text())
    record["sources"][0]["sha256"] = "0" * 64  # made from other bytes than those served
    (env.reference / "hubert_large_ll60k" / "reference.json").write_text(json.dumps(record))

    assert publish.main(publish_args(env, "wavlm_large", "hubert_large_ll60k", "byol_a_2048")) == 1
    out = capsys.readouterr().out
    assert "wavlm_large: refused, not at parity with S3PRL: max relative difference" in out
    assert "worst: hidden state 2" in out
    assert "hubert_large_ll60k: the precomputed S3PRL outputs" in out and "were made from other files" in out
    assert not (env.out / "wavlm_large").exists() and not (env.out / "hubert_large_ll60k").exists()
    assert sorted(json.loads((env.out / "manifest.json").read_text())["names"]) == ["byol_a_2048"]
    assert [api.uploads for api in RecordingHubApi.instances] == [[]]  # nothing at parity was redistributable
    assert json.loads(env.pins.read_text()) == {"files": {}, "revisions": {}}


def test_verify_passes_a_fresh_folder_and_fails_a_perturbed_one(env, capsys, tmp_path):
    assert publish.main(publish_args(env, "hubert_large_ll60k", push=False)) == 0
    folder = env.out / "hubert_large_ll60k"
    capsys.readouterr()
    assert cli_main(["verify", str(folder)]) == 0
    out = capsys.readouterr().out
    layers = fixture_meta(FIXTURES / "hubert_large_like")["s3prl_upstream"]["num_layers"]
    table = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert [int(row[0]) for row in table] == list(range(layers))
    assert all(float(row[-1]) <= 1e-4 for row in table) and "parity: max relative difference" in out

    perturbed = tmp_path / "perturbed"
    perturbed.mkdir()
    for path in folder.rglob("*"):
        if path.is_file():
            target = perturbed / path.relative_to(folder)
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(path.read_bytes())
    weights = load_file(perturbed / "model.safetensors")
    with safe_open(perturbed / "model.safetensors", "pt") as handle:
        metadata = handle.metadata()
    name = next(k for k in sorted(weights) if weights[k].is_floating_point() and weights[k].dim() == 2)
    weights[name] = weights[name].clone()
    weights[name][0, 0] += 0.5  # one weight
    save_file(weights, str(perturbed / "model.safetensors"), metadata=metadata)
    assert cli_main(["verify", str(perturbed)]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "s3prl-hf verify: error: not at parity with S3PRL" in captured.err

    # a folder without verification data: one line, no traceback
    (perturbed / "verification" / "info.json").unlink()
    assert cli_main(["verify", str(perturbed)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no verification data" in err[0] and err[0].startswith("s3prl-hf verify: error:")


def test_verify_a_name_resolves_the_published_repo_like_from_pretrained(env, tmp_path):
    assert publish.main(publish_args(env, "hubert_large_ll60k", push=False)) == 0
    folder = env.out / "hubert_large_ll60k"
    repo = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with LoopbackServer(hub={f"{NAMESPACE}/hubert_large_ll60k": repo}) as hub:
        run_env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "S3PRL_HF_CACHE": str(tmp_path / "c"),
                   "S3PRL_HF_NAMESPACE": NAMESPACE, "S3PRL_HF_MIRROR": "http://127.0.0.1:9/originals"}
        result = run_cli(["verify", "hubert_large_ll60k"], run_env)
        assert result.returncode == 0, result.stderr
        assert f"verifying {NAMESPACE}/hubert_large_ll60k" in result.stdout
        assert hub.count("/verification/s3prl_hidden_states.safetensors", "GET") == 1

        weights = load_file(folder / "model.safetensors")
        name = next(k for k in sorted(weights) if weights[k].dim() == 2)
        weights[name][0, 0] += 0.5
        save_file(weights, str(tmp_path / "perturbed.safetensors"), metadata={"format": "pt"})
        hub.hub[f"{NAMESPACE}/hubert_large_ll60k"]["model.safetensors"] = \
            (tmp_path / "perturbed.safetensors").read_bytes()
        result = run_cli(["verify", "hubert_large_ll60k"], {**run_env, "HF_HOME": str(tmp_path / "hf2")})
        assert result.returncode == 1 and "not at parity" in result.stderr

    # a name converted on this machine from its original has no verification data: said in one line
    result = run_cli(["verify", "hubert_large_ll60k"], {**run_env, "HF_HOME": str(tmp_path / "hf3"),
                                                        "S3PRL_HF_MIRROR": os.environ["S3PRL_HF_MIRROR"]})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("s3prl-hf verify: error: 'hubert_large_ll60k' loads from")


def run_cli(args, env) -> subprocess.CompletedProcess:
    code = f"import sys; from s3prl_hf.cli import main; sys.exit(main({args!r}))"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env},
                          capture_output=True, text=True, check=False, timeout=300, cwd=Path(__file__).parent)


def test_names_patterns_and_argument_errors(capsys, tmp_path):
    from publishing.pipeline import resolve_names

    assert resolve_names(["hubert", "wavlm_*", "hubert_base"]) == ["hubert_base", "wavlm_base", "wavlm_base_plus",
                                                                   "wavlm_large"]
    with pytest.raises(ValueError, match="no upstream name matches"):
        resolve_names(["nothing*"])
    with pytest.raises(SystemExit) as exit_status:  # no S3PRL reference: nothing would be verified
        publish.main(["hubert", "--output", str(tmp_path / "o"), "--no-progress"])
    assert exit_status.value.code == 2 and "--reference-python" in capsys.readouterr().err
    assert publish.main(["huburt", "--output", str(tmp_path / "o"), "--reference-outputs", str(tmp_path)]) == 2
    assert "publish.py: error: Unknown upstream 'huburt'" in capsys.readouterr().err


def test_config_only_names_are_skipped_with_a_reason(env, capsys):
    assert publish.main(publish_args(env, "fbank", push=False)) == 0
    assert "skipped: no weights to publish" in capsys.readouterr().out
    assert not (env.out / "fbank").exists()


def test_changed_content_is_pushed_again_and_its_tag_moves(env, capsys, monkeypatch):
    assert publish.main(publish_args(env, "hubert_large_ll60k")) == 0
    manifest_path = env.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    first_commit = manifest["names"]["hubert_large_ll60k"]["push"]["commit"]
    manifest["names"]["hubert_large_ll60k"]["push"]["content_sha256"] = "0" * 64  # the Hub holds older content
    manifest["names"]["hubert_large_ll60k"]["push"]["commit"] = "f" * 40
    manifest_path.write_text(json.dumps(manifest))
    api = RecordingHubApi()
    api.tags[(f"{NAMESPACE}/hubert_large_ll60k", "converter-v1")] = "f" * 40
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *args, **kwargs: api)  # this one, holding the old tag
    assert publish.main(publish_args(env, "hubert_large_ll60k")) == 0
    assert "pushed" in capsys.readouterr().out
    assert ("delete_tag", f"{NAMESPACE}/hubert_large_ll60k", "converter-v1") in api.calls
    assert api.tags[(f"{NAMESPACE}/hubert_large_ll60k", "converter-v1")] == first_commit
    assert json.loads(env.pins.read_text())["revisions"]["hubert_large_ll60k"] == first_commit

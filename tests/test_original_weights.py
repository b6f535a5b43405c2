"""Day-one weights: a name loads from its original checkpoint, downloaded, converted once and cached.

Everything runs on loopback (tests/loopback.py): a local server plays the original hosts through
`S3PRL_HF_MIRROR` and counts requests; the Hub is a closed port (conftest) or the same server playing the Hub.
The originals served are the fixtures' S3PRL-made checkpoints, so the results are checked against S3PRL's own
hidden states.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import FIXTURES, fixture_meta, load_cases
from loopback import LoopbackServer
from s3prl_hf import AutoUpstream, registry
from s3prl_hf.cli import main
from s3prl_hf.weights import conversion_cache
from s3prl_hf.weights.resolve import UpstreamNotAvailableError
from test_parity import assert_hidden_states_match

NAME = "hubert_large_ll60k"
FIXTURE = FIXTURES / "hubert_large_like"
S3PRL_URL, ORIGINAL_URL = (option[0].url for option in registry.get_spec(NAME).download_options)
CLOSED_PORT = "http://127.0.0.1:9"


def key(url: str) -> str:
    """The server's file key of an original URL: host + path, as the mirror maps it."""
    parts = urlsplit(url)
    return parts.hostname + parts.path


def good_files() -> dict[str, bytes]:
    return {key(S3PRL_URL): (FIXTURE / "original_s3prl.pt").read_bytes()}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh s3prl_hf cache for this test."""
    folder = tmp_path / "s3prl_hf_cache"
    monkeypatch.setenv("S3PRL_HF_CACHE", str(folder))
    return folder


def use_mirror(monkeypatch, server: LoopbackServer) -> None:
    monkeypatch.setenv("S3PRL_HF_MIRROR", f"{server.url}/originals")


@torch.no_grad()
def assert_matches_s3prl(model, fixture=FIXTURE):
    meta = fixture_meta(fixture)
    for case, expected in load_cases(fixture).items():
        out = model(expected["wavs"], expected["wavs_len"], normalize=meta["cases"][case]["normalize"])
        assert_hidden_states_match(out.hidden_states, out.hidden_states_lengths, expected["hs"], expected["hs_len"],
                                   f"{fixture.name}/{case}")


def run_python(code: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parent)


def test_first_use_converts_at_parity_then_loads_without_requests_and_offline(cache, monkeypatch):
    with LoopbackServer(files=good_files()) as server:
        use_mirror(monkeypatch, server)
        started = time.monotonic()
        model = AutoUpstream.from_pretrained(NAME)
        assert time.monotonic() - started < 60
        assert_matches_s3prl(model)
        assert server.count(key(S3PRL_URL), "GET") == 1
        [entry] = conversion_cache.list_conversions(NAME)
        assert Path(model.name_or_path) == entry.path and entry.urls == (S3PRL_URL,)
        assert (entry.path / "README.md").read_text().count(entry.sha256[0]) == 1  # the card names its source

        before = sum(server.requests.values())
        again = AutoUpstream.from_pretrained("hubert_large_ll60k")
        assert sum(server.requests.values()) == before  # a second call makes no request at all
        assert Path(again.name_or_path) == entry.path

        # an offline interpreter loads the cached conversion with no network: the server is gone after this block
    result = run_python(f"""
        from s3prl_hf import AutoUpstream
        model = AutoUpstream.from_pretrained("{NAME}")
        print("loaded", model.name_or_path)
    """, {"HF_HUB_OFFLINE": "1", "S3PRL_HF_CACHE": str(cache), "S3PRL_HF_MIRROR": CLOSED_PORT})
    assert result.returncode == 0, result.stderr
    assert f"loaded {entry.path}" in result.stdout


def test_unknown_sha256_is_recorded_printed_and_rechecked(cache, monkeypatch, caplog):
    with LoopbackServer(files=good_files()) as server:
        use_mirror(monkeypatch, server)
        with caplog.at_level("WARNING"):
            AutoUpstream.from_pretrained(NAME)
        digest = conversion_cache.list_conversions(NAME)[0].sha256[0]
        assert f"sha256 of {S3PRL_URL}: {digest}" in caplog.text  # printed so that a user can pin it
        from s3prl_hf.weights.integrity import check_file, record_path

        record = json.loads(record_path(S3PRL_URL).read_text())
        assert record["sha256"] == digest
        # the recorded value is checked on a later read: a file changed in place is refused
        downloaded = Path(str(record_path(S3PRL_URL))[: -len(".sha256")])
        downloaded.write_bytes(downloaded.read_bytes()[:-1] + b"x")
        with pytest.raises(OSError, match="when first downloaded"):
            check_file(downloaded, registry.source_file(S3PRL_URL))


def test_pinned_sha256_mismatch_is_refused_and_nothing_cached(cache, monkeypatch):
    spec_urls = [S3PRL_URL, ORIGINAL_URL]
    pins = {url: {"sha256": "0" * 64} for url in spec_urls}
    monkeypatch.setitem(registry.PINS, "files", pins)
    files = {**good_files(), key(ORIGINAL_URL): (FIXTURE / "original_fairseq.pt").read_bytes()}
    with LoopbackServer(files=files) as server:
        use_mirror(monkeypatch, server)
        with pytest.raises(UpstreamNotAvailableError) as error:
            AutoUpstream.from_pretrained(NAME)
    message = str(error.value)
    assert S3PRL_URL in message and ORIGINAL_URL in message and "the registry pins" in message
    assert f"s3prl-hf convert --name {NAME}" in message and "Nothing was cached" in message
    assert_nothing_cached(cache)


def assert_nothing_cached(cache: Path) -> None:
    assert conversion_cache.list_conversions(NAME) == []
    downloads = cache / "downloads"
    complete = [p for p in downloads.rglob("*") if p.is_file() and not p.name.endswith((".incomplete", ".json"))
                ] if downloads.is_dir() else []
    assert complete == [], f"left behind: {complete}"


@pytest.mark.parametrize("fault", ["truncated-file", "404", "500", "connection-refused"])
def test_failures_name_the_urls_cache_nothing_and_the_next_good_call_works(fault, cache, monkeypatch):
    original = (FIXTURE / "original_s3prl.pt").read_bytes()
    files = {key(S3PRL_URL): original[: len(original) // 2] if fault == "truncated-file" else original}
    faults = {key(S3PRL_URL): fault, key(ORIGINAL_URL): "404"} if fault in ("404", "500") else \
        {key(ORIGINAL_URL): "404"}
    with LoopbackServer(files=files, faults=faults) as server:
        use_mirror(monkeypatch, server)
        if fault == "connection-refused":
            monkeypatch.setenv("S3PRL_HF_MIRROR", f"{CLOSED_PORT}/originals")
        started = time.monotonic()
        with pytest.raises(UpstreamNotAvailableError) as error:
            AutoUpstream.from_pretrained(NAME)
        assert time.monotonic() - started < 30
        message = str(error.value)
        expected = {"truncated-file": "not a convertible checkpoint", "404": "HTTP 404", "500": "HTTP 500",
                    "connection-refused": "connection refused"}[fault]
        assert expected in message and S3PRL_URL in message and ORIGINAL_URL in message, message
        assert f"s3prl-hf convert --name {NAME} --checkpoint FILE --output DIR" in message
        assert_nothing_cached(cache)

    with LoopbackServer(files=good_files()) as server:
        use_mirror(monkeypatch, server)
        assert_matches_s3prl(AutoUpstream.from_pretrained(NAME))


def test_falls_through_to_the_original_release_in_its_own_format(cache, monkeypatch):
    files = {key(ORIGINAL_URL): (FIXTURE / "original_fairseq.pt").read_bytes()}  # S3PRL's copy: 404
    with LoopbackServer(files=files) as server:
        use_mirror(monkeypatch, server)
        model = AutoUpstream.from_pretrained(NAME, source="original")
        assert_matches_s3prl(model)
        assert server.count(key(S3PRL_URL)) == 1 and server.count(key(ORIGINAL_URL), "GET") == 1
        [entry] = conversion_cache.list_conversions(NAME)
        assert entry.urls == (ORIGINAL_URL,)


def test_two_file_release_fetches_both_files(cache, monkeypatch):
    fixture = FIXTURES / "vq_wav2vec_kmeans_roberta_like"
    option = registry.get_spec("discretebert").download_options[0]
    files = {key(option[0].url): (fixture / "original_s3prl.pt").read_bytes(),
             key(option[1].url): (fixture / "frontend_s3prl.pt").read_bytes()}
    with LoopbackServer(files=files) as server:
        use_mirror(monkeypatch, server)
        model = AutoUpstream.from_pretrained("discretebert")
        assert all(server.count(key(f.url), "GET") == 1 for f in option)
    assert_matches_s3prl(model, fixture)


def test_source_hub_does_not_fall_through_and_offline_says_what_to_do(cache, monkeypatch):
    with pytest.raises(UpstreamNotAvailableError, match="the Hub is unreachable: connection refused"):
        AutoUpstream.from_pretrained(NAME, source="hub")
    with pytest.raises(UpstreamNotAvailableError, match=f"s3prl-hf download {NAME}"):
        AutoUpstream.from_pretrained(NAME, local_files_only=True)
    with pytest.raises(ValueError, match="source='cloud'"):
        AutoUpstream.from_pretrained(NAME, source="cloud")


def test_four_processes_download_and_convert_once(tmp_path):
    output = tmp_path / "outputs"
    output.mkdir()
    code = f"""
        import sys, torch
        from safetensors.torch import save_file
        from s3prl_hf import AutoUpstream
        model = AutoUpstream.from_pretrained("{NAME}")
        torch.manual_seed(0)
        wavs = torch.randn(2, 16000)
        with torch.no_grad():
            out = model(wavs, torch.tensor([16000, 9000]))
        save_file({{str(i): h.contiguous() for i, h in enumerate(out.hidden_states)}}, sys.argv[1])
    """
    # Served slowly (about 1 s for the file) so that the four processes overlap.
    with LoopbackServer(files=good_files(), faults={key(S3PRL_URL): "slow:400000"}) as server:
        env = {**os.environ, "S3PRL_HF_CACHE": str(tmp_path / "cache"), "S3PRL_HF_MIRROR": f"{server.url}/originals"}
        processes = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(output / f"{rank}.st")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for rank in range(4)]
        logs = [p.communicate(timeout=600) for p in processes]
        assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in logs]
        assert server.count(key(S3PRL_URL), "GET") == 1
    conversions = sum(err.count(f"converted {NAME} into") for _, err in logs)
    assert conversions == 1
    results = [load_file(output / f"{rank}.st") for rank in range(4)]
    assert all(r.keys() == results[0].keys() and all(torch.equal(r[k], results[0][k]) for k in r)
               for r in results[1:])


def test_killed_download_resumes_and_is_never_loaded_half_written(tmp_path):
    env = {**os.environ, "S3PRL_HF_CACHE": str(tmp_path / "cache")}
    code = f"""
        from s3prl_hf import AutoUpstream
        AutoUpstream.from_pretrained("{NAME}")
        print("loaded")
    """
    size = (FIXTURE / "original_s3prl.pt").stat().st_size
    with LoopbackServer(files=good_files(), faults={key(S3PRL_URL): "slow:50000"}) as server:
        env["S3PRL_HF_MIRROR"] = f"{server.url}/originals"
        process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent)
        incomplete = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = list((tmp_path / "cache").rglob("*.incomplete"))
            if found and found[0].stat().st_size > size // 4:
                incomplete = found[0]
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert incomplete is not None, "the download never started"
        partial = incomplete.stat().st_size
        assert 0 < partial < size
        assert not list((tmp_path / "cache").glob("converted/*/*-c*"))  # nothing loadable was left

        server.faults.clear()
        result = run_python(code, env)
        assert result.returncode == 0, result.stderr
        assert server.ranges == [f"bytes={partial}-"]  # resumed where the killed process stopped
    [folder] = list((tmp_path / "cache").glob(f"converted/{NAME}/*-c*"))
    model = AutoUpstream.from_pretrained(str(folder))
    assert_matches_s3prl(model)


def test_huggingface_co_files_go_through_hf_hub_download(tmp_path):
    """No mirror: S3PRL's huggingface.co copy comes through hf_hub_download from HF_ENDPOINT (a loopback Hub),
    into the standard Hugging Face cache; a converted repo on that Hub is loaded directly."""
    checkpoint = (FIXTURE / "original_s3prl.pt").read_bytes()
    hub_file = urlsplit(S3PRL_URL).path.split("/")  # /s3prl/converted_ckpts/resolve/main/<file>
    with LoopbackServer(hub={f"{hub_file[1]}/{hub_file[2]}": {hub_file[-1]: checkpoint}}) as server:
        env = {"HF_ENDPOINT": server.url, "S3PRL_HF_MIRROR": "", "HF_HOME": str(tmp_path / "hf"),
               "S3PRL_HF_CACHE": str(tmp_path / "cache")}
        result = run_python(f"""
            import time
            from s3prl_hf import AutoUpstream
            started = time.monotonic()
            model = AutoUpstream.from_pretrained("{NAME}")
            print("seconds", time.monotonic() - started)
            print("loaded", model.name_or_path)
        """, env)
        assert result.returncode == 0, result.stderr
        assert server.count(f"/s3prl-hf/{NAME}/resolve/main/config.json", "HEAD") == 1  # the converted repo: 404
        assert server.count(f"/{hub_file[1]}/{hub_file[2]}/resolve/main/{hub_file[-1]}", "GET") == 1
        blobs = list((tmp_path / "hf" / "hub" / "models--s3prl--converted_ckpts" / "blobs").iterdir())
        assert len(blobs) == 1 and blobs[0].read_bytes() == checkpoint
        folder = Path(result.stdout.split("loaded ")[1].strip())
        assert_matches_s3prl(AutoUpstream.from_pretrained(str(folder)))

        # once a converted repo is on the Hub, a fresh machine loads it from there, without the original
        converted = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "source.json"}
        server.hub[f"s3prl-hf/{NAME}"] = converted
        result = run_python(f"""
            from s3prl_hf import AutoUpstream
            print("loaded", AutoUpstream.from_pretrained("{NAME}").name_or_path)
        """, {**env, "HF_HOME": str(tmp_path / "hf2"), "S3PRL_HF_CACHE": str(tmp_path / "cache2")})
        assert result.returncode == 0, result.stderr
        assert f"loaded s3prl-hf/{NAME}" in result.stdout
        assert not (tmp_path / "cache2" / "converted").exists()


def test_cli_download_convert_without_checkpoint_and_cache(cache, monkeypatch, tmp_path, capsys):
    with LoopbackServer(files=good_files()) as server:
        use_mirror(monkeypatch, server)
        assert main(["convert", "--name", NAME, "--output", str(tmp_path / "mine")]) == 0
        assert_matches_s3prl(AutoUpstream.from_pretrained(str(tmp_path / "mine")))
        assert main(["download", NAME]) == 0
        layers = fixture_meta(FIXTURE)["s3prl_upstream"]["num_layers"]
        assert f"{NAME}: ready ({layers} hidden states" in capsys.readouterr().out
        assert server.count(key(S3PRL_URL), "GET") == 1  # convert's download is reused
    assert main(["list", "hubert*"]) == 0
    assert "cached (converted from the original)" in capsys.readouterr().out
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert NAME in out and S3PRL_URL in out
    assert main(["cache", "clear"]) == 2 and "--all" in capsys.readouterr().err
    assert main(["cache", "clear", NAME]) == 0
    assert conversion_cache.list_conversions(NAME) == []
    assert main(["download", NAME, "--source", "original"]) == 2, capsys.readouterr()
    assert "cannot get the original checkpoint" in capsys.readouterr().err


def test_s3prl_drop_in_takes_names_and_urls(cache, monkeypatch):
    from s3prl_hf import S3PRLUpstream

    url = "https://example.org/checkpoints/my_hubert.pt"
    files = {**good_files(), key(url): (FIXTURE / "original_s3prl.pt").read_bytes()}
    with LoopbackServer(files=files) as server:
        use_mirror(monkeypatch, server)
        by_name = S3PRLUpstream(NAME).eval()
        by_url = S3PRLUpstream("hubert_url", path_or_url=url).eval()
        assert server.count("my_hubert.pt", "GET") == 1
    assert_matches_s3prl(by_name.upstream)
    assert_matches_s3prl(by_url.upstream)


def test_mirror_maps_every_host_and_drops_the_query(monkeypatch):
    from s3prl_hf.weights.download import mirrored_url, parse_hub_url

    monkeypatch.setenv("S3PRL_HF_MIRROR", "http://127.0.0.1:1/m/")
    assert mirrored_url("https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1") == \
        "http://127.0.0.1:1/m/www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt"
    assert mirrored_url(S3PRL_URL) == "http://127.0.0.1:1/m/huggingface.co" + urlsplit(S3PRL_URL).path
    hub = parse_hub_url("https://huggingface.co/espnet/x/blob/main/exp/config.yaml")
    assert (hub.repo_id, hub.revision, hub.filename) == ("espnet/x", "main", "exp/config.yaml")
    assert parse_hub_url("https://dl.fbaipublicfiles.com/hubert/hubert_base_ls960.pt") is None


def test_conversion_cache_key_and_corrupt_entries_are_ignored(cache):
    spec = registry.get_spec(NAME)
    folder = cache / "converted" / NAME / "abc-c1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "source.json").write_text("not json")
    assert conversion_cache.find_conversion(spec, 1) is None
    save_file({"x": torch.zeros(1)}, str(folder / "model.safetensors"))
    (folder / "source.json").write_text(json.dumps({"name": NAME, "converter_version": 1, "files": [
        {"url": S3PRL_URL, "sha256": "ab" * 32, "size": 1}]}))
    assert conversion_cache.find_conversion(spec, 1) == folder
    assert conversion_cache.find_conversion(spec, 2) is None  # a newer converter converts again


def test_extract_with_a_name_whose_weights_cannot_be_had_is_one_error_line(cache, tmp_path, capsys):
    """The tests' closed mirror (127.0.0.1:9) and unreachable Hub: nothing can be had; one line, exit 2, no output."""
    (tmp_path / "wavs").mkdir()
    (tmp_path / "wavs" / "a.wav").write_bytes(b"")
    assert main(["extract", "--model", NAME, "--input", str(tmp_path / "wavs"), "--output",
                 str(tmp_path / "features"), "--no-progress"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("s3prl-hf extract: error:")]
    assert len(err) == 1 and f"cannot get the original checkpoint of '{NAME}'" in err[0]
    assert "Traceback" not in err[0] and not (tmp_path / "features").exists()
    assert_nothing_cached(cache)

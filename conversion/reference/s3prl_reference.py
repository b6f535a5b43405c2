#!/usr/bin/env python
"""Run S3PRL 0.4.18's own ``S3PRLUpstream`` on an upstream's original file(s), for the publish pipeline.

Reference environment only (see README.md in this folder); ``conversion/publish.py --reference-python PYTHON`` runs
it in a subprocess::

    $REFENV/bin/python conversion/reference/s3prl_reference.py REQUEST.json

``REQUEST.json``::

    {"name": "hubert_large_ll60k", "family": "hubert", "release": "s3prl" | "original",
     "files": [{"url": "https://...", "path": "/local/copy"}, ...], "inputs": "inputs.safetensors", "output": "DIR"}

It writes ``DIR/s3prl_hidden_states.safetensors`` (``{case}.hs.{i}`` float32, ``{case}.hs_len.{i}`` int64) and
``DIR/reference.json`` (the S3PRL entry and arguments used, what S3PRLUpstream reports, versions). Exit status 0: done;
3: S3PRL cannot run this name on these files (the last stderr line says why); anything else: S3PRL failed (idem).

How each name is run (``entry_for``), in the order of the fixture generators (fixture_common.py, fixtures_*.py):

* most families: the family's local entry with ``path_or_url=FILE``, e.g. ``S3PRLUpstream("hubert_custom",
  path_or_url=".../hubert_large_ll60k.pt")``. Those entries are what the named hub functions call after downloading
  (``hubert_large_ll60k()`` is ``hubert_custom(ckpt=<its URL, downloaded>)``), so they run the same expert on the same
  bytes. The original fairseq release of HuBERT / wav2vec 2.0 goes through ``fairseq=True`` (S3PRL's own converter),
  wav2vec / vq-wav2vec's through ``legacy=True`` (fairseq's loader), as their hub functions do with ``legacy``;
* families whose hub functions have no local entry, or pass the expert more than the file (AST, SSAST, BYOL-A/S,
  VGGish, PASE+, PaSST, ESPnet HuBERT, Discrete BERT): ``S3PRLUpstream(name)`` itself, with S3PRL's downloader
  (``s3prl.util.download._download``) handing it the fetched files for the URLs it asks for. A URL it asks for that
  was not fetched stops the run (status 3): S3PRL would read other bytes than those published.

No network: every download S3PRL attempts goes through that redirect, which refuses unknown URLs. S3PRL's download
folder is a temporary one; the fetched files are linked (or copied) there, never modified.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import s3prl_shim  # noqa: F401  (before anything from s3prl: torchaudio import shims)
import torch

UNSUPPORTED = 3

# family -> S3PRL's hub entry that takes a local checkpoint (``path_or_url``), the one each named hub function calls
LOCAL_ENTRIES = {
    "hubert": "hubert_custom", "wav2vec2": "wav2vec2_custom", "wav2vec2_conformer": "wav2vec2_custom",
    "data2vec": "data2vec_custom", "wavlm": "wavlm_local", "unispeech_sat": "unispeech_sat_local",
    "distilhubert": "distiller_local", "lighthubert": "lighthubert_local", "mockingjay": "mockingjay_local",
    "tera": "tera_local", "audio_albert": "audio_albert_local", "apc": "apc_local",
    "vq_apc": "apc_local",  # vq_apc's hub functions are apc_url (upstream/vq_apc/hubconf.py)
    "npc": "npc_local", "modified_cpc": "cpc_local", "decoar2": "decoar2_local", "mae_ast": "mae_ast_local",
    "multires_hubert": "multires_hubert_custom", "wav2vec": "wav2vec_custom", "vq_wav2vec": "vq_wav2vec_custom",
}
# names whose hub function uses another expert than their family's local entry
NAME_ENTRIES = {"decoar": "decoar_local", "decoar_layers": "decoar_layers_local",
                "spec_augment": "spec_augment_local"}
# families run through their named hub function, downloads redirected to the fetched files
NAMED_FAMILIES = {"ast", "ssast", "byol_a", "byol_s", "vggish", "pase_plus", "passt", "espnet_hubert", "discretebert",
                  "spectral"}
# what a local entry needs to read the original (non-S3PRL) release of its family
ORIGINAL_RELEASE_OPTIONS = {"hubert": {"fairseq": True}, "wav2vec2": {"fairseq": True},
                            "wav2vec2_conformer": {"fairseq": True}, "wav2vec": {"legacy": True},
                            "vq_wav2vec": {"legacy": True}}


class Unsupported(Exception):
    """S3PRL cannot run this name on these files in this environment."""


def entry_for(name: str, family: str, release: str, files: list) -> tuple[str, dict, str]:
    """(hub entry, S3PRLUpstream keyword arguments, how) for the request."""
    if family in NAMED_FAMILIES:
        return name, {}, "named hub function, S3PRL's downloads served from the fetched files"
    entry = NAME_ENTRIES.get(name) or LOCAL_ENTRIES.get(family)
    if entry is None:
        raise Unsupported(f"no S3PRL entry is known to run the '{family}' family on a local file")
    if len(files) != 1:
        raise Unsupported(f"{entry} takes one file; '{name}' has {len(files)}")
    extra = ORIGINAL_RELEASE_OPTIONS.get(family, {}) if release == "original" else {}
    kwargs = {"path_or_url": str(files[0])}
    if extra:
        kwargs["extra_conf"] = dict(extra)
    return entry, kwargs, "local entry on the fetched file"


def stage_files(files: list[dict], folder: Path) -> dict[str, Path]:
    """Link (or copy) each fetched file into `folder` under its URL's file name; {url: staged path}."""
    staged = {}
    for index, item in enumerate(files):
        source = Path(item["path"]).resolve()
        name = unquote(Path(urlsplit(item["url"]).path).name) or f"file{index}"
        target = folder / str(index) / name
        target.parent.mkdir(parents=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        staged[item["url"]] = target
    return staged


def redirect_downloads(by_url: dict[str, Path], cache: Path, asked: list[str]) -> None:
    """Make S3PRL's downloader serve `by_url` and refuse every other URL (no network)."""
    from s3prl.util import download

    download.set_dir(cache)

    def serve(filepath, url, refresh=False, new_enough_secs=2.0):
        asked.append(url)
        if url not in by_url:
            raise Unsupported(f"S3PRL asked for {url}, which is not among the fetched files "
                              f"({', '.join(by_url) or 'none'}): it would read other bytes than those published")
        filepath = Path(filepath)
        filepath.parent.mkdir(parents=True, exist_ok=True)
        if not filepath.exists():
            filepath.symlink_to(by_url[url])

    download._download = serve


def release_globals() -> list:
    """Plain data classes that original fairseq releases pickle, allowed for torch's `weights_only` loading (torch
    >= 2.6 refuses them; fairseq and S3PRL call `torch.load` without `weights_only`). Nothing else is allowed."""
    allowed = [argparse.Namespace]
    try:
        from fairseq.data.dictionary import Dictionary

        allowed.append(Dictionary)  # HuBERT's task_state
    except ImportError:
        pass
    return allowed


def read_inputs(path: str) -> dict:
    from safetensors.torch import load_file

    tensors = load_file(path)
    cases = {}
    for key in tensors:
        if key.endswith(".wavs_int16"):
            case = key[: -len(".wavs_int16")]
            cases[case] = (tensors[key].to(torch.float32) / 32768, tensors[f"{case}.wavs_len"])
    return cases


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("s3prl", "torchaudio", "fairseq-fixed", "transformers", "espnet"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out


def run(request: dict) -> None:
    from safetensors.torch import save_file

    output = Path(request["output"])
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="s3prl_reference-") as tmp:
        staged = stage_files(request["files"], Path(tmp) / "files")
        asked: list[str] = []
        redirect_downloads(staged, Path(tmp) / "s3prl_download", asked)
        entry, kwargs, how = entry_for(request["name"], request["family"], request.get("release", "s3prl"),
                                       list(staged.values()))
        from s3prl.nn import S3PRLUpstream

        with torch.serialization.safe_globals(release_globals()):
            upstream = S3PRLUpstream(entry, **kwargs)
        upstream.eval()  # S3PRLUpstream.__init__ ends in train mode
        tensors = {}
        for case, (wavs, wavs_len) in read_inputs(request["inputs"]).items():
            with torch.no_grad():
                all_hs, all_hs_len = upstream(wavs.clone(), wavs_len.clone())
            for index, (hs, hs_len) in enumerate(zip(all_hs, all_hs_len)):
                tensors[f"{case}.hs.{index}"] = hs.detach().to(torch.float32).contiguous()
                tensors[f"{case}.hs_len.{index}"] = hs_len.detach().to(torch.int64).contiguous()
        if request["family"] in NAMED_FAMILIES:
            unread = [url for url in staged if url not in asked]
            if unread:
                raise Unsupported(f"S3PRL's '{entry}' did not read {', '.join(unread)}: it did not run the fetched "
                                  f"release")
        save_file(tensors, str(output / "s3prl_hidden_states.safetensors"),
                  metadata={"format": "s3prl_hf.s3prl_hidden_states", "s3prl_hub_entry": entry})
        shown = {key: (Path(value).name if key == "path_or_url" else value) for key, value in kwargs.items()}
        reference = {
            "hub_entry": entry, "arguments": shown, "how": how, "release": request.get("release", "s3prl"),
            "call": f"S3PRLUpstream({entry!r}" + "".join(f", {k}={v!r}" for k, v in shown.items())
                    + ").eval(), under torch.no_grad()",
            "downloads_served": asked, "num_layers": upstream.num_layers,
            "hidden_sizes": list(upstream.hidden_sizes), "downsample_rates": list(upstream.downsample_rates),
            "versions": versions(),
        }
        (output / "reference.json").write_text(json.dumps(reference, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: s3prl_reference.py REQUEST.json", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("S3PRL_REFERENCE_THREADS", torch.get_num_threads())))
    try:
        run(json.loads(Path(argv[0]).read_text()))
    except Unsupported as error:
        print(f"unsupported: {error}", file=sys.stderr)
        return UNSUPPORTED
    except Exception as error:  # noqa: BLE001 - reported to the pipeline as one line, with the traceback above it
        traceback.print_exc()
        first = (str(error).strip().splitlines() or [""])[0][:300]
        print(f"S3PRL failed: {type(error).__name__}: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

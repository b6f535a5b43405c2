"""What the APC / VQ-APC / NPC, Modified CPC and DeCoAR / DeCoAR 2.0 fixture builders share.

Each of these fixtures is one small random checkpoint in the layout S3PRL's hub loads (``original_s3prl.pt``), the
hidden states ``S3PRLUpstream`` computes from it (``expected.safetensors``) and ``meta.json``. Their experts load
weights non-strictly (CPC, DeCoAR) or strictly (APC, NPC); either way the builders assert that the loaded expert holds
exactly the checkpoint's tensors before running the cases.
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Dict, Optional

import torch

from fixture_common import (CASES, FORMAT_VERSION, INPUT_SEED, FixtureFiles, run_s3prl_cases, sha256, versions,
                            write_expected, write_json)

# The shared cases every fixture runs, and the one with S3PRLUpstream(normalize=True).
BASE_CASES = ["batch", "short", "single"]
WITH_NORMALIZE = BASE_CASES + ["batch_normalize"]


def s3prl_expert(hub_entry: str, path: Path) -> torch.nn.Module:
    """The expert S3PRLUpstream builds for ``hub_entry`` on ``path`` (what its hidden states come from)."""
    from s3prl.nn import S3PRLUpstream

    return S3PRLUpstream(hub_entry, path_or_url=str(path)).upstream


def assert_loaded(loaded: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor], what: str):
    """S3PRL's loaded state dict holds exactly the checkpoint's tensors (non-strict loaders would hide a miss)."""
    assert sorted(loaded) == sorted(expected), f"{what}: key sets differ: {sorted(set(loaded) ^ set(expected))}"
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), f"{what}: {key} was not loaded from the checkpoint"


def write_fixture(out_root: Path, name: str, spec: dict, case_inputs: dict, *, family: str,
                  extra_meta: Optional[dict] = None, extra_tensors: Optional[Dict[str, torch.Tensor]] = None
                  ) -> FixtureFiles:
    """Run S3PRLUpstream on the fixture's cases and write ``expected.safetensors`` and ``meta.json``.

    ``spec`` holds ``imitates``, ``hub_entry``, ``seed`` and ``cases``; ``original_s3prl.pt`` must already be in
    ``out_root / name``. ``extra_tensors`` (other S3PRL outputs, e.g. VQ codes) go to ``extra.safetensors``.
    """
    import s3prl

    folder = out_root / name
    path = folder / "original_s3prl.pt"
    cases = {case: CASES[case] for case in spec["cases"]}
    tensors, info = run_s3prl_cases(spec["hub_entry"], path, {case: case_inputs[case] for case in cases}, cases)
    common_meta = {
        "format": "s3prl_hf.parity_fixture", "format_version": FORMAT_VERSION, "fixture": name, "family": family,
        "imitates": spec["imitates"], "hub_entry": spec["hub_entry"], "s3prl_version": s3prl.__version__,
        "torch_version": torch.__version__,
    }
    st_meta = write_expected(folder, tensors, common_meta, cases)
    files = ["original_s3prl.pt", "expected.safetensors"]
    if extra_tensors:
        from fixture_common import write_safetensors_canonical

        write_safetensors_canonical({k: v.contiguous() for k, v in extra_tensors.items()}, folder / "extra.safetensors",
                                    {"fixture": name, "what": "S3PRL outputs besides the hidden states"})
        files.append("extra.safetensors")
    state = torch.load(path, map_location="cpu", weights_only=True)
    meta = {
        **common_meta,
        "cases": json.loads(st_meta["cases"]),
        "versions": versions(),
        "seeds": {"model_init": spec["seed"], "perturb": spec["seed"] + 1, "inputs": INPUT_SEED},
        "s3prl_upstream": info,
        "checkpoint_keys": sorted(state),
        "original_s3prl_pickled_globals": sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))),
        **(extra_meta or {}),
        "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": sha256(folder / f)} for f in files},
    }
    write_json(folder / "meta.json", meta)
    logging.getLogger("make_fixtures").warning("%s: num_layers=%d hidden_sizes=%s", name, info["num_layers"],
                                               info["hidden_sizes"])
    return FixtureFiles(name=name, folder=folder, meta=meta)


@contextlib.contextmanager
def patched_attributes(target, **values):
    """Set attributes of a module or object for the duration of the block, then restore them."""
    old = {key: getattr(target, key) for key in values}
    try:
        for key, value in values.items():
            setattr(target, key, value)
        yield
    finally:
        for key, value in old.items():
            setattr(target, key, value)


@contextlib.contextmanager
def local_release(hubconf, urls: dict, paths: dict):
    """Make `hubconf`'s downloader return the fixture's files for the release URLs (`urls[key]` -> `paths[key]`)."""
    by_url = {urls[key]: str(path) for key, path in paths.items()}

    def urls_to_filepaths(url, **kwargs):
        return by_url[url]

    with patched_attributes(hubconf, _urls_to_filepaths=urls_to_filepaths):
        yield


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def write_recipes(out_root: Path, name: str, recipes: Dict[str, dict]) -> FixtureFiles:
    """``<name>/recipes.json``: for each canonical name, S3PRL's config of the release and its parameter count."""
    folder = out_root / name
    folder.mkdir()
    meta = {"format": "s3prl_hf.recipes", "versions": versions(), "recipes": recipes}
    write_json(folder / "recipes.json", meta)
    return FixtureFiles(name=name, folder=folder, meta=meta)

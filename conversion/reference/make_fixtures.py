#!/usr/bin/env python
"""Generate the S3PRL parity fixtures under ``tests/fixtures/`` (reference environment only).

Run with the reference environment built by ``setup_env.sh`` (see README.md in this folder)::

    $REFENV/bin/python conversion/reference/make_fixtures.py --family hubert --out tests/fixtures

Shared helpers (inputs, cases, running S3PRLUpstream, canonical safetensors) are in ``fixture_common.py``; each
family's builder is a ``build_<group>`` function of a ``fixtures_*.py`` module, found by ``discover_builders``. See ``fixture_common.py`` for
what every fixture folder holds and why reruns are byte-for-byte identical.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from fixture_common import FixtureFiles, make_case_inputs  # noqa: E402

HERE = Path(__file__).resolve().parent


def discover_builders() -> Dict[str, str]:
    """Fixture group -> "module:function": every `build_<group>(out_root, case_inputs, check_dir)` function of the
    `fixtures_*.py` modules here, found by reading them (not importing: some need extra environments, as their
    docstrings say: PASE's sources, a fairseq checkout, ESPnet)."""
    builders = {}
    for path in sorted(HERE.glob("fixtures_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("build_") and len(node.args.args) == 3:
                group = node.name[len("build_"):]
                if group in builders:
                    raise RuntimeError(f"two fixture builders for {group!r}: {builders[group]} and {path.stem}")
                builders[group] = f"{path.stem}:{node.name}"
    return builders


FAMILIES: Dict[str, str] = discover_builders()


def load_builder(family: str) -> Callable[[Path, dict, Path], List[FixtureFiles]]:
    module, _, function = FAMILIES[family].partition(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, choices=sorted(FAMILIES) + ["all"])
    parser.add_argument("--out", required=True, type=Path, help="fixtures root, e.g. tests/fixtures")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    for noisy in ("fairseq", "s3prl", "hydra"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    torch.set_num_threads(1)  # reproducible float results whatever the core count
    torch.use_deterministic_algorithms(True)

    families = sorted(FAMILIES) if args.family == "all" else [args.family]
    out_root = args.out.resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    case_inputs = make_case_inputs()

    # build everything in a temporary folder next to the destination, then move into place
    work = Path(tempfile.mkdtemp(prefix=".make_fixtures.", dir=out_root))
    try:
        staged = work / "out"
        checks = work / "checks"
        staged.mkdir()
        checks.mkdir()
        produced: List[FixtureFiles] = []
        for fam in families:
            produced += load_builder(fam)(staged, case_inputs, checks)
        for fx in produced:
            dest = out_root / fx.name
            if dest.exists():
                old = work / f"old.{fx.name}"
                dest.rename(old)
            fx.folder.rename(dest)
            total = sum(p.stat().st_size for p in dest.iterdir())
            print(f"{dest}: " + ", ".join(f"{p.name} {p.stat().st_size}" for p in sorted(dest.iterdir()))
                  + f" (total {total} bytes)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Generate the S3PRL parity fixtures under ``tests/fixtures/`` (reference environment only).

Run with the reference environment built by ``setup_env.sh`` (see README.md in this folder)::

    /work/refenv/bin/python conversion/reference/make_fixtures.py --family hubert --out tests/fixtures

Shared helpers (inputs, cases, running S3PRLUpstream, canonical safetensors) are in ``fixture_common.py``; each
family's builder is in ``fixtures_<family>.py`` and registered in ``FAMILIES`` below. See ``fixture_common.py`` for
what every fixture folder holds and why reruns are byte-for-byte identical.
"""
from __future__ import annotations

import argparse
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

# family -> "module:builder"; each builder(out_root, case_inputs, check_dir) returns List[FixtureFiles].
# Builders live in their own modules (fixtures_<family>.py), imported only when their family is generated.
FAMILIES: Dict[str, str] = {
    "hubert": "fixtures_hubert:build_hubert",
    "wav2vec2": "fixtures_wav2vec2:build_wav2vec2",
    "wav2vec2_conformer": "fixtures_wav2vec2:build_wav2vec2_conformer",
    "data2vec": "fixtures_wav2vec2:build_data2vec",
    "wavlm": "fixtures_wavlm:build_wavlm",
    "unispeech_sat": "fixtures_wavlm:build_unispeech_sat",
    "distilhubert": "fixtures_distilhubert:build_distilhubert",
    "frontends": "fixtures_frontends:build_frontends",
    "mockingjay": "fixtures_mockingjay:build_mockingjay",
    "apc": "fixtures_apc:build_apc",
    "vq_apc": "fixtures_apc:build_vq_apc",
    "npc": "fixtures_apc:build_npc",
    "modified_cpc": "fixtures_cpc:build_modified_cpc",
    "decoar": "fixtures_decoar:build_decoar",
    "decoar2": "fixtures_decoar:build_decoar2",
    "byol_a": "fixtures_byol:build_byol_a",
    "byol_s": "fixtures_byol:build_byol_s",
    "native_recipes": "fixtures_apc:build_recipes",
    "vggish": "fixtures_vggish:build_vggish",
    "mae_ast": "fixtures_mae_ast:build_mae_ast",
    "ast": "fixtures_ast:build_ast",
    "ssast": "fixtures_ast:build_ssast",
    "passt": "fixtures_passt:build_passt",
    "wav2vec": "fixtures_wav2vec1:build_wav2vec",
    "vq_wav2vec": "fixtures_wav2vec1:build_vq_wav2vec",
    "discretebert": "fixtures_wav2vec1:build_discretebert",
    # needs the GitHub-only PASE sources on PYTHONPATH (see fixtures_pase.py)
    "pase_plus": "fixtures_pase:build_pase_plus",
    "lighthubert": "fixtures_lighthubert:build_lighthubert",
    # needs a facebookresearch/fairseq checkout in $FAIRSEQ_SRC (see fixtures_multires_hubert.py)
    "multires_hubert": "fixtures_multires_hubert:build_multires_hubert",
    # no weights: S3PRL's yaml configs (upstream/baseline, upstream/log_stft)
    "spectral": "fixtures_spectral:build_spectral",
    # needs ESPnet in the environment (setup_env_espnet.sh)
    "espnet_hubert": "fixtures_espnet_hubert:build_espnet_hubert",
}


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

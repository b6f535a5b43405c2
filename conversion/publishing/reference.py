"""S3PRL's own hidden states on the fixed inputs, the evidence each published folder carries.

Two providers, one result (`ReferenceOutputs`):

- `run_s3prl`: S3PRL 0.4.18 itself, in another interpreter (`--reference-python`, e.g. the environment of
  `conversion/reference/`), runs `conversion/reference/s3prl_reference.py` on the fetched original file(s);
- `precomputed`: outputs that runner (or the test suite, from the parity fixtures' S3PRL outputs) made elsewhere
  (`--reference-outputs DIR`): `DIR/<name>/{inputs.safetensors, s3prl_hidden_states.safetensors, reference.json}`,
  with `reference.json` naming the sha256 of the files S3PRL read. They are used only when those are the sha256 of
  the files fetched now, so the evidence is always about the published bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from s3prl_hf import registry

from .sources import Release

RUNNER = Path(__file__).resolve().parent.parent / "reference" / "s3prl_reference.py"
UNSUPPORTED_STATUS = 3
STATES_FILE = "s3prl_hidden_states.safetensors"
INPUTS_FILE = "inputs.safetensors"
RECORD_FILE = "reference.json"


class ReferenceError(RuntimeError):
    """S3PRL's reference outputs could not be made or used (one line: what and why)."""


@dataclass(frozen=True)
class ReferenceOutputs:
    """The inputs S3PRL ran, its hidden states on them, and how it ran (`record`)."""

    inputs: Path
    states: Path
    record: dict


def run_s3prl(python: str, spec: registry.UpstreamSpec, release: Release, inputs: Path, workdir: Path,
              log: Path) -> ReferenceOutputs:
    """Run S3PRL's `S3PRLUpstream` on `release`'s files and `inputs` in the interpreter `python`.

    Args:
        python: An interpreter with S3PRL 0.4.18 (and what its upstream needs: fairseq, ...).
        spec: The upstream.
        release: The fetched original file(s).
        inputs: `inputs.safetensors` (see `s3prl_hf.verification`).
        workdir: An empty folder for the outputs.
        log: Where S3PRL's output is kept when it fails.

    Raises:
        ReferenceError: the interpreter is missing, S3PRL cannot run this name this way, or it failed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    request = {"name": spec.name, "family": spec.family, "release": release.release,
               "files": [{"url": f.url, "path": str(f.path)} for f in release.files], "inputs": str(inputs),
               "output": str(workdir)}
    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request, indent=2))
    if shutil.which(python) is None:
        raise ReferenceError(f"--reference-python {python}: no such interpreter")
    result = subprocess.run([python, str(RUNNER), str(request_path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
        last = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "no output")
        kind = "S3PRL cannot run it" if result.returncode == UNSUPPORTED_STATUS else "the S3PRL reference run failed"
        raise ReferenceError(f"{kind}: {last} (log: {log})")
    record = json.loads((workdir / RECORD_FILE).read_text())
    record["sources"] = release.records()
    return ReferenceOutputs(inputs, workdir / STATES_FILE, record)


def precomputed(folder: Path, spec: registry.UpstreamSpec, release: Release) -> ReferenceOutputs:
    """S3PRL outputs made elsewhere for `spec`, checked to be about the bytes in `release`.

    Raises:
        ReferenceError: none for this name, incomplete, or made from other files.
    """
    where = folder / spec.name
    for name in (INPUTS_FILE, STATES_FILE, RECORD_FILE):
        if not (where / name).is_file():
            raise ReferenceError(f"no precomputed S3PRL outputs for '{spec.name}' ({where / name} is missing)")
    try:
        record = json.loads((where / RECORD_FILE).read_text())
    except ValueError as error:
        raise ReferenceError(f"{where / RECORD_FILE} is not valid JSON: {error}") from None
    theirs = [source.get("sha256") for source in record.get("sources", [])]
    ours = [f.sha256 for f in release.files]
    if theirs != ours:
        raise ReferenceError(f"the precomputed S3PRL outputs in {where} were made from other files (sha256 "
                             f"{', '.join(t or '?' for t in theirs) or 'not recorded'}) than those fetched now "
                             f"({', '.join(ours)})")
    record["precomputed_from"] = str(where)
    return ReferenceOutputs(where / INPUTS_FILE, where / STATES_FILE, record)

"""Build one name: fetch, convert, verify against S3PRL, card, and write `DIR/<name>/` exactly as its Hub repo.

The folder is made in `DIR/.staging/` and renamed into place only when it is complete and at parity, so `DIR/<name>/`
is always a whole, verified repo (the previous one, or the new one). Layout::

    DIR/<name>/config.json
    DIR/<name>/model.safetensors          (or model-0000i-of-0000n.safetensors + model.safetensors.index.json)
    DIR/<name>/README.md                  the card, ending with the provenance section
    DIR/<name>/verification/inputs.safetensors, s3prl_hidden_states.safetensors, info.json
"""

from __future__ import annotations

import datetime
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from s3prl_hf import __version__, registry
from s3prl_hf.verification import data as verification
from s3prl_hf.conversion.folders import commit_folder
from s3prl_hf.verification.provenance import render_provenance_section

from .manifest import Manifest, content_digest, file_records
from .reference import ReferenceError, ReferenceOutputs, precomputed, run_s3prl
from .sources import Release, fetch_release

STAGING = ".staging"
LOGS = ".logs"


@dataclass(frozen=True)
class BuildOptions:
    """What every name is built with."""

    output: Path
    reference_python: str | None = None
    reference_outputs: Path | None = None
    force: bool = False
    max_shard_size: str = "2GB"


@dataclass
class Outcome:
    """What became of one name in this run (the summary table's row)."""

    name: str
    status: str  # "built", "skipped", "failed"
    reason: str = ""
    source_size: int | None = None
    converted_size: int | None = None
    parity: float | str | None = None
    push: str = ""


class BuildError(RuntimeError):
    """A name could not be built or was refused (one line: what and why)."""


def build_name(spec: registry.UpstreamSpec, options: BuildOptions, manifest: Manifest) -> Outcome:
    """Build `DIR/<name>/` for `spec` and record it in the manifest, unless its sources and converter are unchanged.

    Raises:
        Exception: anything that stops this name (the pipeline lists it with its reason and goes on).
    """
    from s3prl_hf.conversion.convert import converter_version

    if not spec.has_weights:
        return Outcome(spec.name, "skipped", "no weights to publish (its S3PRL config is built into the package)")
    release = fetch_release(spec)
    version = converter_version(spec.family)
    previous = manifest.get(spec.name)
    if not options.force and _unchanged(previous, release, version, options.output / spec.name):
        return Outcome(spec.name, "skipped", f"unchanged (same source sha256, converter v{version})",
                       release.size, _weights_size(previous), previous["parity"]["max_relative_diff"])
    root = options.output / STAGING / f"{spec.name}-{uuid.uuid4().hex[:8]}"
    try:
        entry = _build(spec, release, version, options, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if previous and previous.get("push"):
        entry["push"] = previous["push"]  # the push step compares contents and pushes again if they changed
    manifest.put(spec.name, entry)
    return Outcome(spec.name, "built", "" if spec.redistributable else "not redistributable: never pushed",
                   release.size, _weights_size(entry), entry["parity"]["max_relative_diff"])


def _build(spec, release: Release, version: int, options: BuildOptions, root: Path) -> dict:
    from s3prl_hf.auto import AutoUpstream
    from s3prl_hf.conversion.convert import convert_checkpoint

    staging = root / spec.name
    files = release.files
    convert_checkpoint(spec.name, files[0].path, staging, max_shard_size=options.max_shard_size,
                       frontend_checkpoint=files[1].path if len(files) > 1 else None, source_sha256=files[0].sha256)
    model = AutoUpstream.from_pretrained(staging)
    reference = _reference(spec, release, model, options, root)
    folder = staging / verification.FOLDER
    folder.mkdir()
    shutil.copyfile(reference.inputs, folder / verification.INPUTS_FILE)
    shutil.copyfile(reference.states, folder / verification.STATES_FILE)
    inputs = {case: [int(n) for n in lengths] for case, (_, lengths) in
              verification.read_inputs(folder / verification.INPUTS_FILE).items()}
    record = {key: value for key, value in reference.record.items() if key not in ("sources", "precomputed_from")}
    info = {"format": "s3prl_hf.verification", "format_version": verification.FORMAT_VERSION, "name": spec.name,
            "family": spec.family, "sources": release.records(), "inputs": inputs, "reference": record,
            "tolerance": {"relative": verification.TOLERANCE, "definition": verification.TOLERANCE_DEFINITION},
            "converted_by": {"s3prl_hf": __version__, "converter_version": version}}
    _write_json(folder / verification.INFO_FILE, info)

    report = verification.compare(model, staging)
    report.problems[:0] = _shape_problems(model, record)
    del model
    if not report.ok:
        raise BuildError(f"refused, not at parity with S3PRL: {report.summary()}")
    info["parity_at_conversion"] = report.as_dict()
    _write_json(folder / verification.INFO_FILE, info)
    card = staging / "README.md"
    card.write_text(card.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + render_provenance_section(
        spec.name, release.records(), converter_version=version, parity=report.as_dict(), reference=record,
        inputs=inputs), encoding="utf-8")

    files_record = file_records(staging)
    weights = sorted(path for path in files_record if path.endswith(".safetensors") and "/" not in path)
    commit_folder(staging, options.output / spec.name, force=True)
    return {
        "name": spec.name, "family": spec.family, "sources": release.records(), "release": release.release,
        "converter_version": version, "s3prl_hf_version": __version__, "files": files_record, "weights": weights,
        "content_sha256": content_digest(files_record), "parity": report.as_dict(),
        "reference": {"call": record.get("call"), "s3prl": record.get("versions", {}).get("s3prl"),
                      "precomputed": "precomputed_from" in reference.record},
        "license": spec.license, "license_url": spec.license_url, "redistributable": spec.redistributable,
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _reference(spec, release: Release, model, options: BuildOptions, root: Path) -> ReferenceOutputs:
    if options.reference_python:
        inputs = root / "inputs.safetensors"
        verification.write_inputs(verification.make_inputs(getattr(model.config, "min_input_samples", 0)), inputs)
        return run_s3prl(options.reference_python, spec, release, inputs, root / "reference",
                         options.output / LOGS / f"{spec.name}.reference.log")
    if options.reference_outputs:
        return precomputed(options.reference_outputs, spec, release)
    raise ReferenceError("no S3PRL reference: give --reference-python (an interpreter with S3PRL 0.4.18) or "
                         "--reference-outputs DIR")


def _shape_problems(model, record: dict) -> list[str]:
    """What S3PRLUpstream reported about its layers against the converted model's config."""
    problems = []
    for key in ("num_layers", "hidden_sizes", "downsample_rates"):
        if key in record:
            ours = getattr(model, key)
            ours = list(ours) if isinstance(ours, (list, tuple)) else ours
            if ours != record[key]:
                problems.append(f"{key}: the converted model has {ours}, S3PRLUpstream reports {record[key]}")
    return problems


def _unchanged(previous: dict | None, release: Release, version: int, folder: Path) -> bool:
    """Whether `folder` holds a complete build of exactly these source bytes by this converter version."""
    if not previous or previous.get("converter_version") != version:
        return False
    if [(s["url"], s["sha256"]) for s in previous.get("sources", [])] != [(f.url, f.sha256) for f in release.files]:
        return False
    files = previous.get("files", {})
    return bool(files) and all((folder / path).is_file() and (folder / path).stat().st_size == record["size"]
                               for path, record in files.items())


def _weights_size(entry: dict | None) -> int | None:
    if not entry:
        return None
    return sum(entry["files"][path]["size"] for path in entry.get("weights", []))


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

"""Shared test helpers: the S3PRL parity fixtures under tests/fixtures/ and their converted folders."""

import os
import tempfile

# Nothing in the tests may reach another machine, nor touch the user's caches: every Hub request goes to a closed
# port on loopback, every original-checkpoint download to a closed mirror on loopback, and the caches live in a
# temporary folder. Tests that need a server start their own (tests/loopback.py) and override these. Set before
# huggingface_hub is imported, which reads them once.
_SANDBOX = tempfile.mkdtemp(prefix="s3prl_hf-tests-")
os.environ["HF_HOME"] = os.path.join(_SANDBOX, "hf_home")
os.environ["S3PRL_HF_CACHE"] = os.path.join(_SANDBOX, "s3prl_hf")
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
os.environ["S3PRL_HF_MIRROR"] = "http://127.0.0.1:9/originals"
for _variable in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "S3PRL_HF_NAMESPACE"):
    os.environ.pop(_variable, None)

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_dirs() -> list[Path]:
    """Every fixture folder made by conversion/reference/make_fixtures.py (one with a meta.json)."""
    return sorted(p.parent for p in FIXTURES.glob("*/meta.json"))


def fixture_meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())


def load_cases(folder: Path) -> dict[str, dict]:
    """{case: {"wavs", "wavs_len", "hs": [...], "hs_len": [...]}} from a fixture's expected.safetensors."""
    tensors = load_file(folder / "expected.safetensors")
    cases: dict[str, dict] = {}
    for key, value in tensors.items():
        case, _, field = key.partition(".")
        entry = cases.setdefault(case, {"hs": {}, "hs_len": {}})
        if field.startswith(("hs.", "hs_len.")):
            kind, _, index = field.partition(".")
            entry[kind][int(index)] = value
        else:
            entry[field] = value
    meta_cases = fixture_meta(folder)["cases"]
    for case, entry in cases.items():
        entry["hs"] = [entry["hs"][i] for i in sorted(entry["hs"])]
        entry["hs_len"] = [entry["hs_len"][i] for i in sorted(entry["hs_len"])]
        source = cases[meta_cases[case].get("inputs_from", case)]
        # Inputs are stored once, as 16-bit PCM; S3PRL received exactly wavs_int16 / 32768 in float32.
        entry["wavs"] = source["wavs_int16"].to(torch.float32) / 32768
        entry["wavs_len"] = source["wavs_len"]
    return cases


@pytest.fixture(scope="session")
def converted_fixture(tmp_path_factory):
    """Convert a fixture's original checkpoint once per session: converted_fixture(folder, source) -> dir.

    The default source is `original_s3prl.pt`, or the file `meta.json` names as `original` (S3PRL's yaml config, for
    upstreams without weights).
    """
    from s3prl_hf.conversion import convert_checkpoint

    made: dict[tuple[str, str], Path] = {}

    def convert(folder: Path, source: str | None = None) -> Path:
        source = source or fixture_meta(folder).get("original", "original_s3prl.pt")
        key = (folder.name, source)
        if key not in made:
            output = tmp_path_factory.mktemp("converted") / f"{folder.name}-{Path(source).stem}"
            meta = fixture_meta(folder)
            frontend = meta.get("frontend", {}).get("s3prl" if "s3prl" in source else "fairseq")
            # what S3PRL fixes in code and the fixture patched (LightHuBERT's subnet), told to the converter
            convert_checkpoint(meta["imitates"], folder / source, output,
                               frontend_checkpoint=folder / frontend if frontend else None,
                               converter_options=meta.get("converter_options"))
            made[key] = output
        return made[key]

    return convert

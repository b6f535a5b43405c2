"""Shared helpers of the S3PRL parity fixture generator ``make_fixtures.py`` (reference environment only).

For every fixture the generator writes ``<out>/<fixture>/``:

* ``original_s3prl.pt``   the checkpoint in the format S3PRL hosts (``{task_cfg, model_cfg, model_weight, ...}``,
                          plain python containers, loads with ``torch.load(weights_only=True)``);
* ``original_fairseq.pt`` the same weights in the true fairseq release layout (``Trainer.state_dict``), written with
                          fairseq itself (only for fairseq-family upstreams);
* ``expected.safetensors`` inputs and the hidden states + lengths of ``s3prl.nn.S3PRLUpstream`` (eval mode) for the
                          cases in ``CASES``, with provenance in the safetensors header metadata;
* ``meta.json``           the same provenance, human-readable, plus what S3PRLUpstream reports
                          (num_layers / hidden_sizes / downsample_rates) and the model / task configs.

Everything is written to a temporary folder first and moved into place only when every fixture of the family was
built and checked, so a failing run leaves the old fixtures untouched. The output is byte-for-byte reproducible
(same environment, same bytes): all randomness comes from fixed seeds, torch runs single-threaded, wall-clock values
that fairseq's trainer records are pinned, and the safetensors header metadata is written in sorted order.

Families are registered in ``make_fixtures.FAMILIES`` ("module:builder"). A new family adds a module
``fixtures_<family>.py`` whose builder returns ``List[FixtureFiles]`` and reuses ``run_s3prl_cases`` /
``write_expected`` from here.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

# The shims must be imported before anything from s3prl (see s3prl_shim.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import s3prl_shim  # noqa: E402,F401

import torch  # noqa: E402

SAMPLE_RATE = 16000
FORMAT_VERSION = "2"  # 2: inputs stored once, as int16 PCM (wavs = wavs_int16 / 32768)

# ------------------------------------------------------------------------------------------------------------------
# Inputs and cases (shared by all families)
# ------------------------------------------------------------------------------------------------------------------

INPUT_SEED = 20250613
# case name -> {"lengths": utterance lengths, "options": S3PRLUpstream kwargs besides name / path_or_url,
#               "inputs_from": (optional) the case whose inputs it reuses}. Inputs never use the global RNG:
#               S3PRLUpstream.__init__ reseeds it (random.seed(0); torch.manual_seed(0)).
CASES: Dict[str, dict] = {
    # a padded batch of different lengths; 700 samples < 800 = S3PRL's MIN_SECOND (0.05 s) * 16 kHz
    "batch": {"lengths": [16000, 12345, 4321, 700], "options": {"normalize": False}},
    # every utterance below 0.05 s: S3PRLUpstream right-pads the batch to 800 samples
    "short": {"lengths": [500, 320], "options": {"normalize": False}},
    "single": {"lengths": [16000], "options": {"normalize": False}},
    # the `batch` inputs through S3PRLUpstream(normalize=True) (F.layer_norm on every hidden state)
    "batch_normalize": {"lengths": [16000, 12345, 4321, 700], "options": {"normalize": True}, "inputs_from": "batch"},
}


def make_wavs(lengths: List[int], generator: torch.Generator):
    """A zero-padded batch: normal noise * 0.1 plus three sines of random frequency / amplitude / phase."""
    wavs = torch.zeros(len(lengths), max(lengths), dtype=torch.float32)
    for i, n in enumerate(lengths):
        t = torch.arange(n, dtype=torch.float64) / SAMPLE_RATE
        x = 0.1 * torch.randn(n, generator=generator, dtype=torch.float64)
        for _ in range(3):
            freq, amp, phase = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
            x = x + (0.05 + 0.25 * amp) * torch.sin(2 * math.pi * (80.0 + 3920.0 * freq) * t + 2 * math.pi * phase)
        # On the 16-bit PCM grid, like real audio: stored as int16, the fixture is half the size and exact.
        wavs[i, :n] = (x * 32768).round().clamp(-32768, 32767).to(torch.float32) / 32768
    return wavs, torch.tensor(lengths, dtype=torch.int64)


def make_case_inputs():
    g = torch.Generator().manual_seed(INPUT_SEED)
    inputs = {}
    for case, spec in CASES.items():
        if "inputs_from" in spec:
            continue
        inputs[case] = make_wavs(spec["lengths"], g)
    for case, spec in CASES.items():
        if "inputs_from" in spec:
            inputs[case] = inputs[spec["inputs_from"]]
    return inputs


# ------------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------------


def perturb(model: torch.nn.Module, seed: int, scale: float = 0.1) -> torch.nn.Module:
    """Add scaled noise to EVERY parameter (LayerNorm/GroupNorm weights != 1, biases != 0, weight-norm g/v
    exercised) and randomise BatchNorm running stats, so a weight that fails to load shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
        for n, b in model.named_buffers():
            if n.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif n.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_state_dicts_equal(a: dict, b: dict, what: str):
    assert list(a.keys()) == list(b.keys()), f"{what}: key lists differ"
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, f"{what}: {k} dtype/shape differ"
        assert torch.equal(a[k], b[k]), f"{what}: {k} differs"


def versions() -> Dict[str, str]:
    import s3prl
    import torchaudio

    out = {"python": platform.python_version(), "torch": torch.__version__, "torchaudio": torchaudio.__version__,
           "s3prl": s3prl.__version__}
    try:
        from importlib.metadata import version

        out["fairseq-fixed"] = version("fairseq-fixed")
        out["omegaconf"] = version("omegaconf")
        out["hydra-core"] = version("hydra-core")
        out["safetensors"] = version("safetensors")
    except Exception:  # pragma: no cover - informative only
        pass
    return out


def run_s3prl_cases(hub_entry: str, ckpt_path: Optional[Path], case_inputs: dict,
                    cases: Optional[Dict[str, dict]] = None, extra_conf: Optional[dict] = None):
    """Run S3PRLUpstream (eval mode, no_grad) on every case (``CASES`` unless a family passes its own, in the same
    format); return tensors + what S3PRLUpstream reports. ``ckpt_path=None`` runs the hub entry without
    ``path_or_url`` (entries without weights); ``extra_conf`` goes to S3PRLUpstream as given."""
    from s3prl.nn import S3PRLUpstream

    source = {} if ckpt_path is None else {"path_or_url": str(ckpt_path)}
    if extra_conf is not None:
        source["extra_conf"] = extra_conf

    tensors: Dict[str, torch.Tensor] = {}
    info = None
    upstreams = {}
    for case, spec in (CASES if cases is None else cases).items():
        key = json.dumps(spec["options"], sort_keys=True)
        if key not in upstreams:
            # NB: S3PRLUpstream.__init__ reseeds the global RNGs and ends in train mode.
            up = S3PRLUpstream(hub_entry, **source, **spec["options"])
            up.eval()
            upstreams[key] = up
        up = upstreams[key]
        this_info = {"num_layers": up.num_layers, "hidden_sizes": list(up.hidden_sizes),
                     "downsample_rates": list(up.downsample_rates)}
        assert info is None or info == this_info, (info, this_info)
        info = this_info
        wavs, wavs_len = case_inputs[case]
        with torch.no_grad():
            all_hs, all_hs_len = up(wavs.clone(), wavs_len.clone())
            # eval-mode determinism, as in s3prl's own tests
            again, again_len = up(wavs.clone(), wavs_len.clone())
        assert len(all_hs) == up.num_layers
        if "inputs_from" not in spec:  # reused inputs are stored once, under their own case
            pcm = (wavs * 32768).round().to(torch.int16)
            assert torch.equal(pcm.to(torch.float32) / 32768, wavs), "inputs must lie on the int16 grid"
            tensors[f"{case}.wavs_int16"] = pcm.contiguous()
            tensors[f"{case}.wavs_len"] = wavs_len.clone().contiguous()
        for i, (h, hl, h2, hl2) in enumerate(zip(all_hs, all_hs_len, again, again_len)):
            assert torch.equal(h, h2) and torch.equal(hl, hl2), f"{case}: eval forward not deterministic"
            assert torch.isfinite(h).all(), f"{case}: non-finite hidden state {i}"
            tensors[f"{case}.hs.{i}"] = h.detach().to(torch.float32).contiguous()
            tensors[f"{case}.hs_len.{i}"] = hl.detach().to(torch.int64).contiguous()
    return tensors, info


def write_safetensors_canonical(tensors: Dict[str, torch.Tensor], path: Path, metadata: Dict[str, str]):
    """safetensors.torch.save_file, then rewrite the JSON header with the metadata keys sorted.

    The Rust writer stores ``__metadata__`` from a HashMap, whose iteration order is randomised per process, so two
    runs give different bytes. Permuting keys keeps the header length, so only the header bytes are replaced."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header_bytes = bytes(raw[8 : 8 + n])
    header = json.loads(header_bytes)
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stripped = header_bytes.rstrip(b" ")
    assert len(new) == len(stripped), "unexpected safetensors header serialisation"
    raw[8 : 8 + len(new)] = new
    path.write_bytes(bytes(raw))
    # read back: same tensors, same metadata
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == metadata
        assert sorted(f.keys()) == sorted(tensors)
        for k in tensors:
            assert torch.equal(f.get_tensor(k), tensors[k]), k


def write_expected(out_dir: Path, tensors, common_meta: Dict[str, str], cases: Optional[Dict[str, dict]] = None,
                   source: Optional[dict] = None):
    """Write expected.safetensors; each case records S3PRLUpstream's arguments (``source``: how the checkpoint was
    given, ``{"path_or_url": "original_s3prl.pt"}`` by default)."""
    source = {"path_or_url": "original_s3prl.pt"} if source is None else source
    cases_json = json.dumps(
        {case: {"name": common_meta["hub_entry"], **source, **spec["options"],
                "lengths": spec["lengths"], **({"inputs_from": spec["inputs_from"]} if "inputs_from" in spec else {})}
         for case, spec in (CASES if cases is None else cases).items()},
        sort_keys=True,
    )
    metadata = {**common_meta, "cases": cases_json}
    write_safetensors_canonical(tensors, out_dir / "expected.safetensors", metadata)
    return metadata


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@dataclass
class FixtureFiles:
    """What a family builder produced for one fixture (the folder already holds the files)."""

    name: str
    folder: Path
    meta: dict = field(default_factory=dict)

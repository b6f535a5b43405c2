"""The frontend of a converted model: its buffers (filterbanks, windows) are recomputed when it is loaded, not stored."""

import torch
from safetensors.torch import load_file

from s3prl_hf import AutoUpstream
from s3prl_hf.frontends import Float32BuffersModule


def assert_frontend_buffers_recomputed(converted) -> None:
    """`converted`: a converted folder whose model has one frontend."""
    model = AutoUpstream.from_pretrained(converted)
    frontends = [m for m in model.modules() if isinstance(m, Float32BuffersModule)]
    assert len(frontends) == 1
    values = frontends[0].buffer_values()
    assert values and all(torch.equal(getattr(frontends[0], k), v) for k, v in values.items())
    assert not any(k.startswith("frontend.") for k in load_file(converted / "model.safetensors"))

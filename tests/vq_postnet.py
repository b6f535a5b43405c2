"""APC's, VQ-APC's and NPC's VQ layers and postnet, which no hidden state goes through, against what S3PRL's own
modules made of a fixture's last hidden state (the fixture's extra.safetensors)."""

import pytest
import torch
from safetensors.torch import load_file

from conftest import load_cases
from s3prl_hf import AutoUpstream

TOLERANCE = 1e-4  # DESIGN.md: max |diff| <= 1e-4 * max(1, max |expected|)


@torch.no_grad()
def assert_vq_layers_and_postnet_match_s3prls(folder, converted) -> None:
    """`folder`: the fixture; `converted`: its converted folder."""
    model = AutoUpstream.from_pretrained(converted)
    extra = load_file(folder / "extra.safetensors")
    last = load_cases(folder)["batch"]["hs"][-1][:, : extra["batch.postnet"].shape[1]]
    features = last
    if "batch.vq_codes" in extra:
        features = model.quantize(last)
        assert torch.equal(features, extra["batch.vq_codes"])
    else:
        with pytest.raises(ValueError, match="no VQ"):
            model.quantize(last)
    prediction = model.postnet(features)
    assert (prediction - extra["batch.postnet"]).abs().max() <= TOLERANCE * max(1.0, extra["batch.postnet"].abs().max())

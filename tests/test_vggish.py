"""VGGish: frontend against S3PRL's numpy code, postprocessor, converter errors and variants, S3PRL's failures.

Expected values come from the S3PRL-made fixtures under tests/fixtures/vggish_* (extra.safetensors: S3PRL's float64
log-mel frames, float32 examples and the embeddings that entered its postprocessor; meta.json: what S3PRL raised).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, load_cases
from s3prl_hf import AutoUpstream
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.vggish import REFERENCE_CONFIGS, S3prlVggishConfig, S3prlVggishModel
from s3prl_hf.models.vggish.convert_vggish import config_from_weights, convert_vggish, load_release
from s3prl_hf.models.vggish.modeling_vggish import log_mel_frames

LIKE = FIXTURES / "vggish_like"
VARIANT = FIXTURES / "vggish_variant"


@pytest.fixture(scope="module")
def like_model():
    return convert_vggish(load_original_checkpoint(LIKE / "original_s3prl.pt"))


def test_log_mel_equals_s3prl_numpy_float64():
    extra = load_file(LIKE / "extra.safetensors")
    single = load_cases(LIKE)["single"]
    got = log_mel_frames(S3prlVggishConfig(), single["wavs"][:, : int(single["wavs_len"][0])])[0]
    expected = extra["single.log_mel_float64"]
    assert got.dtype == torch.float64 and got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@torch.no_grad()
def test_examples_and_embeddings_equal_s3prl(like_model):
    extra = load_file(LIKE / "extra.safetensors")
    batch = load_cases(LIKE)["batch"]
    examples = like_model.examples(batch["wavs"], batch["wavs_len"])
    last = len(examples) - 1
    # float64 log-mel cast to float32, exactly as waveform_to_examples
    assert torch.equal(examples[last], extra[f"batch.examples.{last}"])
    embeddings = torch.cat([like_model.embed(e) for e in examples])
    torch.testing.assert_close(embeddings, extra["batch.postprocessor_input"], rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_quantised_levels(like_model):
    """Levels 0..255 (zeros only as padding); within one level of S3PRL on every valid frame, as a rounding
    difference could flip a level off this machine. On the fixture's machine they are equal (test_parity)."""
    for name, case in load_cases(LIKE).items():
        if name.endswith("normalize"):
            continue
        out = like_model(case["wavs"], case["wavs_len"])
        hs, ref, lengths = out.hidden_states[0], case["hs"][0], case["hs_len"][0]
        valid = torch.arange(ref.shape[1])[None, :] < lengths[:, None]
        assert (hs - ref).abs()[valid].max() <= 1
        assert torch.equal(hs, hs.round()) and hs.min() >= 0 and hs.max() <= 255


def test_lengths_and_padding_semantics():
    """S3PRL's stride of 16000: 32500 samples -> 3 frames from 2 examples (last repeated), 20000 -> 2 valid frames
    from 1 example (the second is the expert's zero padding)."""
    case = load_cases(LIKE)["batch"]
    assert case["wavs_len"].tolist() == [32500, 20000, 15600]
    assert case["hs_len"][0].tolist() == [3, 2, 1]
    ref = case["hs"][0]
    assert torch.equal(ref[0, 2], ref[0, 1]) and not torch.equal(ref[0, 1], ref[0, 0])
    assert ref[1, 1].abs().max() == 0


@torch.no_grad()
def test_s3prl_failures_become_value_errors(like_model):
    failures = json.loads((LIKE / "meta.json").read_text())["s3prl_failures"]
    assert {f["raised"] for f in failures.values()} == {"RuntimeError", "ValueError", "AssertionError"}
    wavs = torch.randn(2, 20000, generator=torch.Generator().manual_seed(0)) * 0.1
    for failure in failures.values():
        lengths = torch.tensor(failure["lengths"])
        with pytest.raises(ValueError, match="VGGish"):
            like_model(wavs[:, : int(lengths.max())], lengths)
    # the shortest lengths S3PRL accepts
    like_model(torch.zeros(2, 31000), torch.tensor([31000, 15600]))


def test_config_read_from_weights():
    like = config_from_weights(*_split(LIKE))
    assert like.features_config == [4, "M", 8, "M", 8, 8, "M", 16, 16, "M"]
    assert like.embedding_sizes == [32, 32, 128] and like.pca_size == 128
    variant = config_from_weights(*_split(VARIANT))
    assert variant.features_config == [8, "M", 8, "M", "M", 4]  # no pool after the last conv
    assert variant.embedding_sizes == [24, 20, 16] and variant.pca_size == 16
    meta = json.loads((VARIANT / "meta.json").read_text())
    assert variant.features_config == meta["s3prl_patches"]["s3prl.upstream.vggish.vggish.make_layers"]


def _split(folder: Path):
    state = load_original_checkpoint(folder / "original_s3prl.pt")
    return state["vggish"], state["pca"]


@torch.no_grad()
def test_release_layout_two_files_with_numpy_pca(tmp_path, like_model):
    network, pca = _split(LIKE)
    torch.save(network, tmp_path / "vggish.pth")
    torch.save({k: v.numpy() for k, v in pca.items()}, tmp_path / "pca.pth")
    model = convert_vggish(load_release(tmp_path / "vggish.pth", tmp_path / "pca.pth"))
    case = load_cases(LIKE)["single"]
    assert torch.equal(model(case["wavs"], case["wavs_len"]).hidden_states[0], case["hs"][0])
    separate = convert_vggish(network, pca={k: v.numpy() for k, v in pca.items()})
    assert all(torch.equal(a, b) for a, b in zip(separate.state_dict().values(), model.state_dict().values()))


def test_converter_errors():
    network, pca = _split(LIKE)
    with pytest.raises(CheckpointFormatError, match="PCA parameters too"):
        convert_vggish(network)
    with pytest.raises(CheckpointFormatError, match="PCA file"):
        convert_vggish(pca)
    with pytest.raises(CheckpointFormatError, match="already holds"):
        convert_vggish({"vggish": network, "pca": pca}, pca=pca)
    with pytest.raises(CheckpointFormatError, match="not VGGish's"):
        convert_vggish({"vggish": {**network, "classifier.weight": torch.zeros(2)}, "pca": pca})
    with pytest.raises(CheckpointFormatError, match="missing from the checkpoint: features.3.bias"):
        convert_vggish({"vggish": {k: v for k, v in network.items() if k != "features.3.bias"}, "pca": pca})
    with pytest.raises(CheckpointFormatError, match="3x3 conv"):
        convert_vggish({"vggish": {**network, "features.3.weight": torch.zeros(8, 4, 5, 5)}, "pca": pca})
    with pytest.raises(CheckpointFormatError, match="embeddings.0.weight takes"):
        convert_vggish({"vggish": {**network, "embeddings.0.weight": torch.zeros(32, 100)}, "pca": pca})
    with pytest.raises(CheckpointFormatError, match="PCA parameters of shapes"):
        convert_vggish({"vggish": network, "pca": {**pca, "pca_means": torch.zeros(5)}})
    with pytest.raises(CheckpointFormatError, match="exactly"):
        convert_vggish({"vggish": network, "pca": {"pca_eigen_vectors": pca["pca_eigen_vectors"]}})


def test_parameter_count_of_the_release_on_meta_device():
    """72,141,184 parameters: torchvggish's VGGish, as S3PRL's VGG(make_layers()) counts them (the PCA is buffers)."""
    with torch.device("meta"):
        model = S3prlVggishModel(S3prlVggishConfig(**REFERENCE_CONFIGS["vggish"]))
    assert sum(p.numel() for p in model.parameters()) == 72_141_184
    assert [tuple(b.shape) for b in model.buffers()] == [(128, 128), (128, 1)]


def test_cli_convert_and_auto_load(tmp_path):
    from s3prl_hf.cli import main

    assert main(["convert", "--name", "vggish", "--checkpoint", str(VARIANT / "original_s3prl.pt"),
                 "--output", str(tmp_path / "out")]) == 0
    model = AutoUpstream.from_pretrained(tmp_path / "out")
    case = load_cases(VARIANT)["pair"]
    with torch.no_grad():
        assert torch.equal(model(case["wavs"], case["wavs_len"]).hidden_states[0], case["hs"][0])
    assert np.array_equal(model.hidden_sizes, [16]) and model.downsample_rates == (16000,)


@pytest.mark.parametrize("beside", [True, False])
def test_cli_converts_the_two_release_files(tmp_path, beside):
    """The network file with its PCA file given (--frontend-checkpoint) or found beside it by name."""
    from s3prl_hf.cli import main

    network, pca = _split(VARIANT)
    release = tmp_path / "release"
    release.mkdir()
    torch.save(network, release / "vggish-10086976.pth")
    torch.save({k: v.numpy() for k, v in pca.items()}, release / "vggish_pca_params-970ea276.pth")
    second = [] if beside else ["--frontend-checkpoint", str(release / "vggish_pca_params-970ea276.pth")]
    assert main(["convert", "--name", "vggish", "--checkpoint", str(release / "vggish-10086976.pth"),
                 "--output", str(tmp_path / "out")] + second) == 0
    case = load_cases(VARIANT)["pair"]
    with torch.no_grad():
        out = AutoUpstream.from_pretrained(tmp_path / "out")(case["wavs"], case["wavs_len"])
    assert torch.equal(out.hidden_states[0], case["hs"][0])

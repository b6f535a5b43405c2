"""PASE+: the combined release file, converter errors and cfg variants, the released architecture's size.

Expected numbers come from the S3PRL-made fixtures under tests/fixtures/pase_plus_* (meta.json: the parameter counts
and state-dict shapes PASE's own `wf_builder` gave for the fixtures' cfgs and for the released cfg).
"""

import json

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from conftest import FIXTURES, fixture_meta, load_cases
from s3prl_hf import AutoUpstream
from s3prl_hf.auto import reference_config
from s3prl_hf.conversion import CheckpointFormatError, load_original_checkpoint
from s3prl_hf.models.pase_plus import S3prlPasePlusConfig, S3prlPasePlusModel
from s3prl_hf.models.pase_plus.convert_pase_plus import config_from_cfg, convert_pase_plus, load_release

LIKE = FIXTURES / "pase_plus_like"
VARIANT = FIXTURES / "pase_plus_variant"
CONFIG_ERRORS = (ValueError, StrictDataclassError)  # the config validators raise the latter


@pytest.fixture(scope="module")
def like_release():
    return load_original_checkpoint(LIKE / "original_s3prl.pt")


def _with_cfg(release, **changes):
    return {"cfg": {**release["cfg"], **changes}, "ckpt": release["ckpt"]}


def test_load_release_combines_the_two_original_files(tmp_path, like_release):
    torch.save(like_release["ckpt"], tmp_path / "FE_e199.ckpt")
    (tmp_path / "PASE+.cfg").write_text(json.dumps(like_release["cfg"]))
    release = load_release(tmp_path / "FE_e199.ckpt", tmp_path / "PASE+.cfg")
    assert release["cfg"] == like_release["cfg"]
    assert release["ckpt"].keys() == like_release["ckpt"].keys()
    assert all(torch.equal(release["ckpt"][k], like_release["ckpt"][k]) for k in release["ckpt"])
    (tmp_path / "bad.cfg").write_text("{not json")
    with pytest.raises(CheckpointFormatError, match="not a JSON PASE cfg"):
        load_release(tmp_path / "FE_e199.ckpt", tmp_path / "bad.cfg")


def test_converted_parameters_equal_pases():
    for folder in (LIKE, VARIANT):
        model = convert_pase_plus(load_original_checkpoint(folder / "original_s3prl.pt"))
        assert sum(p.numel() for p in model.parameters()) == fixture_meta(folder)["checks"]["s3prl_parameters"]


def test_released_config_on_meta_device_has_pases_parameters_and_shapes():
    """7,832,896 parameters: PASE's WaveFe built from the repository's PASE+.cfg (the paper's 7.8 M)."""
    released = fixture_meta(LIKE)["released"]
    config = reference_config("pase_plus")
    from_cfg = config_from_cfg(released["cfg"])
    for field in ("sincnet", "kwidths", "strides", "dilations", "fmaps", "pad_mode", "sr", "emb_dim", "rnn_pool",
                  "rnn_dim", "rnn_layers", "norm_out", "tanh_out"):
        a, b = getattr(from_cfg, field), getattr(config, field)
        assert (list(a) if isinstance(a, (list, tuple)) else a) == (list(b) if isinstance(b, (list, tuple)) else b)
    with torch.device("meta"):
        model = S3prlPasePlusModel(config)
    assert sum(p.numel() for p in model.parameters()) == released["parameters"] == 7_832_896
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == released["state_dict_shapes"]
    assert model.num_layers == 9 and set(model.hidden_sizes) == {256} and set(model.downsample_rates) == {160}


def test_cfg_given_as_json_text_and_extra_checkpoint_keys_are_accepted(like_release):
    """PASE's loader ignores checkpoint keys the model lacks; a cfg stored as its JSON text is read too."""
    ckpt = {**like_release["ckpt"], "quantizer.embedding": torch.zeros(3)}
    model = convert_pase_plus({"cfg": json.dumps(like_release["cfg"]), "ckpt": {"state_dict": ckpt, "step": 1}})
    case = load_cases(LIKE)["single"]
    with torch.no_grad():
        out = model(case["wavs"], case["wavs_len"])
    torch.testing.assert_close(out.hidden_states[-1], case["hs"][-1], rtol=1e-4, atol=1e-4)


def test_converter_errors_name_the_problem(like_release):
    with pytest.raises(CheckpointFormatError, match="needs its JSON cfg"):
        convert_pase_plus(dict(like_release["ckpt"]))
    with pytest.raises(CheckpointFormatError, match="needs its JSON cfg"):
        convert_pase_plus({"state_dict": like_release["ckpt"]})
    with pytest.raises(CheckpointFormatError, match="not WaveFe arguments"):
        convert_pase_plus(_with_cfg(like_release, kernel_sizes=[3]))
    with pytest.raises(CheckpointFormatError, match="'name'='tdnn'"):
        convert_pase_plus(_with_cfg(like_release, name="tdnn"))
    for key, value in (("resblocks", True), ("densemerge", "concat"), ("rnn_type", "lstm"), ("norm_type", "lnorm"),
                       ("activation", "ReLU"), ("denseskips", False)):
        with pytest.raises(CheckpointFormatError, match=f"'{key}'"):
            convert_pase_plus(_with_cfg(like_release, **{key: value}))
    with pytest.raises(CheckpointFormatError, match="vq_K"):
        convert_pase_plus(_with_cfg(like_release, vq_K=32))
    with pytest.raises(CheckpointFormatError, match=r"blocks\.2\.conv\.weight has shape .*fmaps\[2\]=32"):
        convert_pase_plus(_with_cfg(like_release, fmaps=[8, 8, 32, 16, 16, 16, 24, 24]))
    with pytest.raises(CheckpointFormatError, match=r"blocks\.1\.conv\.weight .*kwidths\[1\]=10"):
        convert_pase_plus(_with_cfg(like_release, kwidths=[251, 10, 11, 11, 11, 11, 11, 11]))
    with pytest.raises(CheckpointFormatError, match="QRNN layers"):
        convert_pase_plus(_with_cfg(like_release, rnn_layers=2))
    with pytest.raises(CheckpointFormatError, match="W.weight"):
        convert_pase_plus(_with_cfg(like_release, emb_dim=32))
    with pytest.raises(CheckpointFormatError, match="rnn_dim must be even"):
        convert_pase_plus(_with_cfg(like_release, rnn_dim=17))
    with pytest.raises(CheckpointFormatError, match="denseskips"):
        convert_pase_plus(_with_cfg(like_release, kwidths=[251, 20, 11], strides=[1, 10, 2], fmaps=[8, 8, 16]))
    missing = {k: v for k, v in like_release["ckpt"].items() if k != "blocks.3.norm.running_var"}
    with pytest.raises(CheckpointFormatError, match=r"blocks\.3\.norm\.running_var"):
        convert_pase_plus({"cfg": like_release["cfg"], "ckpt": missing})
    with pytest.raises(CheckpointFormatError, match="expected a tensor"):
        convert_pase_plus({"cfg": like_release["cfg"], "ckpt": {**like_release["ckpt"], "step": 3}})


def test_config_rejects_shapes_pase_cannot_run():
    with pytest.raises(CONFIG_ERRORS, match="one entry per block"):
        S3prlPasePlusConfig(strides=[1, 10])
    with pytest.raises(CONFIG_ERRORS, match="dilation 2"):
        S3prlPasePlusConfig(dilations=[1, 1, 2, 1, 1, 1, 1, 1])
    with pytest.raises(CONFIG_ERRORS, match="pad_mode"):
        S3prlPasePlusConfig(pad_mode="mirror")
    assert S3prlPasePlusConfig(kwidths=[64, 20, 11, 11, 11, 11, 11, 11]).sinc_kernel_size == 65
    assert S3prlPasePlusConfig(rnn_dim=12).rnn_hidden_size == 12


def test_cli_convert_and_auto_load(tmp_path):
    from s3prl_hf.cli import main

    assert main(["convert", "--name", "pase_plus", "--checkpoint", str(VARIANT / "original_s3prl.pt"),
                 "--output", str(tmp_path / "out")]) == 0
    model = AutoUpstream.from_pretrained(tmp_path / "out")
    assert type(model) is S3prlPasePlusModel and model.num_layers == 9 and model.hidden_sizes == (12,) * 9
    case = load_cases(VARIANT)["batch"]
    with torch.no_grad():
        out = model(case["wavs"], case["wavs_len"])
    for got, expected, lengths in zip(out.hidden_states, case["hs"], case["hs_len"]):
        valid = torch.arange(expected.shape[1])[None, :] < lengths[:, None]
        torch.testing.assert_close(got[valid], expected[valid], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("beside", [True, False])
def test_cli_converts_the_two_release_files(tmp_path, beside):
    """The FE checkpoint with its JSON cfg given (--frontend-checkpoint) or found beside it by name."""
    from s3prl_hf.cli import main

    release = load_original_checkpoint(VARIANT / "original_s3prl.pt")
    folder = tmp_path / "release"
    folder.mkdir()
    torch.save(release["ckpt"], folder / "FE_e199.ckpt")
    (folder / "PASE+.cfg").write_text(json.dumps(release["cfg"]))
    second = [] if beside else ["--frontend-checkpoint", str(folder / "PASE+.cfg")]
    assert main(["convert", "--name", "pase_plus", "--checkpoint", str(folder / "FE_e199.ckpt"),
                 "--output", str(tmp_path / "out")] + second) == 0
    case = load_cases(VARIANT)["batch"]
    with torch.no_grad():
        out = AutoUpstream.from_pretrained(tmp_path / "out")(case["wavs"], case["wavs_len"])
    for got, expected, lengths in zip(out.hidden_states, case["hs"], case["hs_len"]):
        valid = torch.arange(expected.shape[1])[None, :] < lengths[:, None]
        torch.testing.assert_close(got[valid], expected[valid], rtol=1e-4, atol=1e-4)

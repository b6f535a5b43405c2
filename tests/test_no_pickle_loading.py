"""Loading a model never unpickles: every family loads from safetensors with pickle loading made to fail, and
weights that exist only as `pytorch_model.bin` are refused with an error that says how to convert them."""

import pickle
from contextlib import contextmanager

import pytest
import torch
import torch._weights_only_unpickler as weights_only_unpickler
import transformers

import s3prl_hf
from s3prl_hf import AutoUpstream
from s3prl_hf.cli import main
from s3prl_hf.modeling_utils import UpstreamPreTrainedModel
from s3prl_hf.models import families
from s3prl_hf.safe_loading import PickledWeightsError


class Unpickled(AssertionError):
    """Raised by every way of reading a pickle while `pickles_refused` is active."""


@contextmanager
def pickles_refused(monkeypatch):
    """Make pickle.load(s), pickle.Unpickler, torch.load and torch's weights-only unpickler raise `Unpickled`."""

    def refuse(*args, **kwargs):
        raise Unpickled("a pickle was read while loading a model")

    with monkeypatch.context() as patch:
        for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load"),
                             (torch.serialization, "load"), (weights_only_unpickler, "load"),
                             (weights_only_unpickler, "Unpickler")]:
            patch.setattr(module, name, refuse)
        yield


def tiny_model(name, index=0):
    family = families()[name]
    torch.manual_seed(0)
    return family.model_class(family.config_class(**family.tiny_configs[index])).eval()


TINY = [pytest.param(name, index, id=f"{name}-{index}") for name, family in sorted(families().items())
        for index in range(len(family.tiny_configs))]


@pytest.mark.parametrize("family, index", TINY)
def test_every_family_loads_with_pickle_loading_refused(family, index, tmp_path, monkeypatch):
    s3prl_hf.register_with_transformers()
    model = tiny_model(family, index)
    model.save_pretrained(tmp_path)
    with pickles_refused(monkeypatch):
        loaded = AutoUpstream.from_pretrained(tmp_path)
        through_transformers = transformers.AutoModel.from_pretrained(tmp_path)
    expected = model.state_dict()
    for reloaded in (loaded, through_transformers):
        assert type(reloaded) is type(model)
        state = reloaded.state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[key], expected[key]) for key in expected), family


@pytest.fixture
def pickled_folder(tmp_path):
    """A HuBERT folder as `save_pretrained(safe_serialization=False)` used to write: config.json + a pickle."""
    model = tiny_model("hubert")
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    return tmp_path


def test_pickled_weights_are_refused_without_being_read(pickled_folder, monkeypatch, capsys):
    s3prl_hf.register_with_transformers()
    model_class = families()["hubert"].model_class
    with pickles_refused(monkeypatch):
        # the control: transformers' own loader does read this folder's pickle
        with pytest.raises(Unpickled):
            super(UpstreamPreTrainedModel, model_class).from_pretrained(pickled_folder)
        for load in (AutoUpstream.from_pretrained, transformers.AutoModel.from_pretrained,
                     model_class.from_pretrained):
            with pytest.raises(PickledWeightsError) as refused:
                load(pickled_folder)
            message = str(refused.value)
            assert f"{pickled_folder} holds its weights only as pytorch_model.bin, a pickle" in message
            assert "s3prl-hf convert --name NAME --checkpoint FILE" in message and "safetensors" in message
            assert "\n" not in message
        with pytest.raises(ValueError, match="use_safetensors=False: s3prl_hf loads weights from safetensors only"):
            model_class.from_pretrained(pickled_folder, use_safetensors=False)
        assert main(["extract", "--model", str(pickled_folder), "--input", str(pickled_folder), "--output",
                     str(pickled_folder / "out")]) == 2
    err = capsys.readouterr().err
    assert f"s3prl-hf extract: error: {pickled_folder} holds its weights only as pytorch_model.bin" in err
    assert "Traceback" not in err


def test_a_folder_without_weights_says_so(pickled_folder):
    (pickled_folder / "pytorch_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match=f"{pickled_folder} holds no model weights \\(model.safetensors"):
        AutoUpstream.from_pretrained(pickled_folder)


def test_a_hub_repo_with_only_pickled_weights_is_refused_without_download(pickled_folder, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from loopback import LoopbackServer

    repo = {name: (pickled_folder / name).read_bytes() for name in ("config.json", "pytorch_model.bin")}
    with LoopbackServer(hub={"someone/tiny-hubert": repo}) as server:
        code = ("from s3prl_hf import AutoUpstream\n"
                "try:\n    AutoUpstream.from_pretrained('someone/tiny-hubert')\n"
                "except Exception as error:\n    print(type(error).__name__, error)\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                                env={**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf"),
                                     "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("PickledWeightsError someone/tiny-hubert holds its weights only as"), \
            result.stdout + result.stderr
        assert server.count("pytorch_model.bin", "GET") == 0, "the pickle must not even be downloaded"
        # transformers would otherwise ask the Hub's safetensors conversion bot (model info, then a PR) and fail
        assert server.count("/discussions") == 0, "no request to the Hub's safetensors conversion bot"

"""Fixtures converted by their family's converter directly (not through the registry's tables), from S3PRL's layout or
fairseq's, saved with `save_pretrained` and loaded with the model classes; and the checks that wav2vec 1.0 /
vq-wav2vec and Discrete BERT, whose fixtures hold both layouts, share on the models so made."""

import json

import torch

from conftest import fixture_meta, load_cases
from s3prl_hf.conversion import load_original_checkpoint
from s3prl_hf.models.discretebert import S3prlDiscreteBertModel
from s3prl_hf.models.discretebert.convert_discretebert import convert_discretebert_files
from s3prl_hf.models.wav2vec import S3prlWav2VecModel
from s3prl_hf.models.wav2vec.convert_wav2vec import convert_vq_wav2vec, convert_wav2vec

# layout -> (the checkpoint, Discrete BERT's vq-wav2vec frontend) in that layout
SOURCES = {"s3prl": ("original_s3prl.pt", "frontend_s3prl.pt"),
           "fairseq": ("original_fairseq.pt", "frontend_fairseq.pt")}
CONVERTERS = {"wav2vec": convert_wav2vec, "vq_wav2vec": convert_vq_wav2vec}


def convert_fixture(folder, source="s3prl"):
    """The fixture's checkpoint(s) in one layout, through the family's converter."""
    roberta, frontend = SOURCES[source]
    family = fixture_meta(folder)["family"]
    if family == "discretebert":
        return convert_discretebert_files(folder / roberta, folder / frontend)
    return CONVERTERS[family](load_original_checkpoint(folder / roberta))


def saver(tmp_path_factory):
    """convert + save_pretrained once per fixture and layout: saver(...)(folder, source) -> folder."""
    made = {}

    def save(folder, source="s3prl"):
        if (folder.name, source) not in made:
            output = tmp_path_factory.mktemp("converted") / f"{folder.name}-{source}"
            convert_fixture(folder, source).save_pretrained(output)
            made[folder.name, source] = output
        return made[folder.name, source]

    return save


def load_saved(path, **kwargs):
    model_type = json.loads((path / "config.json").read_text())["model_type"]
    model_class = {"s3prl_wav2vec": S3prlWav2VecModel, "s3prl_discretebert": S3prlDiscreteBertModel}[model_type]
    model, info = model_class.from_pretrained(path, output_loading_info=True, **kwargs)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model.eval()


def assert_bf16_states_close(full, half, case):
    """The bf16 model's hidden states are bf16, finite and close to the fp32 model's on every valid frame."""
    ref, got = full(case["wavs"], case["wavs_len"]), half(case["wavs"], case["wavs_len"])
    for index, (a, b, lengths) in enumerate(zip(got.hidden_states, ref.hidden_states, ref.hidden_states_lengths)):
        assert a.dtype == torch.bfloat16 and torch.isfinite(a.float()).all(), index
        valid = torch.arange(b.shape[1])[None, :] < lengths[:, None]
        assert (a.float() - b).abs()[valid].max() <= 0.1 * max(1.0, b[valid].abs().max().item()), index


def after_one_training_step(folder):
    """The converted fixture in train mode, after a forward and backward pass on the `short` case."""
    model = convert_fixture(folder).train()
    torch.manual_seed(0)
    case = load_cases(folder)["short"]
    out = model(case["wavs"], case["wavs_len"])
    sum(hs.sum() for hs in out.hidden_states).backward()
    return model

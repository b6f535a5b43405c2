"""Drop-in `S3PRLUpstream` / `Featurizer`: S3PRL's constructor calls, S3PRL's numbers, the native API's values."""

import pytest
import torch
import torch.nn.functional as F

from conftest import fixture_dirs, fixture_meta, load_cases
from s3prl_hf import AutoUpstream, Featurizer, S3PRLUpstream, UnknownUpstreamError, registry


def _family_fixtures():
    """The first fixture of each implemented family whose S3PRL call took a checkpoint file."""
    chosen = {}
    for folder in fixture_dirs():
        meta = fixture_meta(folder)
        family = registry.get_spec(meta["imitates"]).family if "imitates" in meta else None
        case = next(iter(meta.get("cases", {}).values()), {})
        # S3PRL's constructor cannot pass converter options: fixtures that need them (LightHuBERT's patched subnet
        # tables) cannot run through it
        if meta.get("converter_options"):
            continue
        if family and case.get("path_or_url") and family not in chosen:
            chosen[family] = folder
    return [pytest.param(folder, id=family) for family, folder in sorted(chosen.items())]


FAMILY_FIXTURES = _family_fixtures()
HUBERT = next(f for f in fixture_dirs() if f.name == "hubert_base_like")


def downstream_snippet(upstream, featurizer, wavs, wavs_len):
    """What a SUPERB-style recipe does with an upstream and a featurizer."""
    with torch.no_grad():
        all_hs, all_lens = upstream(wavs, wavs_len)
    return featurizer(all_hs, all_lens)


@pytest.mark.parametrize("folder", FAMILY_FIXTURES)
@torch.no_grad()
def test_s3prl_constructor_call_reproduces_s3prl_and_native(folder, converted_fixture):
    meta = fixture_meta(folder)
    first = next(iter(meta["cases"].values()))
    # Exactly the call the fixture generator made with S3PRL: an entry name and the original checkpoint file.
    extra_conf = {key: str(folder / value) for key, value in first.get("extra_conf", {}).items()}
    upstream = S3PRLUpstream(first["name"], path_or_url=str(folder / first["path_or_url"]), extra_conf=extra_conf)
    assert upstream.training, "S3PRL's constructor leaves the upstream in train mode"
    upstream.eval()
    reported = meta["s3prl_upstream"]
    assert upstream.num_layers == reported["num_layers"]
    assert upstream.hidden_sizes == reported["hidden_sizes"]
    assert upstream.downsample_rates == reported["downsample_rates"]

    native = AutoUpstream.from_pretrained(converted_fixture(folder))
    cases = load_cases(folder)
    # A padded batch with and without normalize is enough here; test_parity covers every case natively.
    chosen = [c for c in ("batch", "batch_normalize") if c in cases] or list(cases)[:2]
    for case in chosen:
        expected = cases[case]
        upstream.normalize = meta["cases"][case]["normalize"]
        all_hs, all_lens = upstream(expected["wavs"], expected["wavs_len"])
        assert isinstance(all_hs, list) and isinstance(all_lens, list)
        reference = native(expected["wavs"], expected["wavs_len"], normalize=upstream.normalize)
        for index, (hs, hs_len, ref) in enumerate(zip(all_hs, all_lens, expected["hs"])):
            assert torch.equal(hs, reference.hidden_states[index]), f"{case}/{index}: differs from the native API"
            assert torch.equal(hs_len, expected["hs_len"][index])
            valid = torch.arange(ref.shape[1])[None, :] < hs_len[:, None]
            tolerance = 1e-4 * max(1.0, ref[valid].abs().max().item())
            assert hs.shape == ref.shape and (hs - ref).abs()[valid].max() <= tolerance, f"{case}/{index} vs S3PRL"


@pytest.fixture(scope="module")
def hubert_pair(converted_fixture):
    folder = converted_fixture(HUBERT)
    return S3PRLUpstream("hubert_base", path_or_url=str(folder)).eval(), AutoUpstream.from_pretrained(folder)


def _batch(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    wavs = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        wavs[i, :n] = torch.randn(n, generator=generator) * 0.1
    return wavs, torch.tensor(lengths)


@pytest.mark.parametrize("layer_selections, normalize", [(None, False), ([2, 0], True), ([-1], False)])
def test_same_downstream_snippet_through_both_interfaces(hubert_pair, layer_selections, normalize):
    s3prl_style, native = hubert_pair
    wavs, wavs_len = _batch([16000, 9000, 700])
    weights = torch.tensor([0.3, -1.0, 2.0])
    featurizers = []
    for upstream in (s3prl_style, native):
        featurizer = Featurizer(upstream, layer_selections=layer_selections, normalize=normalize)
        featurizer.weights.data = weights[: len(featurizer.layer_selections)].clone()
        featurizers.append(featurizer)
    hs_a, len_a = downstream_snippet(s3prl_style, featurizers[0], wavs, wavs_len)
    hs_b, len_b = downstream_snippet(native, featurizers[1], wavs, wavs_len)
    assert torch.equal(hs_a, hs_b) and torch.equal(len_a, len_b)

    # And the numbers are S3PRL's weighted sum: sorted selection, optional layer norm, softmax weights.
    with torch.no_grad():
        all_hs, all_lens = native(wavs, wavs_len)
    selected = sorted(i % native.num_layers for i in (layer_selections or range(native.num_layers)))
    stacked = torch.stack([all_hs[i] for i in selected])
    if normalize:
        stacked = F.layer_norm(stacked, stacked.shape[-1:])
    expected = (F.softmax(featurizers[1].weights, -1)[:, None, None, None] * stacked).sum(0)
    torch.testing.assert_close(hs_b, expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(len_b, all_lens[0])
    assert featurizers[1].output_size == native.hidden_sizes[0]
    assert featurizers[1].downsample_rate == native.downsample_rates[0]


def test_featurizer_accepts_only_the_selected_states_and_model_output(hubert_pair):
    _, native = hubert_pair
    wavs, wavs_len = _batch([8000, 4000])
    featurizer = Featurizer(native, layer_selections=[2, 1])
    featurizer.weights.data = torch.tensor([1.0, -0.5])
    with torch.no_grad():
        full = native(wavs, wavs_len)
        picked = native(wavs, wavs_len, layers=featurizer.layer_selections)
    a = featurizer(*full)
    b = featurizer(*picked)
    c = featurizer(full)
    assert torch.equal(a[0], b[0]) and torch.equal(a[0], c[0])
    assert list(featurizer.state_dict()) == ["weights"], "S3PRL downstream checkpoints store 'weights'"


def test_featurizer_rejects_what_it_cannot_sum(hubert_pair):
    _, native = hubert_pair
    with pytest.raises(ValueError, match="repeats"):
        Featurizer(native, layer_selections=[1, 1])
    with pytest.raises(ValueError, match="must be an int"):
        Featurizer(native, layer_selections=[native.num_layers])

    class Mixed:
        num_layers, hidden_sizes, downsample_rates = 3, [8, 8, 16], [320, 320, 320]

    with pytest.raises(ValueError, match="hidden sizes"):
        Featurizer(Mixed())
    assert Featurizer(Mixed(), layer_selections=[0, 1]).output_size == 8

    class Single:
        num_layers, hidden_sizes, downsample_rates = 1, [8], [160]

    hs, lens = torch.randn(2, 5, 8), torch.tensor([5, 3])
    out, out_len = Featurizer(Single())([hs], [lens])
    assert out is hs and out_len is lens


def test_constructor_options(hubert_pair, converted_fixture):
    folder = str(converted_fixture(HUBERT))
    with pytest.raises(ValueError, match="extra_conf"):
        S3PRLUpstream("hubert", path_or_url=folder, extra_conf={"legacy": True})
    with pytest.raises(OSError, match="example.org/hubert.pt: connection refused"):  # the tests' closed mirror
        S3PRLUpstream("hubert_url", path_or_url="https://example.org/hubert.pt")
    with pytest.raises(ValueError, match="path_or_url"):
        S3PRLUpstream("hubert_local")
    with pytest.raises(UnknownUpstreamError):
        S3PRLUpstream("no_such_upstream")

    s3prl_style, native = hubert_pair
    wavs, wavs_len = _batch([8000, 3000])
    normalized = S3PRLUpstream("hubert_base", path_or_url=folder, normalize=True).eval()
    with torch.no_grad():
        got, _ = normalized(wavs, wavs_len)
        want = native(wavs, wavs_len, normalize=True).hidden_states
    assert all(torch.equal(a, b) for a, b in zip(got, want))

    randomized = S3PRLUpstream("hubert_base", path_or_url=folder, randomize=True)
    before = dict(native.named_parameters())
    changed = [n for n, p in randomized.upstream.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == len(before) and randomized.hidden_sizes == s3prl_style.hidden_sizes

    names = S3PRLUpstream.available_names()
    assert "hubert" in names and "hubert_base" in names and "hubert_local" in names
    assert "hubert_local" not in S3PRLUpstream.available_names(only_registered_ckpt=True)


@pytest.mark.parametrize("name, fixture, loaded_as", [
    ("apc", "vq_apc_like", "vq_apc_360hr"),
    ("mockingjay_local", "tera_fbank_like", "tera_logMelBase_T_F_AdamW_b32_200k_100hr"),
    ("hubert_custom", "contentvec_like", "contentvec_km100"),
])
def test_a_checkpoint_of_another_method_of_the_family_loads_as_s3prls_expert_runs_it(name, fixture, loaded_as, caplog):
    """S3PRL's apc expert runs VQ-APC checkpoints, its mockingjay expert TERA ones: the drop-in does too, under a
    name of the method the checkpoint's config names, and says so (`convert` refuses them instead)."""
    from conftest import FIXTURES

    upstream = S3PRLUpstream(name, path_or_url=str(FIXTURES / fixture / "original_s3prl.pt"))
    assert upstream.upstream.config.s3prl_name == loaded_as
    assert any(f"loading it as '{loaded_as}'" in record.getMessage() for record in caplog.records)


def test_a_missing_checkpoint_file_says_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="file not found"):
        S3PRLUpstream("hubert", path_or_url=str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="file not found"):
        AutoUpstream.from_pretrained(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="file not found"):
        AutoUpstream.from_pretrained("missing.ckpt")
    (tmp_path / "original.pt").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="is a file, not a converted folder: convert it"):
        AutoUpstream.from_pretrained(tmp_path / "original.pt")


@torch.no_grad()
def test_s3prl_padding_reproduces_s3prls_padded_frames(converted_fixture):
    """Under skip_padding (CPU default) the layers' padded frames are zeros; s3prl_padding=True gives S3PRL's values
    there, and the same valid frames."""
    from conftest import FIXTURES

    folder = FIXTURES / "hubert_base_like"
    case = load_cases(folder)["batch"]
    padded = torch.arange(case["hs"][0].shape[1])[None, :] >= case["hs_len"][0][:, None]
    assert padded.any()
    for s3prl_padding in (False, True):
        upstream = S3PRLUpstream("hubert_base", path_or_url=str(converted_fixture(folder)),
                                 s3prl_padding=s3prl_padding).eval()
        all_hs, _ = upstream(case["wavs"], case["wavs_len"])
        for index, (hs, expected) in enumerate(zip(all_hs, case["hs"])):
            valid = ~padded
            scale = expected.abs().max()
            assert (hs - expected)[valid].abs().max() <= 1e-4 * scale
            if s3prl_padding:
                assert (hs - expected)[padded].abs().max() <= 1e-4 * scale
            elif index > 0:
                assert hs[padded].abs().max() == 0


@pytest.mark.parametrize("name, message", [
    ("hf_hubert_custom", "transformers.AutoModel.from_pretrained"),
    ("hf_wav2vec2_custom", "transformers.AutoModel.from_pretrained"),
    ("mos_wav2vec2", "MOS predictor"),
    ("timit_posteriorgram_url", "downstream"),
])
def test_s3prls_entries_that_are_not_upstreams_are_refused_with_the_reason(name, message):
    with pytest.raises(ValueError, match=message):
        S3PRLUpstream(name, path_or_url="facebook/hubert-base-ls960")


def test_an_unknown_name_is_refused_even_with_a_folder(converted_fixture):
    from conftest import FIXTURES

    with pytest.raises(UnknownUpstreamError):
        S3PRLUpstream("no_such_upstream", path_or_url=str(converted_fixture(FIXTURES / "hubert_base_like")))

"""The forward contract of every implemented family, on tiny random models (no checkpoint needed)."""

import pytest
import torch
import torch.nn.functional as F
import transformers

import s3prl_hf
from s3prl_hf.models import families
from s3prl_hf.modeling_utils import UpstreamOutput

# One tiny model per variant each family declares (`Family.tiny_configs`): real strides, small widths.
TINY = [pytest.param((family, index), id=f"{name}-{index}" if len(family.tiny_configs) > 1 else name)
        for name, family in families().items() for index in range(len(family.tiny_configs))]


@pytest.fixture(params=TINY)
def model(request):
    family, index = request.param
    torch.manual_seed(0)
    return family.model_class(family.config_class(**family.tiny_configs[index])).eval()


def test_every_family_declares_a_tiny_config():
    assert families() and all(family.tiny_configs for family in families().values())


def _batch(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    wavs = torch.zeros(len(lengths), max(lengths))
    for i, length in enumerate(lengths):
        wavs[i, :length] = torch.randn(length, generator=generator) * 0.1
    return wavs, torch.tensor(lengths)


@torch.no_grad()
def test_output_shapes_lengths_and_unpacking(model):
    wavs, wavs_len = _batch([16000, 9999, 700])
    out = model(wavs, wavs_len)
    assert isinstance(out, UpstreamOutput)
    all_hs, all_hs_len = out
    assert len(all_hs) == len(all_hs_len) == model.num_layers == len(model.hidden_sizes)
    assert out.last_hidden_state is all_hs[-1]
    for hs, hs_len, dim, stride in zip(all_hs, all_hs_len, model.hidden_sizes, model.downsample_rates):
        expected_len = (wavs_len - 1) // stride + 1
        assert torch.equal(hs_len, expected_len) and hs_len.dtype == torch.long
        assert hs.shape == (3, int(expected_len.max()), dim)
        assert torch.isfinite(hs).all()


@torch.no_grad()
def test_list_input_equals_padded_tensor_and_3d_input(model):
    wavs, wavs_len = _batch([12000, 8000])
    reference = model(wavs, wavs_len)
    from_list = model([wavs[0, :12000], wavs[1, :8000]])
    from_3d = model(wavs[..., None], wavs_len)
    for a, b, c in zip(reference.hidden_states, from_list.hidden_states, from_3d.hidden_states):
        assert torch.equal(a, b) and torch.equal(a, c)


@torch.no_grad()
def test_padding_content_beyond_lengths_is_ignored(model):
    wavs, wavs_len = _batch([12000, 8000])
    noisy = wavs.clone()
    noisy[1, 8000:] = 5.0  # garbage in the padding region
    extra = torch.cat([wavs, torch.ones(2, 3000)], dim=1)  # more padding than needed
    reference = model(wavs, wavs_len).hidden_states
    for other in (model(noisy, wavs_len).hidden_states, model(extra, wavs_len).hidden_states):
        for a, b in zip(reference, other):
            assert torch.equal(a, b)


@torch.no_grad()
def test_layer_selection_matches_full_output(model):
    wavs, wavs_len = _batch([16000, 8000])
    full = model(wavs, wavs_len)
    second = min(1, model.num_layers - 1)  # single-layer upstreams (VGGish) select layer 0 again
    picked = model(wavs, wavs_len, layers=[0, -1, second])
    indices = [0, model.num_layers - 1, second]
    assert len(picked.hidden_states) == 3
    for got, index in zip(picked.hidden_states, indices):
        torch.testing.assert_close(got, full.hidden_states[index], rtol=0, atol=0)
    first_only = model(wavs, wavs_len, layers=[0])
    assert torch.equal(first_only.hidden_states[0], full.hidden_states[0])


@torch.no_grad()
def test_normalize_option_layer_norms_each_state(model):
    wavs, wavs_len = _batch([16000, 8000])
    plain = model(wavs, wavs_len).hidden_states
    normed = model(wavs, wavs_len, normalize=True).hidden_states
    for a, b in zip(plain, normed):
        torch.testing.assert_close(b, F.layer_norm(a, a.shape[-1:]))
    model.config.normalize = True
    try:
        assert torch.equal(model(wavs, wavs_len).hidden_states[0], normed[0])
    finally:
        model.config.normalize = False


@torch.no_grad()
def test_short_batch_is_padded_to_min_seconds(model):
    wavs, wavs_len = _batch([500, 320])
    out = model(wavs, wavs_len)
    stride = model.downsample_rates[0]
    assert out.hidden_states_lengths[0].tolist() == [-(-500 // stride), -(-320 // stride)]
    assert torch.isfinite(out.hidden_states[-1]).all()


@pytest.mark.parametrize("bad_input, message", [
    (lambda: (torch.randn(16000), None), "single utterance"),
    (lambda: (torch.randn(2, 3, 100), None), "expected \\(batch, samples\\)"),
    (lambda: ((torch.randn(2, 16000) * 1000).short(), None), "scale integer PCM"),
    (lambda: (torch.full((1, 1000), float("nan")), None), "NaN"),
    (lambda: (torch.zeros(0, 1000), None), "must not be empty"),
    (lambda: (torch.zeros(2, 1000), torch.tensor([1000, 1001])), "out of range"),
    (lambda: (torch.zeros(2, 1000), torch.tensor([1000, 0])), "out of range"),
    (lambda: (torch.zeros(2, 1000), torch.tensor([1000])), "one length per"),
    (lambda: (torch.zeros(2, 1000), torch.tensor([1000.0, 10.0])), "integer sample counts"),
    (lambda: ([], None), "empty list"),
    (lambda: ([torch.zeros(2, 2, 2)], None), "must be 1-D"),
    (lambda: ([torch.zeros(900), torch.zeros(800)], [900, 700]), "disagrees"),
])
def test_bad_input_raises_value_error_saying_what_is_expected(model, bad_input, message):
    wavs, wavs_len = bad_input()
    with pytest.raises(ValueError, match=message):
        model(wavs, wavs_len)


@pytest.mark.parametrize("layers", [[99], [-99], [], ["1"], [True]])
def test_bad_layer_selection(model, layers):
    with pytest.raises(ValueError, match="layers"):
        model(torch.zeros(1, 1000), layers=layers)


@torch.no_grad()
def test_save_and_reload_through_transformers_auto_model(model, tmp_path):
    s3prl_hf.register_with_transformers()
    model.save_pretrained(tmp_path)
    reloaded = transformers.AutoModel.from_pretrained(tmp_path)
    assert type(reloaded) is type(model) and not reloaded.training
    wavs, wavs_len = _batch([16000, 4000])
    for a, b in zip(model(wavs, wavs_len).hidden_states, reloaded(wavs, wavs_len).hidden_states):
        assert torch.equal(a, b)


def test_backward_reaches_every_parameter(model):
    if not any(True for _ in model.parameters()):
        pytest.skip("no parameters: a signal-processing baseline has nothing to train")
    model.train()
    wavs, wavs_len = _batch([4000, 800])
    all_hs, _ = model(wavs, wavs_len)
    sum(hs.sum() for hs in all_hs).backward()
    # pretraining heads a family keeps with the checkpoint's weights but no hidden state uses (APC's VQ / postnet)
    unused = tuple(f"{name}." for name in getattr(model, "_modules_outside_hidden_states", ()))
    missing = [n for n, p in model.named_parameters() if p.grad is None and not n.startswith(unused)]
    assert not missing, missing


@torch.no_grad()
def test_skip_padding_gives_the_padded_batch_numbers_on_valid_frames(model):
    if not hasattr(model.config, "skip_padding"):
        pytest.skip("this family always runs the padded batch")
    wavs, wavs_len = _batch([16000, 9999, 3000, 700])
    model.config.skip_padding = False
    try:
        padded = model(wavs, wavs_len)
    finally:
        model.config.skip_padding = True
    skipped = model(wavs, wavs_len)
    for a, b, lengths in zip(skipped.hidden_states, padded.hidden_states, padded.hidden_states_lengths):
        valid = torch.arange(b.shape[1])[None, :] < lengths[:, None]
        torch.testing.assert_close(a[valid], b[valid], rtol=1e-5, atol=1e-5)
        assert torch.isfinite(a).all()

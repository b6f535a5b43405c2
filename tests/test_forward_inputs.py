"""Forward inputs S3PRL would take silently wrong, batches S3PRL fails on, and S3PRL's NaN from finite input.

Every case is a clear `ValueError` or finite hidden states; S3PRL's exact NaN behaviour stays available as an option.
"""

import numpy as np
import pytest
import torch

import s3prl_hf  # noqa: F401
from tiny_models import FAMILY_CLASSES
from s3prl_hf.length_matching import refused_range, refused_ranges
from s3prl_hf.modeling_utils import MIN_SECONDS
from tiny_models import TINY_CONFIGS


def tiny(family, **overrides):
    config_class, model_class = FAMILY_CLASSES[family]
    torch.manual_seed(0)
    return model_class(config_class(**{**TINY_CONFIGS[family], **overrides})).eval()


@pytest.fixture(scope="module")
def hubert():
    return tiny("hubert")


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.1


# --- shapes and channels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda: noise(48000, 2), r"looks like \(samples, channels\) audio .* wav.mean\(dim=-1\)"),
    (lambda: noise(48000, 1), r"looks like \(samples, channels\) audio"),
    (lambda: noise(1, 48000, 2), r"multi-channel audio; mix the channels down first, e.g. wavs.mean\(dim=-1\)"),
    (lambda: [noise(48000, 2)], r"wavs\[0\] .* looks like \(samples, channels\) audio"),
])
@torch.no_grad()
def test_channel_layouts_are_refused_with_a_mix_down_hint(hubert, make, message):
    with pytest.raises(ValueError, match=message):
        hubert(make())


@torch.no_grad()
def test_a_mixed_down_stereo_clip_is_accepted(hubert):
    stereo = noise(4000, 2)
    out = hubert(stereo.mean(dim=-1)[None])
    assert out.hidden_states[0].shape[1] == -(-4000 // 320)


# --- dtypes and lengths of lists ----------------------------------------------------------------------------------


@torch.no_grad()
def test_every_list_item_is_checked_not_only_the_first(hubert):
    with pytest.raises(ValueError, match=r"wavs\[1\] has dtype torch.int16: expected float samples"):
        hubert([noise(4000), (noise(3000) * 30000).short()])


@torch.no_grad()
def test_list_items_of_several_float_dtypes_are_promoted(hubert):
    a, b = noise(4000), noise(3000, seed=1)
    mixed = hubert([a, b.double()])
    same = hubert([a.double(), b.double()])
    for x, y in zip(mixed.hidden_states, same.hidden_states):
        assert torch.equal(x, y)


@pytest.mark.parametrize("wavs_len", [[4000.0, 3000.0], torch.tensor([4000.0, 3000.0]), np.array([4000.0, 3000.0]),
                                      [True, True]])
@torch.no_grad()
def test_float_lengths_are_refused_with_lists_as_with_tensors(hubert, wavs_len):
    with pytest.raises(ValueError, match="integer sample counts"):
        hubert([noise(4000), noise(3000)], wavs_len)
    with pytest.raises(ValueError, match="integer sample counts"):
        hubert(noise(2, 4000), wavs_len)


@torch.no_grad()
def test_integer_lengths_of_any_kind_are_accepted(hubert):
    reference = hubert(noise(2, 4000), torch.tensor([4000, 3000])).hidden_states[0]
    for wavs_len in ([4000, 3000], np.array([4000, 3000]), torch.tensor([4000, 3000], dtype=torch.int32)):
        assert torch.equal(hubert(noise(2, 4000), wavs_len).hidden_states[0], reference)


@pytest.mark.parametrize("peak", [1e39, 1e6, 2.0**31])
@torch.no_grad()
def test_samples_beyond_the_audio_scale_are_refused(hubert, peak):
    wavs = noise(1, 4000).double()
    wavs[0, 100] = peak  # 1e39 passes torch.isfinite in float64 but is inf in float32
    with pytest.raises(ValueError, match=r"magnitude .*expected float audio in \[-1, 1\]"):
        hubert(wavs)


@torch.no_grad()
def test_unscaled_16_bit_pcm_values_still_work(hubert):
    out = hubert(noise(1, 4000).clamp(-1, 1) * 32767)
    assert all(torch.isfinite(hs).all() for hs in out.hidden_states)


@pytest.mark.parametrize("normalize", ["yes", 1, None])
@torch.no_grad()
def test_normalize_must_be_a_bool(hubert, normalize):
    if normalize is None:
        hubert(noise(1, 4000), normalize=normalize)
        return
    with pytest.raises(ValueError, match="normalize="):
        hubert(noise(1, 4000), normalize=normalize)


@torch.no_grad()
def test_numpy_and_tensor_layer_indices_are_accepted(hubert):
    full = hubert(noise(1, 4000))
    picked = hubert(noise(1, 4000), layers=[np.int64(0), torch.tensor(-1)])
    assert torch.equal(picked.hidden_states[0], full.hidden_states[0])
    assert torch.equal(picked.hidden_states[1], full.hidden_states[-1])


# --- batches S3PRL's length matching refuses -----------------------------------------------------------------------


@pytest.mark.parametrize("family, failing, minimum", [
    ("hubert", (961, 1000, 1039), 1040),
    ("wavlm", (961, 1039), 1040),
    ("apc-0", (801, 850, 879), 880),
    ("npc", (801, 879), 880),
    ("mockingjay-1", (801, 879), 880),
])
@torch.no_grad()
def test_too_short_longest_utterance_names_the_minimum(family, failing, minimum):
    model = tiny(family)
    for length in failing:
        with pytest.raises(ValueError, match=rf"pad the batch to at least {minimum} samples"):
            model(noise(2, length), torch.tensor([length, 500]))
    lower = min(failing) - 1
    for length in (lower, minimum):  # both neighbours of the refused run pass
        out = model(noise(2, length), torch.tensor([length, 500]))
        assert out.hidden_states[0].shape[1] == -(-model.padded_samples(length) // model.downsample_rates[0])


def test_the_minimum_comes_from_the_config_not_the_name():
    # a wav2vec 2.0 stack with cropping to a multiple of 2 refuses more lengths than HuBERT's
    cropped = tiny("wav2vec2")
    assert cropped.config.crop_seq_to_multiple == 2
    assert refused_range(cropped, 1000) == (961, 1359)
    plain = tiny("wav2vec2", crop_seq_to_multiple=1)
    assert refused_range(plain, 1000) == (961, 1039)
    assert refused_ranges(plain, 4000) == [(961, 1039)]


TINY_WITH_FRAMES = [family for family in sorted(FAMILY_CLASSES) if tiny(family).output_frames(1000) is not None]


@pytest.mark.parametrize("family", TINY_WITH_FRAMES)
@torch.no_grad()
def test_output_frames_is_what_the_network_gives(family):
    model = tiny(family)
    pad = int(MIN_SECONDS * model.sampling_rate)
    lengths = sorted({1, 300, 333, 334, 400, 559, 560, pad, pad + 1, 879, 880, 960, 961, 1039, 1040, 1357, 1358, 1359, 1360,
                      1601, 2345, 4000})
    for length in lengths:
        padded = model.padded_samples(length)
        wavs = torch.nn.functional.pad(noise(1, length), (0, padded - length))
        try:
            states = model._forward_hidden_states(wavs, torch.tensor([padded]), 1)
        except ValueError:
            continue  # the family refuses this length before its length matching (and says why)
        assert states[0].shape[1] == model.output_frames(length), length


# --- S3PRL's NaN from a one-frame CMVN ----------------------------------------------------------------------------


@pytest.mark.parametrize("family, short", [
    ("apc-0", 450), ("npc", 500), ("decoar", 559), ("decoar2", 400),
    ("mockingjay-1", 450),  # TERA fbank: kaldi fbank + CMVN
    ("mockingjay-0", 150), ("mockingjay-2", 200),  # log-mel + CMVN over round(len / (padded / frames)) = 1 frame
    ("spectral", 150),
])
@torch.no_grad()
def test_one_frame_cmvn_is_finite_by_default_and_nan_on_request(family, short):
    wavs, wavs_len = noise(2, 3000), torch.tensor([3000, short])
    exact = tiny(family, s3prl_nan_cmvn=True)(wavs, wavs_len)
    out = tiny(family)(wavs, wavs_len)
    short_frames = [int(lengths[1]) for lengths in exact.hidden_states_lengths]
    assert any(torch.isnan(hs[1, :n]).any() for hs, n in zip(exact.hidden_states, short_frames)), "S3PRL's NaN"
    for hs, hs_exact in zip(out.hidden_states, exact.hidden_states):
        assert torch.isfinite(hs).all()
        assert torch.equal(hs[0], hs_exact[0])  # the other utterance is S3PRL's either way


# --- S3PRL's NaN from a silent batch (found by tests/test_fuzz.py) ------------------------------------------------


@torch.no_grad()
def test_byol_s_silent_batch_is_finite_by_default_and_s3prl_on_request():
    silence = torch.zeros(2, 1600)
    exact = tiny("byol_s", s3prl_nan_silence=True)(silence)
    assert not torch.isfinite(exact.hidden_states[0]).all()  # S3PRL divides by the zero std
    out = tiny("byol_s")(silence)
    assert torch.isfinite(out.hidden_states[0]).all()
    noise_batch = noise(2, 1600)  # any other batch is S3PRL's numbers either way
    assert torch.equal(tiny("byol_s")(noise_batch).hidden_states[0],
                       tiny("byol_s", s3prl_nan_silence=True)(noise_batch).hidden_states[0])

"""The forward contract of every implemented family, on tiny random models (no checkpoint needed)."""

import pytest
import torch
import torch.nn.functional as F
import transformers

import s3prl_hf  # noqa: F401  (registers the families with transformers)
from s3prl_hf.auto import FAMILY_CLASSES
from s3prl_hf.modeling_utils import UpstreamOutput

# One tiny config per family: keep the real strides, shrink the widths.
TINY_CONFIGS = {
    "hubert": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                   conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    # wav2vec 2.0 pre-LN with cropping; a rotary conformer; data2vec's positional conv stack (kernel 16 // 4 = 4)
    "wav2vec2": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                     conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                     feat_extract_norm="layer", do_stable_layer_norm=True, crop_seq_to_multiple=2),
    "wav2vec2_conformer": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                               conv_dim=(16,) * 7, position_embeddings_type="rotary", conv_depthwise_kernel_size=5),
    "data2vec": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                     conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                     pos_conv_depth=4),
    "wavlm": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                  conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                  num_buckets=64, max_bucket_distance=100),
    "unispeech_sat": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    "distilhubert": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                         conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                         num_prediction_heads=3, prediction_head_size=24, prediction_head_intermediate_size=16),
    # a LightHuBERT subnet with per-layer heads (8 wide, not splitting the width) and FFN widths
    "lighthubert": dict(num_hidden_layers=2, hidden_size=20, num_attention_heads=2, intermediate_size=64,
                        attention_head_dim=8, layer_attention_heads=[2, 3], layer_intermediate_sizes=[64, 70],
                        conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    # One network for the three: each row covers one of its variants (log-mel; kaldi fbank with chunking;
    # a shared pre-LN layer).
    "mockingjay": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64),
    "tera": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, sequence_length=30,
                 audio_config={"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80}},
                               "cmvn": {"use_cmvn": True}}),
    "audio_albert": dict(num_hidden_layers=3, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                         share_layer=True, pre_layer_norm=True),
    # APC and VQ-APC share one model (4 GRU layers, two VQ groups); NPC with VQ; CPC's modes no fixture covers
    # (no normalisation, no autoregressive net); DeCoAR; DeCoAR 2.0 with 12 heads, as S3PRL fixes them.
    "apc": dict(hidden_size=16),
    "vq_apc": dict(hidden_size=16, num_layers_rnn=4,
                   vq={"codebook_size": [8, 4], "code_dim": [10, 6], "gumbel_temperature": 0.5}),
    "npc": dict(hidden_size=16, n_blocks=2, kernel_size=9, mask_size=3,
                vq={"codebook_size": [8, 8], "code_dim": [8, 8], "gumbel_temperature": 1.0}),
    "modified_cpc": dict(encoder_hidden_size=16, ar_hidden_size=12, norm_mode="ID", ar_mode="no_ar"),
    "decoar": dict(hidden_size=8, num_hidden_layers=2),
    "decoar2": dict(hidden_size=24, num_hidden_layers=2, intermediate_size=48, num_conv_pos_embeddings=16,
                    num_conv_pos_embedding_groups=4),
    # MAE-AST with one-frame x 32-bin patches (4 per time step) and the optional positional conv: S3PRL's real
    # 2- and 16-frame patches fail on the 0.05 s short batch, as S3PRL does (tests/test_mae_ast.py checks that).
    "mae_ast": dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                    kernel_size_time=1, stride_time=1, kernel_size_chan=32, stride_chan=32, conv_positions=True,
                    num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2),
    # BYOL-A with small conv blocks; BYOL-S's CvT (one network of three; tests/test_byol.py runs the others).
    "byol_a": dict(conv_channels=[4, 4, 4], hidden_size=16),
    "byol_s": dict(encoder_type="cvt", cvt_embed_dims=[4, 8, 8], cvt_heads=[1, 1, 1], cvt_depths=[1, 1, 1]),
    # VGGish with a shrunk frontend too: S3PRL's needs 0.975 s per utterance (one 96-frame example); here a 4-frame
    # example of 64-sample windows (112 samples) and a stride of one example hop, so the short cases run.
    "vggish": dict(features_config=[4, "M", 8, "M"], embedding_sizes=[16, 8], pca_size=8, stft_window_length=64,
                   stft_hop_length=16, num_mel_bins=16, example_window_frames=4, example_hop_frames=4,
                   downsample_rate=64),
    # AST with every block's states, on 1 s windows every 0.5 s (cls mode: tests/test_ast.py); the SSAST frame model.
    "ast": dict(hidden_size=24, num_hidden_layers=2, intermediate_size=48, position_embedding_grid=[12, 25],
                feature_selection="hidden_states", window_secs=1.0, stride_secs=0.5),
    "ssast": dict(hidden_size=24, num_hidden_layers=2, intermediate_size=48, patch_size=[128, 2],
                  frequency_stride=128, time_stride=1, position_embedding_grid=[1, 128]),
    # wav2vec 1.0 (log compression, skip connections); vq-wav2vec with k-means; Discrete BERT on a Gumbel frontend
    "wav2vec": dict(conv_dim=(16,) * 7, aggregator_dim=(16,) * 3, aggregator_kernel=(2, 3, 4), aggregator_stride=(1,) * 3),
    "vq_wav2vec": dict(conv_dim=(16,) * 8, conv_kernel=(10, 8, 4, 4, 4, 1, 1, 1), conv_stride=(5, 4, 2, 2, 2, 1, 1, 1),
                       aggregator_dim=(16,) * 2, aggregator_kernel=(2, 3), aggregator_stride=(1, 1), vq_type="kmeans",
                       vq_vars=8, combine_groups=True, activation="gelu"),
    "discretebert": dict(frontend_config=dict(conv_dim=(16,) * 7, vq_type="gumbel", vq_vars=4, vq_depth=2),
                         vocab_size=21, num_code_tokens=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_positions=40, max_position_embeddings=42),
    # PASE+'s released structure (SincNet, 8 blocks, QRNN, 7 hooked skips) with fewer channels
    "pase_plus": dict(fmaps=[4, 4, 8, 8, 8, 8, 8, 8], emb_dim=8, rnn_dim=8),
    # PaSST with two passes and the mel embedding, on windows short enough for the 0.05 s batch (S3PRL's 0.16 s
    # windows need 1281 samples: tests/test_passt.py): 40 ms and 80 ms windows every 40 ms (a 0.05 s batch is one
    # 50 ms stride long, two windows for one frame, which S3PRL fails) at mel hop 100, 16 x 8 patches.
    "passt": dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, num_labels=6,
                  patch_size=[16, 8], time_patches=4, mel_hop_length=100, window_secs=0.04, stride_secs=0.04,
                  window_scales=[1, 2], mel_window_samples=600),
    # MR-HuBERT with three frame rates, an empty decoder block and kernel-3 resamplers
    "multires_hubert": dict(hidden_size=32, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                            resolution_ratios=[[1, 2], [1, 2]], encoder_block_layers=[1, 1], middle_block_layers=1,
                            decoder_block_layers=[1, 0], resampler_kernel_size=3),
    # no weights to shrink: S3PRL's mel.yaml (the padded-batch path; the fixtures cover the others)
    "spectral": dict(feature_config={"win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80, "n_mfcc": 13,
                                     "input": {"feat_type": "mel", "channel": 0, "log": True, "delta": 0,
                                               "cmvn": True}}),
    # ESPnet HuBERT large: layer-norm extractor, pre-LN (its final LayerNorm is in no hidden state)
    "espnet_hubert": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                          feat_extract_norm="layer", do_stable_layer_norm=True),
}


@pytest.fixture(params=sorted(FAMILY_CLASSES))
def model(request):
    config_class, model_class = FAMILY_CLASSES[request.param]
    torch.manual_seed(0)
    return model_class(config_class(**TINY_CONFIGS[request.param])).eval()


def test_every_family_has_a_tiny_config():
    assert set(TINY_CONFIGS) == set(FAMILY_CLASSES)


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

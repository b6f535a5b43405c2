"""The per-utterance CNN front end (`feature_encoder.py`) against transformers' padded `HubertFeatureEncoder`."""

import pytest
import torch
from transformers.models.hubert.modeling_hubert import HubertFeatureEncoder

from s3prl_hf.models.hubert import S3prlHubertConfig
from s3prl_hf.models.wav2vec2.feature_encoder import (
    conv_output_length,
    encode_per_utterance,
    supports_per_utterance,
)


def _random_encoder(norm: str, conv_bias: bool) -> HubertFeatureEncoder:
    torch.manual_seed(0)
    encoder = HubertFeatureEncoder(S3prlHubertConfig(feat_extract_norm=norm, conv_bias=conv_bias,
                                                     conv_dim=(24,) * 7)).eval()
    # non-trivial norm affines and biases, so that folding the GroupNorm into the first conv is really tested
    for parameter in encoder.parameters():
        if parameter.dim() == 1:
            torch.nn.init.normal_(parameter, 0.1, 0.3)
    return encoder


@pytest.mark.parametrize("norm", ["group", "layer"])
@pytest.mark.parametrize("conv_bias", [False, True])
@torch.no_grad()
def test_per_utterance_frames_equal_the_padded_batch(norm, conv_bias):
    encoder = _random_encoder(norm, conv_bias)
    assert supports_per_utterance(encoder.conv_layers)
    lengths = torch.tensor([24000, 15617, 9001, 400, 1000])
    wavs = torch.zeros(len(lengths), int(lengths.max()))
    for row, length in zip(wavs, lengths.tolist()):
        row[:length] = torch.randn(length) * 0.3 + 0.05  # a DC offset makes the GroupNorm mean matter
    padded = encoder(wavs).transpose(1, 2)
    assert padded.shape[1] == conv_output_length(wavs.shape[1], encoder.conv_layers)
    # HuBERT's all-chunk rule counts frames that read padding, and the last utterances are shorter than a frame
    counts = torch.clamp((lengths + 319) // 320, max=padded.shape[1])
    features = encode_per_utterance(encoder.conv_layers, wavs, lengths, counts)
    assert features.shape == padded.shape
    # chunks that do not divide the frame counts give the same frames
    torch.testing.assert_close(encode_per_utterance(encoder.conv_layers, wavs, lengths, counts, chunk_frames=7),
                               features, rtol=1e-5, atol=1e-5)
    for index, count in enumerate(counts.tolist()):
        torch.testing.assert_close(features[index, :count], padded[index, :count], rtol=1e-5, atol=1e-5)
        assert not features[index, count:].any()


@torch.no_grad()
def test_group_norm_statistics_span_the_padded_length():
    """The same utterance gives other numbers in a longer batch, as in the padded encoder (S3PRL's behaviour)."""
    encoder = _random_encoder("group", conv_bias=True)
    wav = torch.randn(6000)
    counts = torch.tensor([18])
    alone = encode_per_utterance(encoder.conv_layers, wav[None], torch.tensor([6000]), counts)
    longer = torch.cat([wav, torch.zeros(6000)])[None]
    in_batch = encode_per_utterance(encoder.conv_layers, longer, torch.tensor([6000]), counts)
    torch.testing.assert_close(in_batch[0, :18], encoder(longer).transpose(1, 2)[0, :18], rtol=1e-5, atol=1e-5)
    # 100 times the tolerance above: the padded length really enters the statistics
    assert (in_batch[0, :18] - alone[0, :18]).abs().max() > 1e-4


def test_unknown_conv_stacks_fall_back_to_the_module():
    encoder = _random_encoder("group", conv_bias=False)
    encoder.conv_layers[0].layer_norm = torch.nn.GroupNorm(4, 24)  # several channels per group: cannot be folded
    assert not supports_per_utterance(encoder.conv_layers)

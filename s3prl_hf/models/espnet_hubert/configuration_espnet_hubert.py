"""Configuration of the ESPnet HuBERT family (torchaudio's HuBERT network, trained with ESPnet)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..wav2vec2.configuration_wav2vec2 import S3prlWav2Vec2Config


@strict
class S3prlEspnetHubertConfig(S3prlWav2Vec2Config):
    """Architecture of an ESPnet HuBERT upstream: torchaudio's wav2vec 2.0 / HuBERT network.

    The fields are those of `S3prlWav2Vec2Config` (transformers' HuBERT names); the converter fills them from the
    release's `config.yaml` (`encoder_conf` of ESPnet's `torchaudio_hubert` encoder). S3PRL returns the output of each
    transformer layer only (torchaudio's `extract_features`), so there are `num_hidden_layers` hidden states, and
    pre-LN models get no final LayerNorm.

    Example:
        >>> config = S3prlEspnetHubertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        ...                                  intermediate_size=64)
        >>> config.num_layers, config.downsample_rates[0]
        (2, 320)
    """

    model_type = "s3prl_espnet_hubert"

    @property
    def num_layers(self) -> int:
        return self.num_hidden_layers


# The released architectures. The base models are ESPnet's `torchaudio_hubert` encoder with its defaults (12 x 768,
# 12 heads, FFN 3072, group-norm extractor without conv bias, post-LN; positional conv 128 / 16 groups), as the
# LibriSpeech recipes conf/tuning/train_ssl_torchaudiohubert_base_960h_pretrain_it{0,1}.yaml leave them (they set
# only dropouts: projection 0.1, attention 0.1, feed-forward 0.0, output 0.1). The large models' config.yaml could not
# be read here (no Hub access); their rows assume torchaudio's HuBERT Large (`hubert_pretrain_large`: 24 x 1024,
# 16 heads, FFN 4096, layer-norm extractor without conv bias, pre-LN), which the recipe names
# (`..._torchaudiohubert_large_...`) and the papers' 317 M parameters point to. Used to describe the models in cards;
# a converted checkpoint always takes its architecture from its own config.yaml.
_BASE = dict(feat_proj_dropout=0.1)
_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
              feat_extract_norm="layer", do_stable_layer_norm=True, feat_proj_dropout=0.1)
REFERENCE_CONFIGS: dict[str, dict] = {
    "espnet_hubert_base_iter0": dict(_BASE),
    "espnet_hubert_base_iter1": dict(_BASE),
    "cvhubert": dict(_BASE),
    "espnet_hubert_large_gs_ll60k": dict(_LARGE),
    "wavlablm_ek_40k": dict(_LARGE),
    "wavlablm_mk_40k": dict(_LARGE),
    "wavlablm_ms_40k": dict(_LARGE),
}

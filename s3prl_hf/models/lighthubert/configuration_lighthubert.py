"""Configuration of the LightHuBERT family (lighthubert_base, lighthubert_small, lighthubert_stage1)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from ..hubert.configuration_hubert import S3prlHubertConfig


@strict
class S3prlLightHubertConfig(S3prlHubertConfig):
    """Architecture of a LightHuBERT subnet: HuBERT's network with LightHuBERT's per-layer attention and FFN sizes.

    A converted LightHuBERT is the fixed-size subnet S3PRL runs, sliced out of the supernet checkpoint: `hidden_size`
    is the subnet's embedding width and `num_hidden_layers` its depth. The released subnets are uniform (every layer
    has `num_attention_heads` heads of `hidden_size // num_attention_heads` and an FFN of `intermediate_size`);
    other subnets of the search space give each layer its own heads and FFN width, and their heads keep the
    supernet's width, so `heads x head width` need not equal `hidden_size`. See `S3prlWav2Vec2Config` for the
    shared arguments (defaults here are LightHuBERT's: layer-norm CNN, waveforms standardised, as S3PRL always does).

    Args:
        attention_head_dim: Width of every attention head (the supernet's `encoder_embed_dim //
            encoder_attention_heads`); `hidden_size // num_attention_heads` when None.
        layer_attention_heads: Heads of each layer, when they differ from `num_attention_heads`.
        layer_intermediate_sizes: FFN width of each layer, when they differ from `intermediate_size`.
        subnet: The subnet the supernet was sliced to, as S3PRL's `set_sample_config` takes it (descriptive; the
            fields above are what the model uses).

    Example:
        >>> config = S3prlLightHubertConfig(num_hidden_layers=2, hidden_size=20, num_attention_heads=2,
        ...                                 intermediate_size=64, attention_head_dim=8,
        ...                                 layer_attention_heads=[2, 3], layer_intermediate_sizes=[64, 80])
        >>> config.num_layers, config.attention_heads(1), config.attention_width(1), config.intermediate_size_of(1)
        (3, 3, 24, 80)
    """

    model_type = "s3prl_lighthubert"

    feat_extract_norm: str = "layer"
    normalize_waveform: bool = True
    attention_head_dim: int | None = None
    layer_attention_heads: list[int] | tuple[int, ...] | None = None
    layer_intermediate_sizes: list[int] | tuple[int, ...] | None = None
    subnet: dict | None = None

    def validate_attention_heads(self):
        """Per-layer lists cover every layer; heads of a given width may span other than `hidden_size` features."""
        for field in ("layer_attention_heads", "layer_intermediate_sizes"):
            values = getattr(self, field)
            if values is not None and (len(values) != self.num_hidden_layers or min(values) < 1):
                raise ValueError(f"{field} must give a positive value for each of the {self.num_hidden_layers} "
                                 f"layers, got {list(values)}")
        if self.attention_head_dim is None:
            if self.layer_attention_heads is not None:
                raise ValueError("layer_attention_heads needs attention_head_dim, the width of every head")
            return super().validate_attention_heads()
        if self.attention_head_dim < 1:
            raise ValueError(f"attention_head_dim must be positive, got {self.attention_head_dim}")

    @property
    def head_dim(self) -> int:
        """Width of every attention head."""
        if self.attention_head_dim is not None:
            return self.attention_head_dim
        return self.hidden_size // self.num_attention_heads

    def attention_heads(self, index: int) -> int:
        """Heads of layer `index`."""
        if self.layer_attention_heads is not None:
            return self.layer_attention_heads[index]
        return self.num_attention_heads

    def attention_width(self, index: int) -> int:
        """Features the heads of layer `index` span (LightHuBERT's `atten_dim`)."""
        return self.attention_heads(index) * self.head_dim

    def intermediate_size_of(self, index: int) -> int:
        """FFN width of layer `index`."""
        if self.layer_intermediate_sizes is not None:
            return self.layer_intermediate_sizes[index]
        return self.intermediate_size


# The released subnets, from S3PRL's LightHuBERTSupernetConfig (the authors' config/supernet/Supernet-{Base,Small}
# .yaml): base 640 wide with 10 heads and FFN 2560, small 384 / 6 / 1536; stage 1 (a student_hubert checkpoint) runs
# the base search space's largest subnet, the whole 768-wide supernet. All have 12 layers and 64-wide heads. The CNN
# and layer placement are LightHuBERTConfig's defaults (layer-norm extractor, post-LN); the released files' cfg was not
# read (a converted checkpoint always takes its architecture from its own cfg and subnet).
REFERENCE_CONFIGS: dict[str, dict] = {
    "lighthubert_base": dict(hidden_size=640, num_attention_heads=10, intermediate_size=2560),
    "lighthubert_small": dict(hidden_size=384, num_attention_heads=6, intermediate_size=1536),
    "lighthubert_stage1": dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}

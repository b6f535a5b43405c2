"""LightHuBERT's once-for-all search spaces and the subnet S3PRL runs for a checkpoint.

A LightHuBERT checkpoint holds a whole supernet (12 layers, 768 wide for the releases); the network that runs is one
of its subnets, chosen by S3PRL 0.4.18's `upstream/lighthubert/expert.py` from the checkpoint's `cfg["model"]`:

- `_name == "hubert_pruner"`: the fixed `subnet` of the supernet type its `pruner_supernet` path names (lower-cased,
  ending in `small.yaml` or `base.yaml`; otherwise the cfg's `supernet_type`, default `base`);
- `_name == "student_hubert"` (LightHuBERT's stage 1): the largest subnet of the cfg's `supernet_type` search space.

The tables are S3PRL's `LightHuBERTSupernetConfig` (`upstream/lighthubert/lighthubert/lighthubert.py`, equal to the
authors' `config/supernet/Supernet-{Base,Small}.yaml`). A subnet is written as S3PRL's `set_sample_config` takes it:
`{"atten_dim": [...], "embed_dim": int, "ffn_embed": [...], "heads_num": [...], "layer_num": int, "slide_wsz":
[...]}`, one list entry per kept layer.
"""

from __future__ import annotations

from ...conversion import CheckpointFormatError

# S3PRL's LightHuBERTSupernetConfig.search_space and .subnet. Heads are 64 wide (atten_dim = 64 * heads_num).
HEAD_DIM = 64
SEARCH_SPACES: dict[str, dict] = {
    "base": {
        "atten_dim": [512, 640, 768], "embed_dim": [512, 640, 768], "ffn_ratio": [3.5, 4.0],
        "heads_num": [8, 10, 12], "layer_num": [12],
    },
    "small": {
        "atten_dim": [256, 384, 512], "embed_dim": [256, 384, 512], "ffn_ratio": [3.0, 3.5, 4.0],
        "heads_num": [4, 6, 8], "layer_num": [10, 11, 12],
    },
}
FIXED_SUBNETS: dict[str, dict] = {
    "base": {"atten_dim": [640] * 12, "embed_dim": 640, "ffn_embed": [2560] * 12, "heads_num": [10] * 12,
             "layer_num": 12, "slide_wsz": ["global"] * 12},
    "small": {"atten_dim": [384] * 12, "embed_dim": 384, "ffn_embed": [1536] * 12, "heads_num": [6] * 12,
              "layer_num": 12, "slide_wsz": ["global"] * 12},
}

# S3PRL's STransformerEncoder.depth_maps: which of the 12 supernet layers a subnet of `layer_num` layers runs
# (1 = kept; layer blocks 1-4, 5-8, 9-12 lose their last layers first).
DEPTH_MAPS: dict[int, tuple[int, ...]] = {
    6: (1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0),
    7: (1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0),
    8: (1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0),
    9: (1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0),
    10: (1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0),
    11: (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0),
    12: (1,) * 12,
}
SUPERNET_LAYERS = 12  # S3PRL's STransformerEncoder asserts it
SUBNET_FIELDS = ("atten_dim", "embed_dim", "ffn_embed", "heads_num", "layer_num", "slide_wsz")
CHECKPOINT_KINDS = ("hubert_pruner", "student_hubert")


def kept_layers(layer_num: int) -> list[int]:
    """The supernet layers a subnet of `layer_num` layers runs, in order.

    Example:
        >>> kept_layers(10)
        [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]
    """
    if layer_num not in DEPTH_MAPS:
        raise CheckpointFormatError(f"a subnet of {layer_num} layers: S3PRL's LightHuBERT runs 6 to 12 of its 12")
    return [index for index, kept in enumerate(DEPTH_MAPS[layer_num]) if kept]


def extreme_subnet(space: dict, pick=max) -> dict:
    """S3PRL's `max_subnet` (`pick=max`) or `min_subnet` (`pick=min`) of a search space."""
    layer_num, embed_dim = pick(space["layer_num"]), pick(space["embed_dim"])
    heads = pick(space["heads_num"])
    return {"atten_dim": [heads * HEAD_DIM] * layer_num, "embed_dim": embed_dim,
            "ffn_embed": [int(pick(space["ffn_ratio"]) * embed_dim)] * layer_num, "heads_num": [heads] * layer_num,
            "layer_num": layer_num, "slide_wsz": ["global"] * layer_num}


def supernet_type(model_cfg: dict) -> str:
    """The supernet type S3PRL's expert sets for a checkpoint's `cfg["model"]` ("base" or "small")."""
    kind = model_cfg.get("_name")
    if kind not in CHECKPOINT_KINDS:
        raise CheckpointFormatError(f"cfg.model._name={kind!r}: S3PRL's LightHuBERT loads {' and '.join(CHECKPOINT_KINDS)}"
                                    f" checkpoints only")
    chosen = model_cfg.get("supernet_type", "base")
    if kind == "hubert_pruner":
        path = model_cfg.get("pruner_supernet")
        if not isinstance(path, str):
            raise CheckpointFormatError(f"a hubert_pruner checkpoint needs cfg.model.pruner_supernet (the supernet yaml "
                                        f"path), got {path!r}")
        if path.lower().endswith("small.yaml"):
            chosen = "small"
        elif path.lower().endswith("base.yaml"):
            chosen = "base"
    if not isinstance(chosen, str) or chosen.lower() not in SEARCH_SPACES:
        raise CheckpointFormatError(f"supernet_type={chosen!r}: S3PRL knows {' and '.join(SEARCH_SPACES)}")
    return chosen.lower()


def s3prl_subnet(model_cfg: dict) -> dict:
    """The subnet S3PRL 0.4.18 runs for a checkpoint's `cfg["model"]` (see the module docstring).

    Example:
        >>> s3prl_subnet({"_name": "hubert_pruner", "pruner_supernet": "Supernet-Small.yaml"})["embed_dim"]
        384
        >>> s3prl_subnet({"_name": "student_hubert"})["heads_num"][0]
        12
    """
    kind = supernet_type(model_cfg)
    if model_cfg["_name"] == "student_hubert":
        return extreme_subnet(SEARCH_SPACES[kind], max)
    return {field: list(value) if isinstance(value, list) else value for field, value in FIXED_SUBNETS[kind].items()}

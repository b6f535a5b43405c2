"""Convert torchvggish's VGGish release (what S3PRL's `vggish` hub entry loads) into `S3prlVggishModel`.

The release is two files (github.com/harritaylor/torchvggish/releases/download/v0.1/):

* `vggish-10086976.pth`: the network's state dict, `features.{i}.{weight,bias}` (convs of `make_layers`) and
  `embeddings.{0,2,4}.{weight,bias}`;
* `vggish_pca_params-970ea276.pth`: `{"pca_eigen_vectors": (128, 128), "pca_means": (128,)}`, tensors or numpy
  arrays (S3PRL converts them with `torch.as_tensor(..., dtype=torch.float)`).

S3PRL's hub builds `{"vggish": <network state dict>, "pca": <PCA dict>}` from them and hands it to the expert. The
converter takes that combined dict (one file, `torch.save({"vggish": ..., "pca": ...}, path)`), or the network
dict with the PCA dict passed as `pca=`. The layer sizes are read from the weights: the conv widths, the max-pools
(from the gaps in the `features` indices, and the trailing pools from the first linear layer's input size), the
linear sizes and the PCA size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from huggingface_hub.errors import StrictDataclassError

from ...conversion import CheckpointFormatError, build_model
from .configuration_vggish import S3prlVggishConfig
from .modeling_vggish import S3prlVggishModel

CONV_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")
LINEAR_KEY = re.compile(r"^embeddings\.(\d+)\.(weight|bias)$")
PCA_KEYS = ("pca_eigen_vectors", "pca_means")


def _as_tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return torch.as_tensor(value)
    except ImportError:  # pragma: no cover - numpy is a dependency of torch users
        pass
    raise CheckpointFormatError(f"{what} is a {type(value).__name__}, expected a tensor or numpy array")


def split_checkpoint(state: Mapping, pca: Mapping | None = None) -> tuple[dict, dict]:
    """(network state dict, PCA dict) from S3PRL's combined `{"vggish", "pca"}` dict or a network dict + `pca`."""
    if set(state) == {"vggish", "pca"}:
        if pca is not None:
            raise CheckpointFormatError("the checkpoint already holds the PCA parameters ('pca'); do not pass pca=")
        network, pca = state["vggish"], state["pca"]
    elif set(state) == set(PCA_KEYS):
        raise CheckpointFormatError(
            "this is VGGish's PCA file (pca_eigen_vectors, pca_means) alone; convert the network file with this one "
            "as its second file: s3prl-hf convert --name vggish --checkpoint NETWORK --frontend-checkpoint PCA")
    else:
        network = state
        if pca is None:
            raise CheckpointFormatError(
                "VGGish needs its PCA parameters too (the release's second file, vggish_pca_params-970ea276.pth): "
                "s3prl-hf convert --name vggish --checkpoint NETWORK --frontend-checkpoint PCA, or put the PCA file "
                "beside the network file")
    if not isinstance(network, Mapping) or not isinstance(pca, Mapping):
        raise CheckpointFormatError("expected the VGGish network state dict and the PCA dict to be dicts")
    if set(pca) != set(PCA_KEYS):
        raise CheckpointFormatError(f"the PCA parameters must be exactly {list(PCA_KEYS)}, got {sorted(pca)}")
    network = {key: _as_tensor(value, key) for key, value in network.items()}
    pca = {key: _as_tensor(pca[key], key) for key in PCA_KEYS}
    unknown = [key for key in network if not (CONV_KEY.match(key) or LINEAR_KEY.match(key))]
    if unknown:
        raise CheckpointFormatError(f"{len(unknown)} weights of the checkpoint are not VGGish's features.* / "
                                    f"embeddings.*: {', '.join(sorted(unknown)[:10])}")
    return network, pca


def _indices(network: Mapping[str, torch.Tensor], pattern: re.Pattern, what: str) -> list[int]:
    indices = sorted({int(m.group(1)) for key in network if (m := pattern.match(key))})
    if not indices:
        raise CheckpointFormatError(f"no {what} weights in the checkpoint")
    for index in indices:
        for kind in ("weight", "bias"):
            if f"{what}.{index}.{kind}" not in network:
                raise CheckpointFormatError(f"missing from the checkpoint: {what}.{index}.{kind}")
    return indices


def config_from_weights(network: Mapping[str, torch.Tensor], pca: Mapping[str, torch.Tensor]) -> S3prlVggishConfig:
    """The architecture the weights describe, with S3PRL's frontend."""
    convs = _indices(network, CONV_KEY, "features")
    features, expected_index, in_channels = [], 0, 1
    for index in convs:
        gap = index - expected_index
        if gap < 0:
            raise CheckpointFormatError(f"features.{index}: unexpected layer index")
        # between two convs (conv, ReLU at i, i + 1) every extra index is a max-pool
        features += ["M"] * gap
        weight = network[f"features.{index}.weight"]
        if weight.dim() != 4 or tuple(weight.shape[1:]) != (in_channels, 3, 3):
            raise CheckpointFormatError(f"features.{index}.weight has shape {tuple(weight.shape)}, expected a 3x3 "
                                        f"conv from {in_channels} channels")
        features.append(int(weight.shape[0]))
        in_channels = int(weight.shape[0])
        expected_index = index + 2
    linears = _indices(network, LINEAR_KEY, "embeddings")
    if linears != list(range(0, 2 * len(linears), 2)):
        raise CheckpointFormatError(f"embeddings layers at {linears}: expected linear layers at 0, 2, 4, ...")
    sizes = []
    for index in linears:
        weight = network[f"embeddings.{index}.weight"]
        if weight.dim() != 2 or (sizes and weight.shape[1] != sizes[-1]):
            raise CheckpointFormatError(f"embeddings.{index}.weight has shape {tuple(weight.shape)}")
        sizes.append(int(weight.shape[0]))
    eigen, means = pca["pca_eigen_vectors"], pca["pca_means"]
    if eigen.dim() != 2 or eigen.shape[1] != sizes[-1] or means.numel() != sizes[-1]:
        raise CheckpointFormatError(f"PCA parameters of shapes {tuple(eigen.shape)} / {tuple(means.shape)} do not fit "
                                    f"embeddings of size {sizes[-1]}")
    flattened = int(network["embeddings.0.weight"].shape[1])
    # the pools after the last conv show only in the first linear layer's input size
    for trailing in range(8):
        try:
            config = S3prlVggishConfig(features_config=features + ["M"] * trailing, embedding_sizes=sizes,
                                       pca_size=int(eigen.shape[0]))
        except (ValueError, StrictDataclassError):
            break
        if config.flattened_size == flattened:
            return config
    raise CheckpointFormatError(
        f"embeddings.0.weight takes {flattened} inputs; no number of max-pools after the last conv of "
        f"{features} gives that from S3PRL's {S3prlVggishConfig().example_window_frames} x "
        f"{S3prlVggishConfig().num_mel_bins} examples")


def load_pca_file(path) -> dict:
    """Read the release's PCA file, whose arrays may be pickled numpy arrays (S3PRL converts them with
    `torch.as_tensor`): `torch.load(weights_only=True)` with numpy's array reconstruction allowed, nothing else.

    Example:
        >>> pca = load_pca_file("vggish_pca_params-970ea276.pth")  # doctest: +SKIP
    """
    import numpy as np

    from ...conversion import load_original_checkpoint

    try:
        return load_original_checkpoint(path)
    except CheckpointFormatError:
        pass
    reconstruct = np._core.multiarray._reconstruct
    allowed = [np.ndarray, np.dtype, reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"),
               np.dtypes.Float32DType, np.dtypes.Float64DType]
    try:
        with torch.serialization.safe_globals(allowed):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure means: not the PCA file
        raise CheckpointFormatError(f"{path} is not VGGish's PCA file: {error}") from error
    if not isinstance(state, Mapping):
        raise CheckpointFormatError(f"{path} holds a {type(state).__name__}, expected the PCA dict")
    return dict(state)


def load_release(network_path, pca_path) -> dict:
    """S3PRL's combined `{"vggish": ..., "pca": ...}` from the release's two files (what its hub builds).

    Example:
        >>> state = load_release("vggish-10086976.pth", "vggish_pca_params-970ea276.pth")  # doctest: +SKIP
        >>> torch.save(state, "vggish.pt")  # one file for `s3prl-hf convert --name vggish`  # doctest: +SKIP
    """
    from ...conversion import load_original_checkpoint

    pca = load_pca_file(pca_path)
    network, pca = split_checkpoint(load_original_checkpoint(network_path), pca)
    return {"vggish": network, "pca": pca}


def convert_vggish(state: Mapping, pca: Mapping | None = None) -> S3prlVggishModel:
    """Build an `S3prlVggishModel` from torchvggish's VGGish weights and PCA parameters.

    Args:
        state: S3PRL's combined `{"vggish": state_dict, "pca": {...}}`, or the network state dict alone (then
            `pca` is required), as returned by `s3prl_hf.conversion.load_original_checkpoint`.
        pca: The PCA file's dict (`pca_eigen_vectors`, `pca_means`), when `state` is the network alone.

    Example:
        >>> from s3prl_hf.conversion import load_original_checkpoint
        >>> model = convert_vggish(load_original_checkpoint("vggish-10086976.pth"),
        ...                        pca=load_original_checkpoint("vggish_pca_params-970ea276.pth"))  # doctest: +SKIP
    """
    network, pca = split_checkpoint(state, pca)
    config = config_from_weights(network, pca)
    weights = dict(network)
    weights["pproc.pca_eigen_vectors"] = pca["pca_eigen_vectors"].to(torch.float)
    weights["pproc.pca_means"] = pca["pca_means"].reshape(-1, 1).to(torch.float)
    return build_model(S3prlVggishModel, config, weights)


def convert_release(release) -> S3prlVggishModel:
    """The family's converter: the network file and its PCA file, or one file holding both ({"vggish", "pca"})."""
    state = release.load()
    if release.second is not None and set(state) != {"vggish", "pca"}:
        return convert_vggish(state, pca=load_pca_file(release.second))
    return convert_vggish(state)

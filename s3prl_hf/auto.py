"""`AutoUpstream`: from an S3PRL name, alias, Hub repo id or local folder to a loaded upstream.

Importing this module registers every implemented family with transformers' `AutoConfig` / `AutoModel`
under a namespaced `model_type` (`s3prl_hubert`, ...), so `transformers.AutoModel.from_pretrained(folder)`
also works after `import s3prl_hf`, without `trust_remote_code`.
"""

from __future__ import annotations

import os

from transformers import AutoConfig, AutoModel

from . import registry
from .modeling_utils import UpstreamConfig, UpstreamPreTrainedModel
from .weights.resolve import SOURCES, Location, UpstreamNotAvailableError, locate_upstream
from .models import (apc, ast, byol_a, byol_s, data2vec, decoar, decoar2, discretebert, distilhubert, espnet_hubert,
                     hubert, lighthubert, mae_ast, mockingjay, modified_cpc, multires_hubert, npc, pase_plus, passt,
                     spectral, ssast, unispeech_sat, vggish, vq_wav2vec, wav2vec, wav2vec2, wav2vec2_conformer,
                     wavlm)
from .models.apc import S3prlApcConfig, S3prlApcModel
from .models.ast import S3prlAstConfig, S3prlAstModel
from .models.byol_a import S3prlByolAConfig, S3prlByolAModel
from .models.byol_s import S3prlByolSConfig, S3prlByolSModel
from .models.data2vec import S3prlData2VecConfig, S3prlData2VecModel
from .models.decoar import S3prlDecoarConfig, S3prlDecoarModel
from .models.decoar2 import S3prlDecoar2Config, S3prlDecoar2Model
from .models.discretebert import S3prlDiscreteBertConfig, S3prlDiscreteBertModel
from .models.distilhubert import S3prlDistilHubertConfig, S3prlDistilHubertModel
from .models.espnet_hubert import S3prlEspnetHubertConfig, S3prlEspnetHubertModel
from .models.hubert import S3prlHubertConfig, S3prlHubertModel
from .models.lighthubert import S3prlLightHubertConfig, S3prlLightHubertModel
from .models.mae_ast import S3prlMaeAstConfig, S3prlMaeAstModel
from .models.mockingjay import S3prlMockingjayConfig, S3prlMockingjayModel
from .models.modified_cpc import S3prlModifiedCpcConfig, S3prlModifiedCpcModel
from .models.multires_hubert import S3prlMultiresHubertConfig, S3prlMultiresHubertModel
from .models.npc import S3prlNpcConfig, S3prlNpcModel
from .models.pase_plus import S3prlPasePlusConfig, S3prlPasePlusModel
from .models.passt import S3prlPasstConfig, S3prlPasstModel
from .models.spectral import S3prlSpectralConfig, S3prlSpectralModel
from .models.ssast import S3prlSsastConfig, S3prlSsastModel
from .models.unispeech_sat import S3prlUniSpeechSatConfig, S3prlUniSpeechSatModel
from .models.vggish import S3prlVggishConfig, S3prlVggishModel
from .models.wav2vec import S3prlWav2VecConfig, S3prlWav2VecModel
from .models.wav2vec2 import S3prlWav2Vec2Config, S3prlWav2Vec2Model
from .models.wav2vec2_conformer import S3prlWav2Vec2ConformerConfig, S3prlWav2Vec2ConformerModel
from .models.wavlm import S3prlWavLMConfig, S3prlWavLMModel

# family (registry) -> (config class, model class). Adding a family = one row here.
FAMILY_CLASSES: dict[str, tuple[type[UpstreamConfig], type[UpstreamPreTrainedModel]]] = {
    "hubert": (S3prlHubertConfig, S3prlHubertModel),
    "wav2vec2": (S3prlWav2Vec2Config, S3prlWav2Vec2Model),
    "wav2vec2_conformer": (S3prlWav2Vec2ConformerConfig, S3prlWav2Vec2ConformerModel),
    "data2vec": (S3prlData2VecConfig, S3prlData2VecModel),
    "wavlm": (S3prlWavLMConfig, S3prlWavLMModel),
    "unispeech_sat": (S3prlUniSpeechSatConfig, S3prlUniSpeechSatModel),
    "distilhubert": (S3prlDistilHubertConfig, S3prlDistilHubertModel),
    "lighthubert": (S3prlLightHubertConfig, S3prlLightHubertModel),
    # S3PRL runs all three with the mockingjay expert: one network, one model type.
    "mockingjay": (S3prlMockingjayConfig, S3prlMockingjayModel),
    "tera": (S3prlMockingjayConfig, S3prlMockingjayModel),
    "audio_albert": (S3prlMockingjayConfig, S3prlMockingjayModel),
    # S3PRL runs VQ-APC with the apc expert: one network (the VQ layers are optional), one model type.
    "apc": (S3prlApcConfig, S3prlApcModel),
    "vq_apc": (S3prlApcConfig, S3prlApcModel),
    "npc": (S3prlNpcConfig, S3prlNpcModel),
    "modified_cpc": (S3prlModifiedCpcConfig, S3prlModifiedCpcModel),
    "decoar": (S3prlDecoarConfig, S3prlDecoarModel),
    "decoar2": (S3prlDecoar2Config, S3prlDecoar2Model),
    "mae_ast": (S3prlMaeAstConfig, S3prlMaeAstModel),
    "vggish": (S3prlVggishConfig, S3prlVggishModel),
    "byol_a": (S3prlByolAConfig, S3prlByolAModel),
    "byol_s": (S3prlByolSConfig, S3prlByolSModel),
    "ast": (S3prlAstConfig, S3prlAstModel),
    "ssast": (S3prlSsastConfig, S3prlSsastModel),
    # S3PRL's vq_wav2vec expert is the wav2vec one: one network (the quantiser is optional), one model type.
    "wav2vec": (S3prlWav2VecConfig, S3prlWav2VecModel),
    "vq_wav2vec": (S3prlWav2VecConfig, S3prlWav2VecModel),
    "discretebert": (S3prlDiscreteBertConfig, S3prlDiscreteBertModel),
    "pase_plus": (S3prlPasePlusConfig, S3prlPasePlusModel),
    "passt": (S3prlPasstConfig, S3prlPasstModel),
    "multires_hubert": (S3prlMultiresHubertConfig, S3prlMultiresHubertModel),
    "spectral": (S3prlSpectralConfig, S3prlSpectralModel),
    "espnet_hubert": (S3prlEspnetHubertConfig, S3prlEspnetHubertModel),
}
MODEL_CLASSES = {config.model_type: model for config, model in FAMILY_CLASSES.values()}
# family -> {canonical name: config overrides of the released architecture}
FAMILY_REFERENCE_CONFIGS: dict[str, dict[str, dict]] = {
    "hubert": hubert.REFERENCE_CONFIGS,
    "wav2vec2": wav2vec2.REFERENCE_CONFIGS,
    "wav2vec2_conformer": wav2vec2_conformer.REFERENCE_CONFIGS,
    "data2vec": data2vec.REFERENCE_CONFIGS,
    "wavlm": wavlm.REFERENCE_CONFIGS,
    "unispeech_sat": unispeech_sat.REFERENCE_CONFIGS,
    "distilhubert": distilhubert.REFERENCE_CONFIGS,
    "lighthubert": lighthubert.REFERENCE_CONFIGS,
    "mockingjay": mockingjay.REFERENCE_CONFIGS,
    "tera": mockingjay.REFERENCE_CONFIGS,
    "audio_albert": mockingjay.REFERENCE_CONFIGS,
    "apc": apc.REFERENCE_CONFIGS,
    "vq_apc": apc.REFERENCE_CONFIGS,
    "npc": npc.REFERENCE_CONFIGS,
    "modified_cpc": modified_cpc.REFERENCE_CONFIGS,
    "decoar": decoar.REFERENCE_CONFIGS,
    "decoar2": decoar2.REFERENCE_CONFIGS,
    "mae_ast": mae_ast.REFERENCE_CONFIGS,
    "vggish": vggish.REFERENCE_CONFIGS,
    "byol_a": byol_a.REFERENCE_CONFIGS,
    "byol_s": byol_s.REFERENCE_CONFIGS,
    "ast": ast.REFERENCE_CONFIGS,
    "ssast": ssast.REFERENCE_CONFIGS,
    "wav2vec": wav2vec.REFERENCE_CONFIGS,
    "vq_wav2vec": vq_wav2vec.REFERENCE_CONFIGS,
    "discretebert": discretebert.REFERENCE_CONFIGS,
    "pase_plus": pase_plus.REFERENCE_CONFIGS,
    "passt": passt.REFERENCE_CONFIGS,
    "multires_hubert": multires_hubert.REFERENCE_CONFIGS,
    "spectral": spectral.REFERENCE_CONFIGS,
    "espnet_hubert": espnet_hubert.REFERENCE_CONFIGS,
}

for _config_class, _model_class in FAMILY_CLASSES.values():
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModel.register(_config_class, _model_class, exist_ok=True)

# Keyword arguments that go to `PreTrainedModel.from_pretrained` rather than to the config.
_LOADING_KWARGS = ("dtype", "device_map", "attn_implementation", "low_cpu_mem_usage", "max_memory",
                   "offload_folder")


def is_implemented(family: str) -> bool:
    """Whether upstreams of `family` can be loaded and converted."""
    return family in FAMILY_CLASSES


def check_implemented(spec: registry.UpstreamSpec) -> None:
    """Raise `NotImplementedError` naming the family when `spec`'s family has no model code yet."""
    if not is_implemented(spec.family):
        available = ", ".join(sorted(FAMILY_CLASSES))
        raise NotImplementedError(f"'{spec.name}' belongs to the '{spec.family}' family, which s3prl_hf does not "
                                  f"implement yet (available families: {available})")


class AutoUpstream:
    """Load any S3PRL upstream as a transformers model returning all of S3PRL's hidden states.

    Example:
        >>> from s3prl_hf import AutoUpstream
        >>> model = AutoUpstream.from_pretrained("hubert")  # doctest: +SKIP
        >>> all_hs, all_hs_len = model(wavs, wavs_len)  # doctest: +SKIP
        >>> model.num_layers, model.hidden_sizes[0], model.downsample_rates[0]  # doctest: +SKIP
        (13, 768, 320)
    """

    def __init__(self):
        raise TypeError("use AutoUpstream.from_pretrained(name_or_path)")

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, source: str = "auto", namespace: str | None = None,
                        revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                        local_files_only: bool = False, token: str | bool | None = None,
                        **kwargs) -> UpstreamPreTrainedModel:
        """Resolve `name_or_path` and load the upstream, in eval mode.

        A name is looked up in this order (see `s3prl_hf.weights`): the converted repo `<namespace>/<name>` in the
        Hugging Face cache, a conversion of the original checkpoint in s3prl_hf's conversion cache, the converted
        repo on the Hub, and finally the original checkpoint itself, downloaded from where S3PRL downloads it,
        converted with the package's own converter and cached (once; later calls load the cache, offline too).

        Args:
            name_or_path: An S3PRL name or alias ("hubert", "hubert_large_ll60k"), a Hub repo id
                ("org/hubert_base"), or a local folder holding `config.json` and `model.safetensors`. Names
                without weights (`registry.CONFIG_ONLY_FAMILIES`: S3PRL's fbank, mfcc, spectrogram, ...) are
                built from their built-in S3PRL config, with nothing downloaded; their folders hold only
                `config.json`.
            source: For names: "auto" (default: the converted repo, else the original checkpoint), "hub" (the
                converted repo only) or "original" (convert the original checkpoint, never the repo).
            namespace: Hub organisation that hosts the converted upstreams (default: the
                `S3PRL_HF_NAMESPACE` environment variable, else "s3prl-hf"). Used for names only.
            revision: Hub revision (branch, tag or commit); defaults to the registry's pinned revision.
            cache_dir: Hugging Face cache folder.
            local_files_only: Never touch the network; use the caches only (as `HF_HUB_OFFLINE=1`).
            token: Hugging Face token for private repos.
            **kwargs: Config overrides (e.g. `normalize=True`) and loading options passed to
                transformers (`dtype`, `device_map`, `attn_implementation`).

        Raises:
            registry.UnknownUpstreamError: an unknown name (with suggestions).
            FileNotFoundError: a path that does not exist.
            UpstreamNotAvailableError: nothing could be loaded (offline without a cached copy, the original
                checkpoint unreachable or corrupt); the message lists what was tried and what to do.
        """
        location = _locate(name_or_path, source, namespace, revision, cache_dir, local_files_only, token)
        if location.path is None:
            return _config_only_model(location.spec, kwargs)
        hub_kwargs = dict(revision=location.revision, cache_dir=cache_dir, token=token,
                          local_files_only=local_files_only or location.local_files_only)
        loading_kwargs = {key: kwargs.pop(key) for key in _LOADING_KWARGS if key in kwargs}
        try:
            config, unused = AutoConfig.from_pretrained(location.path, return_unused_kwargs=True, **hub_kwargs,
                                                        **kwargs)
        except OSError as error:
            if os.path.isdir(location.path):
                raise
            raise UpstreamNotAvailableError(f"cannot load '{location.path}' (revision "
                                            f"{location.revision or 'main'}): {error}") from error
        if unused:
            raise TypeError(f"unexpected keyword arguments for {config.model_type}: {sorted(unused)}")
        model_class = MODEL_CLASSES.get(config.model_type)
        if model_class is None:
            raise ValueError(f"{location.path} holds a '{config.model_type}' model, not an s3prl_hf upstream (known "
                             f"types: {', '.join(sorted(MODEL_CLASSES))})")
        model, info = model_class.from_pretrained(location.path, config=config, output_loading_info=True,
                                                  **hub_kwargs, **loading_kwargs)
        problems = {k: v for k, v in info.items() if k != "error_msgs" and v}
        if problems or info.get("error_msgs"):
            raise ValueError(f"the weights in {location.path} do not match its config: "
                             f"{problems or info['error_msgs']}")
        return model.eval()


def _config_only_model(spec: registry.UpstreamSpec, kwargs: dict) -> UpstreamPreTrainedModel:
    """A name without weights: its reference config (S3PRL's own), with `kwargs` overrides; nothing is downloaded."""
    loading_kwargs = {key: kwargs.pop(key) for key in _LOADING_KWARGS if key in kwargs}
    config_class, model_class = FAMILY_CLASSES[spec.family]
    reference = {"s3prl_name": spec.name, **FAMILY_REFERENCE_CONFIGS[spec.family][spec.name]}
    config, unused = config_class.from_dict(reference, return_unused_kwargs=True, **kwargs)
    if unused:
        raise TypeError(f"unexpected keyword arguments for {config.model_type}: {sorted(unused)}")
    return model_class.from_pretrained(None, config=config, **loading_kwargs).eval()


def _locate(name_or_path, source, namespace, revision, cache_dir, local_files_only, token) -> Location:
    """A local folder as is; a registry name through `locate_upstream`; anything else with a '/' as a repo id."""
    text = os.fspath(name_or_path)
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: expected one of {', '.join(SOURCES)}")
    if os.path.isdir(text):
        return Location(text, revision)
    try:
        spec = registry.get_spec(text)
    except registry.UnknownUpstreamError:
        looks_like_path = text.startswith((".", "/", "~")) or os.sep in text.replace("/", "") or text.count("/") > 1
        if looks_like_path or os.path.exists(text):
            raise FileNotFoundError(f"no such folder: {text!r}" + (" (a file: convert it with `s3prl-hf "
                                    "convert` first)" if os.path.isfile(text) else "")) from None
        if "/" in text:
            return Location(text, revision)
        raise
    check_implemented(spec)
    if spec.family in registry.CONFIG_ONLY_FAMILIES:
        return Location(None, spec=spec)
    return locate_upstream(spec, source=source, namespace=namespace, revision=revision, cache_dir=cache_dir,
                           local_files_only=local_files_only, token=token)


def reference_config(name: str) -> UpstreamConfig | None:
    """The released architecture of upstream `name` (a config, no weights), or None if not implemented.

    Example:
        >>> reference_config("hubert_large_ll60k").num_layers
        25
    """
    spec = registry.get_spec(name)
    overrides = FAMILY_REFERENCE_CONFIGS.get(spec.family, {}).get(spec.name)
    if overrides is None:
        return None
    return FAMILY_CLASSES[spec.family][0](s3prl_name=spec.name, **overrides)


def config_class_for(family: str) -> type[UpstreamConfig]:
    """The config class of an implemented family."""
    return FAMILY_CLASSES[family][0]


def model_class_for(family: str) -> type[UpstreamPreTrainedModel]:
    """The model class of an implemented family."""
    return FAMILY_CLASSES[family][1]


__all__ = ["AutoUpstream", "UpstreamNotAvailableError", "FAMILY_CLASSES", "is_implemented", "check_implemented",
           "reference_config"]

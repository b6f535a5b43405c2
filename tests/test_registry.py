"""Tests for s3prl_hf.registry: names, aliases, lookup errors, listing, repo ids, provenance.

Three oracles, strongest last:
* hand-checked tables below (S3PRL's defaults, read from its hubconf files);
* the seed (S3PRL's upstream_collection.rst, copied verbatim into tests/data/ and checked against the project's
  ../shared/seed copy when present): BibTeX, bullets and the docs' own alias statements;
* S3PRL 0.4.18's source (``S3PRL_SRC``, default ../s3prl_src; CI unpacks the PyPI sdist, see .ci/run): hub
  functions are parsed with ``ast`` and every alias, every canonical name and every default URL of the table is
  compared with the code. Without it these tests skip, unless ``S3PRL_SRC`` is set: then a missing source fails.
"""

import ast
import dataclasses
import hashlib
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from s3prl_hf import registry
from s3prl_hf.registry import (
    ALIASES,
    DOC_DISAGREEMENTS,
    FAMILIES,
    METHODS,
    UPSTREAMS,
    UnknownUpstreamError,
    UpstreamSpec,
    get_spec,
    hub_namespace,
    list_upstreams,
    resolve_name,
    source_file,
)

REGISTRY_FILE = Path(registry.__file__)
SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED_NAMES_FILE = SHARED / "seed" / "names.txt"
SHARED_SEED_RST_FILE = SHARED / "seed" / "upstream_collection.rst"
# S3PRL's docs page, verbatim below a two-line comment naming its source and licence, and the page's sha256.
SEED_RST_FILE = Path(__file__).parent / "data" / "s3prl_upstream_collection.rst"
SEED_RST_SHA256 = "61bf470b2e92963962d7e0b5643a50b889ad00a61e26999c4a542996ce23ef91"
S3PRL_SRC = Path(os.environ.get("S3PRL_SRC", Path(__file__).resolve().parents[2] / "s3prl_src")) / "s3prl"

# The 81 names of S3PRL's upstream collection (the seed's names.txt), so that the test runs without ../shared.
SEED_NAMES = """
mockingjay mockingjay_origin mockingjay_100hr mockingjay_960hr mockingjay_logMelBase_T_AdamW_b32_200k_100hr
mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1 mockingjay_logMelBase_T_AdamW_b32_1m_960hr
mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1 mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k
tera tera_100hr tera_960hr tera_logMelBase_T_F_AdamW_b32_200k_100hr tera_logMelBase_T_F_M_AdamW_b32_200k_100hr
tera_logMelBase_T_F_AdamW_b32_1m_960hr tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1
tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1
tera_fbankBase_T_F_AdamW_b32_200k_100hr
audio_albert audio_albert_960hr audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1
apc apc_360hr apc_960hr vq_apc vq_apc_360hr vq_apc_960hr npc npc_360hr npc_960hr
pase_plus modified_cpc decoar_layers decoar2
wav2vec wav2vec_large vq_wav2vec vq_wav2vec_gumbel vq_wav2vec_kmeans discretebert vq_wav2vec_kmeans_roberta
wav2vec2 wav2vec2_base_960 wav2vec2_large_960 wav2vec2_large_ll60k wav2vec2_large_lv60_cv_swbd_fsh
wav2vec2_conformer_relpos wav2vec2_conformer_rope xlsr_53 xls_r_300m xls_r_1b xls_r_2b
hubert hubert_base hubert_large_ll60k distilhubert distilhubert_base hubert_base_robust_mgr
unispeech_sat unispeech_sat_base unispeech_sat_base_plus unispeech_sat_large
wavlm wavlm_base wavlm_base_plus wavlm_large data2vec data2vec_base_960 data2vec_large_ll60k
ast ssast_frame_base mae_ast_frame mae_ast_patch byol_a_2048 byol_a_1024 byol_a_512
byol_s_default byol_s_cvt byol_s_resnetish34 vggish
""".split()

# S3PRL 0.4.18 hub functions outside the collection its docs list (the seed), read from its hubconf files; the tests
# against S3PRL's source below check each one's target or URLs. Their methods are papers the seed does not cite.
HUB_ONLY_LIST = """
ssast_patch_base
contentvec contentvec_km100 contentvec_km500 mhubert_base_vp_en_es_fr_it3 ms_hubert
wav2vec2_large_voxpopuli_100k wav2vec2_base_s2st_es_voxpopuli wav2vec2_base_s2st_en_librilight
wav2vec2_conformer_large_s2st_es_voxpopuli wav2vec2_conformer_large_s2st_en_librilight
decoar spec_augment
passt_base passt_base2level passt_base2levelmel passt_base20sec passt_base30sec
passt_hop100base passt_hop100base2lvl passt_hop100base2lvlmel passt_hop160base passt_hop160base2lvl passt_hop160base2lvlmel
lighthubert lighthubert_base lighthubert_small lighthubert_stage1
multires_hubert_base multires_hubert_large multires_hubert_multilingual_base multires_hubert_multilingual_large400k
multires_hubert_multilingual_large600k
fbank fbank_no_cmvn mfcc spectrogram mel linear stft_mag baseline
espnet_hubert_base_iter0 espnet_hubert_base_iter1 espnet_hubert_large_gs_ll60k cvhubert
wavlablm_ek_40k wavlablm_mk_40k wavlablm_ms_40k
""".split()
HUB_ONLY_NAMES = frozenset(HUB_ONLY_LIST)
HUB_ONLY_METHODS = {"contentvec", "mhubert", "ms_hubert", "voxpopuli", "enhanced_s2st", "spec_augment", "passt",
                    "lighthubert", "multires_hubert", "kaldi_features", "stft_features", "espnet_hubert", "wavlablm"}
# Hub functions that call no other one but download the same file the same way (hubert/hubconf.py): aliases too.
SAME_CHECKPOINT_ALIASES = {"contentvec": "contentvec_km100"}

# Every S3PRL hub function that only calls another one, read by hand from s3prl 0.4.18's hubconf files.
HAND_CHECKED_ALIASES = {
    "mockingjay": "mockingjay_origin",
    "mockingjay_origin": "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1",
    "mockingjay_100hr": "mockingjay_logMelBase_T_AdamW_b32_200k_100hr",
    "mockingjay_960hr": "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1",
    "tera": "tera_960hr",
    "tera_100hr": "tera_logMelBase_T_F_M_AdamW_b32_200k_100hr",
    "tera_960hr": "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1",
    "audio_albert": "audio_albert_960hr",
    "audio_albert_960hr": "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1",
    "apc": "apc_360hr",
    "vq_apc": "vq_apc_360hr",
    "npc": "npc_360hr",
    "wav2vec": "wav2vec_large",
    "vq_wav2vec": "vq_wav2vec_gumbel",
    "discretebert": "vq_wav2vec_kmeans_roberta",
    "wav2vec2": "wav2vec2_base_960",
    "hubert": "hubert_base",
    "distilhubert": "distilhubert_base",
    "unispeech_sat": "unispeech_sat_base_plus",  # the docs say unispeech_sat_base; the code wins
    "wavlm": "wavlm_base_plus",
    "data2vec": "data2vec_base_960",
    "lighthubert": "lighthubert_small",  # hub-only
    "baseline": "fbank",  # not in the seed
    **SAME_CHECKPOINT_ALIASES,
}

# Where each default name ends up after following the whole chain.
DEFAULTS = {
    "mockingjay": "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1",
    "tera": "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1",
    "audio_albert": "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1",
    "hubert": "hubert_base",
    "wavlm": "wavlm_base_plus",
    "unispeech_sat": "unispeech_sat_base_plus",
    "wav2vec2": "wav2vec2_base_960",
    "data2vec": "data2vec_base_960",
    "distilhubert": "distilhubert_base",
    "apc": "apc_360hr",
    "vq_apc": "vq_apc_360hr",
    "npc": "npc_360hr",
    "vq_wav2vec": "vq_wav2vec_gumbel",
    "discretebert": "vq_wav2vec_kmeans_roberta",
    "wav2vec": "wav2vec_large",
    "lighthubert": "lighthubert_small",
}

EXPECTED_LICENCES = {
    "wav2vec_large": ("mit", True),
    "vq_wav2vec_kmeans_roberta": ("mit", True),
    "wav2vec2_conformer_rope": ("mit", True),
    "xls_r_2b": ("mit", True),
    "hubert_large_ll60k": ("mit", True),
    "multires_hubert_multilingual_large600k": ("mit", True),
    "data2vec_large_ll60k": ("mit", True),
    "wavlm_base_plus": ("mit", True),
    "unispeech_sat_large": ("mit", True),
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k": ("apache-2.0", True),
    "tera_fbankBase_T_F_AdamW_b32_200k_100hr": ("apache-2.0", True),
    "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1": ("apache-2.0", True),
    "distilhubert_base": ("apache-2.0", True),
    "npc_960hr": ("apache-2.0", True),
    "lighthubert_base": ("apache-2.0", True),
    "hubert_base_robust_mgr": ("other", False),
    "byol_a_512": ("other", False),
    "vggish": ("other", False),
    "wav2vec2_large_voxpopuli_100k": ("cc-by-nc-4.0", True),
    "wav2vec2_conformer_large_s2st_en_librilight": ("mit", True),
    "mhubert_base_vp_en_es_fr_it3": ("mit", True),
    "contentvec_km500": ("mit", True),
    "spec_augment": ("apache-2.0", True),
    "ms_hubert": ("other", False),
    "decoar": ("other", False),
}


# --- names and aliases ------------------------------------------------------------------------------------------
def test_embedded_seed_names_match_the_seed_file():
    assert len(SEED_NAMES) == len(set(SEED_NAMES)) == 81
    # the docs' name headings, less the two of its "how to read this page" template
    assert [name for name in _seed_sections(_vendored_seed()) if name not in ("name1", "name2")] == SEED_NAMES
    if SEED_NAMES_FILE.is_file():  # the project's list of the same names, beside the repository
        assert [n.strip() for n in SEED_NAMES_FILE.read_text().splitlines() if n.strip()] == SEED_NAMES


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_seed_name_resolves(name):
    canonical = resolve_name(name)
    spec = get_spec(name)
    assert spec.name == canonical
    assert name == canonical or name in spec.aliases


def test_registry_covers_exactly_the_seed_plus_the_hub_only_names():
    assert len(HUB_ONLY_LIST) == len(HUB_ONLY_NAMES) and not set(HUB_ONLY_NAMES) & set(SEED_NAMES)
    assert set(list_upstreams(include_aliases=True)) == set(SEED_NAMES) | set(HUB_ONLY_NAMES)
    assert resolve_name("ssast_patch_base") == "ssast_patch_base"
    assert len(UPSTREAMS) == len(SEED_NAMES) + len(HUB_ONLY_NAMES) - len(HAND_CHECKED_ALIASES)
    assert resolve_name("baseline") == "fbank"


@pytest.mark.parametrize("name", HUB_ONLY_LIST)
def test_every_hub_only_name_resolves(name):
    spec = get_spec(name)
    assert name == spec.name or name in spec.aliases


def test_hub_only_methods_serve_only_hub_only_names():
    used = {spec.method for spec in UPSTREAMS if spec.name not in HUB_ONLY_NAMES}
    assert HUB_ONLY_METHODS <= set(METHODS) and not HUB_ONLY_METHODS & used
    assert {get_spec(name).method for name in HUB_ONLY_NAMES} - used == HUB_ONLY_METHODS


def test_decoar_is_decoar_layers_checkpoint_under_another_expert_not_an_alias():
    assert resolve_name("decoar") == "decoar" and get_spec("decoar").family == get_spec("decoar_layers").family
    assert get_spec("decoar").s3prl_urls == get_spec("decoar_layers").s3prl_urls


def test_aliases_match_s3prl_hub_code():
    assert ALIASES == HAND_CHECKED_ALIASES


@pytest.mark.parametrize(("alias", "canonical"), sorted(DEFAULTS.items()))
def test_default_names_resolve_like_s3prl(alias, canonical):
    assert resolve_name(alias) == canonical


def test_alias_chains_are_followed_and_recorded_on_the_spec():
    assert resolve_name("tera_960hr") == "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1"
    assert resolve_name("mockingjay_origin") == "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1"
    assert get_spec("tera").aliases == ("tera_960hr", "tera")
    assert get_spec("mockingjay").aliases == ("mockingjay_origin", "mockingjay")
    assert get_spec("hubert_large_ll60k").aliases == ()


def test_spec_aliases_are_exactly_the_alias_table():
    listed = [alias for spec in UPSTREAMS for alias in spec.aliases]
    assert sorted(listed) == sorted(ALIASES)
    for spec in UPSTREAMS:
        for alias in spec.aliases:
            assert resolve_name(alias) == spec.name


def test_canonical_names_are_not_aliases_and_are_unique():
    names = [spec.name for spec in UPSTREAMS]
    assert len(names) == len(set(names))
    assert not set(names) & set(ALIASES)
    # A function that only calls another one is an alias, never a canonical entry.
    for intermediate in ("mockingjay_origin", "tera_960hr", "audio_albert_960hr", "mockingjay_100hr"):
        assert intermediate not in names


def test_doc_disagreement_is_recorded_for_unispeech_sat():
    assert resolve_name("unispeech_sat") == "unispeech_sat_base_plus"
    assert "unispeech_sat_base_plus" in DOC_DISAGREEMENTS["unispeech_sat"]
    assert set(DOC_DISAGREEMENTS) <= set(list_upstreams(include_aliases=True))


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("HuBERT", "hubert_base"),
        ("WavLM-Large", "wavlm_large"),
        ("  wav2vec2-large-960 ", "wav2vec2_large_960"),
        ("TERA", "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1"),
        ("mockingjay_logmelbase_t_adamw_b32_200k_100hr", "mockingjay_logMelBase_T_AdamW_b32_200k_100hr"),
        ("XLS-R-300M", "xls_r_300m"),
    ],
)
def test_case_and_dash_are_normalised(typed, canonical):
    assert resolve_name(typed) == canonical
    assert get_spec(typed).name == canonical


# --- errors -------------------------------------------------------------------------------------------------------
def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownUpstreamError) as info:
        resolve_name("huburt_base")
    err = info.value
    assert isinstance(err, KeyError)
    assert err.name == "huburt_base"
    assert err.suggestions[0] == "hubert_base"
    message = str(err)
    assert message.startswith("Unknown upstream 'huburt_base'.")  # not repr-quoted like a plain KeyError
    assert "Did you mean: 'hubert_base'" in message
    assert "list_upstreams(" in message
    assert err.args[0] == message  # callers that print err.args[0] (the CLI) get the sentence too


def test_unknown_name_error_survives_pickling():
    with pytest.raises(UnknownUpstreamError) as info:
        resolve_name("wav2vec3")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.name, copy.suggestions, str(copy)) == (info.value.name, info.value.suggestions, str(info.value))


def test_suggestions_include_aliases_and_name_their_target():
    with pytest.raises(UnknownUpstreamError) as info:
        get_spec("wavlmm")
    assert "wavlm" in info.value.suggestions
    assert "'wavlm' (alias of 'wavlm_base_plus')" in str(info.value)


def test_unknown_name_without_close_match_has_no_suggestion():
    with pytest.raises(KeyError) as info:
        get_spec("zzzzzzzz")
    assert info.value.suggestions == []
    assert "Did you mean" not in str(info.value)
    assert "list_upstreams(" in str(info.value)


def test_non_string_name_is_a_type_error():
    with pytest.raises(TypeError, match="must be a str"):
        resolve_name(None)


# --- listing ----------------------------------------------------------------------------------------------------
def test_list_upstreams_defaults_to_sorted_canonical_names():
    names = list_upstreams()
    assert names == sorted(names, key=lambda n: (n.lower(), n))
    assert set(names) == {spec.name for spec in UPSTREAMS}
    assert "hubert" not in names and "hubert_base" in names
    assert len(list_upstreams(include_aliases=True)) == len(UPSTREAMS) + len(ALIASES)


def test_list_upstreams_pattern():
    assert list_upstreams("wavlm*") == ["wavlm_base", "wavlm_base_plus", "wavlm_large"]
    assert list_upstreams("wavlm*", include_aliases=True) == ["wavlm", "wavlm_base", "wavlm_base_plus", "wavlm_large"]
    assert list_upstreams("*LOGMELLINEAR*") == ["mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1"]
    assert list_upstreams("xls_r_?b") == ["xls_r_1b", "xls_r_2b"]
    assert list_upstreams("no_such_thing*") == []


def test_list_upstreams_family():
    hubert = ["contentvec_km100", "contentvec_km500", "hubert_base", "hubert_base_robust_mgr", "hubert_large_ll60k",
              "mhubert_base_vp_en_es_fr_it3", "ms_hubert"]
    assert list_upstreams(family="hubert") == hubert
    assert list_upstreams(family="hubert", include_aliases=True) == sorted(hubert + ["hubert", "contentvec"])
    assert list_upstreams("wav2vec2_conformer_r*", family="wav2vec2_conformer") == [
        "wav2vec2_conformer_relpos", "wav2vec2_conformer_rope"]
    assert list_upstreams(family="decoar", include_aliases=True) == ["decoar", "decoar_layers"]
    assert list_upstreams("*_960*", family="wav2vec2") == ["wav2vec2_base_960", "wav2vec2_large_960"]
    assert set(list_upstreams(family="wav2vec2")) >= {"xlsr_53", "xls_r_300m", "xls_r_1b", "xls_r_2b"}
    for family in FAMILIES:
        assert list_upstreams(family=family), family


def test_list_upstreams_unknown_family_lists_the_families():
    with pytest.raises(ValueError, match="Unknown family 'hubbert'") as info:
        list_upstreams(family="hubbert")
    assert all(family in str(info.value) for family in FAMILIES)


# --- repo ids -----------------------------------------------------------------------------------------------------
def test_repo_id_uses_default_env_and_explicit_namespace(monkeypatch):
    spec = get_spec("hubert")
    monkeypatch.delenv("S3PRL_HF_NAMESPACE", raising=False)
    assert hub_namespace() == registry.DEFAULT_NAMESPACE == "s3prl-hf"
    assert spec.repo_id == "s3prl-hf/hubert_base"

    monkeypatch.setenv("S3PRL_HF_NAMESPACE", "my-org")
    assert hub_namespace() == "my-org"
    assert spec.repo_id == "my-org/hubert_base"
    assert spec.repo_id_for(None) == "my-org/hubert_base"
    assert spec.repo_id_for("other-org") == "other-org/hubert_base"  # explicit beats the environment
    assert hub_namespace("other-org") == "other-org"

    monkeypatch.setenv("S3PRL_HF_NAMESPACE", "")  # empty counts as unset
    assert get_spec("tera").repo_id == "s3prl-hf/tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1"


# --- provenance ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", UPSTREAMS, ids=lambda spec: spec.name)
def test_every_spec_is_complete(spec):
    assert spec.family in FAMILIES
    assert spec.license and (spec.license == spec.license.lower())
    if spec.license == "other":
        # Unknown or restrictive terms: never re-hosted.
        assert not spec.redistributable
    else:
        assert spec.license_url and spec.license_url.startswith("https://")
    method = METHODS[spec.method]
    assert method.bibtex.startswith("@") and method.bibtex.rstrip().endswith("}")
    if not spec.has_weights:
        assert method.paper_url is None  # classical features: no paper link applies
    else:
        assert method.paper_url.startswith("https://arxiv.org/abs/")
    assert spec.pretraining_data
    if not spec.has_weights:
        assert spec.s3prl_urls == () and spec.original_urls == ()  # no weights: nothing to download
    else:
        assert spec.s3prl_urls and all(url.startswith("https://") for url in spec.s3prl_urls)
    assert all(url.startswith("https://") for url in spec.original_urls)
    assert spec.revision == registry.PINS["revisions"].get(spec.name)  # pinned by conversion/publish.py only


@pytest.mark.parametrize("spec", UPSTREAMS, ids=lambda spec: spec.name)
def test_every_name_lists_downloadable_original_files(spec):
    """Day one: every name can be fetched from the files S3PRL downloads (then the original release)."""
    if not spec.has_weights:
        assert spec.download_options == ()  # built from their config: nothing to fetch
        return
    assert spec.download_options and spec.download_options[0] == tuple(source_file(u) for u in spec.s3prl_urls)
    for option in spec.download_options:
        for source in option:
            path = urlsplit(source.url).path
            assert not re.search(r"/(tree|blob)/", path) or "huggingface.co" in source.url, source.url  # no pages
            assert path.rsplit("/", 1)[-1], source.url  # names a file
            assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256)
    # two-file releases list both files in every option
    assert len({len(option) for option in spec.download_options}) == 1


def test_pins_name_only_known_files_and_names():
    urls = {url for spec in UPSTREAMS for option in spec.download_options for url in (f.url for f in option)}
    assert set(registry.PINS["files"]) <= urls
    assert set(registry.PINS["revisions"]) <= {spec.name for spec in UPSTREAMS}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_LICENCES.items()))
def test_licences(name, expected):
    spec = get_spec(name)
    assert (spec.license, spec.redistributable) == expected


def test_byol_a_is_not_redistributable():
    byol_a = list_upstreams("byol_a_*")
    assert byol_a == ["byol_a_1024", "byol_a_2048", "byol_a_512"]
    for name in byol_a:
        assert get_spec(name).redistributable is False
        assert "nttcslab/byol-a" in get_spec(name).license_url


def test_seed_facts_are_kept():
    assert METHODS["vq_apc"].bibtex.splitlines()[2].strip().startswith("autohor")  # the seed's typo, verbatim
    assert "Conv encoders' hidden_states" in METHODS["vq_wav2vec"].description
    assert METHODS["modified_cpc"].extra_bibtex[0].startswith("@article{oord2018representation,")
    assert METHODS["xlsr"].extra_bibtex == (METHODS["wav2vec2"].bibtex,)
    assert get_spec("wav2vec2_base_960").notes == "This is the official wav2vec 2.0 model in fairseq"
    assert get_spec("distilhubert_base").details == (
        ("Teacher", "hubert_base"),
        ("Unlabled Speech", "LibriSpeech 960hr"),
    )
    assert get_spec("tera_960hr").notes == ""  # "This is alias for ..." is not a fact about the checkpoint
    assert METHODS["decoar2"].bibtex.splitlines()[1].endswith("Vector Quantization}, ")  # trailing space kept


def test_specs_are_frozen():
    spec = get_spec("hubert")
    with pytest.raises(AttributeError):
        spec.name = "x"
    assert isinstance(spec, UpstreamSpec)


# --- table validation ---------------------------------------------------------------------------------------------
def _spec(name, **overrides):
    fields = dict(
        name=name,
        family="hubert",
        method="hubert",
        license="mit",
        license_url="https://example.com/LICENSE",
        redistributable=True,
        pretraining_data="LibriSpeech 960hr",
        s3prl_urls=("https://example.com/x.pt",),
    )
    return UpstreamSpec(**{**fields, **overrides})


def test_build_accepts_the_real_table():
    upstreams, aliases, _ = registry._build(registry._TABLE, registry._ALIAS_ROWS)
    assert upstreams == UPSTREAMS and aliases == ALIASES


@pytest.mark.parametrize(
    ("table", "rows", "problem"),
    [
        pytest.param(["a", "a"], [], "duplicate canonical name 'a'", id="duplicate-name"),
        pytest.param(["a"], [("b", "a"), ("b", "a")], "alias 'b' is defined twice", id="duplicate-alias"),
        pytest.param(["a"], [("a", "a")], "alias 'a' is defined twice or is also a canonical", id="alias-is-name"),
        pytest.param(["a"], [("b", "nowhere")], "points to 'nowhere'", id="dangling-alias"),
        pytest.param(["a"], [("b", "c"), ("c", "b")], "alias cycle b -> c -> b", id="alias-cycle"),
        pytest.param(["a", "A"], [], "collide once case and '-' are normalised", id="case-collision"),
        pytest.param([_spec("a", family="nope")], [], "family 'nope'", id="unknown-family"),
        pytest.param([_spec("a", method="nope")], [], "method 'nope'", id="unknown-method"),
        pytest.param([_spec("a", aliases=("b",))], [], "lists aliases or a revision by hand", id="hand-written-aliases"),
        pytest.param([_spec("a", s3prl_urls=(), original_urls=("https://example.com/a.pt",))], [],
                     "has original URLs but no S3PRL URL", id="original-without-s3prl-url"),
    ],
)
def test_build_rejects_a_broken_table(table, rows, problem):
    # Keep every family populated so that only the planted problem can fail.
    specs = [_spec(s) if isinstance(s, str) else s for s in table]
    specs += [_spec(f"filler_{family}", family=family,
                    s3prl_urls=("https://example.com/x.pt",))
              for family in FAMILIES]
    with pytest.raises(ValueError, match=re.escape(problem)):
        registry._build(specs, rows)


def test_a_method_link_is_https_or_none(monkeypatch):
    broken = dataclasses.replace(METHODS["hubert"], paper_url="arxiv 2106.07447")
    monkeypatch.setitem(METHODS, "hubert", broken)
    with pytest.raises(ValueError, match="an https link or None"):
        registry._build(registry._TABLE, registry._ALIAS_ROWS)


# --- registry.py stays light --------------------------------------------------------------------------------------
def test_registry_imports_only_the_standard_library():
    tree = ast.parse(REGISTRY_FILE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "registry.py must not import from the package"
            imported.add(node.module.split(".")[0])
    # tomli: the TOML reader of Python 3.10, which 3.11's standard library has as tomllib
    assert imported and imported <= set(sys.stdlib_module_names) | {"tomli"}, imported - set(sys.stdlib_module_names)


def test_registry_loads_alone_without_torch():
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("registry_alone", {str(REGISTRY_FILE)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.get_spec("hubert").name == "hubert_base"
        heavy = sorted({{"torch", "transformers", "numpy", "huggingface_hub"}} & set(sys.modules))
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- against the seed (S3PRL's docs) ----------------------------------------------------------------------------
def _strip_rst(text):
    text = re.sub(r"`([^`<]+?) <([^>]+)>`_", r"\1 (\2)", text)
    return re.sub(r"`([^`]+)`_", r"\1", text)


def _seed_sections(text):
    """Name heading (underlined with ~) -> its body up to the next heading."""
    lines = text.splitlines()
    heads = [
        i
        for i in range(len(lines) - 1)
        if lines[i].strip() and re.fullmatch(r"[~-]{3,}", lines[i + 1]) and not lines[i].startswith(" ")
    ]
    return {
        lines[i].strip(): "\n".join(lines[i + 2 : (heads[k + 1] if k + 1 < len(heads) else len(lines))])
        for k, i in enumerate(heads)
        if lines[i + 1].startswith("~")
    }


def _vendored_seed() -> str:
    """The docs page as S3PRL wrote it: the vendored file less its leading comment."""
    header, separator, body = SEED_RST_FILE.read_text(encoding="utf-8").partition("\n\n")
    assert separator and all(line.startswith(".. ") for line in header.splitlines()), SEED_RST_FILE
    return body


@pytest.fixture(scope="module")
def seed_text():
    return _vendored_seed()


def test_vendored_seed_is_s3prl_docs_verbatim_and_says_so():
    header = SEED_RST_FILE.read_text(encoding="utf-8").partition("\n\n")[0]
    assert "upstream_collection.rst" in header and "github.com/s3prl/s3prl" in header and "Apache License 2.0" in header
    assert hashlib.sha256(_vendored_seed().encode()).hexdigest() == SEED_RST_SHA256
    if SHARED_SEED_RST_FILE.is_file():  # the project's copy, beside the repository
        assert hashlib.sha256(SHARED_SEED_RST_FILE.read_bytes()).hexdigest() == SEED_RST_SHA256, \
            f"{SHARED_SEED_RST_FILE} changed: copy it into {SEED_RST_FILE} (below the comment) and update the sha256"


def test_docs_alias_statements_agree_except_recorded_disagreements(seed_text):
    stated = dict(
        re.findall(r"^(\w+)\n~+\n+(?:This is (?:the )?alias (?:for|of)|Alias of) `(\w+)`_", seed_text, flags=re.M)
    )
    assert set(stated) == set(ALIASES) - set(HUB_ONLY_NAMES)
    for alias, doc_target in stated.items():
        if alias in DOC_DISAGREEMENTS:
            assert ALIASES[alias] != doc_target, f"{alias}: recorded as a disagreement but docs and code agree"
        else:
            assert ALIASES[alias] == doc_target, f"{alias}: docs say {doc_target}, unrecorded"


def test_bibtex_titles_and_links_are_verbatim(seed_text):
    for method in (m for key, m in METHODS.items() if key not in HUB_ONLY_METHODS):
        for block in (method.bibtex, *method.extra_bibtex):
            assert any(textwrap.indent(block, " " * n) in seed_text for n in (4, 8)), method.key
        assert f"`{method.title} <{method.paper_url}>`_" in seed_text, method.key


def test_details_are_the_seed_bullets_in_order(seed_text):
    sections = _seed_sections(seed_text)
    for spec in (s for s in UPSTREAMS if s.name not in HUB_ONLY_NAMES - {"ssast_patch_base"}):
        body = sections.get(spec.name, "")
        bullets = [line[2:].split(": ", 1) for line in _strip_rst(body).splitlines() if line.startswith("- ")]
        assert [tuple(b) for b in bullets] == list(spec.details), spec.name
        if spec.notes and spec.name not in HUB_ONLY_NAMES:  # theirs: S3PRL 0.4.18's docs or the release pages
            assert spec.notes.split(". ")[0] in " ".join(_strip_rst(body).split()), spec.name


# --- against S3PRL 0.4.18's source ------------------------------------------------------------------------------
# The hub function calls this other hub function for a second checkpoint.
_ALSO_LOADS = {"vq_wav2vec_kmeans_roberta": "vq_wav2vec_kmeans"}


# Hub functions that s3prl.hub does not export: S3PRL 0.4.18's hub.py never imports upstream/spec_augment/hubconf.py,
# so S3PRLUpstream("spec_augment") raises AttributeError although the function is defined (an S3PRL bug).
NOT_EXPORTED_BY_S3PRL_HUB = {"spec_augment": "s3prl.upstream.spec_augment.hubconf"}


def _hubconf_bindings(path):
    """Public name -> FunctionDef (None for other bindings) of one hubconf module."""
    functions = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            bound = {node.name: node}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # e.g. vq_apc's `apc_url as vq_apc_url`
            bound = {(a.asname or a.name).split(".")[0]: None for a in node.names}
        elif isinstance(node, (ast.Assign, ast.ClassDef)):
            targets = node.targets if isinstance(node, ast.Assign) else [ast.Name(node.name)]
            bound = {t.id: None for t in targets if isinstance(t, ast.Name)}
        else:
            bound = {}
        functions.update({name: fn for name, fn in bound.items() if not name.startswith("_")})
    return functions


def _module_path(module):
    return S3PRL_SRC.parent.joinpath(*module.split(".")).with_suffix(".py")


@pytest.fixture(scope="module")
def hub_modules():
    """The hubconf modules ``s3prl.hub`` star-imports, in order."""
    hub = S3PRL_SRC / "hub.py"
    if not hub.is_file():
        if "S3PRL_SRC" in os.environ:  # asked for (CI): a missing source is an error, not a reason to skip
            pytest.fail(f"S3PRL_SRC={os.environ['S3PRL_SRC']!r} holds no s3prl/hub.py (the unpacked s3prl 0.4.18 sdist)")
        pytest.skip(f"S3PRL source not found at {S3PRL_SRC} (set S3PRL_SRC to the unpacked s3prl 0.4.18 sdist)")
    return [m.group(1) for line in hub.read_text().splitlines() if (m := re.match(r"from (s3prl\.\S+) import \*", line))]


@pytest.fixture(scope="module")
def hub_functions(hub_modules):
    """Name -> FunctionDef as ``s3prl.hub`` exports it (hubconf modules star-imported in order, later ones win), plus
    the functions of the hubconf modules it leaves out (NOT_EXPORTED_BY_S3PRL_HUB)."""
    functions = {}
    for module in hub_modules:
        if _module_path(module).is_file():
            functions.update(_hubconf_bindings(_module_path(module)))
    for name, module in NOT_EXPORTED_BY_S3PRL_HUB.items():
        assert name not in functions
        functions[name] = _hubconf_bindings(_module_path(module))[name]
    return functions


def test_spec_augment_is_defined_but_not_exported_by_s3prl_hub(hub_modules):
    for name, module in NOT_EXPORTED_BY_S3PRL_HUB.items():
        assert module not in hub_modules, f"s3prl.hub imports {module} now: drop {name} from NOT_EXPORTED_BY_S3PRL_HUB"
        assert "not export" in get_spec(name).notes


def _alias_target(function):
    """The hub function this one only forwards to, or None."""
    body = [n for n in function.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call):
        callee = body[0].value.func
        # private helpers (passt's `_UpstreamExpert("base")`) are not hub functions
        if isinstance(callee, ast.Name) and not callee.id.endswith(("_url", "_local", "_custom")) \
                and not callee.id.startswith("_"):
            return callee.id
    return None


def _urls(function):
    """(default URLs, legacy URLs) of a hub function, in source order.

    Functions with a ``legacy`` switch assign the fairseq URL unconditionally and overwrite it under
    ``if not legacy:`` (or pick one in ``if legacy: ... else: ...``): the unconditional and legacy-branch URLs are
    the legacy ones. Without a switch every URL is a default one.
    """
    found = {"always": [], "legacy": [], "default": []}

    def visit(node, where):
        if isinstance(node, ast.If) and "legacy" in ast.unparse(node.test):
            negated = isinstance(node.test, ast.UnaryOp)
            for child in node.body:
                visit(child, "default" if negated else "legacy")
            for child in node.orelse:
                visit(child, "legacy" if negated else "default")
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("http"):
            found[where].append(node.value)
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    for statement in function.body:
        visit(statement, "always")
    if found["legacy"] or found["default"]:
        return found["default"], found["always"] + found["legacy"]
    return found["always"], []


def test_every_name_is_an_s3prl_hub_function(hub_functions):
    for name in list_upstreams(include_aliases=True):
        assert hub_functions.get(name) is not None, f"{name} is not a function exported by s3prl.hub"


def test_aliases_and_canonical_names_match_s3prl_code(hub_functions):
    code_aliases = {}
    for name in list_upstreams(include_aliases=True):
        target = _alias_target(hub_functions[name])
        if target is not None:
            code_aliases[name] = target
    assert {**code_aliases, **SAME_CHECKPOINT_ALIASES} == ALIASES


@pytest.mark.parametrize(("alias", "target"), sorted(SAME_CHECKPOINT_ALIASES.items()))
def test_same_checkpoint_aliases_download_the_same_file_the_same_way(hub_functions, alias, target):
    alias_function, target_function = hub_functions[alias], hub_functions[target]
    assert _alias_target(alias_function) is None and _urls(alias_function) == _urls(target_function)
    assert ast.unparse(alias_function).replace(alias, target, 1) == ast.unparse(target_function)


def _passt_release_url(function) -> str:
    """The URL a passt hub entry downloads: its hear21passt module's `get_model_passt(arch=...)`, the model function
    `get_model` picks for that arch, the default_cfg that function builds, and that cfg's url (models/passt.py)."""
    module = next(node.value for node in ast.walk(function) if isinstance(node, ast.Constant))
    folder = S3PRL_SRC / "upstream" / "passt" / "hear21passt"
    arch = re.search(r'get_model_passt\(arch="([^"]+)"', (folder / f"{module}.py").read_text()).group(1)
    models = (folder / "models" / "passt.py").read_text()
    model_function = re.search(rf'arch == "{re.escape(arch)}":[^\n]*\n\s*model_func = (\w+)', models).group(1)
    cfg = re.search(rf'def {model_function}\(.*?_create_vision_transformer\(\s*"([^"]+)"', models, re.S).group(1)
    return re.search(rf'"{re.escape(cfg)}": _cfg\(\s*url="([^"]+)"', models).group(1)


@pytest.mark.parametrize("spec", UPSTREAMS, ids=lambda spec: spec.name)
def test_urls_match_s3prl_code(hub_functions, spec):
    default, legacy = _urls(hub_functions[spec.name])
    if spec.family == "passt":  # the URL is in the vendored hear21passt package, not in the hub function
        assert default == legacy == []
        default = [_passt_release_url(hub_functions[spec.name])]
    also = _ALSO_LOADS.get(spec.name)
    if also:
        default += list(get_spec(also).s3prl_urls)
        legacy += list(get_spec(also).original_urls)
    assert spec.s3prl_urls == tuple(default)
    if legacy:  # hub functions with a legacy=True path name the original fairseq release
        assert spec.original_urls == tuple(legacy)

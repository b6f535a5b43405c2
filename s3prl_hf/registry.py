"""The registry: every S3PRL upstream name -> one :class:`UpstreamSpec`.

One declarative table (:data:`UPSTREAMS`) with one entry per *canonical* name, i.e. S3PRL's own name of the hub
function that holds a checkpoint (``hubert_base``, ``wavlm_large``, ``tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1``).
:data:`ALIASES` holds S3PRL's default names exactly as its 0.4.18 hub *code* resolves them (``hubert -> hubert_base``,
``tera -> tera_960hr -> tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1``). Where S3PRL's documentation says
otherwise, the code wins and :data:`DOC_DISAGREEMENTS` says so.

Every fact here was checked against S3PRL 0.4.18 (``s3prl/upstream/*/hubconf.py``, star-imported in order by
``s3prl/hub.py``; none of the names below is shadowed by a later module) and against S3PRL's documentation of
them (``upstream_collection.rst``, "the seed"). Seed text is kept verbatim, typos included, with its reST markup
reduced to plain text. Hub functions outside the seed (``ssast_patch_base`` beside its sibling; ``contentvec``,
``decoar``, ``spec_augment``, ... in one block at the end) take their prose from S3PRL 0.4.18's own docs or the
authors' release pages.

This module is pure data + lookup: it imports only the standard library, so it can be read without torch.
"""

import dataclasses
import difflib
import fnmatch
import json
import os
import textwrap
from typing import NoReturn

__all__ = [
    "ALIASES",
    "CONFIG_ONLY_FAMILIES",
    "DEFAULT_NAMESPACE",
    "DOC_DISAGREEMENTS",
    "FAMILIES",
    "METHODS",
    "SEED_ERRATA",
    "UPSTREAMS",
    "Method",
    "PINS",
    "SourceFile",
    "UnknownUpstreamError",
    "UpstreamSpec",
    "get_spec",
    "hub_namespace",
    "list_upstreams",
    "resolve_name",
    "source_file",
]

DEFAULT_NAMESPACE = "s3prl-hf"
NAMESPACE_ENV = "S3PRL_HF_NAMESPACE"


def hub_namespace(namespace: str | None = None) -> str:
    """Returns the Hugging Face Hub namespace (user or organisation) that holds the converted repos.

    Args:
        namespace: An explicit namespace; wins over everything else.

    Returns:
        ``namespace`` if given, else the ``S3PRL_HF_NAMESPACE`` environment variable if set and non-empty,
        else :data:`DEFAULT_NAMESPACE`.

    Example:
        >>> hub_namespace("my-org")
        'my-org'
    """
    if namespace:
        return namespace
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


class UnknownUpstreamError(KeyError):
    """Raised for a name that is neither a canonical upstream name nor an alias.

    A ``KeyError`` so that ``except KeyError`` keeps working; the message suggests close names.

    Attributes:
        name: The name as given.
        suggestions: Close names and aliases, best first (may be empty).

    Example:
        >>> try:
        ...     resolve_name("huburt_base")
        ... except UnknownUpstreamError as err:
        ...     err.suggestions
        ['hubert_base', 'distilhubert_base', 'hubert_base_robust_mgr']
    """

    def __init__(self, name: str, suggestions: list[str] | tuple[str, ...] = ()):
        self.name = name
        self.suggestions = list(suggestions)
        message = f"Unknown upstream {name!r}."
        if self.suggestions:
            message += " Did you mean: " + ", ".join(_describe(s) for s in self.suggestions) + "?"
        message += (
            f" Run s3prl_hf.registry.list_upstreams(include_aliases=True) to see all {len(_CANONICAL_OF)} names, "
            "or pass a Hub repo id ('namespace/name') or a local directory to AutoUpstream.from_pretrained."
        )
        # The message is args[0], as for any exception, so that callers printing err.args[0] get the sentence.
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ repr-quotes its argument; the sentence reads better bare.
        return self.args[0]

    def __reduce__(self):
        # Rebuild from (name, suggestions), not from the message (pickling, multiprocessing).
        return type(self), (self.name, self.suggestions)


@dataclasses.dataclass(frozen=True)
class Method:
    """One self-supervised learning method: one section of the seed (paper, citation, shared description).

    Attributes:
        key: Identifier used by :attr:`UpstreamSpec.method`, e.g. ``"hubert"``, ``"hubert_mgr"``, ``"xls_r"``.
        title: The paper's full title, as the seed gives it; for methods outside the seed, a short title.
        paper_url: The paper's arXiv link, as the seed gives it; ``None`` where none applies (classical features).
        bibtex: The seed's BibTeX block, dedented, content verbatim (typos included).
        description: The section's prose (notes included), ``""`` if none.
        extra_bibtex: Further citations the seed gives for the section.
        section: The seed's section heading, e.g. ``"HuBERT-MGR"`` (for display).

    Example:
        >>> METHODS["hubert"].paper_url
        'https://arxiv.org/abs/2106.07447'
    """

    key: str
    title: str
    paper_url: str | None
    bibtex: str
    description: str
    extra_bibtex: tuple[str, ...] = ()
    section: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpstreamSpec:
    """Everything the project knows about one checkpoint, keyed by its canonical (S3PRL) name.

    Architecture hyper-parameters are deliberately absent: they live in each Hub repo's ``config.json``.

    Attributes:
        name: Canonical name, S3PRL's own name of the hub function that holds the checkpoint; also the Hub repo name.
        family: Implementation family (which model code runs it), one of :data:`FAMILIES`.
        method: Key into :data:`METHODS`.
        aliases: Every name that resolves to this one, directly or through a chain; derived from :data:`ALIASES`
            when the table is built, never written by hand.
        license: SPDX id of the *weights'* licence where known, else ``"other"``.
        license_url: Where that licence is stated, if known.
        redistributable: Whether the converted weights may be re-hosted on the Hub.
        pretraining_data: The (un)labelled data the checkpoint was trained on, from the seed.
        details: The seed's bullet list for this name, in order, as ``(key, value)`` pairs.
        notes: The seed's free text about this checkpoint, ``""`` if none.
        s3prl_urls: What S3PRL 0.4.18's hub function downloads by default (non-legacy path), verbatim; ``()``
            for the names of :data:`CONFIG_ONLY_FAMILIES`, which download nothing.
        original_urls: Files of the original release (fairseq URL, the authors' own hosting) that download with a
            plain GET; ``()`` if none (then only S3PRL's copy can be fetched).
        release_page: The authors' release page when its files cannot be fetched directly (Google Drive).
        revision: Pinned Hub revision of the converted repo, once published (from ``data/pins.json``).

    Example:
        >>> spec = get_spec("hubert")
        >>> spec.name, spec.family, spec.license
        ('hubert_base', 'hubert', 'mit')
    """

    name: str
    family: str
    method: str
    aliases: tuple[str, ...] = ()
    license: str
    license_url: str | None
    redistributable: bool
    pretraining_data: str
    details: tuple[tuple[str, str], ...] = ()
    notes: str = ""
    s3prl_urls: tuple[str, ...]
    original_urls: tuple[str, ...] = ()
    release_page: str | None = None
    revision: str | None = None

    @property
    def download_options(self) -> tuple[tuple["SourceFile", ...], ...]:
        """Where the original weights can be fetched, best first: S3PRL's copy, then the original release.

        Each option is the complete set of files of one release (two for Discrete BERT, VGGish and PASE+),
        with the sha256 and size recorded in ``data/pins.json`` where they are known.

        Example:
            >>> [f.url.rsplit("/", 1)[1] for option in get_spec("hubert").download_options for f in option]
            ['hubert_base_ls960.pt', 'hubert_base_ls960.pt']
        """
        options = [self.s3prl_urls]
        if self.original_urls and self.original_urls != self.s3prl_urls:
            options.append(self.original_urls)
        return tuple(tuple(source_file(url) for url in urls) for urls in options if urls)

    @property
    def repo_id(self) -> str:
        """The Hub repo id in the current namespace (see :func:`hub_namespace`).

        Example:
            >>> get_spec("wavlm").repo_id  # with S3PRL_HF_NAMESPACE unset
            's3prl-hf/wavlm_base_plus'
        """
        return self.repo_id_for(None)

    def repo_id_for(self, namespace: str | None) -> str:
        """The Hub repo id in ``namespace`` (``None``: the environment / default namespace).

        Example:
            >>> get_spec("hubert").repo_id_for("my-org")
            'my-org/hubert_base'
        """
        return f"{hub_namespace(namespace)}/{self.name}"


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One original checkpoint file and what is known of its bytes.

    Attributes:
        url: Where S3PRL or the authors publish it.
        sha256: Its hex digest, where established (``data/pins.json``); never guessed.
        size: Its size in bytes, where established.
    """

    url: str
    sha256: str | None = None
    size: int | None = None


# Facts established after the fact, by downloading and publishing: the sha256 and size of original files, and the
# Hub commit of each published repo. `conversion/publish.py` writes this file; nothing else edits it by hand.
PINS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pins.json")


def _load_pins() -> dict:
    with open(PINS_FILE, encoding="utf-8") as handle:
        pins = json.load(handle)
    if set(pins) != {"files", "revisions"}:
        raise ValueError(f"{PINS_FILE}: expected the keys 'files' and 'revisions', got {sorted(pins)}")
    for url, facts in pins["files"].items():
        digest = facts.get("sha256")
        if digest is not None and (len(digest) != 64 or set(digest) - set("0123456789abcdef")):
            raise ValueError(f"{PINS_FILE}: {url} has a malformed sha256 {digest!r}")
    return pins


PINS: dict = _load_pins()


def source_file(url: str) -> SourceFile:
    """The :class:`SourceFile` of ``url``, with its pinned sha256 and size when known.

    Example:
        >>> source_file("https://example.org/unknown.pt").sha256 is None
        True
    """
    facts = PINS["files"].get(url, {})
    return SourceFile(url=url, sha256=facts.get("sha256"), size=facts.get("size"))


def _bibtex(text: str) -> str:
    # The blocks below are indented to sit in the table; the stored value is the seed's block, dedented.
    return textwrap.dedent(text).strip("\n")


# --- Implementation families ----------------------------------------------------------------------------------
# Which model code runs a checkpoint. wav2vec2 covers wav2vec2_*, xlsr_53 and xls_r_*; hubert covers hubert_base,
# hubert_large_ll60k, hubert_base_robust_mgr and the HuBERT-format contentvec_*, mhubert_* and ms_hubert; decoar
# covers decoar_layers and decoar (one checkpoint); mockingjay also covers spec_augment (S3PRL runs it with that
# expert). In S3PRL, tera and audio_albert run mockingjay's expert and vq_apc runs apc's (their expert.py files import
# them); they stay families of their own here, as the project's layout asks, so that merging them later is an edit of
# this table only.
FAMILIES: tuple[str, ...] = (
    "mockingjay",
    "tera",
    "audio_albert",
    "apc",
    "vq_apc",
    "npc",
    "pase_plus",
    "modified_cpc",
    "decoar",
    "decoar2",
    "wav2vec",
    "vq_wav2vec",
    "discretebert",
    "wav2vec2",
    "wav2vec2_conformer",
    "hubert",
    "multires_hubert",
    "distilhubert",
    "lighthubert",
    "unispeech_sat",
    "wavlm",
    "data2vec",
    "ast",
    "ssast",
    "mae_ast",
    "byol_a",
    "byol_s",
    "vggish",
    "passt",
    "spectral",
    "espnet_hubert",
)
# Families whose upstreams have no weights: S3PRL computes them from a yaml config that it ships (upstream/baseline,
# upstream/log_stft). Their names download nothing: the config is built in (`auto.reference_config`).
CONFIG_ONLY_FAMILIES: tuple[str, ...] = ("spectral",)

# --- Weight licences (spread into the table entries) ----------------------------------------------------------
# fairseq releases (wav2vec, vq-wav2vec, the discretebert RoBERTa, wav2vec 2.0, XLSR, XLS-R, conformer, HuBERT,
# data2vec): the fairseq repository, models included, is MIT.
_FAIRSEQ = dict(
    license="mit", license_url="https://github.com/facebookresearch/fairseq/blob/main/LICENSE", redistributable=True
)
# WavLM is released from microsoft/unilm (MIT).
_WAVLM = dict(license="mit", license_url="https://github.com/microsoft/unilm/blob/master/LICENSE", redistributable=True)
# UniSpeech-SAT is released from microsoft/UniSpeech (MIT), the sibling of microsoft/unilm.
_UNISPEECH = dict(
    license="mit", license_url="https://github.com/microsoft/UniSpeech/blob/main/LICENSE", redistributable=True
)
# Trained and published by S3PRL's authors (Dropbox, huggingface.co/s3prl, huggingface.co/leo19941227): S3PRL's
# Apache-2.0 (setup.py: license="Apache Software License"). S3PRL's README carves out CC-BY-NC for the
# Facebook-authored *source files*; that concerns code, not these weights. No licence file ships with the
# checkpoints themselves, and nothing in S3PRL's code says otherwise.
_S3PRL = dict(
    license="apache-2.0", license_url="https://github.com/s3prl/s3prl/blob/main/LICENSE", redistributable=True
)
# NTT's "SOFTWARE LICENSE AGREEMENT FOR EVALUATION" forbids to "SELL, ASSIGN, LEASE, DISTRIBUTE, OR OTHERWISE
# TRANSFER THE SOFTWARE TO ANY THIRD PARTY": no re-hosting; users convert their own download.
_BYOL_A = dict(
    license="other", license_url="https://github.com/nttcslab/byol-a/blob/master/LICENSE", redistributable=False
)
# PaSST's AudioSet checkpoints are release assets of kkoutini/PaSST, whose LICENSE is Apache-2.0 (the releases add no
# terms of their own); the hear21passt package S3PRL vendors (kkoutini/passt_hear21) declares Apache-2.0 in setup.py.
_PASST = dict(
    license="apache-2.0", license_url="https://github.com/kkoutini/PaSST/blob/main/LICENSE", redistributable=True
)
# LightHuBERT's checkpoints: the authors' Hub repo declares Apache-2.0 in its model card metadata (the code on GitHub,
# mechanicalsea/lighthubert, is MIT).
_LIGHTHUBERT = dict(
    license="apache-2.0", license_url="https://huggingface.co/mechanicalsea/lighthubert", redistributable=True
)
# VoxPopuli's pre-trained models: "Pre-trained Models | CC BY-NC 4.0" (facebookresearch/voxpopuli README, License):
# re-hosting a converted copy with attribution is allowed, for non-commercial use only.
_VOXPOPULI = dict(
    license="cc-by-nc-4.0", license_url="https://github.com/facebookresearch/voxpopuli#license", redistributable=True
)
# ContentVec's weights are released from auspicious3000/contentvec (README, "Pre-trained models"), an MIT repository,
# as WavLM's are from microsoft/unilm.
_CONTENTVEC = dict(
    license="mit", license_url="https://github.com/auspicious3000/contentvec/blob/main/LICENSE", redistributable=True
)
# Licence not verified: neither S3PRL's code nor the project's research states the weights' licence. Not
# re-hosted until someone has read the original release's terms.
_NOT_VERIFIED = dict(license="other", license_url=None, redistributable=False)


def _cc_by_4(repo: str) -> dict:
    """CC-BY-4.0, as the `license:` of the ESPnet Hub repo's model card states (attribution; re-hosting allowed)."""
    return dict(license="cc-by-4.0", license_url=f"https://huggingface.co/espnet/{repo}", redistributable=True)

# --- Methods (one per seed section) -----------------------------------------------------------------------
# Each cited twice: vq-wav2vec and Discrete BERT (the seed repeats the block), wav2vec 2.0 and XLSR (extra_bibtex).
_WAV2VEC2_BIBTEX = _bibtex(r"""
    @article{baevski2020wav2vec,
        title={wav2vec 2.0: A framework for self-supervised learning of speech representations},
        author={Baevski, Alexei and Zhou, Yuhao and Mohamed, Abdelrahman and Auli, Michael},
        journal={Advances in Neural Information Processing Systems},
        volume={33},
        pages={12449--12460},
        year={2020}
    }
    """)
_VQ_WAV2VEC_BIBTEX = _bibtex(r"""
    @inproceedings{baevski2019vq,
        title={vq-wav2vec: Self-Supervised Learning of Discrete Speech Representations},
        author={Baevski, Alexei and Schneider, Steffen and Auli, Michael},
        booktitle={International Conference on Learning Representations},
        year={2019}
    }
    """)

METHODS: dict[str, Method] = {
    "mockingjay": Method(
        key="mockingjay",
        section="Mockingjay",
        title="Mockingjay: Unsupervised Speech Representation Learning with Deep Bidirectional Transformer Encoders",
        paper_url="https://arxiv.org/abs/1910.12638",
        bibtex=_bibtex(r"""
        @article{mockingjay,
            title={Mockingjay: Unsupervised Speech Representation Learning with Deep Bidirectional Transformer Encoders},
            ISBN={9781509066315},
            url={http://dx.doi.org/10.1109/ICASSP40776.2020.9054458},
            DOI={10.1109/icassp40776.2020.9054458},
            journal={ICASSP 2020 - 2020 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
            publisher={IEEE},
            author={Liu, Andy T. and Yang, Shu-wen and Chi, Po-Han and Hsu, Po-chun and Lee, Hung-yi},
            year={2020},
            month={May}
        }
        """),
        description="Mockingjay is a BERT on Spectrogram, with 12-layers of transformer encoders in the paper.",
    ),
    "tera": Method(
        key="tera",
        section="TERA",
        title="TERA: Self-Supervised Learning of Transformer Encoder Representation for Speech",
        paper_url="https://arxiv.org/abs/2007.06028",
        bibtex=_bibtex(r"""
        @misc{tera,
            title={TERA: Self-Supervised Learning of Transformer Encoder Representation for Speech},
            author={Andy T. Liu and Shang-Wen Li and Hung-yi Lee},
            year={2020},
            eprint={2007.06028},
            archivePrefix={arXiv},
            primaryClass={eess.AS}
        }
        """),
        description="",
    ),
    "audio_albert": Method(
        key="audio_albert",
        section="Audio ALBERT",
        title="Audio ALBERT: A Lite BERT for Self-supervised Learning of Audio Representation",
        paper_url="https://arxiv.org/abs/2007.06028",
        bibtex=_bibtex(r"""
        @inproceedings{chi2021audio,
            title={Audio albert: A lite bert for self-supervised learning of audio representation},
            author={Chi, Po-Han and Chung, Pei-Hung and Wu, Tsung-Han and Hsieh, Chun-Cheng and Chen, Yen-Hao and Li, Shang-Wen and Lee, Hung-yi},
            booktitle={2021 IEEE Spoken Language Technology Workshop (SLT)},
            pages={344--350},
            year={2021},
            organization={IEEE}
        }
        """),
        description="",
    ),
    "apc": Method(
        key="apc",
        section="APC",
        title="An Unsupervised Autoregressive Model for Speech Representation Learning",
        paper_url="https://arxiv.org/abs/1904.03240",
        bibtex=_bibtex(r"""
        @inproceedings{chung2019unsupervised,
            title = {An unsupervised autoregressive model for speech representation learning},
            author = {Chung, Yu-An and Hsu, Wei-Ning and Tang, Hao and Glass, James},
            booktitle = {Interspeech},
            year = {2019}
        }
        """),
        description="",
    ),
    "vq_apc": Method(
        key="vq_apc",
        section="VQ-APC",
        title="Vector-Quantized Autoregressive Predictive Coding",
        paper_url="https://arxiv.org/abs/2005.08392",
        bibtex=_bibtex(r"""
        @inproceedings{chung2020vqapc,
            title = {Vector-quantized autoregressive predictive coding},
            autohor = {Chung, Yu-An and Tang, Hao and Glass, James},
            booktitle = {Interspeech},
            year = {2020}
        }
        """),
        description="",
    ),
    "npc": Method(
        key="npc",
        section="NPC",
        title="Non-Autoregressive Predictive Coding for Learning Speech Representations from Local Dependencies",
        paper_url="https://arxiv.org/abs/2011.00406",
        bibtex=_bibtex(r"""
        @article{liu2020nonautoregressive,
            title   = {Non-Autoregressive Predictive Coding for Learning Speech Representations from Local Dependencies},
            author  = {Liu, Alexander and Chung, Yu-An and Glass, James},
            journal = {arXiv preprint arXiv:2011.00406},
            year    = {2020}
        }
        """),
        description="",
    ),
    "pase_plus": Method(
        key="pase_plus",
        section="PASE+",
        title="Multi-task self-supervised learning for Robust Speech Recognition",
        paper_url="https://arxiv.org/abs/2001.09239",
        bibtex=_bibtex(r"""
        @inproceedings{ravanelli2020multi,
            title={Multi-task self-supervised learning for robust speech recognition},
            author={Ravanelli, Mirco and Zhong, Jianyuan and Pascual, Santiago and Swietojanski, Pawel and Monteiro, Joao and Trmal, Jan and Bengio, Yoshua},
            booktitle={ICASSP 2020-2020 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
            pages={6989--6993},
            year={2020},
            organization={IEEE}
        }
        """),
        description="",
    ),
    "modified_cpc": Method(
        key="modified_cpc",
        section="Modified CPC",
        title="Unsupervised pretraining transfers well across languages",
        paper_url="https://arxiv.org/abs/2002.02848",
        bibtex=_bibtex(r"""
        @inproceedings{riviere2020unsupervised,
            title={Unsupervised pretraining transfers well across languages},
            author={Riviere, Morgane and Joulin, Armand and Mazar{\'e}, Pierre-Emmanuel and Dupoux, Emmanuel},
            booktitle={ICASSP 2020-2020 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
            pages={7414--7418},
            year={2020},
            organization={IEEE}
        }
        """),
        # The seed's note goes on "To cite the DeepMind version:", followed by the block kept in extra_bibtex.
        description="This is a slightly improved version on the original CPC by DeepMind.",
        extra_bibtex=(
            _bibtex(r"""
        @article{oord2018representation,
            title={Representation learning with contrastive predictive coding},
            author={Oord, Aaron van den and Li, Yazhe and Vinyals, Oriol},
            journal={arXiv preprint arXiv:1807.03748},
            year={2018}
        }
        """),
        ),
    ),
    "decoar": Method(
        key="decoar",
        section="DeCoAR",
        title="Deep contextualized acoustic representations for semi-supervised speech recognition",
        paper_url="https://arxiv.org/abs/1912.01679",
        bibtex=_bibtex(r"""
        @inproceedings{ling2020deep,
            title={Deep contextualized acoustic representations for semi-supervised speech recognition},
            author={Ling, Shaoshi and Liu, Yuzong and Salazar, Julian and Kirchhoff, Katrin},
            booktitle={ICASSP 2020-2020 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
            pages={6429--6433},
            year={2020},
            organization={IEEE}
        }
        """),
        description="",
    ),
    "decoar2": Method(
        key="decoar2",
        section="DeCoAR 2.0",
        title="DeCoAR 2.0: Deep Contextualized Acoustic Representations with Vector Quantization",
        paper_url="https://arxiv.org/abs/2012.06659",
        # The seed's title line ends in a space; the explicit " " keeps it (an editor would strip it from the source).
        bibtex=_bibtex(
            r"""
        @misc{ling2020decoar,
            title={DeCoAR 2.0: Deep Contextualized Acoustic Representations with Vector Quantization},"""
            " "
            r"""
            author={Shaoshi Ling and Yuzong Liu},
            year={2020},
            eprint={2012.06659},
            archivePrefix={arXiv},
            primaryClass={eess.AS}
        }
        """
        ),
        description="",
    ),
    "wav2vec": Method(
        key="wav2vec",
        section="wav2vec",
        title="wav2vec: Unsupervised Pre-Training for Speech Recognition",
        paper_url="https://arxiv.org/abs/1904.05862",
        bibtex=_bibtex(r"""
        @article{schneider2019wav2vec,
            title={wav2vec: Unsupervised Pre-Training for Speech Recognition},
            author={Schneider, Steffen and Baevski, Alexei and Collobert, Ronan and Auli, Michael},
            journal={Proc. Interspeech 2019},
            pages={3465--3469},
            year={2019}
        }
        """),
        description="",
    ),
    "vq_wav2vec": Method(
        key="vq_wav2vec",
        section="vq-wav2vec",
        title="vq-wav2vec: Self-supervised learning of discrete speech representations",
        paper_url="https://arxiv.org/abs/1910.05453",
        bibtex=_VQ_WAV2VEC_BIBTEX,
        description=(
            "We only take the Conv encoders' hidden_states for vq-wav2vec in this SSL method category. If you wish to "
            "consider the BERT model after ths Conv encoders, please refer to Discrete BERT."
        ),
    ),
    "discretebert": Method(
        key="discretebert",
        section="Discrete BERT",
        title="vq-wav2vec: Self-supervised learning of discrete speech representations",
        paper_url="https://arxiv.org/abs/1910.05453",
        bibtex=_VQ_WAV2VEC_BIBTEX,
        description=(
            "This method takes the Conv feature encoder's output, quantize it into token ids, and feed the tokens into "
            "a NLP BERT (Specifically, RoBERTa). The output hidden_states are all the hidden hidden_states of the NLP "
            "BERT (excluding the hidden_states in vq-wav2vec)"
        ),
    ),
    "wav2vec2": Method(
        key="wav2vec2",
        section="wav2vec 2.0",
        title="wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations",
        paper_url="https://arxiv.org/abs/2006.11477",
        bibtex=_WAV2VEC2_BIBTEX,
        description="",
    ),
    # xlsr_53 sits in the seed's "wav2vec 2.0" section but comes with its own paper and BibTeX there: it gets its
    # own method, citing XLSR first and wav2vec 2.0 second.
    "xlsr": Method(
        key="xlsr",
        section="wav2vec 2.0",
        title="Unsupervised Cross-lingual Representation Learning for Speech Recognition",
        paper_url="https://arxiv.org/abs/2006.13979",
        bibtex=_bibtex(r"""
        @article{conneau2020unsupervised,
            title={Unsupervised cross-lingual representation learning for speech recognition},
            author={Conneau, Alexis and Baevski, Alexei and Collobert, Ronan and Mohamed, Abdelrahman and Auli, Michael},
            journal={arXiv preprint arXiv:2006.13979},
            year={2020}
        }
        """),
        description="",
        extra_bibtex=(_WAV2VEC2_BIBTEX,),
    ),
    "xls_r": Method(
        key="xls_r",
        section="XLS-R",
        title="XLS-R: Self-supervised Cross-lingual Speech Representation Learning at Scale",
        paper_url="https://arxiv.org/abs/2111.09296",
        bibtex=_bibtex(r"""
        @article{babu2021xls,
        title={XLS-R: Self-supervised cross-lingual speech representation learning at scale},
        author={Babu, Arun and Wang, Changhan and Tjandra, Andros and Lakhotia, Kushal and Xu, Qiantong and Goyal, Naman and Singh, Kritika and von Platen, Patrick and Saraf, Yatharth and Pino, Juan and others},
        journal={arXiv preprint arXiv:2111.09296},
        year={2021}
        }
        """),
        description="",
    ),
    "hubert": Method(
        key="hubert",
        section="HuBERT",
        title="HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden Units",
        paper_url="https://arxiv.org/abs/2106.07447",
        bibtex=_bibtex(r"""
        @article{hsu2021hubert,
            title={Hubert: Self-supervised speech representation learning by masked prediction of hidden units},
            author={Hsu, Wei-Ning and Bolte, Benjamin and Tsai, Yao-Hung Hubert and Lakhotia, Kushal and Salakhutdinov, Ruslan and Mohamed, Abdelrahman},
            journal={IEEE/ACM Transactions on Audio, Speech, and Language Processing},
            volume={29},
            pages={3451--3460},
            year={2021},
            publisher={IEEE}
        }
        """),
        description="",
    ),
    # Not in the seed (S3PRL 0.4.18's code has the hub entries, its documentation of that version not). S3PRL's later
    # docs (upstream_collection.rst on main) give this title and the review-time entry ("author={Anonymous}",
    # "Submitted to ..."); the entry below is that one with the published authors and venue, as OpenReview
    # (forum kUuKFW7DIF, ICLR 2024 spotlight) and the ICLR 2024 programme list them.
    "multires_hubert": Method(
        key="multires_hubert",
        section="Multiresolution HuBERT (MR-HuBERT)",
        title="Multi-resolution HuBERT: Multi-resolution Speech Self-Supervised Learning with Masked Unit Prediction",
        paper_url="https://arxiv.org/abs/2310.02720",
        bibtex=_bibtex(r"""
        @inproceedings{shi2024multiresolution,
            title={Multi-resolution Hu{BERT}: Multi-resolution Speech Self-Supervised Learning with Masked Unit Prediction},
            author={Jiatong Shi and Hirofumi Inaguma and Xutai Ma and Ilia Kulikov and Anna Sun},
            booktitle={The Twelfth International Conference on Learning Representations},
            year={2024},
            url={https://openreview.net/forum?id=kUuKFW7DIF}
        }
        """),
        description=(
            "MR-HuBERT processes speech at several frame rates in a hierarchical transformer, trained with "
            "HuBERT-style masked unit prediction at each rate. These names are in S3PRL 0.4.18's hub code but not "
            "in its documented upstream collection."
        ),
    ),
    "distilhubert": Method(
        key="distilhubert",
        section="DistilHuBERT",
        title="DistilHuBERT: Speech Representation Learning by Layer-wise Distillation of Hidden-unit BERT",
        paper_url="https://arxiv.org/abs/2110.01900",
        bibtex=_bibtex(r"""
        @inproceedings{chang2022distilhubert,
            title={DistilHuBERT: Speech representation learning by layer-wise distillation of hidden-unit BERT},
            author={Chang, Heng-Jui and Yang, Shu-wen and Lee, Hung-yi},
            booktitle={ICASSP 2022-2022 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
            pages={7087--7091},
            year={2022},
            organization={IEEE}
        }
        """),
        description="",
    ),
    # Not in the seed (S3PRL's docs do not list LightHuBERT): title and arXiv link from the paper, BibTeX from the authors'
    # README (github.com/mechanicalsea/lighthubert).
    "lighthubert": Method(
        key="lighthubert",
        section="LightHuBERT",
        title="LightHuBERT: Lightweight and Configurable Speech Representation Learning with Once-for-All Hidden-Unit "
        "BERT",
        paper_url="https://arxiv.org/abs/2203.15610",
        bibtex=_bibtex(r"""
        @inproceedings{wang2022lighthubert,
          title={{LightHuBERT}: Lightweight and Configurable Speech Representation Learning with Once-for-All Hidden-Unit {BERT}},
          author={Rui Wang and Qibing Bai and Junyi Ao and Long Zhou and Zhixiang Xiong and Zhihua Wei and Yu Zhang and Tom Ko and Haizhou Li},
          booktitle={Proc. Interspeech},
          month = {sep},
          number = {September},
          pages = {1686--1690},
          year={2022},
          doi = {10.21437/Interspeech.2022-10269},
          url = {https://www.isca-speech.org/archive/interspeech_2022/wang22t_interspeech.html},
        }
        """),
        description=(
            "A once-for-all supernet (HuBERT Base's network, 12 layers, 768 wide) distilled from HuBERT, from which "
            "subnets of other widths, head counts, FFN ratios and depths are cut without retraining. Each checkpoint "
            "holds the whole supernet; S3PRL runs one fixed subnet of it."
        ),
    ),
    "hubert_mgr": Method(
        key="hubert_mgr",
        section="HuBERT-MGR",
        title="Improving Distortion Robustness of Self-supervised Speech Processing Tasks with Domain Adaptation",
        paper_url="https://arxiv.org/abs/2203.16104",
        bibtex=_bibtex(r"""
        @article{huang2022improving,
            title={Improving Distortion Robustness of Self-supervised Speech Processing Tasks with Domain Adaptation},
            author={Huang, Kuan Po and Fu, Yu-Kuan and Zhang, Yu and Lee, Hung-yi},
            journal={arXiv preprint arXiv:2203.16104},
            year={2022}
        }
        """),
        description="",
    ),
    "unispeech_sat": Method(
        key="unispeech_sat",
        section="Unispeech-SAT",
        title="Unispeech-sat: Universal speech representation learning with speaker aware pre-training",
        paper_url="https://arxiv.org/abs/2110.05752",
        bibtex=_bibtex(r"""
        @inproceedings{chen2022unispeech,
            title={Unispeech-sat: Universal speech representation learning with speaker aware pre-training},
            author={Chen, Sanyuan and Wu, Yu and Wang, Chengyi and Chen, Zhengyang and Chen, Zhuo and Liu, Shujie and Wu, Jian and Qian, Yao and Wei, Furu and Li, Jinyu and others},
            booktitle={ICASSP 2022-2022 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
            pages={6152--6156},
            year={2022},
            organization={IEEE}
        }
        """),
        description="",
    ),
    "wavlm": Method(
        key="wavlm",
        section="WavLM",
        title="WavLM: Large-Scale Self-Supervised Pre-Training for Full Stack Speech Processing",
        paper_url="https://arxiv.org/abs/2110.13900",
        bibtex=_bibtex(r"""
        @article{Chen2021WavLM,
            title   = {WavLM: Large-Scale Self-Supervised  Pre-training   for Full Stack Speech Processing},
            author  = {Sanyuan Chen and Chengyi Wang and Zhengyang Chen and Yu Wu and Shujie Liu and Zhuo Chen and Jinyu Li and Naoyuki Kanda and Takuya Yoshioka and Xiong Xiao and Jian Wu and Long Zhou and Shuo Ren and Yanmin Qian and Yao Qian and Jian Wu and Michael Zeng and Furu Wei},
            eprint={2110.13900},
            archivePrefix={arXiv},
            primaryClass={cs.CL},
            year={2021}
        }
        """),
        description="",
    ),
    "data2vec": Method(
        key="data2vec",
        section="data2vec",
        title="data2vec: A General Framework for Self-supervised Learning in Speech, Vision and Language",
        paper_url="https://arxiv.org/abs/2202.03555",
        bibtex=_bibtex(r"""
        @article{baevski2022data2vec,
            title={Data2vec: A general framework for self-supervised learning in speech, vision and language},
            author={Baevski, Alexei and Hsu, Wei-Ning and Xu, Qiantong and Babu, Arun and Gu, Jiatao and Auli, Michael},
            journal={arXiv preprint arXiv:2202.03555},
            year={2022}
        }
        """),
        description="",
    ),
    "ast": Method(
        key="ast",
        section="AST",
        title="AST: Audio Spectrogram Transformer",
        paper_url="https://arxiv.org/abs/2104.01778",
        bibtex=_bibtex(r"""
        @article{gong2021ast,
            title={Ast: Audio spectrogram transformer},
            author={Gong, Yuan and Chung, Yu-An and Glass, James},
            journal={arXiv preprint arXiv:2104.01778},
            year={2021}
        }
        """),
        description="",
    ),
    "ssast": Method(
        key="ssast",
        section="SSAST",
        title="SSAST: Self-Supervised Audio Spectrogram Transformer",
        paper_url="https://arxiv.org/abs/2110.09784",
        bibtex=_bibtex(r"""
        @inproceedings{gong2022ssast,
            title={Ssast: Self-supervised audio spectrogram transformer},
            author={Gong, Yuan and Lai, Cheng-I and Chung, Yu-An and Glass, James},
            booktitle={Proceedings of the AAAI Conference on Artificial Intelligence},
            volume={36},
            number={10},
            pages={10699--10709},
            year={2022}
        }
        """),
        description="",
    ),
    "mae_ast": Method(
        key="mae_ast",
        section="MAE-AST",
        title="MAE-AST: Masked Autoencoding Audio Spectrogram Transformer",
        paper_url="https://arxiv.org/abs/2203.16691",
        bibtex=_bibtex(r"""
        @article{baade2022mae,
            title={MAE-AST: Masked Autoencoding Audio Spectrogram Transformer},
            author={Baade, Alan and Peng, Puyuan and Harwath, David},
            journal={arXiv preprint arXiv:2203.16691},
            year={2022}
        }
        """),
        description="",
    ),
    "byol_a": Method(
        key="byol_a",
        section="Byol-A",
        title="BYOL for Audio: Self-Supervised Learning for General-Purpose Audio Representation",
        paper_url="https://arxiv.org/abs/2103.06695",
        bibtex=_bibtex(r"""
        @inproceedings{niizumi2021byol,
            title={BYOL for audio: Self-supervised learning for general-purpose audio representation},
            author={Niizumi, Daisuke and Takeuchi, Daiki and Ohishi, Yasunori and Harada, Noboru and Kashino, Kunio},
            booktitle={2021 International Joint Conference on Neural Networks (IJCNN)},
            pages={1--8},
            year={2021},
            organization={IEEE}
        }
        """),
        description="",
    ),
    "byol_s": Method(
        key="byol_s",
        section="Byol-S",
        title="BYOL-S: Learning Self-supervised Speech Representations by Bootstrapping",
        paper_url="https://arxiv.org/abs/2206.12038",
        bibtex=_bibtex(r"""
        @article{elbanna2022byol,
            title={Byol-s: Learning self-supervised speech representations by bootstrapping},
            author={Elbanna, Gasser and Scheidwasser-Clow, Neil and Kegler, Mikolaj and Beckmann, Pierre and Hajal, Karl El and Cernak, Milos},
            journal={arXiv preprint arXiv:2206.12038},
            year={2022}
        }
        """),
        description="",
    ),
    "vggish": Method(
        key="vggish",
        section="VGGish",
        title="CNN Architectures for Large-Scale Audio Classification",
        paper_url="https://arxiv.org/abs/1609.09430",
        bibtex=_bibtex(r"""
        @inproceedings{hershey2017cnn,
            title={CNN architectures for large-scale audio classification},
            author={Hershey, Shawn and Chaudhuri, Sourish and Ellis, Daniel PW and Gemmeke, Jort F and Jansen, Aren and Moore, R Channing and Plakal, Manoj and Platt, Devin and Saurous, Rif A and Seybold, Bryan and others},
            booktitle={2017 ieee international conference on acoustics, speech and signal processing (icassp)},
            pages={131--135},
            year={2017},
            organization={IEEE}
        }
        """),
        description="",
    ),
    "passt": Method(
        key="passt",
        section="PaSST",
        title="Efficient Training of Audio Transformers with Patchout",
        paper_url="https://arxiv.org/abs/2110.05069",
        # Not in S3PRL's upstream collection docs: the citation kkoutini/PaSST's README gives.
        bibtex=_bibtex(r"""
        @inproceedings{koutini22passt,
          author       = {Khaled Koutini and
                          Jan Schl{\"{u}}ter and
                          Hamid Eghbal{-}zadeh and
                          Gerhard Widmer},
          title        = {Efficient Training of Audio Transformers with Patchout},
          booktitle    = {Interspeech 2022, 23rd Annual Conference of the International Speech
                          Communication Association, Incheon, Korea, 18-22 September 2022},
          pages        = {2753--2757},
          publisher    = {{ISCA}},
          year         = {2022},
          url          = {https://doi.org/10.21437/Interspeech.2022-227},
          doi          = {10.21437/Interspeech.2022-227},
        }
        """),
        description="",
    ),
    # --- Not in the seed: S3PRL's signal-processing baselines (upstream/baseline, upstream/log_stft) -----------
    "kaldi_features": Method(
        key="kaldi_features",
        section="Baseline features (Kaldi)",
        title="Kaldi-compatible filterbank, MFCC and spectrogram features",
        paper_url=None,
        bibtex=_bibtex(r"""
        @inproceedings{povey2011kaldi,
            title={The Kaldi speech recognition toolkit},
            author={Povey, Daniel and Ghoshal, Arnab and Boulianne, Gilles and Burget, Lukas and Glembek, Ondrej and Goel, Nagendra and Hannemann, Mirko and Motlicek, Petr and Qian, Yanmin and Schwarz, Petr and Silovsky, Jan and Stemmer, Georg and Vesely, Karel},
            booktitle={IEEE 2011 Workshop on Automatic Speech Recognition and Understanding},
            year={2011},
            organization={IEEE Signal Processing Society}
        }
        """),
        description=(
            "Classical features, no training: torchaudio.compliance.kaldi's log mel filterbank, MFCC or log power "
            "spectrogram of each utterance (25 ms povey windows every 10 ms), with S3PRL's deltas and "
            "per-utterance mean and variance normalisation as its yaml config says."
        ),
        extra_bibtex=(_bibtex(r"""
        @article{davis1980comparison,
            title={Comparison of parametric representations for monosyllabic word recognition in continuously spoken sentences},
            author={Davis, Steven and Mermelstein, Paul},
            journal={IEEE Transactions on Acoustics, Speech, and Signal Processing},
            volume={28},
            number={4},
            pages={357--366},
            year={1980}
        }
        """),),
    ),
    "stft_features": Method(
        key="stft_features",
        section="Baseline features (STFT)",
        title="STFT log mel, log linear and magnitude spectrogram features",
        paper_url=None,
        bibtex=_bibtex(r"""
        @article{allen1977short,
            title={Short term spectral analysis, synthesis, and modification by discrete Fourier transform},
            author={Allen, Jont B.},
            journal={IEEE Transactions on Acoustics, Speech, and Signal Processing},
            volume={25},
            number={3},
            pages={235--238},
            year={1977}
        }
        """),
        description=(
            "Classical features, no training: torch.stft of the waveform, as a log mel or log linear power "
            "spectrogram normalised per utterance (S3PRL's OnlinePreprocessor, 25 ms Hann windows every 10 ms) or "
            "as the STFT magnitude (S3PRL's log_stft expert, 32 ms windows every 20 ms)."
        ),
    ),
    # --- Methods of hub-only names (S3PRL 0.4.18 hub functions outside its documented collection, the seed) ----
    # Titles and links as S3PRL 0.4.18's own docs give them where they do (the s2st and mhubert entries); BibTeX from
    # the papers' venues (S3PRL gives none).
    "contentvec": Method(
        key="contentvec",
        section="ContentVec",
        title="ContentVec: An Improved Self-Supervised Speech Representation by Disentangling Speakers",
        paper_url="https://arxiv.org/abs/2204.09224",
        bibtex=_bibtex(r"""
        @inproceedings{qian2022contentvec,
            title={ContentVec: An Improved Self-Supervised Speech Representation by Disentangling Speakers},
            author={Qian, Kaizhi and Zhang, Yang and Gao, Heting and Ni, Junrui and Lai, Cheng-I and Cox, David and Hasegawa-Johnson, Mark and Chang, Shiyu},
            booktitle={International Conference on Machine Learning},
            pages={18003--18017},
            year={2022},
            organization={PMLR}
        }
        """),
        description=(
            "ContentVec trains HuBERT Base with speaker-disentangling teachers, students and speaker conditioning. "
            "The speaker-conditioned layers exist only in pre-training; the released legacy checkpoints hold the "
            "representation network alone, a plain HuBERT Base, which is what S3PRL loads."
        ),
    ),
    "mhubert": Method(
        key="mhubert",
        section="mHuBERT",
        title="Textless Speech-to-Speech Translation on Real Data",
        paper_url="https://arxiv.org/abs/2112.08352",
        bibtex=_bibtex(r"""
        @inproceedings{lee2022textless,
            title={Textless Speech-to-Speech Translation on Real Data},
            author={Lee, Ann and Gong, Hongyu and Duquenne, Paul-Ambroise and Schwenk, Holger and Chen, Peng-Jen and Wang, Changhan and Popuri, Sravya and Adi, Yossi and Pino, Juan and Gu, Jiatao and Hsu, Wei-Ning},
            booktitle={Proceedings of the 2022 Conference of the North American Chapter of the Association for Computational Linguistics: Human Language Technologies},
            year={2022}
        }
        """),
        description="",
    ),
    "ms_hubert": Method(
        key="ms_hubert",
        section="MS-HuBERT",
        title=("MS-HuBERT: Mitigating Pre-training and Inference Mismatch in Masked Language Modelling methods for "
               "learning Speech Representations"),
        paper_url="https://arxiv.org/abs/2406.05661",
        bibtex=_bibtex(r"""
        @inproceedings{yadav2024mshubert,
            title={MS-HuBERT: Mitigating Pre-training and Inference Mismatch in Masked Language Modelling methods for learning Speech Representations},
            author={Yadav, Hemant and Sitaram, Sunayana and Shah, Rajiv Ratn},
            booktitle={Proc. Interspeech 2024},
            year={2024}
        }
        """),
        description=(
            "MS-HuBERT changes HuBERT's pre-training only (the Swap method and a multi-cluster masked prediction "
            "loss); the network is HuBERT's, run by S3PRL's HuBERT expert."
        ),
    ),
    "voxpopuli": Method(
        key="voxpopuli",
        section="VoxPopuli",
        title=("VoxPopuli: A Large-Scale Multilingual Speech Corpus for Representation Learning, Semi-Supervised "
               "Learning and Interpretation"),
        paper_url="https://arxiv.org/abs/2101.00390",
        # facebookresearch/voxpopuli README's citation, verbatim
        bibtex=_bibtex(r"""
        @inproceedings{wang-etal-2021-voxpopuli,
            title = "{V}ox{P}opuli: A Large-Scale Multilingual Speech Corpus for Representation Learning, Semi-Supervised Learning and Interpretation",
            author = "Wang, Changhan  and
              Riviere, Morgane  and
              Lee, Ann  and
              Wu, Anne  and
              Talnikar, Chaitanya  and
              Haziza, Daniel  and
              Williamson, Mary  and
              Pino, Juan  and
              Dupoux, Emmanuel",
            booktitle = "Proceedings of the 59th Annual Meeting of the Association for Computational Linguistics and the 11th International Joint Conference on Natural Language Processing (Volume 1: Long Papers)",
            month = aug,
            year = "2021",
            address = "Online",
            publisher = "Association for Computational Linguistics",
            url = "https://aclanthology.org/2021.acl-long.80",
            pages = "993--1003",
        }
        """),
        description="",
    ),
    "enhanced_s2st": Method(
        key="enhanced_s2st",
        section="wav2vec 2.0 for speech-to-speech translation",
        title=("Enhanced Direct Speech-to-Speech Translation Using Self-supervised Pre-training and Data "
               "Augmentation"),
        paper_url="https://arxiv.org/abs/2204.02967",
        bibtex=_bibtex(r"""
        @inproceedings{popuri2022enhanced,
            title={Enhanced Direct Speech-to-Speech Translation Using Self-supervised Pre-training and Data Augmentation},
            author={Popuri, Sravya and Chen, Peng-Jen and Wang, Changhan and Pino, Juan and Adi, Yossi and Gu, Jiatao and Hsu, Wei-Ning and Lee, Ann},
            booktitle={Proc. Interspeech 2022},
            year={2022},
            doi={10.21437/Interspeech.2022-11032}
        }
        """),
        description=(
            "The pre-trained wav2vec 2.0 encoders of fairseq's speech-to-unit translation models "
            "(examples/speech_to_speech/docs/enhanced_direct_s2st_discrete_units.md), before S2ST fine-tuning."
        ),
    ),
    "spec_augment": Method(
        key="spec_augment",
        section="SpecAugment",
        title="SpecAugment: A Simple Data Augmentation Method for Automatic Speech Recognition",
        paper_url="https://arxiv.org/abs/1904.08779",
        bibtex=_bibtex(r"""
        @inproceedings{park2019specaugment,
            title={SpecAugment: A Simple Data Augmentation Method for Automatic Speech Recognition},
            author={Park, Daniel S. and Chan, William and Zhang, Yu and Chiu, Chung-Cheng and Zoph, Barret and Cubuk, Ekin D. and Le, Quoc V.},
            booktitle={Proc. Interspeech 2019},
            pages={2613--2617},
            year={2019},
            doi={10.21437/Interspeech.2019-2680}
        }
        """),
        description=(
            "The paper of the masking this upstream's pre-training task uses: S3PRL's pretrain/spec_augment recipe "
            "reconstructs log-mel frames masked with SpecAugment's LD policy (T=100, F=9 of 80 bins, two time and two "
            "frequency masks)."
        ),
    ),
    # Hub-only methods (S3PRL's hubconf has them, its upstream collection docs do not): S3PRL's README cites
    # "ESPnet HuBERT" (arXiv 2306.06672) and "WavLabLM" (arXiv 2309.15317) for its ESPnet upstreams. No seed block
    # exists; the BibTeX holds the arXiv record's title, authors and number.
    "espnet_hubert": Method(
        key="espnet_hubert",
        section="ESPnet HuBERT",
        title="Reducing Barriers to Self-Supervised Learning: HuBERT Pre-training with Academic Compute",
        paper_url="https://arxiv.org/abs/2306.06672",
        bibtex=_bibtex(r"""
        @article{chen2023reducing,
            title={Reducing Barriers to Self-Supervised Learning: HuBERT Pre-training with Academic Compute},
            author={Chen, William and Chang, Xuankai and Peng, Yifan and Ni, Zhaoheng and Maiti, Soumi and Watanabe, Shinji},
            journal={arXiv preprint arXiv:2306.06672},
            year={2023}
        }
        """),
        description="HuBERT pre-trained with ESPnet's SSL recipes on torchaudio's HuBERT network "
        "(`torchaudio.models.hubert_pretrain_model`); S3PRL loads the ESPnet release (a `.pth` state dict and its "
        "`config.yaml`) through ESPnet and returns every transformer layer's output.",
    ),
    "wavlablm": Method(
        key="wavlablm",
        section="WavLabLM",
        title="Joint Prediction and Denoising for Large-scale Multilingual Self-supervised Learning",
        paper_url="https://arxiv.org/abs/2309.15317",
        bibtex=_bibtex(r"""
        @article{chen2023joint,
            title={Joint Prediction and Denoising for Large-scale Multilingual Self-supervised Learning},
            author={Chen, William and Shi, Jiatong and Yan, Brian and Berrebbi, Dan and Zhang, Wangyou and Peng, Yifan and Chang, Xuankai and Maiti, Soumi and Watanabe, Shinji},
            journal={arXiv preprint arXiv:2309.15317},
            year={2023}
        }
        """),
        description="WavLM's joint prediction and denoising extended to 40k hours of speech in 136 languages, with "
        "multi-stage pre-training; trained with ESPnet on torchaudio's HuBERT network, loaded by S3PRL like the "
        "ESPnet HuBERT models.",
    ),
}


# --- The table: one entry per canonical name, in the seed's order -------------------------------------------------
# `aliases` is left out: it is derived from _ALIAS_ROWS below.
_TABLE: tuple[UpstreamSpec, ...] = (
    # --- Mockingjay: trained and published by S3PRL's authors -----------------------------------------------
    UpstreamSpec(
        name="mockingjay_logMelBase_T_AdamW_b32_200k_100hr",
        family="mockingjay",
        method="mockingjay",
        pretraining_data="LibriSpeech 100hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "200k"),
            ("Unlabled Speech", "LibriSpeech 100hr"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/luorglf8mdg67l2/states-200000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/luorglf8mdg67l2/states-200000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1",
        family="mockingjay",
        method="mockingjay",
        pretraining_data="LibriSpeech 360hr",
        details=(
            ("Feature", "80-dim log Mel (input) / 201-dim Linear (target)"),
            ("Alteration", "time"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "500k"),
            ("Unlabled Speech", "LibriSpeech 360hr"),
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/mockingjay/resolve/main/mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1/states-500000.ckpt",
        ),
        original_urls=(
            "https://huggingface.co/s3prl/mockingjay/resolve/main/mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1/states-500000.ckpt",
        ),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="mockingjay_logMelBase_T_AdamW_b32_1m_960hr",
        family="mockingjay",
        method="mockingjay",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/jzx0xggk663jev6/states-1000000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/jzx0xggk663jev6/states-1000000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1",
        family="mockingjay",
        method="mockingjay",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
            ("Differences", "Dropout of 0.1 (instead of 0.3)"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/7f9z6dzc7oix6qv/states-1000000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/7f9z6dzc7oix6qv/states-1000000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k",
        family="mockingjay",
        method="mockingjay",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
            ("Differences", "sequence length of 3k (instead of 1.5k)"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/qnnvdrai2tfmjmh/states-1000000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/qnnvdrai2tfmjmh/states-1000000.ckpt?dl=1",),
        **_S3PRL,
    ),
    # --- TERA: trained and published by S3PRL's authors -----------------------------------------------------
    UpstreamSpec(
        name="tera_logMelBase_T_F_AdamW_b32_200k_100hr",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 100hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time + freq"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "200k"),
            ("Unlabled Speech", "LibriSpeech 100hr"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/o36qt1zgtn3tsep/states-200000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/o36qt1zgtn3tsep/states-200000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="tera_logMelBase_T_F_M_AdamW_b32_200k_100hr",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 100hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time + freq + mag"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "200k"),
            ("Unlabled Speech", "LibriSpeech 100hr"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/l9ryl82k64m1lsk/states-200000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/l9ryl82k64m1lsk/states-200000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="tera_logMelBase_T_F_AdamW_b32_1m_960hr",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time + freq"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/98olxex0m7oy9ta/states-1000000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/98olxex0m7oy9ta/states-1000000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time + freq"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
            ("Differences", "Dropout of 0.1 (instead of 0.3)"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/2ekbt2gxlkbvfz0/states-1000000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/2ekbt2gxlkbvfz0/states-1000000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time + freq"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
            ("Differences", "sequence length of 3k (instead of 1.5k)"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/tfysinbalpm3gsj/states-1000000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/tfysinbalpm3gsj/states-1000000.ckpt?dl=1",),
        **_S3PRL,
    ),
    # The seed writes only "960hr" here; every 960hr checkpoint of the series is LibriSpeech 960hr.
    UpstreamSpec(
        name="tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time + freq + mag"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "960hr"),
            ("Differences", "Dropout of 0.1 (instead of 0.3)"),
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/tera/resolve/main/tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1/states-1000000.ckpt",
        ),
        original_urls=(
            "https://huggingface.co/s3prl/tera/resolve/main/tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1/states-1000000.ckpt",
        ),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="tera_fbankBase_T_F_AdamW_b32_200k_100hr",
        family="tera",
        method="tera",
        pretraining_data="LibriSpeech 100hr",
        details=(
            ("Feature", "240-dim fbank"),
            ("Alteration", "time + freq"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "200k"),
            ("Unlabled Speech", "LibriSpeech 100hr"),
        ),
        s3prl_urls=("https://www.dropbox.com/s/i32ob29m6afufot/states-200000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/i32ob29m6afufot/states-200000.ckpt?dl=1",),
        **_S3PRL,
    ),
    # --- Audio ALBERT: trained and published by S3PRL's authors ---------------------------------------------
    UpstreamSpec(
        name="audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1",
        family="audio_albert",
        method="audio_albert",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Feature", "80-dim log Mel"),
            ("Alteration", "time"),
            ("Optimizer", "AdamW"),
            ("Batch size", "32"),
            ("Total steps", "1M"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/audio_albert/resolve/main/audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1/states-1000000.ckpt",
        ),
        original_urls=(
            "https://huggingface.co/s3prl/audio_albert/resolve/main/audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1/states-1000000.ckpt",
        ),
        **_S3PRL,
    ),
    # --- APC, VQ-APC, NPC -----------------------------------------------------------------------------------
    # Published by an S3PRL author (huggingface.co/leo19941227/apc_series), hence S3PRL's Apache-2.0; no other
    # release of these checkpoints is referenced, and the method authors' own repositories were not checked.
    UpstreamSpec(
        name="apc_360hr",
        family="apc",
        method="apc",
        pretraining_data="LibriSpeech 360hr",
        details=(("Unlabled Speech", "LibriSpeech 360hr"),),
        s3prl_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/apc_360hr.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/apc_360hr.ckpt",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="apc_960hr",
        family="apc",
        method="apc",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        s3prl_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/apc_960hr.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/apc_960hr.ckpt",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="vq_apc_360hr",
        family="vq_apc",
        method="vq_apc",
        pretraining_data="LibriSpeech 360hr",
        details=(("Unlabled Speech", "LibriSpeech 360hr"),),
        s3prl_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/vq_apc_360hr.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/vq_apc_360hr.ckpt",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="vq_apc_960hr",
        family="vq_apc",
        method="vq_apc",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        s3prl_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/vq_apc_960hr.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/vq_apc_960hr.ckpt",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="npc_360hr",
        family="npc",
        method="npc",
        pretraining_data="LibriSpeech 360hr",
        details=(("Unlabled Speech", "LibriSpeech 360hr"),),
        s3prl_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/npc_360hr.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/npc_360hr.ckpt",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="npc_960hr",
        family="npc",
        method="npc",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        s3prl_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/npc_960hr.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/apc_series/resolve/main/npc_960hr.ckpt",),
        **_S3PRL,
    ),
    # --- PASE+ ----------------------------------------------------------------------------------------------
    # Licence not verified (the PASE+ release's terms were not read). Two files: the encoder weights and its JSON
    # config.
    UpstreamSpec(
        name="pase_plus",
        family="pase_plus",
        method="pase_plus",
        pretraining_data="LibriSpeech 50hr",
        details=(("Unlabled Speech", "LibriSpeech 50hr"),),
        s3prl_urls=(
            "https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1",
            "https://www.dropbox.com/s/2p3ouod1k0ekfxn/PASE%2B.cfg?dl=1",
        ),
        original_urls=(
            "https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1",
            "https://www.dropbox.com/s/2p3ouod1k0ekfxn/PASE%2B.cfg?dl=1",
        ),
        **_NOT_VERIFIED,
    ),
    # --- Modified CPC ---------------------------------------------------------------------------------------
    # Licence not verified: a Libri-Light release (dl.fbaipublicfiles.com/librilight), not fairseq.
    UpstreamSpec(
        name="modified_cpc",
        family="modified_cpc",
        method="modified_cpc",
        pretraining_data="LibriLight 60k hours",
        details=(("Unlabled Speech", "LibriLight 60k hours"),),
        s3prl_urls=("https://dl.fbaipublicfiles.com/librilight/CPC_checkpoints/60k_epoch4-d0f474de.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/librilight/CPC_checkpoints/60k_epoch4-d0f474de.pt",),
        **_NOT_VERIFIED,
    ),
    # --- DeCoAR, DeCoAR 2.0 ---------------------------------------------------------------------------------
    # Licence not verified (Amazon's release terms were not read). S3PRL's copies are re-uploads and its code names
    # no original URL. Both hubconf docstrings say "The apc standard model on 360hr": a copy-paste slip, not a fact.
    UpstreamSpec(
        name="decoar_layers",
        family="decoar",
        method="decoar",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/checkpoint_decoar.pt",),
        original_urls=(),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="decoar2",
        family="decoar2",
        method="decoar2",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/checkpoint_decoar2.pt",),
        original_urls=(),
        **_NOT_VERIFIED,
    ),
    # --- fairseq releases: wav2vec, vq-wav2vec, Discrete BERT, wav2vec 2.0, XLSR, XLS-R, HuBERT -------------
    # s3prl_urls: S3PRL's fairseq-free re-saves; original_urls: the fairseq URL its legacy=True path loads.
    UpstreamSpec(
        name="wav2vec_large",
        family="wav2vec",
        method="wav2vec",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        notes="This is the official wav2vec model from fairseq.",
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec_large.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/wav2vec_large.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="vq_wav2vec_gumbel",
        family="vq_wav2vec",
        method="vq_wav2vec",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        notes=(
            "This is the official vq-wav2vec model from fairseq. This model uses gumbel-softmax as the quantization "
            "technique"
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/vq-wav2vec.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/vq-wav2vec.pt",),
        **_FAIRSEQ,
    ),
    # The seed gives no data bullet here; the vq-wav2vec paper pre-trains both quantisers on LibriSpeech 960hr.
    UpstreamSpec(
        name="vq_wav2vec_kmeans",
        family="vq_wav2vec",
        method="vq_wav2vec",
        pretraining_data="LibriSpeech 960hr",
        notes=(
            "This is the official vq-wav2vec model from fairseq. This model uses K-means as the quantization technique"
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/vq-wav2vec_kmeans.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/vq-wav2vec_kmeans.pt",),
        **_FAIRSEQ,
    ),
    # Two checkpoints: the RoBERTa and its tokenizer, vq_wav2vec_kmeans (the hub function calls vq_wav2vec_kmeans()
    # itself). No data bullet in the seed; the BERT is trained on the k-means codes of LibriSpeech 960hr.
    UpstreamSpec(
        name="vq_wav2vec_kmeans_roberta",
        family="discretebert",
        method="discretebert",
        pretraining_data="LibriSpeech 960hr",
        notes=(
            "This model uses vq_wav2vec_kmeans as the frontend waveform tokenizer. After the waveform is tokenized into"
            " a sequence of token ids, tokens are then fed into a RoBERTa model."
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/vq_wav2vec_kmeans_roberta.pt",
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/vq-wav2vec_kmeans.pt",
        ),
        original_urls=(
            "https://dl.fbaipublicfiles.com/fairseq/wav2vec/bert_kmeans.tar",
            "https://dl.fbaipublicfiles.com/fairseq/wav2vec/vq-wav2vec_kmeans.pt",
        ),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_base_960",
        family="wav2vec2",
        method="wav2vec2",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Architecture", "12-layer Transformer encoders"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
        ),
        notes="This is the official wav2vec 2.0 model in fairseq",
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec_small.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/wav2vec_small.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_large_960",
        family="wav2vec2",
        method="wav2vec2",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Architecture", "24-layer Transformer encoders"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/libri960_big.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/libri960_big.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_large_ll60k",
        family="wav2vec2",
        method="wav2vec2",
        pretraining_data="LibriLight LL60k hours",
        details=(
            ("Architecture", "24-layer Transformer encoders"),
            ("Unlabled Speech", "LibriLight LL60k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec_vox_new.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/wav2vec_vox_new.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_large_lv60_cv_swbd_fsh",
        family="wav2vec2",
        method="wav2vec2",
        pretraining_data="Libri-Light 60k hours + CommonVoice + Switchboard + Fisher",
        details=(
            ("Architecture", "24-layer Transformer encoders"),
            ("Unlabeled Speech", "Libri-Light 60k hours + CommonVoice + Switchboard + Fisher"),
        ),
        notes="The Large model trained on Libri-Light 60k hours + CommonVoice + Switchboard + Fisher",
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/w2v_large_lv_fsh_swbd_cv.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/w2v_large_lv_fsh_swbd_cv.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_conformer_relpos",
        family="wav2vec2_conformer",
        method="wav2vec2",
        pretraining_data="LibriLight LL60k hours",
        details=(
            ("Architecture", "24-layer Conformer encoders with relative positional encoding"),
            ("Unlabeled Speech", "LibriLight LL60k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/LL_relpos_PT_no_FT.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/conformer/wav2vec2/librilight/LL_relpos_PT_no_FT",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_conformer_rope",
        family="wav2vec2_conformer",
        method="wav2vec2",
        pretraining_data="LibriLight LL60k hours",
        details=(
            ("Architecture", "24-layer Conformer encoders with ROPE positional encoding"),
            ("Unlabeled Speech", "LibriLight LL60k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/LL_rope_PT_no_FT.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/conformer/wav2vec2/librilight/LL_rope_PT_no_FT",),
        **_FAIRSEQ,
    ),
    # No data bullet in the seed; the XLSR paper pre-trains XLSR-53 on 56K hours in 53 languages (MLS, CommonVoice,
    # BABEL), hence the file name xlsr_53_56k.
    UpstreamSpec(
        name="xlsr_53",
        family="wav2vec2",
        method="xlsr",
        pretraining_data="53 languages, 56K hours",
        notes=(
            "The wav2vec 2.0 model trained on multilingual presented in Unsupervised Cross-lingual Representation "
            "Learning for Speech Recognition (https://arxiv.org/abs/2006.13979)"
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/xlsr_53_56k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/xlsr_53_56k.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="xls_r_300m",
        family="wav2vec2",
        method="xls_r",
        pretraining_data="128 languages, 436K hours",
        details=(("Unlabled Speech", "128 languages, 436K hours"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/xlsr2_300m.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/xlsr2_300m.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="xls_r_1b",
        family="wav2vec2",
        method="xls_r",
        pretraining_data="128 languages, 436K hours",
        details=(("Unlabled Speech", "128 languages, 436K hours"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/xlsr2_960m_1000k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/xlsr2_960m_1000k.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="xls_r_2b",
        family="wav2vec2",
        method="xls_r",
        pretraining_data="128 languages, 436K hours",
        details=(("Unlabled Speech", "128 languages, 436K hours"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/xlsr2_2B_1000k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/wav2vec/xlsr2_2B_1000k.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="hubert_base",
        family="hubert",
        method="hubert",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/hubert_base_ls960.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/hubert/hubert_base_ls960.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="hubert_large_ll60k",
        family="hubert",
        method="hubert",
        pretraining_data="LibriLight ll60k hours",
        details=(("Unlabled Speech", "LibriLight ll60k hours"),),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/hubert_large_ll60k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/hubert/hubert_large_ll60k.pt",),
        **_FAIRSEQ,
    ),
    # --- MR-HuBERT: in S3PRL 0.4.18's hub code (upstream/multires_hubert/hubconf.py), not in the seed ------------
    # fairseq releases (examples/mr_hubert/README.md), MIT like the other fairseq models. S3PRL downloads its own
    # converted copies (upstream/multires_hubert/convert.py output, the only layout its loader reads) from
    # huggingface.co/s3prl/mr_hubert. Details and notes: S3PRL's later documentation (upstream_collection.rst on
    # main), verbatim.
    UpstreamSpec(
        name="multires_hubert_base",
        family="multires_hubert",
        method="multires_hubert",
        pretraining_data="LibriSpeech 960hr",
        details=(("Unlabled Speech", "LibriSpeech 960hr"),),
        notes="S3PRL's documentation: K-means extracted from hubert_base.",
        s3prl_urls=("https://huggingface.co/s3prl/mr_hubert/resolve/main/mrhubert_mono_base.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/mrhubert/mono_base/mrhubert_mono_base.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="multires_hubert_large",
        family="multires_hubert",
        method="multires_hubert",
        pretraining_data="LibriLight 60khr",
        details=(("Unlabeled Speech", "LibriLight 60khr"),),
        notes="S3PRL's documentation: K-means extracted from hubert_base.",
        s3prl_urls=("https://huggingface.co/s3prl/mr_hubert/resolve/main/mrhubert_mono_large.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/mrhubert/mono_large/mrhubert_mono_large.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="multires_hubert_multilingual_base",
        family="multires_hubert",
        method="multires_hubert",
        pretraining_data="Voxpopuli 100khr",
        details=(("Unlabeled Speech", "Voxpopuli 100khr"),),
        notes="S3PRL's documentation: K-means extracted from hubert_base.",
        s3prl_urls=("https://huggingface.co/s3prl/mr_hubert/resolve/main/multi_base.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/mrhubert/multi_base/multi_base.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="multires_hubert_multilingual_large400k",
        family="multires_hubert",
        method="multires_hubert",
        pretraining_data="Voxpopuli 100khr",
        details=(("Unlabeled Speech", "Voxpopuli 100khr"),),
        notes="S3PRL's documentation: K-means extracted from hubert_base. Training steps 400k.",
        s3prl_urls=("https://huggingface.co/s3prl/mr_hubert/resolve/main/multi_large_400k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/mrhubert/multi_large/multi_large_400k.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="multires_hubert_multilingual_large600k",
        family="multires_hubert",
        method="multires_hubert",
        pretraining_data="Voxpopuli 100khr",
        details=(("Unlabeled Speech", "Voxpopuli 100khr"),),
        notes="S3PRL's documentation: K-means extracted from hubert_base. Training steps 600k.",
        s3prl_urls=("https://huggingface.co/s3prl/mr_hubert/resolve/main/multi_large_600k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/mrhubert/multi_large/multi_large_600k.pt",),
        **_FAIRSEQ,
    ),
    # --- DistilHuBERT: trained and published by S3PRL's authors ---------------------------------------------
    # S3PRL loads the pre-training checkpoint itself; there is no separate converted copy.
    UpstreamSpec(
        name="distilhubert_base",
        family="distilhubert",
        method="distilhubert",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Teacher", "hubert_base"),
            ("Unlabled Speech", "LibriSpeech 960hr"),
        ),
        s3prl_urls=("https://huggingface.co/leo19941227/distilhubert/resolve/main/distilhubert_ls960_4-8-12.ckpt",),
        original_urls=("https://huggingface.co/leo19941227/distilhubert/resolve/main/distilhubert_ls960_4-8-12.ckpt",),
        **_S3PRL,
    ),
    # --- LightHuBERT: the authors' release (not in the seed; upstream/lighthubert/hubconf.py) ---------------------
    # S3PRL downloads the authors' files themselves. All three hold the whole 768-wide supernet; the hub function
    # names which subnet S3PRL runs only through the checkpoint's cfg (see models/lighthubert/subnets.py).
    UpstreamSpec(
        name="lighthubert_base",
        family="lighthubert",
        method="lighthubert",
        pretraining_data="LibriSpeech 960hr",
        s3prl_urls=("https://huggingface.co/mechanicalsea/lighthubert/resolve/main/lighthubert_base.pt",),
        original_urls=("https://huggingface.co/mechanicalsea/lighthubert/resolve/main/lighthubert_base.pt",),
        **_LIGHTHUBERT,
    ),
    UpstreamSpec(
        name="lighthubert_small",
        family="lighthubert",
        method="lighthubert",
        pretraining_data="LibriSpeech 960hr",
        s3prl_urls=("https://huggingface.co/mechanicalsea/lighthubert/resolve/main/lighthubert_small.pt",),
        original_urls=("https://huggingface.co/mechanicalsea/lighthubert/resolve/main/lighthubert_small.pt",),
        **_LIGHTHUBERT,
    ),
    UpstreamSpec(
        name="lighthubert_stage1",
        family="lighthubert",
        method="lighthubert",
        pretraining_data="LibriSpeech 960hr",
        s3prl_urls=("https://huggingface.co/mechanicalsea/lighthubert/resolve/main/lighthubert_stage1.pt",),
        original_urls=("https://huggingface.co/mechanicalsea/lighthubert/resolve/main/lighthubert_stage1.pt",),
        **_LIGHTHUBERT,
    ),
    # --- HuBERT-MGR -----------------------------------------------------------------------------------------
    # Licence unknown: the original is a personal Hub upload (kphuang68) and S3PRL's code states no licence.
    UpstreamSpec(
        name="hubert_base_robust_mgr",
        family="hubert",
        method="hubert_mgr",
        pretraining_data="LibriSpeech 960hr",
        details=(
            ("Unlabled Speech", "LibriSpeech 960hr"),
            ("Augmentation", "MUSAN, gaussian, reverberation"),
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/HuBERT_base_robust_mgr_best_loss_2.7821.pt",
        ),
        original_urls=(
            "https://huggingface.co/kphuang68/HuBERT_base_robust_mgr/resolve/main/HuBERT_base_robust_mgr_best_loss_2.7821.pt",
        ),
        **_NOT_VERIFIED,
    ),
    # --- UniSpeech-SAT, WavLM (Microsoft) -------------------------------------------------------------------
    # S3PRL's code names no original URL for these; original_urls points at the official release pages.
    UpstreamSpec(
        name="unispeech_sat_base",
        family="unispeech_sat",
        method="unispeech_sat",
        pretraining_data="LibriSpeech 960 hours",
        details=(
            ("Model Architecture", "12 layers Transformer blocks"),
            ("Unlabled Speech", "LibriSpeech 960 hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/unispeech_sat_base.pt",),
        # The release page links Google Drive files (fairseq layout), which need a browser: S3PRL's copy only.
        release_page="https://github.com/microsoft/UniSpeech/tree/main/UniSpeech-SAT",
        **_UNISPEECH,
    ),
    UpstreamSpec(
        name="unispeech_sat_base_plus",
        family="unispeech_sat",
        method="unispeech_sat",
        pretraining_data="LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours",
        details=(
            ("Model Architecture", "12 layers Transformer blocks"),
            ("Unlabled Speech", "LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/unispeech_sat_base_plus.pt",),
        # The release page links Google Drive files (fairseq layout), which need a browser: S3PRL's copy only.
        release_page="https://github.com/microsoft/UniSpeech/tree/main/UniSpeech-SAT",
        **_UNISPEECH,
    ),
    UpstreamSpec(
        name="unispeech_sat_large",
        family="unispeech_sat",
        method="unispeech_sat",
        pretraining_data="LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours",
        details=(
            ("Model Architecture", "24 layers Transformer blocks"),
            ("Unlabled Speech", "LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/unispeech_sat_large.pt",),
        # The release page links Google Drive files (fairseq layout), which need a browser: S3PRL's copy only.
        release_page="https://github.com/microsoft/UniSpeech/tree/main/UniSpeech-SAT",
        **_UNISPEECH,
    ),
    UpstreamSpec(
        name="wavlm_base",
        family="wavlm",
        method="wavlm",
        pretraining_data="LibriSpeech 960 hours",
        details=(
            ("Model Architecture", "12 layers Transformer blocks"),
            ("Unlabled Speech", "LibriSpeech 960 hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wavlm_base.pt",),
        # The "Azure Storage" link of microsoft/unilm's wavlm/README.md (valid until 2033): the same cfg+model layout.
        original_urls=(
            "https://valle.blob.core.windows.net/share/wavlm/WavLM-Base.pt?sv=2020-08-04&st=2023-03-01T07%3A51%3A05Z&se=2033-03-02T07%3A51%3A00Z&sr=c&sp=rl&sig=QJXmSJG9DbMKf48UDIU1MfzIro8HQOf3sqlNXiflY1I%3D",
        ),
        release_page="https://github.com/microsoft/unilm/tree/master/wavlm",
        **_WAVLM,
    ),
    UpstreamSpec(
        name="wavlm_base_plus",
        family="wavlm",
        method="wavlm",
        pretraining_data="LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours",
        details=(
            ("Model Architecture", "12 layers Transformer blocks"),
            ("Unlabled Speech", "LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wavlm_base_plus.pt",),
        # The "Azure Storage" link of microsoft/unilm's wavlm/README.md (valid until 2033): the same cfg+model layout.
        original_urls=(
            "https://valle.blob.core.windows.net/share/wavlm/WavLM-Base+.pt?sv=2020-08-04&st=2023-03-01T07%3A51%3A05Z&se=2033-03-02T07%3A51%3A00Z&sr=c&sp=rl&sig=QJXmSJG9DbMKf48UDIU1MfzIro8HQOf3sqlNXiflY1I%3D",
        ),
        release_page="https://github.com/microsoft/unilm/tree/master/wavlm",
        **_WAVLM,
    ),
    UpstreamSpec(
        name="wavlm_large",
        family="wavlm",
        method="wavlm",
        pretraining_data="LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours",
        details=(
            ("Model Architecture", "24 layers Transformer blocks"),
            ("Unlabled Speech", "LibriLight 60k hours + Gigaspeech 10k hours + VoxPopuli 24k hours = 94k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wavlm_large.pt",),
        # The "Azure Storage" link of microsoft/unilm's wavlm/README.md (valid until 2033): the same cfg+model layout.
        original_urls=(
            "https://valle.blob.core.windows.net/share/wavlm/WavLM-Large.pt?sv=2020-08-04&st=2023-03-01T07%3A51%3A05Z&se=2033-03-02T07%3A51%3A00Z&sr=c&sp=rl&sig=QJXmSJG9DbMKf48UDIU1MfzIro8HQOf3sqlNXiflY1I%3D",
        ),
        release_page="https://github.com/microsoft/unilm/tree/master/wavlm",
        **_WAVLM,
    ),
    # --- data2vec (fairseq) ---------------------------------------------------------------------------------
    # data2vec's hub functions have no legacy path: original_urls come from fairseq's examples/data2vec/README.md.
    UpstreamSpec(
        name="data2vec_base_960",
        family="data2vec",
        method="data2vec",
        pretraining_data="LibriSpeech 960 hours",
        details=(
            ("Model Architecture", "12 layers Transformer blocks"),
            ("Unlabled Speech", "LibriSpeech 960 hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/audio_base_ls.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/data2vec/audio_base_ls.pt",),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="data2vec_large_ll60k",
        family="data2vec",
        method="data2vec",
        pretraining_data="LibriLight 60k hours",
        details=(
            ("Model Architecture", "24 layers Transformer blocks"),
            ("Unlabled Speech", "LibriLight 60k hours"),
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/vox_pretrained.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/fairseq/data2vec/vox_pretrained.pt",),
        **_FAIRSEQ,
    ),
    # --- AST, SSAST, MAE-AST --------------------------------------------------------------------------------
    # Licences not verified: the terms of these releases (Dropbox for AST / SSAST, UT Austin for MAE-AST) were not
    # read. S3PRL downloads straight from these links and names no other release.
    UpstreamSpec(
        name="ast",
        family="ast",
        method="ast",
        pretraining_data="AudioSet",
        details=(("Labeled Data", "AudioSet"),),
        s3prl_urls=("https://www.dropbox.com/s/ca0b1v2nlxzyeb4/audioset_10_10_0.4593.pth?dl=1",),
        original_urls=("https://www.dropbox.com/s/ca0b1v2nlxzyeb4/audioset_10_10_0.4593.pth?dl=1",),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="ssast_frame_base",
        family="ssast",
        method="ssast",
        pretraining_data="LibriSpeech & AudioSet",
        details=(("Unlabled Data", "LibriSpeech & AudioSet"),),
        s3prl_urls=("https://www.dropbox.com/s/nx6nl4d4bl71sm8/SSAST-Base-Frame-400.pth?dl=1",),
        original_urls=("https://www.dropbox.com/s/nx6nl4d4bl71sm8/SSAST-Base-Frame-400.pth?dl=1",),
        **_NOT_VERIFIED,
    ),
    # Not in the seed: S3PRL defines it next to ssast_frame_base (ssast/hubconf.py). SSAST pre-trains its frame and
    # patch models on the same data.
    UpstreamSpec(
        name="ssast_patch_base",
        family="ssast",
        method="ssast",
        pretraining_data="LibriSpeech & AudioSet",
        s3prl_urls=("https://www.dropbox.com/s/ewrzpco95n9jdz6/SSAST-Base-Patch-400.pth?dl=1",),
        original_urls=("https://www.dropbox.com/s/ewrzpco95n9jdz6/SSAST-Base-Patch-400.pth?dl=1",),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="mae_ast_frame",
        family="mae_ast",
        method="mae_ast",
        pretraining_data="LibriSpeech & AudioSet",
        details=(("Unlabled Data", "LibriSpeech & AudioSet"),),
        s3prl_urls=("https://www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/random_frame_75_12LayerEncoder.pt",),
        original_urls=(
            "https://www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/random_frame_75_12LayerEncoder.pt",
        ),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="mae_ast_patch",
        family="mae_ast",
        method="mae_ast",
        pretraining_data="LibriSpeech & AudioSet",
        details=(("Unlabled Data", "LibriSpeech & AudioSet"),),
        s3prl_urls=("https://www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/chunk_patch_75_12LayerEncoder.pt",),
        original_urls=(
            "https://www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/chunk_patch_75_12LayerEncoder.pt",
        ),
        **_NOT_VERIFIED,
    ),
    # --- BYOL-A: NTT evaluation-only licence, not redistributable -------------------------------------------
    UpstreamSpec(
        name="byol_a_2048",
        family="byol_a",
        method="byol_a",
        pretraining_data="AudioSet",
        details=(("Unlabled Data", "AudioSet"),),
        s3prl_urls=(
            "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d2048.pth",
        ),
        original_urls=(
            "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d2048.pth",
        ),
        **_BYOL_A,
    ),
    UpstreamSpec(
        name="byol_a_1024",
        family="byol_a",
        method="byol_a",
        pretraining_data="AudioSet",
        details=(("Unlabled Data", "AudioSet"),),
        s3prl_urls=(
            "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d1024.pth",
        ),
        original_urls=(
            "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d1024.pth",
        ),
        **_BYOL_A,
    ),
    UpstreamSpec(
        name="byol_a_512",
        family="byol_a",
        method="byol_a",
        pretraining_data="AudioSet",
        details=(("Unlabled Data", "AudioSet"),),
        s3prl_urls=(
            "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d512.pth",
        ),
        original_urls=(
            "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d512.pth",
        ),
        **_BYOL_A,
    ),
    # --- BYOL-S ---------------------------------------------------------------------------------------------
    # Licence not verified (GasserElbanna/serab-byols' terms were not read).
    UpstreamSpec(
        name="byol_s_default",
        family="byol_s",
        method="byol_s",
        pretraining_data="AudioSet (Speech subset)",
        details=(("Unlabled Data", "AudioSet (Speech subset)"),),
        s3prl_urls=(
            "https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth",
        ),
        original_urls=(
            "https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth",
        ),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="byol_s_cvt",
        family="byol_s",
        method="byol_s",
        pretraining_data="AudioSet (Speech subset)",
        details=(("Unlabled Data", "AudioSet (Speech subset)"),),
        s3prl_urls=(
            "https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-osandbyolaloss6373-e100-bs256-lr0003-rs42.pth",
        ),
        original_urls=(
            "https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-osandbyolaloss6373-e100-bs256-lr0003-rs42.pth",
        ),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="byol_s_resnetish34",
        family="byol_s",
        method="byol_s",
        pretraining_data="AudioSet (Speech subset)",
        details=(("Unlabled Data", "AudioSet (Speech subset)"),),
        s3prl_urls=(
            "https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/resnetish34_BYOLAs64x96-2105271915-e100-bs256-lr0003-rs42.pth",
        ),
        original_urls=(
            "https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/resnetish34_BYOLAs64x96-2105271915-e100-bs256-lr0003-rs42.pth",
        ),
        **_NOT_VERIFIED,
    ),
    # --- VGGish ---------------------------------------------------------------------------------------------
    # Licence not verified: torchvggish's PyTorch port of Google's VGGish; the port's terms were not read. Two files:
    # the network and the PCA parameters.
    UpstreamSpec(
        name="vggish",
        family="vggish",
        method="vggish",
        pretraining_data="AudioSet",
        details=(("Labaled Data", "AudioSet"),),
        s3prl_urls=(
            "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
            "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth",
        ),
        original_urls=(
            "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
            "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth",
        ),
        **_NOT_VERIFIED,
    ),
    # --- PaSST ----------------------------------------------------------------------------------------------
    # Not in S3PRL's documented collection: hub entries of upstream/passt/hubconf.py. The URL is not in the hub
    # function: each entry's hear21passt module builds a PaSST whose default_cfg (hear21passt/models/passt.py) names
    # it. Entries that share a release compute different hidden states from it (windows, mel hop, mel embedding), so
    # each is a name of its own, not an alias.
    UpstreamSpec(
        name="passt_base",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_base2level",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_base2levelmel",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_base20sec",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-20sec-p16-s10-ap.474-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-20sec-p16-s10-ap.474-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_base30sec",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-30sec-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-30sec-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_hop100base",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_hop100base2lvl",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_hop100base2lvlmel",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_hop160base",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_hop160base2lvl",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    UpstreamSpec(
        name="passt_hop160base2lvlmel",
        family="passt",
        method="passt",
        pretraining_data="AudioSet",
        s3prl_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",),
        original_urls=("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",),
        **_PASST,
    ),
    # --- Signal-processing baselines: not in the seed; no weights ---------------------------------------------
    # S3PRL computes them from the yaml configs it ships (upstream/baseline/*.yaml, upstream/log_stft/stft_mag.yaml),
    # so nothing is downloaded and there is no release: the licence is that of S3PRL's configs (Apache-2.0).
    UpstreamSpec(
        name="fbank",
        family="spectral",
        method="kaldi_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="fbank_no_cmvn",
        family="spectral",
        method="kaldi_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="mfcc",
        family="spectral",
        method="kaldi_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="spectrogram",
        family="spectral",
        method="kaldi_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="mel",
        family="spectral",
        method="stft_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="linear",
        family="spectral",
        method="stft_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="stft_mag",
        family="spectral",
        method="stft_features",
        pretraining_data="none (signal processing, no training)",
        s3prl_urls=(),
        **_S3PRL,
    ),
    # --- Hub-only names: S3PRL 0.4.18 hub functions outside its documented collection (the seed) -------------
    # Their prose (notes) is S3PRL 0.4.18's docs (docs/source/tutorial/upstream_collection.rst) where it has some, else
    # the authors' release pages. DeCoAR: the decoar_layers checkpoint through S3PRL's older `decoar` expert.
    UpstreamSpec(
        name="decoar",
        family="decoar",
        method="decoar",
        pretraining_data="LibriSpeech 960hr",
        notes=(
            "S3PRL's `decoar` entry loads the decoar_layers checkpoint with its older expert (one 4-layer LSTM per "
            "direction) and returns only the last layer's output, forward and backward concatenated: 1 hidden state "
            "where decoar_layers returns 4."
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/checkpoint_decoar.pt",),
        original_urls=(),
        **_NOT_VERIFIED,
    ),
    # Trained by S3PRL's authors (upstream/spec_augment, added in February 2021), hosted on their Dropbox.
    UpstreamSpec(
        name="spec_augment",
        family="mockingjay",
        method="spec_augment",
        pretraining_data="LibriSpeech 960hr",
        notes=(
            "A 3-layer transformer pre-trained by S3PRL's authors with the SpecAugment masking task on log-mel "
            "features (S3PRL recipe pretrain/spec_augment), run by S3PRL with the Mockingjay expert. S3PRL 0.4.18 "
            "defines the hub function in upstream/spec_augment/hubconf.py, but `s3prl.hub` does not export it (hub.py "
            "never imports that module), so `S3PRLUpstream(\"spec_augment\")` fails there; s3prl_hf loads it."
        ),
        s3prl_urls=("https://www.dropbox.com/s/spz3yulaye8ppgr/states-100000.ckpt?dl=1",),
        original_urls=("https://www.dropbox.com/s/spz3yulaye8ppgr/states-100000.ckpt?dl=1",),
        **_S3PRL,
    ),
    UpstreamSpec(
        name="wav2vec2_large_voxpopuli_100k",
        family="wav2vec2",
        method="voxpopuli",
        pretraining_data="VoxPopuli 100K hours, 23 languages",
        notes=(
            "The multilingual wav2vec 2.0 Large pre-trained on the 100K-hour unlabelled VoxPopuli subset (all 23 "
            "languages), from facebookresearch/voxpopuli."
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec2_large_100k.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/voxpopuli/models/wav2vec2_large_100k.pt",),
        **_VOXPOPULI,
    ),
    UpstreamSpec(
        name="wav2vec2_base_s2st_es_voxpopuli",
        family="wav2vec2",
        method="enhanced_s2st",
        pretraining_data="VoxPopuli (Spanish)",
        notes=(
            "The wav2vec2 model from Enhanced Direct Speech-to-Speech Translation Using Self-supervised Pre-training "
            "and Data Augmentation (https://arxiv.org/abs/2204.02967), released in Fairseq with the link: "
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/es/transformer_B.pt"
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec2_base_s2st_es_voxpopuli.pt",
        ),
        original_urls=(
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/es/transformer_B.pt",
        ),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_base_s2st_en_librilight",
        family="wav2vec2",
        method="enhanced_s2st",
        pretraining_data="LibriLight",
        notes=(
            "The wav2vec2 model from Enhanced Direct Speech-to-Speech Translation Using Self-supervised Pre-training "
            "and Data Augmentation (https://arxiv.org/abs/2204.02967), released in Fairseq with the link: "
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/en/transformer_B.pt"
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec2_base_s2st_en_librilight.pt",
        ),
        original_urls=(
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/en/transformer_B.pt",
        ),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_conformer_large_s2st_es_voxpopuli",
        family="wav2vec2_conformer",
        method="enhanced_s2st",
        pretraining_data="VoxPopuli (Spanish)",
        notes=(
            "The wav2vec2 model from Enhanced Direct Speech-to-Speech Translation Using Self-supervised Pre-training "
            "and Data Augmentation (https://arxiv.org/abs/2204.02967), released in Fairseq with the link: "
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/es/conformer_L.pt"
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec2_conformer_large_s2st_es_voxpopuli.pt",
        ),
        original_urls=(
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/es/conformer_L.pt",
        ),
        **_FAIRSEQ,
    ),
    UpstreamSpec(
        name="wav2vec2_conformer_large_s2st_en_librilight",
        family="wav2vec2_conformer",
        method="enhanced_s2st",
        pretraining_data="LibriLight",
        notes=(
            "The wav2vec2 model from Enhanced Direct Speech-to-Speech Translation Using Self-supervised Pre-training "
            "and Data Augmentation (https://arxiv.org/abs/2204.02967), released in Fairseq with the link: "
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/en/conformer_L.pt"
        ),
        s3prl_urls=(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/wav2vec2_conformer_large_s2st_en_librilight.pt",
        ),
        original_urls=(
            "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/w2v2/en/conformer_L.pt",
        ),
        **_FAIRSEQ,
    ),
    # HuBERT-format checkpoints that S3PRL loads with hubert_custom. S3PRL's copies of ContentVec load strictly into
    # a plain HuBERT, so they are the representation-only "legacy" checkpoints of the authors' README (its original
    # links are IBM Box pages).
    UpstreamSpec(
        name="contentvec_km100",
        family="hubert",
        method="contentvec",
        pretraining_data="LibriSpeech 960hr",
        notes="ContentVec with 100 k-means classes: the representation module only (the authors' ContentVec_legacy).",
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/contentvec_km100.pt",),
        original_urls=("https://ibm.box.com/s/t76fff0dciyjqt1db03y48323qp99bg9",),
        **_CONTENTVEC,
    ),
    UpstreamSpec(
        name="contentvec_km500",
        family="hubert",
        method="contentvec",
        pretraining_data="LibriSpeech 960hr",
        notes="ContentVec with 500 k-means classes: the representation module only (the authors' ContentVec_legacy).",
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/contentvec_km500.pt",),
        original_urls=("https://ibm.box.com/s/z1wgl1stco8ffooyatzdwsqn2psd9lrr",),
        **_CONTENTVEC,
    ),
    UpstreamSpec(
        name="mhubert_base_vp_en_es_fr_it3",
        family="hubert",
        method="mhubert",
        pretraining_data="VoxPopuli En, Es, Fr speech from the 100k subset",
        notes=(
            "The multilingual model from Textless Speech-to-Speech Translation on Real Data "
            "(https://arxiv.org/abs/2112.08352): mHuBERT Base, third iteration."
        ),
        s3prl_urls=("https://huggingface.co/s3prl/converted_ckpts/resolve/main/mhubert_base_vp_en_es_fr_it3.pt",),
        original_urls=("https://dl.fbaipublicfiles.com/hubert/mhubert_base_vp_en_es_fr_it3.pt",),
        **_FAIRSEQ,
    ),
    # Uploaded by its author to S3PRL's Hub organisation (s3prl/s3prl#547); the upload is the only release, and its
    # licence is not stated where S3PRL or the paper could be read.
    UpstreamSpec(
        name="ms_hubert",
        family="hubert",
        method="ms_hubert",
        pretraining_data="LibriSpeech 960hr",
        notes="MS-HuBERT Base after its third pre-training iteration (iter3.pt).",
        s3prl_urls=("https://huggingface.co/s3prl/MS-HuBERT/resolve/main/iter3.pt",),
        original_urls=("https://huggingface.co/s3prl/MS-HuBERT/resolve/main/iter3.pt",),
        **_NOT_VERIFIED,
    ),
    # --- ESPnet HuBERT and WavLabLM (S3PRL hub only) ------------------------------------------------------------
    # Two files per release, both from the ESPnet Hub repo: the .pth state dict and its config.yaml. Licence: the
    # repo's model card (`license: cc-by-4.0`), except espnet_cvhubert, which has no model card.
    UpstreamSpec(
        name="espnet_hubert_base_iter0",
        family="espnet_hubert",
        method="espnet_hubert",
        pretraining_data="LibriSpeech 960hr",
        s3prl_urls=(
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/resolve/main/exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/valid.loss.ave.pth",
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/raw/main/exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/resolve/main/exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/valid.loss.ave.pth",
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/raw/main/exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw/config.yaml",
        ),
        **_cc_by_4("simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw"),
    ),
    UpstreamSpec(
        name="espnet_hubert_base_iter1",
        family="espnet_hubert",
        method="espnet_hubert",
        pretraining_data="LibriSpeech 960hr",
        s3prl_urls=(
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/resolve/main/exp/hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/valid.loss.ave.pth",
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/raw/main/exp/hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/resolve/main/exp/hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/valid.loss.ave.pth",
            "https://huggingface.co/espnet/simpleoier_librispeech_hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/raw/main/exp/hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw/config.yaml",
        ),
        **_cc_by_4("simpleoier_librispeech_hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw"),
    ),
    # S3PRL's config URL is a /blob/ URL: the Hub's HTML page for the file, not the file, so S3PRL 0.4.18 downloads an
    # HTML page as config.yaml and ESPnet cannot build the model from it. original_urls gives the /resolve/ URL of
    # the same file. The release's meta.yaml says espnet 202301, torch 1.13.1.
    UpstreamSpec(
        name="espnet_hubert_large_gs_ll60k",
        family="espnet_hubert",
        method="espnet_hubert",
        pretraining_data="LibriLight 60k hours",
        s3prl_urls=(
            "https://huggingface.co/espnet/hubert_large_gs_16_librilight60k/resolve/main/mnt/datastore/exp/hubert_iter1_train_ssl_torchaudiohubert_large_960h_pretrain_it2_bins_raw/valid.loss.ave_10best.pth",
            "https://huggingface.co/espnet/hubert_large_gs_16_librilight60k/blob/main/mnt/datastore/exp/hubert_iter1_train_ssl_torchaudiohubert_large_960h_pretrain_it2_bins_raw/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/hubert_large_gs_16_librilight60k/resolve/main/mnt/datastore/exp/hubert_iter1_train_ssl_torchaudiohubert_large_960h_pretrain_it2_bins_raw/valid.loss.ave_10best.pth",
            "https://huggingface.co/espnet/hubert_large_gs_16_librilight60k/resolve/main/mnt/datastore/exp/hubert_iter1_train_ssl_torchaudiohubert_large_960h_pretrain_it2_bins_raw/config.yaml",
        ),
        **_cc_by_4("hubert_large_gs_16_librilight60k"),
    ),
    # Licence not verified: espnet/espnet_cvhubert has no model card, and S3PRL names no paper for it (the method is
    # the ESPnet HuBERT recipe its file names say it was trained with: torchaudiohubert_base, iteration 2).
    UpstreamSpec(
        name="cvhubert",
        family="espnet_hubert",
        method="espnet_hubert",
        pretraining_data="not stated (the release has no model card)",
        s3prl_urls=(
            "https://huggingface.co/espnet/espnet_cvhubert/resolve/main/exp/hubert_iter2_train_ssl_torchaudiohubert_base_960h_pretrain_it2_raw/latest.pth",
            "https://huggingface.co/espnet/espnet_cvhubert/raw/main/exp/hubert_iter2_train_ssl_torchaudiohubert_base_960h_pretrain_it2_raw/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/espnet_cvhubert/resolve/main/exp/hubert_iter2_train_ssl_torchaudiohubert_base_960h_pretrain_it2_raw/latest.pth",
            "https://huggingface.co/espnet/espnet_cvhubert/raw/main/exp/hubert_iter2_train_ssl_torchaudiohubert_base_960h_pretrain_it2_raw/config.yaml",
        ),
        **_NOT_VERIFIED,
    ),
    UpstreamSpec(
        name="wavlablm_ek_40k",
        family="espnet_hubert",
        method="wavlablm",
        pretraining_data="40k hours of multilingual speech, 136 languages",
        s3prl_urls=(
            "https://huggingface.co/espnet/WavLabLM-EK-40k/resolve/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9/5epoch.pth",
            "https://huggingface.co/espnet/WavLabLM-EK-40k/raw/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/WavLabLM-EK-40k/resolve/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9/5epoch.pth",
            "https://huggingface.co/espnet/WavLabLM-EK-40k/raw/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9/config.yaml",
        ),
        **_cc_by_4("WavLabLM-EK-40k"),
    ),
    UpstreamSpec(
        name="wavlablm_mk_40k",
        family="espnet_hubert",
        method="wavlablm",
        pretraining_data="40k hours of multilingual speech, 136 languages",
        s3prl_urls=(
            "https://huggingface.co/espnet/WavLabLM-MK-40k/resolve/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_raw_layer_9/valid.acc_m.ave_10best.pth",
            "https://huggingface.co/espnet/WavLabLM-MK-40k/raw/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_raw_layer_9/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/WavLabLM-MK-40k/resolve/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_raw_layer_9/valid.acc_m.ave_10best.pth",
            "https://huggingface.co/espnet/WavLabLM-MK-40k/raw/main/exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_raw_layer_9/config.yaml",
        ),
        **_cc_by_4("WavLabLM-MK-40k"),
    ),
    UpstreamSpec(
        name="wavlablm_ms_40k",
        family="espnet_hubert",
        method="wavlablm",
        pretraining_data="40k hours of multilingual speech, 136 languages",
        s3prl_urls=(
            "https://huggingface.co/espnet/WavLabLM-MS-40k/resolve/main/exp_babel/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_babel_light_raw_layer_9/5epoch.pth",
            "https://huggingface.co/espnet/WavLabLM-MS-40k/raw/main/exp_babel/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_babel_light_raw_layer_9/config.yaml",
        ),
        original_urls=(
            "https://huggingface.co/espnet/WavLabLM-MS-40k/resolve/main/exp_babel/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_babel_light_raw_layer_9/5epoch.pth",
            "https://huggingface.co/espnet/WavLabLM-MS-40k/raw/main/exp_babel/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_babel_light_raw_layer_9/config.yaml",
        ),
        **_cc_by_4("WavLabLM-MS-40k"),
    ),
)

# --- Aliases ----------------------------------------------------------------------------------------------------
# One row per S3PRL hub function that only calls another one, or that loads the same checkpoint the same way: alias
# -> that name (one step; chains are followed by resolve_name). These are S3PRL 0.4.18's *code*, file by file; the
# seed's prose agrees except where DOC_DISAGREEMENTS says otherwise. Rows, not a dict literal, so that a duplicated
# alias fails at import instead of silently overwriting its twin.
_ALIAS_ROWS: tuple[tuple[str, str], ...] = (
    # alias                 target (the function the alias calls)                          S3PRL file
    ("mockingjay",          "mockingjay_origin"),                                          # mockingjay/hubconf.py
    ("mockingjay_origin",   "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1"),  # mockingjay/hubconf.py
    ("mockingjay_100hr",    "mockingjay_logMelBase_T_AdamW_b32_200k_100hr"),               # mockingjay/hubconf.py
    ("mockingjay_960hr",    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1"),           # mockingjay/hubconf.py
    ("tera",                "tera_960hr"),                                                 # tera/hubconf.py
    ("tera_100hr",          "tera_logMelBase_T_F_M_AdamW_b32_200k_100hr"),                 # tera/hubconf.py
    ("tera_960hr",          "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1"),             # tera/hubconf.py
    ("audio_albert",        "audio_albert_960hr"),                                         # audio_albert/hubconf.py
    ("audio_albert_960hr",  "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1"),   # audio_albert/hubconf.py
    ("apc",                 "apc_360hr"),                                                  # apc/hubconf.py
    ("vq_apc",              "vq_apc_360hr"),                                               # vq_apc/hubconf.py
    ("npc",                 "npc_360hr"),                                                  # npc/hubconf.py
    ("wav2vec",             "wav2vec_large"),                                              # wav2vec/hubconf.py
    ("vq_wav2vec",          "vq_wav2vec_gumbel"),                                          # vq_wav2vec/hubconf.py
    ("discretebert",        "vq_wav2vec_kmeans_roberta"),                                  # roberta/hubconf.py
    ("wav2vec2",            "wav2vec2_base_960"),                                          # wav2vec2/hubconf.py
    ("hubert",              "hubert_base"),                                                # hubert/hubconf.py
    ("distilhubert",        "distilhubert_base"),                                          # distiller/hubconf.py
    ("lighthubert",         "lighthubert_small"),                                          # lighthubert/hubconf.py
    # The seed says unispeech_sat -> unispeech_sat_base; the code calls _base_plus (see DOC_DISAGREEMENTS).
    ("unispeech_sat",       "unispeech_sat_base_plus"),                                    # unispeech_sat/hubconf.py
    ("wavlm",               "wavlm_base_plus"),                                            # wavlm/hubconf.py
    ("data2vec",            "data2vec_base_960"),                                          # data2vec/hubconf.py
    ("baseline",            "fbank"),                                                      # baseline/hubconf.py
    # Hub-only. contentvec() does not call contentvec_km100() but downloads the very same file.
    ("contentvec",          "contentvec_km100"),                                           # hubert/hubconf.py
)  # fmt: skip

# Name -> one sentence, printed by the model cards: where S3PRL's docs (the seed) and its code disagree, we follow
# the code.
DOC_DISAGREEMENTS: dict[str, str] = {
    "unispeech_sat": (
        "S3PRL's documentation calls `unispeech_sat` an alias of `unispeech_sat_base`, but S3PRL 0.4.18's code "
        "(`unispeech_sat()` in upstream/unispeech_sat/hubconf.py) loads `unispeech_sat_base_plus`; s3prl_hf "
        "follows the code."
    ),
    "unispeech_sat_base": (
        "S3PRL's documentation lists `unispeech_sat` as an alias of this model, but S3PRL 0.4.18's code resolves "
        "`unispeech_sat` to `unispeech_sat_base_plus`; s3prl_hf follows the code."
    ),
}

# Method key -> one sentence: errors inside the seed itself (not seed-vs-code), kept verbatim in METHODS.
SEED_ERRATA: dict[str, str] = {
    "audio_albert": (
        "The seed links Audio ALBERT to https://arxiv.org/abs/2007.06028, which is TERA's paper; Audio ALBERT "
        "is arXiv 2005.08575."
    ),
    "vq_apc": "The seed's BibTeX spells the author field `autohor`, so BibTeX tools see no author.",
}


# --- Build and validate ---------------------------------------------------------------------------------------
def _normalise(name: str) -> str:
    # Users type "HuBERT", "wav2vec2-large-960" or "TERA"; S3PRL's names are snake_case with a few capitals.
    return name.strip().lower().replace("-", "_")


def _fail(problem: str) -> NoReturn:
    raise ValueError(f"s3prl_hf.registry table is inconsistent (a bug in registry.py, not in your call): {problem}")


def _build(table, alias_rows):
    """Validates the table and derives what follows from it.

    Returns:
        ``(upstreams, aliases, canonical_of)``: the specs with ``aliases`` filled in, the alias dict, and
        normalised name -> canonical name for every name and alias.

    Raises:
        ValueError: On any inconsistency (duplicates, dangling or cyclic aliases, unknown family or method).
    """
    by_name = {}
    for spec in table:
        if spec.name in by_name:
            _fail(f"duplicate canonical name {spec.name!r}")
        if spec.family not in FAMILIES:
            _fail(f"{spec.name!r} has family {spec.family!r}, not one of FAMILIES")
        if spec.method not in METHODS:
            _fail(f"{spec.name!r} has method {spec.method!r}, not a key of METHODS")
        if spec.aliases or spec.revision:
            _fail(f"{spec.name!r} lists aliases or a revision by hand; they come from the alias rows and pins.json")
        if not spec.license:
            _fail(f"{spec.name!r} has no licence")
        if spec.family in CONFIG_ONLY_FAMILIES:
            if spec.s3prl_urls or spec.original_urls:
                _fail(f"{spec.name!r} belongs to a config-only family, so it has no checkpoint URL")
        elif not spec.s3prl_urls:
            _fail(f"{spec.name!r} has no S3PRL URL")
        by_name[spec.name] = spec
    for family in FAMILIES:
        if not any(spec.family == family for spec in table):
            _fail(f"family {family!r} has no entry")
    for key, method in METHODS.items():
        if method.key != key or not method.bibtex:
            _fail(f"METHODS[{key!r}] has key {method.key!r} or an empty BibTeX")
        if method.paper_url is not None and not method.paper_url.startswith("https://"):
            _fail(f"METHODS[{key!r}] has paper_url {method.paper_url!r}: an https link or None")

    aliases = {}
    for alias, target in alias_rows:
        if alias in aliases or alias in by_name:
            _fail(f"alias {alias!r} is defined twice or is also a canonical name")
        aliases[alias] = target

    canonical_of, depth_of = {}, {}
    for alias in aliases:
        seen, name = [alias], aliases[alias]
        while name in aliases:
            if name in seen:
                _fail(f"alias cycle {' -> '.join([*seen, name])}")
            seen.append(name)
            name = aliases[name]
        if name not in by_name:
            _fail(f"alias {alias!r} points to {name!r}, which is not a canonical name")
        canonical_of[alias], depth_of[alias] = name, len(seen)
    canonical_of.update({name: name for name in by_name})

    normalised = {}
    for name, canonical in canonical_of.items():
        key = _normalise(name)
        if key in normalised:
            _fail(f"{name!r} and {normalised[key][0]!r} collide once case and '-' are normalised")
        normalised[key] = (name, canonical)
    for name in DOC_DISAGREEMENTS:
        if name not in canonical_of:
            _fail(f"DOC_DISAGREEMENTS names {name!r}, which is not in the table")
    for key in SEED_ERRATA:
        if key not in METHODS:
            _fail(f"SEED_ERRATA names {key!r}, which is not a method")

    for name in PINS["revisions"]:
        if name not in by_name:
            _fail(f"data/pins.json pins a revision for {name!r}, which is not a canonical name")
    upstreams = tuple(
        dataclasses.replace(
            spec,
            revision=PINS["revisions"].get(spec.name),
            # Nearest first (tera_960hr before tera), ties by name.
            aliases=tuple(sorted((a for a in aliases if canonical_of[a] == spec.name), key=lambda a: (depth_of[a], a))),
        )
        for spec in table
    )
    return upstreams, aliases, {key: canonical for key, (_, canonical) in normalised.items()}


UPSTREAMS: tuple[UpstreamSpec, ...]
ALIASES: dict[str, str]
UPSTREAMS, ALIASES, _CANONICAL_OF = _build(_TABLE, _ALIAS_ROWS)
_BY_NAME: dict[str, UpstreamSpec] = {spec.name: spec for spec in UPSTREAMS}
# normalised spelling -> the name as S3PRL spells it, for suggestions.
_SPELLING: dict[str, str] = {_normalise(name): name for name in [*_BY_NAME, *ALIASES]}


# --- Lookup -----------------------------------------------------------------------------------------------------
def _describe(name: str) -> str:
    if name in ALIASES:
        return f"{name!r} (alias of {_CANONICAL_OF[_normalise(name)]!r})"
    return repr(name)


def resolve_name(name: str) -> str:
    """Resolves a canonical name or an alias to its canonical name.

    Case is ignored and ``-`` counts as ``_``; alias chains are followed as S3PRL's hub code follows them.

    Args:
        name: An S3PRL upstream name or alias, e.g. ``"tera"`` or ``"HuBERT"``.

    Returns:
        The canonical name, spelled as S3PRL spells it.

    Raises:
        UnknownUpstreamError: If ``name`` is unknown; the message suggests close names.

    Example:
        >>> resolve_name("tera")
        'tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1'
        >>> resolve_name("WavLM-Large")
        'wavlm_large'
    """
    if not isinstance(name, str):
        raise TypeError(f"An upstream name must be a str, got {type(name).__name__}: {name!r}")
    key = _normalise(name)
    canonical = _CANONICAL_OF.get(key)
    if canonical is None:
        close = difflib.get_close_matches(key, _SPELLING, n=3, cutoff=0.6)
        raise UnknownUpstreamError(name, [_SPELLING[k] for k in close])
    return canonical


def get_spec(name: str) -> UpstreamSpec:
    """Returns the :class:`UpstreamSpec` of a canonical name or an alias.

    Args:
        name: Anything :func:`resolve_name` accepts.

    Raises:
        UnknownUpstreamError: If ``name`` is unknown.

    Example:
        >>> spec = get_spec("unispeech_sat")
        >>> spec.name, spec.aliases
        ('unispeech_sat_base_plus', ('unispeech_sat',))
    """
    return _BY_NAME[resolve_name(name)]


def list_upstreams(pattern: str | None = None, family: str | None = None, include_aliases: bool = False) -> list[str]:
    """Lists upstream names, sorted.

    Args:
        pattern: Shell-style wildcard (``fnmatch``), matched without regard to case, e.g. ``"*hubert*"``.
        family: Keep only this implementation family (one of :data:`FAMILIES`); aliases follow their target.
        include_aliases: Also list aliases (an alias is matched by ``pattern`` on its own spelling).

    Returns:
        The matching names, sorted case-insensitively.

    Raises:
        ValueError: If ``family`` is not one of :data:`FAMILIES`.

    Example:
        >>> list_upstreams("wavlm*")
        ['wavlm_base', 'wavlm_base_plus', 'wavlm_large']
        >>> list_upstreams(family="data2vec", include_aliases=True)
        ['data2vec', 'data2vec_base_960', 'data2vec_large_ll60k']
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; expected one of: {', '.join(FAMILIES)}.")
    names = []
    for spec in UPSTREAMS:
        if family is None or spec.family == family:
            names.append(spec.name)
            if include_aliases:
                names.extend(spec.aliases)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
    return sorted(names, key=lambda n: (n.lower(), n))

"""The registry: every S3PRL upstream name -> one :class:`UpstreamSpec`, read from the data files in ``data/``.

``data/upstreams.toml`` holds one entry per *canonical* name, i.e. S3PRL's own name of the hub function that holds
a checkpoint (``hubert_base``, ``wavlm_large``, ``tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1``), and the alias
rows: S3PRL's default names exactly as its 0.4.18 hub *code* resolves them (``hubert -> hubert_base``,
``tera -> tera_960hr -> tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1``). ``data/methods.toml`` holds the papers,
``data/citations.bib`` their BibTeX, ``data/pins.json`` what publishing established (sha256 of originals, Hub
revisions). This module holds the code: the dataclasses, the loading and its validation (at import: an
inconsistent data file fails loudly), and the look-ups.

It imports only the standard library (and ``tomli`` on Python 3.10), so it can be read without torch.
"""

import dataclasses
import difflib
import fnmatch
import json
import os
import re
from typing import NoReturn

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

__all__ = [
    "ALIASES",
    "DEFAULT_NAMESPACE",
    "DOC_DISAGREEMENTS",
    "FAMILIES",
    "METHODS",
    "SEED_ERRATA",
    "UPSTREAMS",
    "Method",
    "PINS",
    "S3PRL_ENTRIES",
    "SourceFile",
    "UnknownUpstreamError",
    "UpstreamSpec",
    "get_spec",
    "hub_namespace",
    "list_upstreams",
    "resolve_name",
    "source_file",
]

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
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
            for names without weights (S3PRL's signal-processing baselines), which download nothing.
        original_urls: Files of the original release (fairseq URL, the authors' own hosting) that download with a
            plain GET; ``()`` if none (then only S3PRL's copy can be fetched).
        release_page: The authors' release page when its files cannot be fetched directly (Google Drive).
        language: The language of the pretraining speech (a code, or "multilingual"); English when unset.
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
    language: str | None = None
    revision: str | None = None

    @property
    def has_weights(self) -> bool:
        """False for names S3PRL computes from a config alone (its signal-processing baselines): nothing to fetch."""
        return bool(self.s3prl_urls)

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
PINS_FILE = os.path.join(DATA_DIR, "pins.json")


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



# --- Reading the data files --------------------------------------------------------------------------------------
_SPEC_KEYS = {"name", "family", "method", "licence", "license", "license_url", "redistributable", "pretraining_data",
              "details", "notes", "s3prl_urls", "original_urls", "release_page", "language"}
_METHOD_KEYS = {"section", "title", "paper_url", "cite", "description", "seed_erratum"}


def _read_toml(file_name: str) -> dict:
    with open(os.path.join(DATA_DIR, file_name), "rb") as handle:
        return tomllib.load(handle)


def _read_citations(file_name: str = "citations.bib") -> dict[str, str]:
    """BibTeX key -> its block, verbatim: a block starts at a line beginning with '@' and ends before the next one."""
    with open(os.path.join(DATA_DIR, file_name), encoding="utf-8") as handle:
        text = handle.read()
    blocks = {}
    for chunk in re.split(r"\n(?=@)", "\n" + text):
        lines = [line for line in chunk.splitlines() if not line.startswith("%")]
        block = "\n".join(lines).strip("\n")
        if not block:
            continue
        match = re.match(r"@\w+\{([^,\s]+),", block)
        if match is None:
            _fail(f"{file_name}: cannot read the BibTeX key of {block[:60]!r}")
        if match.group(1) in blocks:
            _fail(f"{file_name}: the key {match.group(1)!r} appears twice")
        blocks[match.group(1)] = block
    return blocks


def _load_methods(data: dict, citations: dict[str, str]) -> tuple[dict[str, "Method"], dict[str, str]]:
    methods, errata = {}, {}
    for key, entry in data.items():
        unknown = set(entry) - _METHOD_KEYS
        if unknown:
            _fail(f"methods.toml [{key}] has unknown fields {sorted(unknown)}")
        cited = entry.get("cite") or []
        missing = [c for c in cited if c not in citations]
        if not cited or missing:
            _fail(f"methods.toml [{key}] cites {missing or 'nothing'}, not in citations.bib")
        methods[key] = Method(key=key, title=entry["title"], paper_url=entry.get("paper_url"),
                              bibtex=citations[cited[0]], extra_bibtex=tuple(citations[c] for c in cited[1:]),
                              description=entry.get("description", ""), section=entry.get("section", ""))
        if "seed_erratum" in entry:
            errata[key] = entry["seed_erratum"]
    return methods, errata


def _load_upstreams(data: dict) -> tuple[tuple["UpstreamSpec", ...], tuple[tuple[str, str], ...], dict[str, str],
                                        dict[str, str]]:
    licences = data.get("licences", {})
    table = []
    for entry in data.get("upstream", []):
        unknown = set(entry) - _SPEC_KEYS
        if unknown:
            _fail(f"upstreams.toml: {entry.get('name')!r} has unknown fields {sorted(unknown)}")
        fields = dict(entry)
        if "licence" in fields:
            key = fields.pop("licence")
            if key not in licences or {"license", "license_url", "redistributable"} & set(fields):
                _fail(f"upstreams.toml: {entry['name']!r} names licence {key!r}, unknown or also given inline")
            fields.update({"license_url": None, **licences[key]})
        fields["details"] = tuple(tuple(pair) for pair in fields.get("details", ()))
        fields["s3prl_urls"] = tuple(fields.get("s3prl_urls", ()))
        # The original release is S3PRL's own copy unless it says otherwise.
        fields["original_urls"] = tuple(fields.get("original_urls", fields["s3prl_urls"]))
        try:
            table.append(UpstreamSpec(**fields))
        except TypeError as error:
            _fail(f"upstreams.toml: {entry.get('name')!r}: {error}")
    alias_rows = tuple(data.get("aliases", {}).items())
    return tuple(table), alias_rows, dict(data.get("doc_disagreements", {})), dict(data.get("s3prl_entries", {}))


_CITATIONS = _read_citations()
METHODS: dict[str, Method]
SEED_ERRATA: dict[str, str]
METHODS, SEED_ERRATA = _load_methods(_read_toml("methods.toml"), _CITATIONS)
_TABLE, _ALIAS_ROWS, DOC_DISAGREEMENTS, S3PRL_ENTRIES = _load_upstreams(_read_toml("upstreams.toml"))
# Implementation families (s3prl_hf/models/<family>/), in the order the table first names them.
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(spec.family for spec in _TABLE))
_MODELS_DIR = os.path.join(os.path.dirname(DATA_DIR), "models")


# --- Build and validate ---------------------------------------------------------------------------------------
def _normalise(name: str) -> str:
    # Users type "HuBERT", "wav2vec2-large-960" or "TERA"; S3PRL's names are snake_case with a few capitals.
    return name.strip().lower().replace("-", "_")


def _fail(problem: str) -> NoReturn:
    raise ValueError(f"s3prl_hf's registry data is inconsistent (a bug in s3prl_hf/data, not in your call): {problem}")


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
        if not os.path.isfile(os.path.join(_MODELS_DIR, spec.family, "__init__.py")):
            _fail(f"{spec.name!r} has family {spec.family!r}, which is no package of s3prl_hf/models")
        if spec.method not in METHODS:
            _fail(f"{spec.name!r} has method {spec.method!r}, not a key of METHODS")
        if spec.aliases or spec.revision:
            _fail(f"{spec.name!r} lists aliases or a revision by hand; they come from the alias rows and pins.json")
        if not spec.license:
            _fail(f"{spec.name!r} has no licence")
        if spec.original_urls and not spec.s3prl_urls:
            _fail(f"{spec.name!r} has original URLs but no S3PRL URL (a name without weights has neither)")
        by_name[spec.name] = spec
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

    for entry, target in S3PRL_ENTRIES.items():
        if target not in by_name or not entry.endswith(("_local", "_url", "_custom")):
            _fail(f"[s3prl_entries] {entry!r} -> {target!r}: an entry ends in _local/_url/_custom and names a canonical "
                  f"name")
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

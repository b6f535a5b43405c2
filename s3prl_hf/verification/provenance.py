"""The provenance section of a published model card: source files with sha256, the verification figure, how to rerun it.

`conversion/publish.py` appends it to the card `cards.render_card` writes, so the card says exactly which bytes the
weights came from and how close they are to S3PRL's own numbers, and how anyone checks that again.

Example:
    >>> section = render_provenance_section(
    ...     "hubert_base", [{"url": "https://example.org/hubert_base_ls960.pt", "sha256": "ab" * 32, "size": 10}],
    ...     converter_version=1, parity={"max_relative_diff": 2e-6, "tolerance": 1e-4, "ok": True},
    ...     reference={"call": "S3PRLUpstream('hubert_custom', path_or_url='hubert_base_ls960.pt')",
    ...                "versions": {"s3prl": "0.4.18", "torch": "2.13.0"}})
    >>> section.splitlines()[0]
    '## Provenance and verification'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from .layout import FOLDER, TOLERANCE_DEFINITION


def render_provenance_section(name: str, sources: Sequence[Mapping], *, converter_version: int,
                              parity: Mapping | None = None, reference: Mapping | None = None,
                              inputs: Mapping[str, Sequence[int]] | None = None,
                              s3prl_hf_version: str | None = None) -> str:
    """Markdown for the end of `name`'s card.

    Args:
        name: The canonical name.
        sources: The original files converted, in order: `{"url", "sha256", "size"}` each.
        converter_version: The family's converter version (`s3prl_hf.conversion.convert.converter_version`).
        parity: The measured comparison (`VerificationReport.as_dict()`), if verified.
        reference: How S3PRL made the stored hidden states (`call`, `versions`), if verified.
        inputs: The stored inputs' lengths per case, e.g. `{"clip": [32000], "batch": [16000, 700]}`.
        s3prl_hf_version: The package version that converted the weights.

    Returns:
        The section, ending with a blank line.
    """
    from .._version import __version__

    out = ["## Provenance and verification", ""]
    out.append(f"Converted by s3prl_hf {s3prl_hf_version or __version__} (converter version {converter_version}) from "
               f"{'this file' if len(sources) == 1 else 'these files'}:")
    out += ["", "| file | sha256 | bytes |", "|---|---|---|"]
    for source in sources:
        file_name = unquote(urlsplit(source["url"]).path.rsplit("/", 1)[-1]) or source["url"]
        out.append(f"| [{file_name}]({source['url']}) | `{source['sha256']}` | {source['size']} |")
    out.append("")
    if parity is not None and reference is not None:
        versions = reference.get("versions", {})
        stack = ", ".join(f"{key} {value}" for key, value in sorted(versions.items()) if key in ("s3prl", "torch"))
        shapes = ""
        if inputs:
            shapes = " (" + "; ".join(f"`{case}`: {len(lengths)} x up to {max(lengths)} samples"
                                      for case, lengths in sorted(inputs.items())) + ")"
        out.append(f"`{FOLDER}/` holds fixed inputs{shapes}, as 16-bit PCM, and the hidden states S3PRL itself "
                   f"computed from the file(s) above ({stack}): `{reference.get('call', 'S3PRLUpstream')}`. The "
                   f"weights in this repo reproduce them with a largest relative difference of "
                   f"**{_figure(parity.get('max_relative_diff'))}** (tolerance {_figure(parity.get('tolerance'), 0)}: "
                   f"{TOLERANCE_DEFINITION}).")
        out.append("")
    else:
        out += ["This conversion carries no S3PRL-made verification data.", ""]
    out += [("Check it again on your machine (downloads this repo at its pinned revision, recomputes the stored "
             "inputs, prints the difference per hidden state, exits non-zero if any exceeds the tolerance):"), "",
            "```bash",
            f"s3prl-hf verify {name}          # or a downloaded copy: s3prl-hf verify path/to/{name}", "```", ""]
    return "\n".join(out)


def _figure(value, digits: int = 2) -> str:
    return f"{value:.{digits}e}" if isinstance(value, (int, float)) else str(value)


__all__ = ["render_provenance_section"]

"""Model cards, one per canonical upstream, rendered from the registry (and a config, when known).

`python -m s3prl_hf.cards model_cards` regenerates the committed `model_cards/` folder; a test fails when
those files are stale. `s3prl-hf convert` writes the same card, plus the source checkpoint's sha256, as the
`README.md` of each converted folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import registry
from .models import Family, get_family
from .modeling_utils import UpstreamConfig

# Substrings of the seed's pretraining-data text -> Hugging Face dataset ids for the card metadata.
DATASET_IDS = {
    "LibriSpeech": "openslr/librispeech_asr",
    "Gigaspeech": "speechcolab/gigaspeech",
    "VoxPopuli": "facebook/voxpopuli",
    "CommonVoice": "mozilla-foundation/common_voice_11_0",
}
COMMON_QUIRKS = (
    "Batches whose longest utterance is under 0.05 s are zero-padded to 0.05 s, and the padding counts as "
    "signal for every utterance (S3PRLUpstream's MIN_SECOND).",
    "Each hidden state is cut or extended (by repeating its last frame) to `ceil(max_len / stride)` frames, and "
    "utterance lengths are `ceil(len / stride)` (S3PRLUpstream._match_length). S3PRL asserts where the two "
    "differ by a factor of two or more; this model raises a ValueError naming the longest-utterance lengths that "
    "pass.",
)

S3PRL_CITATION = """@inproceedings{yang21c_interspeech,
  author={Shu-wen Yang and Po-Han Chi and Yung-Sung Chuang and Cheng-I Jeff Lai and Kushal Lakhotia and Yist Y. Lin and Andy T. Liu and Jiatong Shi and Xuankai Chang and Guan-Ting Lin and Tzu-Hsien Huang and Wei-Cheng Tseng and Ko-tik Lee and Da-Rong Liu and Zili Huang and Shuyan Dong and Shang-Wen Li and Shinji Watanabe and Abdelrahman Mohamed and Hung-yi Lee},
  title={{SUPERB: Speech Processing Universal PERformance Benchmark}},
  year=2021,
  booktitle={Proc. Interspeech 2021},
  pages={1194--1198},
  doi={10.21437/Interspeech.2021-1775}
}"""


def _front_matter(spec: registry.UpstreamSpec) -> str:
    lines = ["---", "library_name: s3prl_hf", "pipeline_tag: feature-extraction"]
    if spec.license == "other" or spec.license_url and spec.license not in ("mit", "apache-2.0", "bsd-3-clause",
                                                                            "cc-by-nc-4.0", "cc-by-4.0"):
        lines += ["license: other", f"license_name: {spec.name}-weights"]
        if spec.license_url:
            lines.append(f"license_link: {spec.license_url}")
    else:
        lines.append(f"license: {spec.license}")
    family = get_family(spec.family)
    if spec.language:
        lines.append(f"language: {spec.language}")
    elif not family.audio_only and spec.has_weights:  # audio representations and signal processing know no language
        lines.append("language: en")
    datasets = [dataset for key, dataset in DATASET_IDS.items() if key.lower() in spec.pretraining_data.lower()]
    if datasets:
        lines.append("datasets:")
        lines += [f"- {dataset}" for dataset in datasets]
    lines.append("tags:")
    tags = ["audio", "audio-representation" if family.audio_only else "speech",
            "self-supervised-learning", "s3prl", "superb", spec.family, spec.method, "safetensors"]
    if not spec.has_weights:  # classical features: no training, no weights file
        tags = [tag for tag in tags if tag not in ("self-supervised-learning", "safetensors")]
    lines += [f"- {tag}" for tag in dict.fromkeys(tags)]
    lines += ["inference: false", "---"]
    return "\n".join(lines)


def _layer_table(config: UpstreamConfig) -> list[str]:
    """One row per run of hidden states that share dim and stride."""
    rows = ["| hidden states | dim | stride (samples) | frame shift |", "|---|---:|---:|---:|"]
    shapes = list(zip(config.hidden_sizes, config.downsample_rates))
    start = 0
    for index in range(1, len(shapes) + 1):
        if index == len(shapes) or shapes[index] != shapes[start]:
            dim, stride = shapes[start]
            span = f"{start}" if index - 1 == start else f"{start} to {index - 1}"
            rows.append(f"| {span} | {dim} | {stride} | {1000 * stride / config.sampling_rate:g} ms |")
            start = index
    rows.append(f"\n{config.num_layers} hidden states in all.")
    return rows


def _hidden_state_notes(family: Family, spec: registry.UpstreamSpec) -> str:
    """What the hidden states are: the name's own note, else the family's plus its method's sentence."""
    if spec.name in family.name_notes:
        return family.name_notes[spec.name]
    return " ".join(note for note in (family.hidden_state_notes, family.method_notes.get(spec.method)) if note)


def _file_line(url: str) -> str:
    """A source URL with its pinned sha256 and size, when the registry knows them."""
    source = registry.source_file(url)
    if source.sha256 is None:
        return url
    size = f", {source.size} bytes" if source.size is not None else ""
    return f"{url} (sha256 `{source.sha256}`{size})"


def render_card(spec: registry.UpstreamSpec, config: UpstreamConfig | None = None, *,
                source_name: str | None = None, source_sha256: str | None = None) -> str:
    """Render the model card of `spec` as Markdown with Hub YAML metadata.

    Args:
        spec: The registry entry.
        config: The converted model's config; defaults to the released architecture when known.
        source_name: File name of the original checkpoint a conversion read.
        source_sha256: Its sha256.

    Example:
        >>> print(render_card(registry.get_spec("hubert_base"))[:3])
        ---
    """
    method = registry.METHODS[spec.method]
    family = get_family(spec.family)
    config = config if config is not None else family.reference_config(spec.name)
    config_only = not spec.has_weights
    out = [_front_matter(spec), "", f"# {spec.name}", ""]
    paper = f" ([paper]({method.paper_url}))" if method.paper_url else ""
    form = ("a config-only model for `s3prl_hf` (no weights: the features are computed from S3PRL's own yaml "
            "config, built in)" if config_only else "converted to safetensors for `s3prl_hf`")
    out.append(f"**{method.title}**{paper}, the S3PRL upstream `{spec.name}`, {form}: a transformers model that "
               f"returns all of S3PRL's hidden states with S3PRL 0.4.18's numbers.")
    out.append("")
    if not spec.redistributable:
        out += ["> The licence of these weights does not allow (or was not verified to allow) re-hosting them: "
                "`AutoUpstream.from_pretrained` downloads the original checkpoint from its authors' hosting and "
                "converts it on your machine instead.", ""]

    out += ["## Usage", "", "```python", "import torch", "from s3prl_hf import AutoUpstream", "",
            f'model = AutoUpstream.from_pretrained("{spec.name}")  # or a folder made by `s3prl-hf convert`',
            "wavs = torch.randn(2, 32000)                      # (batch, samples) at 16 kHz",
            "wavs_len = torch.tensor([32000, 16000])",
            "with torch.no_grad():",
            "    all_hs, all_hs_len = model(wavs, wavs_len)     # one (B, T, D) tensor and (B,) lengths per layer",
            "```", ""]
    if config_only:
        out += ["The name loads without any download. Write its folder (`config.json` only) yourself:", "", "```bash",
                f"s3prl-hf convert --name {spec.name} --output {spec.name}", "```", ""]
    else:
        out += ["Without a published converted repo, the first call downloads the original checkpoint from where "
                "S3PRL downloads it, converts it, and caches the result under the Hugging Face cache "
                "(`<HF_HOME>/s3prl_hf/converted/`); later calls, offline ones included, load the cache. To prepare "
                "offline machines, or to keep the converted folder:", "", "```bash",
                f"s3prl-hf download {spec.name}                                 # fetch and convert into the cache",
                f"s3prl-hf convert --name {spec.name} --output {spec.name}   # or into a folder of your own "
                f"(--checkpoint FILE for a local copy)", "```", ""]

    out += ["## Hidden states", ""]
    out += _layer_table(config) + [""]
    note = _hidden_state_notes(family, spec)
    if note:
        out += [note, ""]
    if method.description:
        out += [method.description, ""]

    out += ["## Model", "", f"- S3PRL name: `{spec.name}`"]
    if spec.aliases:
        out.append(f"- Aliases (resolved as S3PRL 0.4.18's hub code does): {', '.join(f'`{a}`' for a in spec.aliases)}")
    out.append(f"- Method: {method.section or method.title}")
    if spec.pretraining_data not in {value for _, value in spec.details}:
        out.append(f"- Pretraining data: {spec.pretraining_data}")
    out += [f"- {key}: {value}" for key, value in spec.details]
    if spec.notes:
        out += ["", spec.notes]
    out.append("")

    quirks = (family.quirks + family.method_quirks.get(spec.method, ()) + family.name_quirks.get(spec.name, ())
              + COMMON_QUIRKS)
    disagreements = [text for name, text in registry.DOC_DISAGREEMENTS.items()
                     if name == spec.name or name in spec.aliases]
    if quirks or disagreements:
        out += ["## S3PRL behaviour reproduced", ""]
        out += [f"- {quirk}" for quirk in quirks]
        out += [f"- Name resolution: {text}" for text in disagreements]
        out.append("")

    out += ["## Source and licence", ""]
    out += [f"- Checkpoint S3PRL downloads: {_file_line(url)}" for url in spec.s3prl_urls]
    out += [f"- Original release: {_file_line(url)}" for url in spec.original_urls if url not in spec.s3prl_urls]
    if spec.release_page:
        out.append(f"- Release page: {spec.release_page}")
    if any("huggingface.co/" in url and "/blob/" in url for url in spec.s3prl_urls):
        out.append("- S3PRL's `/blob/` URL is the Hub's web page for the file, not the file: S3PRL 0.4.18 downloads "
                   "HTML in its place and cannot load this upstream. s3prl_hf fetches the file itself.")
    if source_name:
        out.append(f"- Converted from `{source_name}`" + (f", sha256 `{source_sha256}`" if source_sha256 else ""))
    if config_only:
        out.append("- No checkpoint: S3PRL computes these features from a yaml config it ships; its values are "
                   "built in (`feature_config` in config.json)")
    licence = spec.license + (f" ({spec.license_url})" if spec.license_url else "")
    what = "Config licence (S3PRL's)" if config_only else "Weights licence"
    out += [f"- {what}: {licence}; redistributable: {'yes' if spec.redistributable else 'no'}", ""]

    if config_only:
        out += ["## Parity", "",
                "The model is tested against the features S3PRL 0.4.18 itself computed from its yaml config: every "
                "valid frame of padded mixed-length batches matches `S3PRLUpstream` within 1e-4 x max(1, max "
                "|expected|), lengths exactly.", ""]
    else:
        out += ["## Parity", "",
                "The converter and model are tested against checkpoints that S3PRL 0.4.18 itself built, in the "
                "original format, with random weights: every layer and every valid frame of padded mixed-length "
                "batches matches `S3PRLUpstream` within 1e-4 x max(1, max |expected|), lengths exactly.", ""]

    out += ["## Citation", "", "```bibtex", method.bibtex.strip(), "```", ""]
    for extra in method.extra_bibtex:
        out += ["```bibtex", extra.strip(), "```", ""]
    out += ["S3PRL / SUPERB:", "", "```bibtex", S3PRL_CITATION, "```", ""]
    return "\n".join(out)


def write_cards(folder: str | Path) -> list[Path]:
    """Write `<name>.md` for every canonical upstream into `folder`; returns the written paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in registry.UPSTREAMS:
        path = folder / f"{spec.name}.md"
        path.write_text(render_card(spec), encoding="utf-8")
        written.append(path)
    return written


ARCHITECTURES_FILE = Path(registry.DATA_DIR) / "architectures.json"


def architectures() -> dict[str, dict]:
    """Canonical name -> the hidden-state shape of its released architecture, for `s3prl-hf info` (no torch)."""
    table = {}
    for spec in registry.UPSTREAMS:
        config = get_family(spec.family).reference_config(spec.name)
        table[spec.name] = {"num_layers": config.num_layers, "hidden_sizes": sorted(set(config.hidden_sizes)),
                            "downsample_rates": sorted(set(config.downsample_rates)),
                            "sampling_rate": config.sampling_rate}
    return table


def write_architectures(path: str | Path = ARCHITECTURES_FILE) -> Path:
    """Write `architectures()` as JSON (sorted, indented: a stable diff)."""
    path = Path(path)
    path.write_text(json.dumps(architectures(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the model cards and s3prl_hf/data/architectures.json "
                                                 "from the registry and the family declarations.")
    parser.add_argument("folder", nargs="?", default="model_cards")
    args = parser.parse_args(argv)
    written = write_cards(args.folder)
    table = write_architectures()
    print(f"wrote {len(written)} cards into {args.folder} and {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

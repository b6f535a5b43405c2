"""Model cards, one per canonical upstream, rendered from the registry (and a config, when known).

`python -m s3prl_hf.cards model_cards` regenerates the committed `model_cards/` folder; a test fails when
those files are stale. `s3prl-hf convert` writes the same card, plus the source checkpoint's sha256, as the
`README.md` of each converted folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import registry
from .auto import is_implemented, reference_config
from .modeling_utils import UpstreamConfig

# Substrings of the seed's pretraining-data text -> Hugging Face dataset ids for the card metadata.
DATASET_IDS = {
    "LibriSpeech": "openslr/librispeech_asr",
    "Gigaspeech": "speechcolab/gigaspeech",
    "VoxPopuli": "facebook/voxpopuli",
    "CommonVoice": "mozilla-foundation/common_voice_11_0",
}
MULTILINGUAL_METHODS = {"xls_r", "xlsr"}
AUDIO_FAMILIES = {"ast", "ssast", "mae_ast", "byol_a", "byol_s", "vggish"}

# What each hidden state is, per family, as S3PRL defines it (research notes, from S3PRL's experts).
HIDDEN_STATE_NOTES = {
    "hubert": (
        "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` "
        "states. Post-LN models (base): state 0 is LayerNorm(CNN features + positional conv), state i is the "
        "output of layer i-1. Pre-LN models (large): state 0 has no LayerNorm, and the last state is the "
        "encoder's final LayerNorm of the last layer's output."
    ),
}

# S3PRL behaviours the port reproduces on purpose, per family.
QUIRKS = {
    "hubert": (
        "Frames are masked with fairseq HuBERT's all-chunk rule (a frame is padding only if all of its "
        "`T_padded // T_frames` samples are), which keeps one frame more than transformers' conv-length rule "
        "for many lengths and changes the shorter utterances of a padded batch.",
        "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
        "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
    ),
}
COMMON_QUIRKS = (
    "Batches whose longest utterance is under 0.05 s are zero-padded to 0.05 s, and the padding counts as "
    "signal for every utterance (S3PRLUpstream's MIN_SECOND).",
    "Each hidden state is cut or extended (by repeating its last frame) to `ceil(max_len / stride)` frames, and "
    "utterance lengths are `ceil(len / stride)` (S3PRLUpstream._match_length).",
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
    if spec.license == "other" or spec.license_url and spec.license not in ("mit", "apache-2.0", "bsd-3-clause"):
        lines += ["license: other", f"license_name: {spec.name}-weights"]
        if spec.license_url:
            lines.append(f"license_link: {spec.license_url}")
    else:
        lines.append(f"license: {spec.license}")
    if spec.method in MULTILINGUAL_METHODS:
        lines.append("language: multilingual")
    elif spec.family not in AUDIO_FAMILIES:
        lines.append("language: en")
    datasets = [dataset for key, dataset in DATASET_IDS.items() if key.lower() in spec.pretraining_data.lower()]
    if datasets:
        lines.append("datasets:")
        lines += [f"- {dataset}" for dataset in datasets]
    lines.append("tags:")
    tags = ["audio", "speech" if spec.family not in AUDIO_FAMILIES else "audio-representation",
            "self-supervised-learning", "s3prl", "superb", spec.family, "safetensors"]
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
    available = is_implemented(spec.family)
    config = config if config is not None else reference_config(spec.name)
    out = [_front_matter(spec), "", f"# {spec.name}", ""]
    out.append(f"**{method.title}** ([paper]({method.paper_url})), the S3PRL upstream `{spec.name}`, converted to "
               f"safetensors for `s3prl_hf`: a transformers model that returns "
               f"all of S3PRL's hidden states with S3PRL 0.4.18's numbers.")
    out.append("")
    if not available:
        out += [f"> Not available yet: s3prl_hf does not implement the `{spec.family}` family so far. This card "
                f"lists what the registry knows.", ""]
    if not spec.redistributable:
        out += ["> The licence of these weights does not allow (or was not verified to allow) re-hosting them: "
                "convert your own copy of the original checkpoint with `s3prl-hf convert`.", ""]

    out += ["## Usage", "", "```python", "import torch", "from s3prl_hf import AutoUpstream", "",
            f'model = AutoUpstream.from_pretrained("{spec.name}")  # or a folder made by `s3prl-hf convert`',
            "wavs = torch.randn(2, 32000)                      # (batch, samples) at 16 kHz",
            "wavs_len = torch.tensor([32000, 16000])",
            "with torch.no_grad():",
            "    all_hs, all_hs_len = model(wavs, wavs_len)     # one (B, T, D) tensor and (B,) lengths per layer",
            "```", "", "Convert the original checkpoint yourself:", "", "```bash",
            f"s3prl-hf convert --name {spec.name} --checkpoint CHECKPOINT.pt --output {spec.name}", "```", ""]

    out += ["## Hidden states", ""]
    if config is not None:
        out += _layer_table(config) + [""]
    else:
        out += ["Layer table: known once the family is implemented.", ""]
    if spec.family in HIDDEN_STATE_NOTES:
        out += [HIDDEN_STATE_NOTES[spec.family], ""]
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

    quirks = QUIRKS.get(spec.family, ()) + COMMON_QUIRKS if available else ()
    disagreements = [text for name, text in registry.DOC_DISAGREEMENTS.items()
                     if name == spec.name or name in spec.aliases]
    if quirks or disagreements:
        out += ["## S3PRL behaviour reproduced", ""]
        out += [f"- {quirk}" for quirk in quirks]
        out += [f"- Name resolution: {text}" for text in disagreements]
        out.append("")

    out += ["## Source and licence", ""]
    out += [f"- Checkpoint S3PRL downloads: {url}" for url in spec.s3prl_urls]
    out += [f"- Original release: {url}" for url in spec.original_urls]
    if source_name:
        out.append(f"- Converted from `{source_name}`" + (f", sha256 `{source_sha256}`" if source_sha256 else ""))
    elif spec.sha256:
        out.append(f"- Original checkpoint sha256: `{spec.sha256}`")
    licence = spec.license + (f" ({spec.license_url})" if spec.license_url else "")
    out += [f"- Weights licence: {licence}; redistributable: {'yes' if spec.redistributable else 'no'}", ""]

    if available:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the model cards from the registry.")
    parser.add_argument("folder", nargs="?", default="model_cards")
    args = parser.parse_args(argv)
    written = write_cards(args.folder)
    print(f"wrote {len(written)} cards into {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

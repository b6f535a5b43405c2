"""The `s3prl-hf` command line: list, info, convert, demo, extract."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import wave
from importlib import resources
from pathlib import Path

from . import registry
from .extraction import cli as extract_cli
from .verification import cli as verify_cli
from .weights import commands as weights_commands

DEMO_UPSTREAM = "hubert_base"
# Mirrors convert.DEFAULT_MAX_SHARD_SIZE, which this module does not import (it pulls in torch).
DEFAULT_MAX_SHARD_SIZE = "2GB"


def cmd_list(args) -> int:
    names = registry.list_upstreams(args.pattern, family=args.family)
    if not names:
        print(f"no upstream matches {args.pattern!r}", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    for name in names:
        spec = registry.get_spec(name)
        aliases = f"  (aliases: {', '.join(spec.aliases)})" if spec.aliases else ""
        print(f"{name:<{width}}  {spec.family:<18} {weights_commands.weights_origin(spec):<40}{aliases}")
    return 0


def cmd_info(args) -> int:
    spec = registry.get_spec(args.name)
    method = registry.METHODS[spec.method]
    print(f"name:        {spec.name}" + (f" (resolved from {args.name!r})" if args.name != spec.name else ""))
    print(f"aliases:     {', '.join(spec.aliases) or '-'}")
    print(f"family:      {spec.family}")
    print(f"weights:     {weights_commands.weights_origin(spec)}")
    print(f"method:      {method.title}")
    print(f"paper:       {method.paper_url or '-'}")
    print(f"hub repo:    {spec.repo_id}" + (f"@{spec.revision}" if spec.revision else " (not pinned)"))
    print(f"licence:     {spec.license}" + ("" if spec.redistributable else " (not redistributable)"))
    print(f"data:        {spec.pretraining_data}")
    for key, value in spec.details:
        print(f"{key + ':':<12} {value}")
    for url in spec.s3prl_urls:
        print(f"s3prl ckpt:  {url}")
    for url in spec.original_urls:
        print(f"original:    {url}")
    if spec.release_page:
        print(f"release:     {spec.release_page}")
    shape = _architectures()[spec.name]  # generated with the cards: no torch needed here
    strides = ", ".join(f"{rate} samples ({1000 * rate / shape['sampling_rate']:g} ms)"
                        for rate in shape["downsample_rates"])
    print(f"layers:      {shape['num_layers']} hidden states, sizes {shape['hidden_sizes']}, stride {strides}")
    print("citation:")
    print(method.bibtex)
    return 0


def _architectures() -> dict:
    with open(os.path.join(registry.DATA_DIR, "architectures.json"), encoding="utf-8") as handle:
        return json.load(handle)


def cmd_convert(args) -> int:
    from .conversion.convert import convert_checkpoint

    checkpoint, frontend = args.checkpoint, args.frontend_checkpoint
    if checkpoint is None and registry.get_spec(args.name).has_weights:
        if frontend is not None:
            raise ValueError("--frontend-checkpoint needs --checkpoint")
        checkpoint, frontend = weights_commands.fetch_originals(args.name)
    output = convert_checkpoint(args.name, checkpoint, args.output, force=args.force,
                                max_shard_size=args.max_shard_size, frontend_checkpoint=frontend)
    files = ", ".join(sorted(path.name for path in output.iterdir()))
    print(f"wrote {output} ({files}); load it with AutoUpstream.from_pretrained({str(output)!r})")
    return 0


def read_wav(path):
    """Read a 16-bit PCM WAV file into a float tensor in [-1, 1] (mono) and its sampling rate."""
    import numpy as np
    import torch

    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported by the demo reader")
        frames = handle.readframes(handle.getnframes())
        rate, channels = handle.getframerate(), handle.getnchannels()
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return torch.from_numpy(samples.astype(np.float32) / 32768.0), rate


def cmd_demo(args) -> int:
    import torch

    from .auto import AutoUpstream
    from .conversion.convert import convert_checkpoint

    demo = resources.files("s3prl_hf") / "demo"
    with tempfile.TemporaryDirectory() as tmp, resources.as_file(demo / "hubert_demo.pt") as checkpoint:
        output = Path(args.output) if args.output else Path(tmp) / "converted"
        print(f"converting the bundled small HuBERT checkpoint (S3PRL format, random weights) into {output}")
        convert_checkpoint(DEMO_UPSTREAM, checkpoint, output, force=args.force)
        model = AutoUpstream.from_pretrained(output)
        with resources.as_file(demo / "speech.wav") as clip:
            wav, rate = read_wav(clip)
        if rate != model.sampling_rate:
            raise ValueError(f"demo clip is {rate} Hz, the model expects {model.sampling_rate} Hz")
        print(f"extracting every layer of {len(wav) / rate:.2f} s of speech (bundled clip)")
        with torch.no_grad():
            all_hs, all_hs_len = model(wav[None], torch.tensor([len(wav)]))
        print(f"{'layer':>5}  {'frames':>6}  {'dim':>4}  {'stride':>9}  {'mean':>8}  {'std':>8}")
        for index, (hs, hs_len) in enumerate(zip(all_hs, all_hs_len)):
            stride_ms = 1000 * model.downsample_rates[index] / rate
            print(f"{index:>5}  {int(hs_len[0]):>6}  {hs.shape[-1]:>4}  {stride_ms:>6.1f} ms  "
                  f"{hs.mean().item():>8.4f}  {hs.std().item():>8.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3prl-hf", description="S3PRL upstreams as Hugging Face models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list upstream names")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style pattern, e.g. 'hubert*'")
    p.add_argument("--family", default=None, help="only this family")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="describe one upstream")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert an original checkpoint into a Hugging Face folder")
    p.add_argument("--name", required=True, help="S3PRL name the checkpoint belongs to, e.g. hubert_base")
    p.add_argument("--checkpoint", default=None,
                   help="original checkpoint file (S3PRL or fairseq format); without it, the original file(s) the "
                        "registry lists are downloaded (S3PRL's copy first), checked and converted (upstreams without "
                        "weights, fbank, mfcc, ...: their S3PRL config is built in, or give an S3PRL yaml config)")
    p.add_argument("--frontend-checkpoint", default=None,
                   help="the second file of two-file releases, found beside --checkpoint when omitted: Discrete "
                        "BERT's vq-wav2vec checkpoint that tokenises the waveform (vq-wav2vec_kmeans.pt; "
                        "--checkpoint is then the RoBERTa: S3PRL's .pt, or fairseq's bert_kmeans.tar, its folder, "
                        "or its .pt beside dict.txt), VGGish's PCA parameters (vggish_pca_params-970ea276.pth), "
                        "PASE+'s JSON cfg (PASE+.cfg), or an ESPnet HuBERT's config.yaml (--checkpoint is its .pth)")
    p.add_argument("--output", required=True, help="folder to create")
    p.add_argument("--force", action="store_true", help="replace the output folder if it exists")
    p.add_argument("--max-shard-size", default=DEFAULT_MAX_SHARD_SIZE,
                   help=f"largest safetensors file; bigger models are sharded with an index "
                        f"(default {DEFAULT_MAX_SHARD_SIZE})")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("demo", help="offline demo: convert a bundled checkpoint and extract every layer")
    p.add_argument("--output", default=None, help="keep the converted folder here")
    p.add_argument("--force", action="store_true", help="replace --output if it exists")
    p.set_defaults(func=cmd_demo)

    weights_commands.add_parsers(sub)
    extract_cli.add_parser(sub)
    verify_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `s3prl-hf`; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except BrokenPipeError:  # `s3prl-hf list | head`: the reader left, nothing to report
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print(f"s3prl-hf {args.command}: interrupted", file=sys.stderr)
        return 130
    except (registry.UnknownUpstreamError, NotImplementedError, OSError, ValueError, TypeError) as error:
        # OSError covers missing files, existing outputs, downloads and unavailable upstreams;
        # ValueError covers CheckpointFormatError and bad input.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"s3prl-hf {args.command}: error: {_one_line(message)}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a bug of ours: still one line, the traceback on request
        if os.environ.get("S3PRL_HF_DEBUG"):
            raise
        print(f"s3prl-hf {args.command}: error: {type(error).__name__}: {_one_line(error)} (an unexpected error: "
              f"rerun with S3PRL_HF_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


def _one_line(message) -> str:
    """The message on one line (some libraries' errors span several)."""
    return " ".join(str(message).split()) or "(no message)"


if __name__ == "__main__":
    sys.exit(main())

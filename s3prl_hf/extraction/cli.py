"""`s3prl-hf extract`: the command-line face of `s3prl_hf.sharded.extract_to_dir`.

One process::

    s3prl-hf extract --model hubert --input wavs/ --output feats/ --layers 6,12

Several (each rank takes its share; the output is identical to one process's)::

    torchrun --nproc_per_node 4 -m s3prl_hf.cli extract --model hubert --input wavs/ --output feats/
    accelerate launch --multi_gpu --num_processes 4 -m s3prl_hf.cli extract --model hubert ...
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `extract` sub-command."""
    p = subparsers.add_parser(
        "extract", help="extract hidden states of an audio folder, file list or saved dataset (multi-GPU, resumable)",
        description="Extract hidden states into sharded Arrow files; load them with s3prl_hf.load_features(DIR). "
                    "Run it plainly, or under torchrun / accelerate launch for several processes. Rerun the same "
                    "command to resume an interrupted run.")
    p.add_argument("--model", required=True, help="upstream name, Hub repo id or converted folder")
    p.add_argument("--input", required=True,
                   help="audio folder (.wav/.flac/.ogg/.mp3, recursive), file list (a path, or 'id<TAB>path', per "
                        "line; Kaldi 'id path' for .scp), or a folder saved by datasets' save_to_disk")
    p.add_argument("--output", required=True, help="output folder (rerun with the same one to resume)")
    p.add_argument("--layers", type=parse_layers, default=None,
                   help="comma-separated hidden-state indices, e.g. 0,6,12 or -1 (default: all)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="storage dtype")
    p.add_argument("--compute-dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                   help="dtype the model computes in (default auto: bfloat16 on CUDA, float32 on CPU); "
                        "frontends, CMVN and recurrent states stay float32")
    p.add_argument("--batch-seconds", type=float, default=100.0,
                   help="most padded seconds of audio per forward pass (default: 100)")
    p.add_argument("--shard-seconds", type=float, default=1800.0,
                   help="seconds of audio per shard file, the unit of resumption (default: 1800)")
    p.add_argument("--on-error", choices=["stop", "skip"], default="stop",
                   help="at a bad input: stop (keeping finished shards) or skip it and list it (default: stop)")
    p.add_argument("--stereo", choices=["mix", "error"], default="mix",
                   help="multi-channel audio: average to mono, or treat as a bad input (default: mix)")
    p.add_argument("--no-resample", dest="resample", action="store_false",
                   help="treat audio at another rate than the model's as a bad input instead of resampling it")
    p.add_argument("--sampling-rate", type=int, default=None, help="rate of raw-array dataset columns")
    p.add_argument("--audio-column", default="audio", help="dataset column holding the audio (default: audio)")
    p.add_argument("--id-column", default=None, help="dataset column of unique ids (default: the row number)")
    p.add_argument("--split", default=None, help="split of a saved DatasetDict")
    p.add_argument("--decoder", choices=["auto", "soundfile", "datasets"], default="auto",
                   help="who decodes a datasets Audio column (default: datasets if torchcodec works, else soundfile)")
    p.add_argument("--normalize", action="store_true", help="layer-norm every hidden state (S3PRL normalize=True)")
    p.add_argument("--cpu", action="store_true", help="run on CPU even when CUDA is available")
    p.add_argument("--compile", nargs="?", const="inductor", default=False, metavar="BACKEND",
                   help="torch.compile the model's network (default backend: inductor); off by default, it pays on "
                        "CUDA, not necessarily on CPU")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=cmd_extract)
    return p


def parse_layers(text: str) -> list[int] | None:
    """'0,6,12' -> [0, 6, 12]; 'all' -> None."""
    if text.strip().lower() == "all":
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers {text!r}: expected comma-separated integers, e.g. 0,6,12") from None


def cmd_extract(args) -> int:
    from .sharded import extract_to_dir

    summary = extract_to_dir(
        args.input, args.output, args.model, layers=args.layers, dtype=args.dtype, batch_seconds=args.batch_seconds,
        shard_seconds=args.shard_seconds, on_error=args.on_error, stereo=args.stereo, resample=args.resample,
        sampling_rate=args.sampling_rate, normalize=True if args.normalize else None,
        audio_column=args.audio_column, id_column=args.id_column, split=args.split, decoder=args.decoder,
        progress=args.progress, cpu=True if args.cpu else None, compile=args.compile,
        compute_dtype=args.compute_dtype)
    if not summary.complete:  # another rank finishes last and reports
        return 0
    extracted = summary.num_items - len(summary.errors)
    resumed = f", {summary.shards_already_done} already done before this run" if summary.shards_already_done else ""
    if summary.inputs_changed:
        resumed += f"; {summary.inputs_changed} input file(s) changed since the last run, extracted again"
    print(f"extracted {extracted} of {summary.num_items} inputs into {summary.output} ({summary.num_shards} "
          f"shards{resumed}; padding {100 * summary.padding_ratio:.1f}% of the audio)")
    if summary.errors:
        print(f"skipped {len(summary.errors)} bad input(s) (listed in {summary.output / 'errors.json'}):",
              file=sys.stderr)
        for error in summary.errors:
            print(f"  {error['path'] or error['id']}: {error['error']}", file=sys.stderr)
    print(f"load with: s3prl_hf.load_features({str(summary.output)!r})")
    return 0

#!/usr/bin/env python
"""Turn original S3PRL checkpoints into verified, carded folders laid out as their Hub repos, and publish them.

Run from the repository root::

    python conversion/publish.py 'hubert*' wavlm_large --output published \\
        --reference-python $REFENV/bin/python            # S3PRL 0.4.18 makes the verification data
    python conversion/publish.py 'hubert*' --output published --reference-python ... --push --namespace s3prl-hf

For each canonical name (names, aliases and shell patterns are accepted): fetch the original file(s) with the
package's downloader (`S3PRL_HF_MIRROR` honoured), record their sha256 and size, convert, run S3PRL's own
`S3PRLUpstream` on the same file(s) and fixed inputs, refuse anything off by more than 1e-4 relative, write the card
and `OUTPUT/<name>/`, and record it in `OUTPUT/manifest.json`. With `--push`, redistributable names go to
`<namespace>/<name>` on the Hub (tagged `converter-v<N>`, listed in the namespace's collection) and the registry's
pins (`s3prl_hf/data/pins.json`) get each commit and each original's sha256. Rerunning skips what is unchanged.
See conversion/README.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package of this checkout, when not installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from publishing.build import BuildOptions
from publishing.pipeline import PushOptions, resolve_names, run

from s3prl_hf import registry


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="publish.py", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="+", metavar="NAME_OR_PATTERN",
                   help="canonical names, aliases or shell patterns ('hubert*', '*'), see `s3prl-hf list`")
    p.add_argument("--output", required=True, type=Path, help="folder of the built repos and manifest.json")
    reference = p.add_mutually_exclusive_group()
    reference.add_argument("--reference-python", default=None,
                           help="interpreter with S3PRL 0.4.18 (conversion/reference/setup_env.sh) that computes the "
                                "verification data from the original file(s)")
    reference.add_argument("--reference-outputs", type=Path, default=None,
                           help="S3PRL outputs made elsewhere: DIR/<name>/{inputs.safetensors, "
                                "s3prl_hidden_states.safetensors, reference.json}, used only for the same source sha256")
    p.add_argument("--push", action="store_true", help="push redistributable names to the Hub and pin the commits")
    p.add_argument("--namespace", default=None,
                   help=f"Hub user or organisation (default: S3PRL_HF_NAMESPACE, else {registry.DEFAULT_NAMESPACE})")
    p.add_argument("--pins", type=Path, default=Path(registry.PINS_FILE),
                   help="the registry's pins file to update after a push (default: s3prl_hf/data/pins.json)")
    p.add_argument("--jobs", type=int, default=1, help="names built at once (default 1; each holds a model in memory)")
    p.add_argument("--force", action="store_true", help="rebuild names even when their sources are unchanged")
    p.add_argument("--max-shard-size", default="2GB", help="largest safetensors file (default 2GB)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not args.reference_python and not args.reference_outputs:
        parser.error("give --reference-python PYTHON (an interpreter with S3PRL 0.4.18) or --reference-outputs DIR: "
                     "nothing is published without S3PRL's own hidden states")
    if args.namespace and not args.push:
        parser.error("--namespace is for --push")
    try:
        names = resolve_names(args.names)
        options = BuildOptions(output=args.output, reference_python=args.reference_python,
                               reference_outputs=args.reference_outputs, force=args.force,
                               max_shard_size=args.max_shard_size)
        push = PushOptions(registry.hub_namespace(args.namespace), args.pins) if args.push else None
        outcomes = run(names, options, push=push, jobs=args.jobs, progress=args.progress)
    except KeyboardInterrupt:
        print("publish.py: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (registry.UnknownUpstreamError, OSError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"publish.py: error: {message}", file=sys.stderr)
        return 2
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

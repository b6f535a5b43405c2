#!/usr/bin/env bash
# Regenerates s3prl_hf/demo/speech.wav, the clip `s3prl-hf demo` extracts features from:
# a sentence spoken by espeak-ng, 16 kHz mono 16-bit PCM. Needs Debian's espeak-ng and sox.
set -euo pipefail
out="$(dirname "$0")/../s3prl_hf/demo/speech.wav"
tmp="$(mktemp --suffix=.wav)"
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 150 -w "$tmp" "Self supervised speech representations, layer by layer."
sox -D "$tmp" -r 16000 -c 1 -b 16 -e signed-integer "$out"
soxi "$out"

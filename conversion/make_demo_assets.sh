#!/usr/bin/env bash
# Regenerates the assets of `s3prl-hf demo` in s3prl_hf/demo/:
#   speech.wav      a sentence spoken by espeak-ng, 16 kHz mono 16-bit PCM (needs Debian's espeak-ng and sox;
#                   sox -D: no dither, so the file is the same bytes on every run);
#   hubert_demo.pt  the S3PRL-format checkpoint of the hubert_base_like parity fixture (random weights, made by
#                   S3PRL itself, see conversion/reference/); tests check the two files stay identical.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
demo="$root/s3prl_hf/demo"
tmp="$(mktemp --suffix=.wav)"
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 150 -w "$tmp" "Self supervised speech representations, layer by layer."
sox -D "$tmp" -r 16000 -c 1 -b 16 -e signed-integer "$demo/speech.wav"
cp "$root/tests/fixtures/hubert_base_like/original_s3prl.pt" "$demo/hubert_demo.pt"
sha256sum "$demo/speech.wav" "$demo/hubert_demo.pt"

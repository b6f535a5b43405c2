"""Evidence that a converted upstream gives S3PRL's numbers, shipped with every published repo.

- `layout`: the `verification/` folder's files and the parity tolerance;
- `data`: the fixed inputs, S3PRL's hidden states on them, and `compare` (a converted model against them);
- `provenance`: the card section naming the sources (with their sha256) and the verification figure;
- `cli`: `s3prl-hf verify NAME_OR_FOLDER`.
"""

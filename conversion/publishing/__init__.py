"""The publish pipeline behind `conversion/publish.py`: every original checkpoint -> a verified, carded Hub repo.

Modules, one job each:

- `sources`: fetch a name's original file(s) with the package's downloader and record their sha256 and size;
- `reference`: S3PRL's own hidden states on the fixed inputs (S3PRL run in another interpreter, or precomputed);
- `build`: convert, verify against S3PRL, write the card and `DIR/<name>/` exactly as the Hub repo;
- `manifest`: `DIR/manifest.json`, the record of every built name and the input of the push;
- `hub`: the push (repo, commit, tag, collection) and the registry pins it leaves behind;
- `pipeline`: names and patterns, the progress bar, parallel jobs, idempotent reruns and the summary table.
"""

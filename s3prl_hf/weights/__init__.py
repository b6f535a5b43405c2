"""Where an upstream's weights come from: local folders, converted Hub repos, or the original checkpoints.

`resolve.locate_upstream` turns a name into a folder or repo id that transformers loads, in this order:

1. a local folder, as given;
2. the converted repo `<namespace>/<name>` already in the Hugging Face cache (no network);
3. a conversion of the original checkpoint already in s3prl_hf's conversion cache (no network);
4. the converted repo on the Hub, at the registry's pinned revision (one quick probe, no retries);
5. the original checkpoint file(s) the registry lists, S3PRL's copy first, then the original release: downloaded
   (`download`), checked (`integrity`), converted once into the conversion cache (`conversion_cache`).

`source="hub"` keeps steps 1, 2 and 4; `source="original"` keeps 1, 3 and 5.
"""

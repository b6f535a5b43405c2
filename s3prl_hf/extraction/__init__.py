"""Features for datasets: every hidden state of many inputs, computed once.

- `dataset_features`: `extract_features`, a `datasets.Dataset.map` with a fingerprint, cached by `datasets`;
- `sharded`: `extract_to_dir` / `load_features`, the sharded, resumable, multi-process `s3prl-hf extract`;
- `inputs`, `waveforms`, `audio`: what is read (folders, file lists, saved datasets) and how (soundfile, channels,
  resampling), with bad inputs reported by path;
- `cli`: the `s3prl-hf extract` sub-command.
"""

"""For the model cards: what S3PRL's hidden states of the espnet_hubert family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns torchaudio's `extract_features`: the output of each of the `num_hidden_layers` transformer "
    "layers, and nothing else (no encoder input). Pre-LN models (large) get no final LayerNorm on the last "
    "state (torchaudio applies it in `forward` only); post-LN models (base) normalise CNN features + positional "
    "conv before the first layer. The network is torchaudio's HuBERT, as ESPnet builds it from the release's "
    "config.yaml, on transformers' HuBERT modules."
)

QUIRKS = (
    "Frames are masked with torchaudio's conv-length rule (integer arithmetic, clamped at 0 after each conv): "
    "projected features past an utterance's frames are zeroed and are not attended to. An utterance shorter "
    "than the CNN's receptive field (400 samples) in a longer batch has no valid frame: torchaudio masks all of "
    "its keys, so it attends uniformly to its frames, which are then all equal; that is reproduced.",
    "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
    "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
    "Waveforms are not normalised (S3PRL's expert passes them to the model as they are).",
    "Two original files: the `.pth` state dict and ESPnet's `config.yaml` (the architecture, `encoder_conf`). "
    "`s3prl-hf convert --checkpoint MODEL.pth --frontend-checkpoint config.yaml`, or leave config.yaml beside "
    "the `.pth` (as ESPnet does when no config is given).",
)

"""For the model cards: what S3PRL's hidden states of the lighthubert family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL returns `num_hidden_layers + 1` states (13 for the released subnets): state 0 is the projected CNN "
    "features (before the positional conv, padded frames zeroed), state i the raw output of layer i (no final "
    "LayerNorm, also for pre-LN checkpoints). The model is the fixed subnet S3PRL runs, sliced out of the "
    "supernet checkpoint at conversion: lighthubert_base 640 wide with 10 heads and FFN 2560, lighthubert_small "
    "384 / 6 / 1536, lighthubert_stage1 the whole 768 / 12 / 3072 supernet, all 12 layers."
)

QUIRKS = (
    "The subnet is S3PRL's fixed choice for the checkpoint's cfg, not the name: a `hubert_pruner` checkpoint "
    "runs the fixed subnet of the supernet its `pruner_supernet` yaml path names (base or small), a "
    "`student_hubert` (stage 1) the largest subnet of its `supernet_type` (default base). "
    "`convert_lighthubert(state, subnet=...)` cuts any other subnet of the once-for-all supernet.",
    "Subnet weights are S3PRL's slices of the supernet's: leading rows and columns, except that a subnet FFN "
    "takes the leading rows of each supernet-width block of fc1 (and columns of fc2), and the weight-normalised "
    "positional conv keeps its supernet-wide norm.",
    "Waveforms are always standardised per utterance (`F.layer_norm`), as S3PRL's expert does whatever the cfg.",
    "Frames are masked with fairseq HuBERT's all-chunk rule (`forward_padding_mask`), which keeps one frame "
    "more than transformers' conv-length rule for many lengths; a group-norm CNN (`extractor_mode=default`) "
    "normalises over the whole padded batch length, exactly as in S3PRL.",
)

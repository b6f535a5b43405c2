"""For the model cards: what S3PRL's hidden states of the multires_hubert family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL records, block by block in the order they run (the encoder blocks, the middle block, then the "
    "decoder blocks), the input of every transformer layer and then the block's output: the layers plus one "
    "state per block. fairseq's base and large recipes have three blocks of 4 or 8 layers: 20 ms, then 40 ms "
    "for the middle block, then 20 ms again. The middle and decoder outputs are taken before the skip sums that "
    "follow them. States at a coarser rate are repeated along time (each frame twice for 40 ms) and all are cut "
    "to the shortest, so every state has one row per 20 ms."
)

QUIRKS = (
    "Frames are masked with fairseq HuBERT's all-chunk rule (a frame is padding only if all of its `T_padded // "
    "T_frames` samples are), as for HuBERT.",
    "The resamplers between frame rates convolve padded frames too, and their group norms normalise over the "
    "whole padded batch length, so the shorter utterances of a padded batch depend on the padding, exactly as "
    "in S3PRL; each block zeroes its padded input frames first, and the middle block's skip sum adds the zeroed "
    "input (fairseq zeroes it in place).",
    "Coarser states are repeated by S3PRL's factor `lcm(strides) // stride`, listed in reverse: the true factor "
    "for the released (1, 2) ratio and any geometric series of strides, a wrong one otherwise (e.g. 3 for the "
    "640-sample states of strides 320, 640, 1920), as in S3PRL.",
    "With three or more frame rates the upsamplers run in S3PRL's order (`upsample_modules[i]` at decoder step "
    "i), the reverse of fairseq's, so the outputs are S3PRL's, not fairseq's.",
    "Every state is reported at 320 samples per frame, S3PRL's `get_downsample_rates`.",
)

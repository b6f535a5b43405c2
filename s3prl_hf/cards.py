"""Model cards, one per canonical upstream, rendered from the registry (and a config, when known).

`python -m s3prl_hf.cards model_cards` regenerates the committed `model_cards/` folder; a test fails when
those files are stale. `s3prl-hf convert` writes the same card, plus the source checkpoint's sha256, as the
`README.md` of each converted folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import registry
from .auto import is_implemented, reference_config
from .modeling_utils import UpstreamConfig

# Substrings of the seed's pretraining-data text -> Hugging Face dataset ids for the card metadata.
DATASET_IDS = {
    "LibriSpeech": "openslr/librispeech_asr",
    "Gigaspeech": "speechcolab/gigaspeech",
    "VoxPopuli": "facebook/voxpopuli",
    "CommonVoice": "mozilla-foundation/common_voice_11_0",
}
MULTILINGUAL_METHODS = {"xls_r", "xlsr", "voxpopuli", "mhubert", "wavlablm"}
# Monolingual checkpoints in another language than English (card metadata).
LANGUAGES = {"wav2vec2_base_s2st_es_voxpopuli": "es", "wav2vec2_conformer_large_s2st_es_voxpopuli": "es"}
AUDIO_FAMILIES = {"ast", "ssast", "mae_ast", "byol_a", "byol_s", "vggish", "passt"}
# Multilingual checkpoints of otherwise English methods.
MULTILINGUAL_NAMES = {"multires_hubert_multilingual_base", "multires_hubert_multilingual_large400k",
                      "multires_hubert_multilingual_large600k"}

# What each hidden state is, per family, as S3PRL defines it (research notes, from S3PRL's experts).
HIDDEN_STATE_NOTES = {
    "hubert": (
        "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` "
        "states. Post-LN models (base): state 0 is LayerNorm(CNN features + positional conv), state i is the "
        "output of layer i-1. Pre-LN models (large): state 0 has no LayerNorm, and the last state is the "
        "encoder's final LayerNorm of the last layer's output."
    ),
    "wav2vec2": (
        "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` "
        "states. Post-LN models (wav2vec2_base_960, wav2vec2_large_960): state 0 is LayerNorm(CNN features + "
        "positional conv), state i is the output of layer i-1. Pre-LN models (Libri-Light, XLSR, XLS-R): state 0 "
        "has no LayerNorm, and the last state is the encoder's final LayerNorm of the last layer's output (which "
        "transformers 5's own `hidden_states` leave out)."
    ),
    "wav2vec2_conformer": (
        "S3PRL records the input of every conformer layer and the encoder output: `num_hidden_layers + 1` states. "
        "The conformer encoder has no positional conv: state 0 is the projected CNN features with padded frames "
        "zeroed, states 1 to L-1 are layer outputs, and the last state is the encoder's final LayerNorm of the "
        "last layer's output. Positions enter every layer's attention (relative encodings or rotary embeddings). "
        "A conformer whose config names another position encoding (fairseq's \"abs\") runs in the transformer "
        "encoder instead, as in S3PRL: the encoder input is x + positional conv (LayerNorm after it when post-LN), as "
        "in wav2vec 2.0, and the attention sees no positions."
    ),
    "data2vec": (
        "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` "
        "states. The released models are post-LN: state 0 is LayerNorm(CNN features + positional conv stack), "
        "state i is the output of layer i-1. The positional conv is data2vec's stack of 5 convs (kernel 19, no "
        "weight norm), each followed by a LayerNorm without parameters and GELU."
    ),
    "wavlm": (
        "S3PRL records the input of every transformer layer and the encoder output: `num_hidden_layers + 1` "
        "states, defined as for HuBERT (post-LN base models: state 0 is LayerNorm(CNN features + positional "
        "conv); pre-LN large: no LayerNorm in state 0, final LayerNorm in the last state). Every layer adds "
        "WavLM's gated relative position bias to its attention."
    ),
    "unispeech_sat": (
        "S3PRL runs UniSpeech-SAT with its WavLM code, relative position bias off, and records the input of every "
        "transformer layer and the encoder output: `num_hidden_layers + 1` states, defined as for HuBERT "
        "(post-LN base models: state 0 is LayerNorm(CNN features + positional conv); pre-LN large: no LayerNorm "
        "in state 0, final LayerNorm in the last state)."
    ),
    "distilhubert": (
        "S3PRL returns 6 states: 0 is the projected CNN features (before the positional conv, no feature "
        "LayerNorm, padded frames zeroed), 1 and 2 are the outputs of the two transformer layers, and 3 to 5 are "
        "the prediction heads trained to predict HuBERT Base layers 4, 8 and 12. transformers' own DistilHuBERT "
        "port drops the heads; this one keeps them. The DistilHuBERT paper uses state 2."
    ),
    "lighthubert": (
        "S3PRL returns `num_hidden_layers + 1` states (13 for the released subnets): state 0 is the projected CNN "
        "features (before the positional conv, padded frames zeroed), state i the raw output of layer i (no final "
        "LayerNorm, also for pre-LN checkpoints). The model is the fixed subnet S3PRL runs, sliced out of the "
        "supernet checkpoint at conversion: lighthubert_base 640 wide with 10 heads and FFN 2560, lighthubert_small "
        "384 / 6 / 1536, lighthubert_stage1 the whole 768 / 12 / 3072 supernet, all 12 layers."
    ),
    "multires_hubert": (
        "S3PRL records, block by block in the order they run (the encoder blocks, the middle block, then the "
        "decoder blocks), the input of every transformer layer and then the block's output: the layers plus one "
        "state per block. fairseq's base and large recipes have three blocks of 4 or 8 layers: 20 ms, then 40 "
        "ms for the middle block, then 20 ms again. The middle and decoder outputs are taken before the skip sums that "
        "follow them. States at a coarser rate are repeated along time (each frame twice for 40 ms) and all "
        "are cut to the shortest, so every state has one row per 20 ms."
    ),
}
# Mockingjay, TERA and Audio ALBERT run the same S3PRL expert (upstream/mockingjay).
_MOCKINGJAY_NOTE = (
    "S3PRL returns `num_hidden_layers + 1` states: state 0 is LayerNorm(Linear(input features) + sinusoidal "
    "positions), state i the output of transformer layer i (post-LN BERT layers). Audio ALBERT applies one shared "
    "layer at every depth. The input features are the checkpoint's own (80-dim log-mel for the logMel names, "
    "240-dim kaldi fbank + deltas for fbankBase), computed in pure torch with torchaudio's numbers."
)
HIDDEN_STATE_NOTES.update(mockingjay=_MOCKINGJAY_NOTE, tera=_MOCKINGJAY_NOTE, audio_albert=_MOCKINGJAY_NOTE)

# S3PRL behaviours the port reproduces on purpose, per family.
_CONV_LENGTH_MASK = (
    "Frames are masked with fairseq wav2vec 2.0's conv-length rule, as fairseq writes it: frame `conv_len - 1` "
    "marks the end with Python indexing, so an utterance shorter than the CNN's receptive field (400 samples) "
    "in a padded batch wraps around (conv_len 0 keeps every frame valid, -1 all but the last), and a batch without "
    "padding gets no mask at all."
)
_PADDED_GROUP_NORM = (
    "The group norm of the first conv (wav2vec2_base_960, wav2vec2_large_960) normalises over the whole padded "
    "batch length, so an utterance's features depend on how much the batch pads it, exactly as in S3PRL."
)
QUIRKS = {
    "wav2vec2": (
        _CONV_LENGTH_MASK,
        _PADDED_GROUP_NORM,
        "Waveforms are standardised per utterance (`F.layer_norm`, eps 1e-5, over the valid samples) when the "
        "checkpoint's `task_cfg.normalize` says so (the Libri-Light, XLSR and XLS-R models).",
        "`crop_seq_to_multiple` from the checkpoint's config is applied (drops trailing frames; S3PRLUpstream then "
        "repeats the new last frame).",
    ),
    "wav2vec2_conformer": (
        _CONV_LENGTH_MASK,
        "The relative-position table is computed for the frames at hand; fairseq's values do not depend on its "
        "`max_positions`, whose table (781 MiB for the released models) is never allocated.",
        "The rotary frequencies are the checkpoint's own `inv_freq`, as S3PRL uses them; cos/sin in fp32.",
        "The BatchNorm running statistics of every convolution module come from the checkpoint; the unused "
        "positional conv weights fairseq stores are dropped.",
        "\"abs\" conformers: the sequence is zero-padded to a multiple of `required_seq_len_multiple` frames (2 by "
        "default) before the layers, as fairseq's transformer encoder does; the extra frames are masked keys, but "
        "every depthwise conv reads them, so the last frames depend on them. fairseq's own attention (`attn_type` "
        "other than espnet) is loaded like ESPnet's; with rope it ignores the positions, as in S3PRL.",
    ),
    "data2vec": (
        _CONV_LENGTH_MASK,
        "The checkpoint's EMA teacher (`_ema`) and regression head (`final_proj`) are dropped, as S3PRL's loader "
        "does; a checkpoint without `_ema` is refused, as S3PRL's loader fails on it.",
    ),
    "hubert": (
        "Frames are masked with fairseq HuBERT's all-chunk rule (a frame is padding only if all of its "
        "`T_padded // T_frames` samples are), which keeps one frame more than transformers' conv-length rule "
        "for many lengths and changes the shorter utterances of a padded batch.",
        "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
        "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
    ),
    "wavlm": (
        "Frames are masked with fairseq HuBERT's all-chunk rule (`WavLM.forward_padding_mask`), which keeps one "
        "frame more than transformers' conv-length rule for many lengths and changes the shorter utterances of a "
        "padded batch.",
        "The relative position bias uses the checkpoint's `num_buckets` and `max_distance` (S3PRL's default "
        "`max_distance` is 1280, transformers' 800).",
        "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
        "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
    ),
    "unispeech_sat": (
        "Frames are masked with fairseq HuBERT's all-chunk rule (`WavLM.forward_padding_mask`), which keeps one "
        "frame more than transformers' conv-length rule for many lengths and changes the shorter utterances of a "
        "padded batch.",
        "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
        "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
    ),
    "multires_hubert": (
        "Frames are masked with fairseq HuBERT's all-chunk rule (a frame is padding only if all of its "
        "`T_padded // T_frames` samples are), as for HuBERT.",
        "The resamplers between frame rates convolve padded frames too, and their group norms normalise over the "
        "whole padded batch length, so the shorter utterances of a padded batch depend on the padding, exactly "
        "as in S3PRL; each block zeroes its padded input frames first, and the middle block's skip sum adds the "
        "zeroed input (fairseq zeroes it in place).",
        "Coarser states are repeated by S3PRL's factor `lcm(strides) // stride`, listed in reverse: the true "
        "factor for the released (1, 2) ratio and any geometric series of strides, a wrong one otherwise "
        "(e.g. 3 for the 640-sample states of strides 320, 640, 1920), as in S3PRL.",
        "With three or more frame rates the upsamplers run in S3PRL's order (`upsample_modules[i]` at decoder "
        "step i), the reverse of fairseq's, so the outputs are S3PRL's, not fairseq's.",
        "Every state is reported at 320 samples per frame, S3PRL's `get_downsample_rates`.",
    ),
    "distilhubert": (
        "Frames are masked with the distiller's `cal_pad_mask`: the conv-length formula with truncating "
        "division, applied with Python slicing (a negative length masks only the last frames).",
        "The group norm of the first conv normalises over the whole padded batch length, so an utterance's "
        "features depend on how much the batch pads it, exactly as in S3PRL.",
        "Waveforms are not normalised (the distiller has no `normalize` option).",
    ),
    "lighthubert": (
        "The subnet is S3PRL's fixed choice for the checkpoint's cfg, not the name: a `hubert_pruner` checkpoint runs "
        "the fixed subnet of the supernet its `pruner_supernet` yaml path names (base or small), a `student_hubert` "
        "(stage 1) the largest subnet of its `supernet_type` (default base). `convert_lighthubert(state, subnet=...)` "
        "cuts any other subnet of the once-for-all supernet.",
        "Subnet weights are S3PRL's slices of the supernet's: leading rows and columns, except that a subnet FFN "
        "takes the leading rows of each supernet-width block of fc1 (and columns of fc2), and the weight-normalised "
        "positional conv keeps its supernet-wide norm.",
        "Waveforms are always standardised per utterance (`F.layer_norm`), as S3PRL's expert does whatever the cfg.",
        "Frames are masked with fairseq HuBERT's all-chunk rule (`forward_padding_mask`), which keeps one frame more "
        "than transformers' conv-length rule for many lengths; a group-norm CNN (`extractor_mode=default`) "
        "normalises over the whole padded batch length, exactly as in S3PRL.",
    ),
}
_CMVN_NAN = ("S3PRL's CMVN of a single frame is NaN (the unbiased std of one value), which spreads to all the "
             "utterance's hidden states; here that frame's features are zeros and the hidden states finite. "
             "`s3prl_nan_cmvn=True` (a config field: `AutoUpstream.from_pretrained(name, s3prl_nan_cmvn=True)`) gives "
             "S3PRL's NaN.")
_MOCKINGJAY_QUIRKS = (
    "Log-mel / linear checkpoints: each utterance is scaled to -25 dB, then the whole zero-padded batch goes through "
    "one STFT (centred, reflect padding at the batch's ends only), so the last frames of a shorter utterance see its "
    "zero padding instead of a reflection.",
    "CMVN normalises each utterance over `round(len / (padded_len / frames))` frames (Python's round-half-even on "
    "S3PRL's float expression): this can differ by one from the utterance's own frame count and depends on the "
    "batch's longest utterance. Later frames are zero.",
    "The attention mask lets the first N frames attend, N being the number of frames whose features sum to non-zero "
    "(CMVN's zero padding); without CMVN nothing is masked.",
    "fbank checkpoints: kaldi fbank per utterance gives `1 + (len - 400) // 160` frames, two or three fewer than the "
    "`ceil(len / 160)` S3PRL reports valid; in a batch those last valid frames are the encoder's output on zero "
    "features, alone copies of the last frame. An utterance under 400 samples in a batch whose longest is 0.05 s or "
    "more fails, as in S3PRL, and so does a batch whose longest utterance has 801..879 samples (too few fbank frames "
    "for S3PRL's length matching); this model raises a ValueError naming the lengths that pass.",
    "CMVN over one frame: a kaldi-fbank utterance of 400 to 559 samples, or a log-mel one of roughly 80 to 240 "
    "samples beside longer ones (its CMVN covers one frame, by the rounding above). " + _CMVN_NAN,
    "Inputs longer than `sequence_length` frames (1500; 3000 for the seq3k names; 500 in the LinearLarge recipe) are "
    "cut with `torch.chunk` into `ceil(frames / sequence_length)` equal chunks of the batch's frame axis, encoded "
    "independently with positions restarting at 0: no attention across chunks, and the chunk boundaries depend on "
    "the batch's longest utterance.",
    "So an utterance's features depend on the rest of its batch. `batch_invariant=True` (a config field: "
    "`AutoUpstream.from_pretrained(name, batch_invariant=True)`) runs each utterance alone, as S3PRL would in a "
    "batch of one, at the cost of one forward per utterance.",
)
QUIRKS.update(mockingjay=_MOCKINGJAY_QUIRKS, tera=_MOCKINGJAY_QUIRKS, audio_albert=_MOCKINGJAY_QUIRKS)

# APC, VQ-APC, NPC, DeCoAR and DeCoAR 2.0 share S3PRL's fbank frontend (upstream/apc/audio.py and its copies).
_FBANK_INPUT = ("The input is S3PRL's kaldi fbank (80 bins, hamming window, 25 ms / 10 ms) with per-utterance CMVN, "
                "computed in pure torch with torchaudio's numbers.")
_FBANK_QUIRK = (
    "kaldi fbank per utterance gives `1 + (len - 400) // 160` frames, two or three fewer than the `ceil(len / 160)` "
    "S3PRL reports valid: in a padded batch a shorter utterance's last valid frames are the network's output on "
    "padding, alone copies of its last frame. An utterance under 400 samples in a batch whose longest is 0.05 s or "
    "more fails, as in S3PRL, and so does a batch whose longest utterance has 801..879 samples (too few frames for "
    "S3PRL's length matching); this model raises a ValueError naming the lengths that pass. A single fbank frame "
    "(400 to 559 samples): " + _CMVN_NAN)
_APC_NOTE = (
    "S3PRL returns 3 states whatever the depth of the GRU stack: the outputs of layers 1 and 2 (what it hooks as the "
    "inputs of layers 2 and 3; from layer 2 on each output includes the residual) and the last layer's output. "
    + _FBANK_INPUT)
_APC_QUIRKS = (
    _FBANK_QUIRK,
    "The GRUs run on packed sequences (each utterance's own frames only), so padding never leaks into an utterance; "
    "padded frames are zero in every state.",
)
HIDDEN_STATE_NOTES.update(
    apc=_APC_NOTE,
    vq_apc=_APC_NOTE + " The VQ layer quantises the last layer's output for pretraining only: every state is taken "
    "before it. The converted model keeps its weights (`model.quantize(states[-1])` gives S3PRL's eval-mode codes).",
    npc=("S3PRL returns `2 * n_blocks + 1` states (9 for the released 4 blocks), in the order its hooks fire: block 1's "
         "output, masked conv 1's output, block 2's output, ..., then the sum of the masked convs' outputs, NPC's "
         "representation (before VQ, which only feeds the pretraining head). " + _FBANK_INPUT),
    modified_cpc=("S3PRL returns 2 states: the conv encoder's output (160 samples per frame) and the autoregressive "
                  "LSTM's output, computed from the raw waveform (no normalisation)."),
    decoar=("S3PRL returns one state per depth (4): the outputs of forward LSTM k and backward LSTM k concatenated "
            "(2 x 1024), the backward stack reading each utterance reversed. The input projection has no state of its "
            "own. " + _FBANK_INPUT),
    decoar2=("S3PRL returns `num_hidden_layers + 1` states (13), at 320 samples per frame: the input of every "
             "transformer layer (state 0 = LayerNorm(projected fbank + positional conv), post-LN layers) and the "
             "encoder's output. " + _FBANK_INPUT + " Every second fbank frame is kept."),
)
QUIRKS.update(
    apc=_APC_QUIRKS,
    vq_apc=_APC_QUIRKS,
    npc=(
        _FBANK_QUIRK,
        "The conv blocks and masked convs run over the whole zero-padded batch (NPC gets no lengths), so a shorter "
        "utterance's last frames see its padding, and BatchNorm uses the checkpoint's running statistics.",
    ),
    modified_cpc=(
        "The encoder and the LSTM run over the zero-padded waveforms of the batch, so a shorter utterance's last "
        "frames (and, for an RNN run backwards, all of them) depend on how much the batch pads it, as in S3PRL.",
    ),
    decoar=(
        _FBANK_QUIRK,
        "Both LSTM stacks run on packed sequences, so padding never leaks into an utterance; padded frames are zero.",
        "S3PRL hard-codes 1024 units and 4 layers; the converter reads the sizes from the checkpoint's weights and "
        "accepts both the released multi-layer LSTM names and S3PRL's per-layer names.",
    ),
    decoar2=(
        _FBANK_QUIRK,
        "Padded frames are zeroed before the positional conv and masked as attention keys, as fairseq does; the extra "
        "frame S3PRL adds to reach an even count is masked and trimmed, so it changes nothing and is not added.",
        "S3PRL fixes the architecture in code (12 heads among it); the converter reads widths, depth and the "
        "positional conv from the weights and keeps S3PRL's 12 heads, which no weight shape records.",
    ),
)
HIDDEN_STATE_NOTES.update(
    mae_ast=("S3PRL returns the output of every encoder layer (12; no input state), each reshaped from tokens to time "
             "steps: (batch, time steps, frequency patches x 768), so 768 wide at 320 samples per frame for "
             "mae_ast_frame (2-frame x 128-bin patches) and 8 x 768 = 6144 wide at 2560 samples per frame for "
             "mae_ast_patch (16 x 16 patches). The input is kaldi fbank (128 bins, povey window, 25 ms / 10 ms, no "
             "normalisation), then the checkpoint's BatchNorm statistics times 0.5, computed in pure torch."),
)
QUIRKS.update(
    mae_ast=(
        "The sinusoidal position of a token is its index in the flattened (time, frequency patch) sequence, not its "
        "time step, and it is zero at padded tokens; the checkpoint's 147 MB position tables are checked against "
        "the formula at conversion and recomputed, not stored.",
        "Padded tokens are masked as attention keys only when some utterance is shorter than the batch in fbank "
        "frames; utterance i then keeps `ceil(frames_i / patch_frames) * (128 // patch_bins)` tokens, with 128 "
        "whatever the mel bins (a default argument of S3PRL's `forward_padding_mask`). Patches straddling the end "
        "of an utterance include the batch-normalised zero padding.",
        "S3PRL fails an assertion when the longest utterance gives under half the time steps it expects "
        "(`ceil(len / stride)`): for mae_ast_frame a longest utterance of 800-879 or 961-1199 samples, for "
        "mae_ast_patch under 5360 or 7681-7919 samples; this model raises a ValueError there. Any utterance under "
        "400 samples (one fbank window) fails too.",
        "The pretraining decoder, reconstruction / classification heads, mask embeddings and the unused input "
        "LayerNorm are dropped at conversion: no hidden state depends on them.",
    ),
)
HIDDEN_STATE_NOTES.update(
    vggish=("S3PRL returns 1 state: the postprocessed embedding of every 0.96 s example (96 frames of a 64-band log "
            "mel, 25 ms / 10 ms, computed as S3PRL's numpy code in float64, in pure torch): PCA, clamp to [-2, 2] "
            "and 8-bit quantisation, so the values are the integer levels 0..255 (as floats; the gradient through "
            "the rounding is zero). S3PRL reports a stride of 16000 samples, although an example covers 15360."),
)
QUIRKS.update(
    vggish=(
        "Each utterance gives `1 + (frames - 96) // 96` examples (incomplete ones dropped), with `frames = 1 + "
        "(len - 400) // 160`. Lengths are `ceil(len / 16000)`: a shorter utterance's valid frames past its own "
        "examples are the expert's zero padding, and the longest utterance's last example is repeated to "
        "`ceil(len / 16000)` frames (or cut, from 25 s on).",
        "S3PRL fails on an utterance shorter than one example (15600 samples, 0.975 s) and on a batch whose longest "
        "utterance has 16001..30959 samples (one example for two expected frames); this model raises a ValueError "
        "in both cases.",
        "Two original files: the network and the PCA parameters. Combine them as S3PRL's hub does "
        "(`s3prl_hf.models.vggish.convert_vggish.load_release`) into one file to convert.",
    ),
)
_BYOL_MEL = ("torchaudio `MelSpectrogram` (64 HTK mel bands, 60-7800 Hz, n_fft 1024, periodic Hann window of {}, hop "
             "160, centred with reflect padding, power 2) and `log(x + eps)`, computed in pure torch with torchaudio's "
             "numbers")
HIDDEN_STATE_NOTES.update(
    byol_a=("S3PRL returns 1 state: the AudioNTT2020 embedding (max + mean over time of the per-step MLP output) of "
            "every 1 s window, windows every 1 s (16000 samples per frame). Each window's input is the "
            + _BYOL_MEL.format(1024) + ", normalised with the fixed statistics the expert writes in code (mean -5.4919195, std "
            "5.0389895)."),
    byol_s=("S3PRL returns 1 state: the network's embedding (max + mean over time of mel x channel features; 2048 "
            "wide for the released networks) of 1 s frames centred every 50 ms (800 samples per frame). Each frame's "
            "input is the " + _BYOL_MEL.format(400) + ", normalised with statistics of the whole batch (see below)."),
)
QUIRKS.update(
    byol_a=(
        "The batch is zero-padded to whole 1 s windows of its longest utterance; a shorter utterance's windows "
        "past its end hold only padding, and its last valid window includes the zeros after it.",
        "The normalisation statistics are fixed constants, not those of the input (S3PRL's FIXME: 'should use "
        "downstream dataset statistics').",
        "S3PRL's loader keeps only the `features.*` / `fc.*` weights of the file (after unwrapping a `state_dict` "
        "entry and cutting any prefix before them); the converter does the same, and reads the conv channels, depth "
        "and embedding width from the weights.",
    ),
    byol_s=(
        "The log-mel frames are normalised with the mean and unbiased std of ALL frames of the padded batch, both "
        "divided by the number of frames N = batch x frames (serab-byols' `compute_timestamp_stats`, a bug): an "
        "utterance's hidden states depend on the other utterances of its batch and on how much it is padded, and "
        "the network sees inputs scaled by about N. Reproduced exactly; run utterances one at a time to avoid it.",
        "A batch of digital silence throughout has a constant log-mel and a zero std, by which S3PRL divides: its "
        "hidden states are inf / NaN. Here the std is taken as 1 and they stay finite; `s3prl_nan_silence=True` (a "
        "config field) gives S3PRL's values.",
        "Frames are centred (8000 zeros on each side of the padded batch), `len // 800 + 1` of them; S3PRLUpstream "
        "keeps `ceil(len / 800)`. When 800 divides the batch length the extra frame still enters the statistics.",
        "S3PRL fails an assertion on a batch whose longest utterance is at most 800 samples (0.05 s: 2 frames for "
        "the 1 it expects); this model drops the extra frame there too and returns the 1 expected frame.",
        "The network (`default` AudioNTT2020, `resnetish34`, `cvt`) is recognised from the checkpoint's key names "
        "and its sizes read from the weights; strides, CvT's 64 channels per attention head and its mean+max pool "
        "are S3PRL's code.",
    ),
)
_AST_FRONTEND = ("Each window's input is kaldi fbank (128 bins, hanning window, htk_compat, 25 ms / 10 ms, no dither, "
                 "computed in pure torch) of the zero-padded utterance, normalised as `(x + 4.2677393) / (4.5689974 * "
                 "2)` and only then zero-padded to the window's frames (transformers' ASTFeatureExtractor pads first).")
HIDDEN_STATE_NOTES.update(
    ast=("S3PRL's `ast` entry returns 1 state (feature_selection=\"cls\"): the AudioSet head's 527 logits of the "
         "averaged class and distillation tokens after the final LayerNorm, one per 10.24 s window (163840 samples "
         "per frame). With `feature_selection=\"hidden_states\"` (a config option, as S3PRL's extra_conf) it returns "
         "the output of every block (12; no embeddings, no final LayerNorm), patch tokens reshaped to (time, 12 "
         "frequency patches x 768 = 9216) at 1600 samples per frame. " + _AST_FRONTEND),
    ssast=("S3PRL returns the output of every block (12; no embeddings, no final LayerNorm), patch tokens reshaped to "
           "(time, frequency patches x 768): 768 wide at 160 samples per frame for ssast_frame_base (128 x 2 "
           "patches, stride 128 x 1), 12 x 768 = 9216 wide at 1600 samples per frame for ssast_patch_base (16 x 16 "
           "patches, stride 10 x 10), 1 s windows every 1 s. " + _AST_FRONTEND),
)
_AST_WINDOW_QUIRK = ("Windows are processed independently (the batch only sets how many there are) and their frames "
                     "concatenated; a window gives fewer frames than its length at the reported stride (AST: 101 per "
                     "10.24 s for 102.4, SSAST frame: 99 per 1 s for 100, patch: 9 for 10), so each later window's "
                     "frames sit earlier than the audio they cover, and S3PRL repeats the last frame to the expected "
                     "count.")
QUIRKS.update(
    ast=(
        "S3PRL builds the AudioSet head (`mlp_head`) anew with random weights and discards the checkpoint's, so its "
        "default output differs from run to run; this model keeps the checkpoint's trained head (the fixture "
        "checks S3PRL's computation with that head).",
        _AST_WINDOW_QUIRK,
        "The release's 12 x 101 positional embedding is cut from the middle (windows under 10.24 s) or bilinearly "
        "interpolated in time, per window length, as S3PRL does when it builds the model; `window_secs` / "
        "`stride_secs` are config options (S3PRL's hub arguments). timm's ImageNet heads are dropped; the "
        "LayerNorm eps is timm's 1e-6 in the blocks and 1e-5 in the head.",
    ),
    ssast=(
        _AST_WINDOW_QUIRK,
        "The pretraining positional grid (module.p_input_fdim / p_input_tdim) is cut or interpolated to the "
        "window's as S3PRL does, quirks included: when interpolating the time axis S3PRL resizes to (8, t) whatever "
        "the frequency patches, then to (f, t).",
        "S3PRL's hub builds both as model size \"base\" (12 heads, which no weight records); the converter reads "
        "widths, depth and the patch shape (frame or patch model) from the weights. The pretext heads (cpredlayer, "
        "gpredlayer, mask_embed), timm's ImageNet heads and the unused final LayerNorm are dropped.",
    ),
)
# wav2vec 1.0 and vq-wav2vec run the same S3PRL expert (upstream/wav2vec; upstream/vq_wav2vec imports it).
_WAV2VEC_NOTE = (
    "S3PRL returns `len(aggregator) + 1` states (13 for the released models) at 160 samples per frame: state 0 is "
    "the CNN feature extractor's output z, states 1 to 11 are the outputs of context-network blocks 1 to 11 (what "
    "S3PRL hooks as the inputs of blocks 2 to 12, residual included), and the last state is the context network's "
    "output c. The input waveform is not normalised.")
_WAV2VEC_QUIRKS = (
    "Every GroupNorm (one per conv, over all channels and frames) normalises over the whole zero-padded batch "
    "length, so an utterance's features depend on how much the batch pads it, exactly as in S3PRL; nothing is "
    "masked.",
    "The context network's convs are causal (left-padded by kernel - 1 by repeating the first frame), and the "
    "feature extractor's receptive field (465 samples) gives `(len - 465) // 160 + 1` frames, two or three fewer than "
    "the `ceil(len / 160)` S3PRL reports valid: the last valid frames are copies of the last frame "
    "(S3PRLUpstream's length matching).",
)
HIDDEN_STATE_NOTES.update(
    wav2vec=_WAV2VEC_NOTE,
    vq_wav2vec=_WAV2VEC_NOTE + " State 0 is taken before quantisation; the context network runs on the codewords. "
    "`model.quantize(z)` gives the codewords and indices S3PRL's expert also returns (`codewords`, `codeids`).",
    discretebert=(
        "S3PRL returns `num_hidden_layers + 1` states (13 x 768): RoBERTa's embedding output (after its LayerNorm, "
        "padding positions zeroed) and every layer's output (post-LN, no final LayerNorm), over the tokens "
        "`<s> codes </s>`: the vq-wav2vec k-means codes of each utterance (`round(len / 160)` frames of them), each "
        "code pair `i-j` mapped by fairseq's dictionary (unseen pairs to `<unk>`). The `<s>` token shifts the audio "
        "by one frame. None of vq-wav2vec's own states is returned."),
)
QUIRKS.update(
    wav2vec=_WAV2VEC_QUIRKS,
    vq_wav2vec=_WAV2VEC_QUIRKS + (
        "Eval mode takes each group's arg-max (Gumbel) or nearest (k-means) codeword; training mode samples a hard "
        "Gumbel-softmax at the checkpoint's start temperature, as S3PRL (which never advances fairseq's schedule) "
        "does. Loaded in bf16 / fp16, the feature extractor and quantiser stay in fp32 so the codes are the fp32 "
        "model's.",
    ),
    discretebert=(
        "The tokeniser is vq_wav2vec_kmeans run on the zero-padded batch (its GroupNorms span the padding) in eval "
        "mode without gradients; `round(len / 160)` codes are kept per utterance (Python's half-to-even round), which "
        "can include codes computed over the batch's padding. It stays in fp32 when the model is loaded in bf16.",
        "Token sequences longer than `max_positions` (512) are cut into chunks encoded independently, positions "
        "restarting in each, and concatenated in time, as S3PRL's expert does; chunk rows that are all padding are "
        "zeros.",
        "The converted repository holds both checkpoints: the RoBERTa and the feature extractor + quantiser of "
        "vq_wav2vec_kmeans (its context network is not used), plus the dictionary's code pairs and their tokens.",
    ),
)
HIDDEN_STATE_NOTES.update(
    pase_plus=(
        "S3PRL returns 9 states (256 wide, 160 samples per frame), in the order its hooks fire: the 1x1 dense-skip "
        "projections of conv blocks 1 to 7, each averaged over groups of `skip_frames // final_frames` frames to the "
        "final frame rate; the output of `W` (the 1x1 conv after the QRNN, before the skips are added); and the "
        "model's output (W + the 7 pooled skips, then BatchNorm without affine). The network runs on the raw "
        "waveform: a SincNet layer (64 band-pass filters of 251 taps computed from the learned frequencies), 7 "
        "strided convs with BatchNorm and PReLU, and a one-layer QRNN (window 2), reimplemented in pure torch."),
)
QUIRKS.update(
    pase_plus=(
        "The whole zero-padded batch goes through the convs (reflect-padded at the batch's ends only) and the QRNN, "
        "so a shorter utterance's last frames see its padding.",
        "The strided convs give `floor(ceil(len / 10) / 16)` frames for the padded batch's length, up to one fewer "
        "than the `ceil(len / 160)` S3PRL reports: the last frame is then repeated (S3PRLUpstream's length "
        "matching).",
        "The skip pooling factor comes from the padded batch's frame counts (`skip_frames // final_frames`): 160 "
        "samples of the SincNet skip per frame for 16000 or 12345 samples, but 950 // 5 = 190 for 950; a skip's "
        "frames past `final_frames * factor` are dropped.",
        "The SincNet half window is PASE's `0.54 - 0.46 cos(2 pi n / K)` on `linspace(0, K/2 - 1, K // 2)` (a "
        "non-integer grid), rebuilt at every call rather than stored.",
        "Two original files: the encoder weights and the JSON cfg (the architecture). Combine them "
        "(`s3prl_hf.models.pase_plus.convert_pase_plus.load_release`) into one file to convert.",
    ),
)
HIDDEN_STATE_NOTES.update(
    passt=("S3PRL returns 1 state, one frame per 50 ms (800 samples): for each 160 ms window of the audio resampled "
           "to 32 kHz (torchaudio's sinc resampler, in pure torch), PaSST's 527 AudioSet logits followed by its 768 "
           "features (the mean of the class and distillation tokens after the final LayerNorm), 1295 values. The "
           "2-level entries append the same for 5 times (base2levelmel: 4 times) longer windows, the mel entries "
           "then the window's own log-mel spectrogram (6 frames x 128 bins = 768 values of a 1920 / 960 / 600-sample "
           "window). Each window's input is hear21passt's log-mel: pre-emphasis 0.97, a centred 1024-point STFT "
           "with an 800-sample Hann window and a hop of 320 (hop100 / hop160 entries: 100 / 160) samples, kaldi's "
           "128-bin mel filterbank over 0-15 kHz, `(log(x + 1e-5) + 4.5) / 5`."),
)
QUIRKS.update(
    passt=(
        "Windows are centred every 50 ms on the 32 kHz version of the zero-padded batch, which is reflect-padded "
        "by half a window at both ends: a shorter utterance's last windows include the batch's zeros, and the "
        "windows past the end of the longest utterance reflect it. The batch gives `len // 800 + 1` windows, one "
        "more than the `ceil(len / 800)` frames S3PRLUpstream keeps when 800 divides the length.",
        "S3PRL fails on a batch whose longest utterance is too short for that reflect padding: under 1281 samples "
        "(0.08 s), 5121 for passt_base2levelmel, 6401 for the other 2-level entries; this model raises a "
        "ValueError there, including on every batch under 0.05 s.",
        "Which windows and mel hop an entry uses is fixed by its hear21passt module, not by the checkpoint (the "
        "three base entries share one release); the converter takes them from the entry's name and checks that "
        "the checkpoint's time positional embedding is the one that entry builds (99 columns for 10 s at hop 320, "
        "200 for 20 s at hop 320 or 10 s at hop 160, 300 for 30 s, 320 for 10 s at hop 100; the 20 s and hop-160 "
        "releases have the same shapes, so only the name tells them apart). `window_secs` / `stride_secs` are "
        "config options, as S3PRL's `extra_conf`.",
        "Loaded in train mode, S3PRL's mel frontend draws a random mel range and masks frequency and time "
        "(SpecAugment); this model always computes the eval-mode features. The distillation head is dropped at "
        "conversion: no hidden state uses it.",
    ),
)
HIDDEN_STATE_NOTES.update(
    spectral=(
        "One state: the features themselves, as S3PRL's yaml config of the name defines them (`feature_config` in "
        "config.json, verbatim). Kaldi features (fbank, fbank_no_cmvn, mfcc, spectrogram): "
        "torchaudio.compliance.kaldi per utterance, then deltas and CMVN. OnlinePreprocessor features (mel, "
        "linear): torch.stft of the padded batch, then log, deltas and CMVN. stft_mag: torch.stft magnitudes per "
        "utterance. All in pure torch with torchaudio's numbers; no weights."),
)
QUIRKS.update(
    spectral=(
        "Kaldi features: CMVN is `(x - mean) / (std + 1e-10)` over the utterance's own frames with the unbiased "
        "std; an utterance shorter than a 400-sample window fails, as in S3PRL. A single frame (400 to 559 "
        "samples): " + _CMVN_NAN,
        "OnlinePreprocessor features (mel, linear): S3PRL's preprocessor is called without lengths, so each "
        "utterance's length is taken to end at its last non-zero sample (the whole padded length if it has none); "
        "the STFT runs on the whole zero-padded batch (its re-padding slices the channel axis), and CMVN covers "
        "`round(len / (padded_len / frames))` frames, zeroing the rest.",
        "OnlinePreprocessor features: the expert then keeps `round(len * frames / len_0)` frames of each utterance, "
        "the ratio taken from the batch's first utterance, and zero-pads.",
        "stft_mag: S3PRL's hub function has no default config (`S3PRLUpstream(\"stft_mag\")` raises a TypeError); "
        "it runs with `extra_conf={\"model_config\": \".../log_stft/stft_mag.yaml\"}`, whose values are built in "
        "here. Its frames are 20 ms apart (`hop_length` 320).",
    ),
)
# Names whose S3PRL hub function runs another name's checkpoint differently: their own note and quirks, which replace
# (note) or extend (quirks) the family's.
NAME_HIDDEN_STATE_NOTES = {
    "decoar": ("S3PRL's `decoar` entry returns 1 state: the last layer's output of the forward and the backward LSTM "
               "stacks concatenated (2 x 1024), the backward stack reading each utterance reversed; it is the last of "
               "decoar_layers' 4 states for the same checkpoint. " + _FBANK_INPUT),
}
NAME_QUIRKS = {
    "decoar": ("S3PRL's `decoar` expert loads the checkpoint non-strictly under the released multi-layer LSTM names "
               "only: a checkpoint with S3PRL's per-layer names would run random LSTMs there, and is refused under "
               "this name (convert it as decoar_layers).",),
}

HIDDEN_STATE_NOTES.update(
    espnet_hubert=(
        "S3PRL returns torchaudio's `extract_features`: the output of each of the `num_hidden_layers` transformer "
        "layers, and nothing else (no encoder input). Pre-LN models (large) get no final LayerNorm on the last "
        "state (torchaudio applies it in `forward` only); post-LN models (base) normalise CNN features + "
        "positional conv before the first layer. The network is torchaudio's HuBERT, as ESPnet builds it from "
        "the release's config.yaml, on transformers' HuBERT modules."),
)
QUIRKS.update(
    espnet_hubert=(
        "Frames are masked with torchaudio's conv-length rule (integer arithmetic, clamped at 0 after each conv): "
        "projected features past an utterance's frames are zeroed and are not attended to. An utterance shorter than "
        "the CNN's receptive field (400 samples) in a longer batch has no valid frame: torchaudio masks all of its "
        "keys, so it attends uniformly to its frames, which are then all equal; that is reproduced.",
        "The group norm of the base models' first conv normalises over the whole padded batch length, so an "
        "utterance's features depend on how much the batch pads it, exactly as in S3PRL.",
        "Waveforms are not normalised (S3PRL's expert passes them to the model as they are).",
        "Two original files: the `.pth` state dict and ESPnet's `config.yaml` (the architecture, `encoder_conf`). "
        "`s3prl-hf convert --checkpoint MODEL.pth --frontend-checkpoint config.yaml`, or leave config.yaml beside "
        "the `.pth` (as ESPnet does when no config is given).",
    ),
)
COMMON_QUIRKS = (
    "Batches whose longest utterance is under 0.05 s are zero-padded to 0.05 s, and the padding counts as "
    "signal for every utterance (S3PRLUpstream's MIN_SECOND).",
    "Each hidden state is cut or extended (by repeating its last frame) to `ceil(max_len / stride)` frames, and "
    "utterance lengths are `ceil(len / stride)` (S3PRLUpstream._match_length). S3PRL asserts where the two "
    "differ by a factor of two or more; this model raises a ValueError naming the longest-utterance lengths that "
    "pass.",
)

S3PRL_CITATION = """@inproceedings{yang21c_interspeech,
  author={Shu-wen Yang and Po-Han Chi and Yung-Sung Chuang and Cheng-I Jeff Lai and Kushal Lakhotia and Yist Y. Lin and Andy T. Liu and Jiatong Shi and Xuankai Chang and Guan-Ting Lin and Tzu-Hsien Huang and Wei-Cheng Tseng and Ko-tik Lee and Da-Rong Liu and Zili Huang and Shuyan Dong and Shang-Wen Li and Shinji Watanabe and Abdelrahman Mohamed and Hung-yi Lee},
  title={{SUPERB: Speech Processing Universal PERformance Benchmark}},
  year=2021,
  booktitle={Proc. Interspeech 2021},
  pages={1194--1198},
  doi={10.21437/Interspeech.2021-1775}
}"""


def _front_matter(spec: registry.UpstreamSpec) -> str:
    lines = ["---", "library_name: s3prl_hf", "pipeline_tag: feature-extraction"]
    if spec.license == "other" or spec.license_url and spec.license not in ("mit", "apache-2.0", "bsd-3-clause",
                                                                            "cc-by-nc-4.0", "cc-by-4.0"):
        lines += ["license: other", f"license_name: {spec.name}-weights"]
        if spec.license_url:
            lines.append(f"license_link: {spec.license_url}")
    else:
        lines.append(f"license: {spec.license}")
    config_only = spec.family in registry.CONFIG_ONLY_FAMILIES
    if spec.name in LANGUAGES:
        lines.append(f"language: {LANGUAGES[spec.name]}")
    elif spec.method in MULTILINGUAL_METHODS or spec.name in MULTILINGUAL_NAMES:
        lines.append("language: multilingual")
    elif spec.family not in AUDIO_FAMILIES and not config_only:  # signal processing knows no language
        lines.append("language: en")
    datasets = [dataset for key, dataset in DATASET_IDS.items() if key.lower() in spec.pretraining_data.lower()]
    if datasets:
        lines.append("datasets:")
        lines += [f"- {dataset}" for dataset in datasets]
    lines.append("tags:")
    tags = ["audio", "speech" if spec.family not in AUDIO_FAMILIES else "audio-representation",
            "self-supervised-learning", "s3prl", "superb", spec.family, "safetensors"]
    if config_only:  # classical features: no training, no weights file
        tags = [tag for tag in tags if tag not in ("self-supervised-learning", "safetensors")]
    lines += [f"- {tag}" for tag in dict.fromkeys(tags)]
    lines += ["inference: false", "---"]
    return "\n".join(lines)


def _layer_table(config: UpstreamConfig) -> list[str]:
    """One row per run of hidden states that share dim and stride."""
    rows = ["| hidden states | dim | stride (samples) | frame shift |", "|---|---:|---:|---:|"]
    shapes = list(zip(config.hidden_sizes, config.downsample_rates))
    start = 0
    for index in range(1, len(shapes) + 1):
        if index == len(shapes) or shapes[index] != shapes[start]:
            dim, stride = shapes[start]
            span = f"{start}" if index - 1 == start else f"{start} to {index - 1}"
            rows.append(f"| {span} | {dim} | {stride} | {1000 * stride / config.sampling_rate:g} ms |")
            start = index
    rows.append(f"\n{config.num_layers} hidden states in all.")
    return rows


def _file_line(url: str) -> str:
    """A source URL with its pinned sha256 and size, when the registry knows them."""
    source = registry.source_file(url)
    if source.sha256 is None:
        return url
    size = f", {source.size} bytes" if source.size is not None else ""
    return f"{url} (sha256 `{source.sha256}`{size})"


def render_card(spec: registry.UpstreamSpec, config: UpstreamConfig | None = None, *,
                source_name: str | None = None, source_sha256: str | None = None) -> str:
    """Render the model card of `spec` as Markdown with Hub YAML metadata.

    Args:
        spec: The registry entry.
        config: The converted model's config; defaults to the released architecture when known.
        source_name: File name of the original checkpoint a conversion read.
        source_sha256: Its sha256.

    Example:
        >>> print(render_card(registry.get_spec("hubert_base"))[:3])
        ---
    """
    method = registry.METHODS[spec.method]
    available = is_implemented(spec.family)
    config = config if config is not None else reference_config(spec.name)
    config_only = spec.family in registry.CONFIG_ONLY_FAMILIES
    out = [_front_matter(spec), "", f"# {spec.name}", ""]
    paper = f" ([paper]({method.paper_url}))" if method.paper_url else ""
    form = ("a config-only model for `s3prl_hf` (no weights: the features are computed from S3PRL's own yaml "
            "config, built in)" if config_only else "converted to safetensors for `s3prl_hf`")
    out.append(f"**{method.title}**{paper}, the S3PRL upstream `{spec.name}`, {form}: a transformers model that "
               f"returns all of S3PRL's hidden states with S3PRL 0.4.18's numbers.")
    out.append("")
    if not available:
        out += [f"> Not available yet: s3prl_hf does not implement the `{spec.family}` family so far. This card "
                f"lists what the registry knows.", ""]
    if not spec.redistributable:
        out += ["> The licence of these weights does not allow (or was not verified to allow) re-hosting them: "
                "`AutoUpstream.from_pretrained` downloads the original checkpoint from its authors' hosting and "
                "converts it on your machine instead.", ""]

    out += ["## Usage", "", "```python", "import torch", "from s3prl_hf import AutoUpstream", "",
            f'model = AutoUpstream.from_pretrained("{spec.name}")  # or a folder made by `s3prl-hf convert`',
            "wavs = torch.randn(2, 32000)                      # (batch, samples) at 16 kHz",
            "wavs_len = torch.tensor([32000, 16000])",
            "with torch.no_grad():",
            "    all_hs, all_hs_len = model(wavs, wavs_len)     # one (B, T, D) tensor and (B,) lengths per layer",
            "```", ""]
    if config_only:
        out += ["The name loads without any download. Write its folder (`config.json` only) yourself:", "", "```bash",
                f"s3prl-hf convert --name {spec.name} --output {spec.name}", "```", ""]
    else:
        out += ["Without a published converted repo, the first call downloads the original checkpoint from where "
                "S3PRL downloads it, converts it, and caches the result under the Hugging Face cache "
                "(`<HF_HOME>/s3prl_hf/converted/`); later calls, offline ones included, load the cache. To prepare "
                "offline machines, or to keep the converted folder:", "", "```bash",
                f"s3prl-hf download {spec.name}                                 # fetch and convert into the cache",
                f"s3prl-hf convert --name {spec.name} --output {spec.name}   # or into a folder of your own "
                f"(--checkpoint FILE for a local copy)", "```", ""]

    out += ["## Hidden states", ""]
    if config is not None:
        out += _layer_table(config) + [""]
    else:
        out += ["Layer table: known once the family is implemented.", ""]
    note = NAME_HIDDEN_STATE_NOTES.get(spec.name, HIDDEN_STATE_NOTES.get(spec.family))
    if note:
        out += [note, ""]
    if method.description:
        out += [method.description, ""]

    out += ["## Model", "", f"- S3PRL name: `{spec.name}`"]
    if spec.aliases:
        out.append(f"- Aliases (resolved as S3PRL 0.4.18's hub code does): {', '.join(f'`{a}`' for a in spec.aliases)}")
    out.append(f"- Method: {method.section or method.title}")
    if spec.pretraining_data not in {value for _, value in spec.details}:
        out.append(f"- Pretraining data: {spec.pretraining_data}")
    out += [f"- {key}: {value}" for key, value in spec.details]
    if spec.notes:
        out += ["", spec.notes]
    out.append("")

    quirks = QUIRKS.get(spec.family, ()) + NAME_QUIRKS.get(spec.name, ()) + COMMON_QUIRKS if available else ()
    disagreements = [text for name, text in registry.DOC_DISAGREEMENTS.items()
                     if name == spec.name or name in spec.aliases]
    if quirks or disagreements:
        out += ["## S3PRL behaviour reproduced", ""]
        out += [f"- {quirk}" for quirk in quirks]
        out += [f"- Name resolution: {text}" for text in disagreements]
        out.append("")

    out += ["## Source and licence", ""]
    out += [f"- Checkpoint S3PRL downloads: {_file_line(url)}" for url in spec.s3prl_urls]
    out += [f"- Original release: {_file_line(url)}" for url in spec.original_urls if url not in spec.s3prl_urls]
    if spec.release_page:
        out.append(f"- Release page: {spec.release_page}")
    if any("huggingface.co/" in url and "/blob/" in url for url in spec.s3prl_urls):
        out.append("- S3PRL's `/blob/` URL is the Hub's web page for the file, not the file: S3PRL 0.4.18 downloads "
                   "HTML in its place and cannot load this upstream. s3prl_hf fetches the file itself.")
    if source_name:
        out.append(f"- Converted from `{source_name}`" + (f", sha256 `{source_sha256}`" if source_sha256 else ""))
    if config_only:
        out.append("- No checkpoint: S3PRL computes these features from a yaml config it ships; its values are "
                   "built in (`feature_config` in config.json)")
    licence = spec.license + (f" ({spec.license_url})" if spec.license_url else "")
    what = "Config licence (S3PRL's)" if config_only else "Weights licence"
    out += [f"- {what}: {licence}; redistributable: {'yes' if spec.redistributable else 'no'}", ""]

    if available and config_only:
        out += ["## Parity", "",
                "The model is tested against the features S3PRL 0.4.18 itself computed from its yaml config: every "
                "valid frame of padded mixed-length batches matches `S3PRLUpstream` within 1e-4 x max(1, max "
                "|expected|), lengths exactly.", ""]
    elif available:
        out += ["## Parity", "",
                "The converter and model are tested against checkpoints that S3PRL 0.4.18 itself built, in the "
                "original format, with random weights: every layer and every valid frame of padded mixed-length "
                "batches matches `S3PRLUpstream` within 1e-4 x max(1, max |expected|), lengths exactly.", ""]

    out += ["## Citation", "", "```bibtex", method.bibtex.strip(), "```", ""]
    for extra in method.extra_bibtex:
        out += ["```bibtex", extra.strip(), "```", ""]
    out += ["S3PRL / SUPERB:", "", "```bibtex", S3PRL_CITATION, "```", ""]
    return "\n".join(out)


def write_cards(folder: str | Path) -> list[Path]:
    """Write `<name>.md` for every canonical upstream into `folder`; returns the written paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in registry.UPSTREAMS:
        path = folder / f"{spec.name}.md"
        path.write_text(render_card(spec), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the model cards from the registry.")
    parser.add_argument("folder", nargs="?", default="model_cards")
    args = parser.parse_args(argv)
    written = write_cards(args.folder)
    print(f"wrote {len(written)} cards into {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

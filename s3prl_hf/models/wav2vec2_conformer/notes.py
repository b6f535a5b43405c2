"""For the model cards: what S3PRL's hidden states of the wav2vec2_conformer family are, and the S3PRL behaviours it reproduces."""

HIDDEN_STATES = (
    "S3PRL records the input of every conformer layer and the encoder output: `num_hidden_layers + 1` states. "
    "The conformer encoder has no positional conv: state 0 is the projected CNN features with padded frames "
    "zeroed, states 1 to L-1 are layer outputs, and the last state is the encoder's final LayerNorm of the last "
    "layer's output. Positions enter every layer's attention (relative encodings or rotary embeddings). A "
    "conformer whose config names another position encoding (fairseq's \"abs\") runs in the transformer encoder "
    "instead, as in S3PRL: the encoder input is x + positional conv (LayerNorm after it when post-LN), as in "
    "wav2vec 2.0, and the attention sees no positions."
)

QUIRKS = (
    "Frames are masked with fairseq wav2vec 2.0's conv-length rule, as fairseq writes it: frame `conv_len - 1` "
    "marks the end with Python indexing, so an utterance shorter than the CNN's receptive field (400 samples) "
    "in a padded batch wraps around (conv_len 0 keeps every frame valid, -1 all but the last), and a batch "
    "without padding gets no mask at all.",
    "The relative-position table is computed for the frames at hand; fairseq's values do not depend on its "
    "`max_positions`, whose table (781 MiB for the released models) is never allocated.",
    "The rotary frequencies are the checkpoint's own `inv_freq`, as S3PRL uses them; cos/sin in fp32.",
    "The BatchNorm running statistics of every convolution module come from the checkpoint; the unused "
    "positional conv weights fairseq stores are dropped.",
    "\"abs\" conformers: the sequence is zero-padded to a multiple of `required_seq_len_multiple` frames (2 by "
    "default) before the layers, as fairseq's transformer encoder does; the extra frames are masked keys, but "
    "every depthwise conv reads them, so the last frames depend on them. fairseq's own attention (`attn_type` "
    "other than espnet) is loaded like ESPnet's; with rope it ignores the positions, as in S3PRL.",
)

"""Give recurrent layers loaded from safetensors freshly allocated weights.

`from_pretrained` can leave parameters pointing into the memory-mapped file at offsets that are not 64-byte aligned.
torch's CPU kernels for packed GRU / LSTM sequences then take a differently vectorised path and round differently
(1e-7 relative), so a reloaded model would not reproduce the in-memory model it was saved from bit for bit. Copying
the RNN weights into new (aligned) storage after loading removes that difference; other layers are unaffected.
"""

from __future__ import annotations

import torch
from torch import nn

# c10's CPU allocator alignment: what freshly allocated tensors have.
ALIGNMENT = 64


def realign_rnn_weights(model: nn.Module) -> None:
    """Copy every `nn.RNNBase` weight that is not `ALIGNMENT`-byte aligned into fresh storage (in place).

    Example:
        >>> realign_rnn_weights(model)  # doctest: +SKIP
    """
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, nn.RNNBase):
                continue
            for name in module._flat_weights_names:
                weight = getattr(module, name)
                if weight is not None and weight.device.type == "cpu" and weight.data_ptr() % ALIGNMENT:
                    # RNNBase.__setattr__ keeps its flat weight list in sync
                    setattr(module, name, nn.Parameter(weight.detach().clone(), requires_grad=weight.requires_grad))


class AlignedRnnWeightsMixin:
    """`from_pretrained` that realigns the recurrent weights it loaded (see the module docstring)."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        realign_rnn_weights(loaded[0] if isinstance(loaded, tuple) else loaded)
        return loaded

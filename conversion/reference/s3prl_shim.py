"""Import shims that let s3prl 0.4.18 import on current torchaudio (reference environment only).

Import this module BEFORE anything from ``s3prl`` (``s3prl.hub``, ``s3prl.nn``, ...).

Why: ``import s3prl.hub`` imports every upstream's hubconf, and two of them break at import
time on torchaudio >= 2.9, where the sox/backend APIs were removed:

* ``s3prl/upstream/byol_s/byol_a/common.py`` calls ``torchaudio.set_audio_backend("sox_io")``
  at module level -> ``AttributeError``. We install a no-op ``set_audio_backend``.
* ``s3prl/upstream/mos_prediction/expert.py`` does ``import torchaudio.sox_effects``
  -> ``ModuleNotFoundError``. We register an empty stand-in module whose two functions are
  ``None`` (calling them fails loudly; the fixtures never use those upstreams).

Neither shim touches any code path of the fairseq-family upstreams (hubert, wav2vec2, ...).
The shims are idempotent and do nothing where torchaudio still has these APIs.
"""
import sys
import types

import torchaudio

if not hasattr(torchaudio, "set_audio_backend"):
    torchaudio.set_audio_backend = lambda *args, **kwargs: None

try:
    import torchaudio.sox_effects  # noqa: F401
except Exception:  # ModuleNotFoundError on torchaudio >= 2.9
    _sox = types.ModuleType("torchaudio.sox_effects")
    _sox.apply_effects_tensor = None
    _sox.apply_effects_file = None
    sys.modules["torchaudio.sox_effects"] = _sox
    torchaudio.sox_effects = _sox

"""How many frames a WAV (or AIFF) file's header declares, to catch truncated files.

libsndfile clamps a WAV's frame count to the bytes the file holds, so a file cut short (a killed copy, a full
disk) reads without error and with fewer samples than it should have. Its `data` chunk still declares the full
size; comparing the two tells a truncated file from a whole one. Only what can be read exactly is checked:
RIFF / RIFX / RF64 files with PCM, float, A-law or mu-law samples, and AIFF / AIFC (whose `COMM` chunk counts
the frames). Streamed WAVs, which declare an unknown size (0 or 0xFFFFFFFF), and every other format return
None (FLAC and Ogg files cut short fail to decode or read as empty, and are reported as such).
"""

from __future__ import annotations

import io
import os
import struct

# WAVE_FORMAT_PCM, _IEEE_FLOAT, _ALAW, _MULAW: one block is one frame. WAVE_FORMAT_EXTENSIBLE names its own.
_FRAME_FORMATS = {0x0001, 0x0003, 0x0006, 0x0007}
_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = {0, 0xFFFFFFFF}
_MAX_CHUNKS = 4096  # a real header has a handful; a crafted one must not make us loop for long


def declared_frames(source: str | os.PathLike | bytes) -> int | None:
    """The number of frames the `data` chunk of a WAV file (or its bytes) declares, or None if not known.

    Example:
        >>> declared_frames("speech.wav")  # doctest: +SKIP
        48000
    """
    try:
        if isinstance(source, (bytes, bytearray)):
            return _parse(io.BytesIO(source))
        with open(source, "rb") as handle:
            return _parse(handle)
    except (OSError, struct.error):
        return None


def _parse(handle) -> int | None:
    head = handle.read(12)
    if len(head) == 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _parse_aiff(handle)
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX", b"RF64"):
        return None
    order = ">" if head[:4] == b"RIFX" else "<"
    block_align = data_size_64 = None
    for _ in range(_MAX_CHUNKS):
        header = handle.read(8)
        if len(header) < 8:
            return None
        chunk, size = header[:4], struct.unpack(order + "I", header[4:])[0]
        start = handle.tell()
        if chunk == b"ds64":  # RF64: the real sizes, 64-bit
            data_size_64 = struct.unpack("<QQ", handle.read(16))[1]
        elif chunk == b"fmt ":
            fmt = handle.read(min(size, 40))
            tag, _, _, _, block_align = struct.unpack(order + "HHIIH", fmt[:14])
            if tag == _EXTENSIBLE and len(fmt) >= 26:
                tag = struct.unpack(order + "H", fmt[24:26])[0]  # the first two bytes of the sub-format GUID
            if tag not in _FRAME_FORMATS:
                return None
        elif chunk == b"data":
            if head[:4] == b"RF64" and size == 0xFFFFFFFF and data_size_64 is not None:
                size = data_size_64
            elif size in _UNKNOWN_SIZES:
                return None
            return size // block_align if block_align else None
        handle.seek(start + size + (size & 1))  # chunks are padded to an even size
    return None


def _parse_aiff(handle) -> int | None:
    for _ in range(_MAX_CHUNKS):
        header = handle.read(8)
        if len(header) < 8:
            return None
        chunk, size = header[:4], struct.unpack(">I", header[4:])[0]
        if chunk == b"COMM":
            frames = struct.unpack(">hI", handle.read(6))[1]
            return frames or None
        handle.seek(handle.tell() + size + (size & 1))
    return None

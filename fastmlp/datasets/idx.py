"""Reader for IDX files, the format of MNIST and Fashion-MNIST (plain or gzip-compressed)."""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

# The third magic byte names the element type; sizes and data are big-endian.
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXError(ValueError):
    """An IDX file that is truncated, corrupt or not IDX at all."""


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into an array of its own shape and type.

    Raises :class:`IDXError` (a ValueError) naming the problem for a truncated, corrupt or foreign file.
    """
    path = os.fspath(path)
    with open(path, "rb") as stream:
        raw = stream.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({error})") from None
    return parse_idx(raw, path)


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file: magic 00 00 TYPE NDIM, NDIM big-endian uint32 sizes, then data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{name}: not an IDX file (bad magic number)")
    if raw[2] not in IDX_TYPES:
        raise IDXError(f"{name}: unknown IDX element type 0x{raw[2]:02x}")
    dtype = IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise IDXError(f"{name}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for huge sizes
    actual = len(raw) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise IDXError(f"{name}: {kind}: {actual} data bytes for shape {shape}, expected {expected}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))

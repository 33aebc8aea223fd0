"""IDX files (the MNIST format): hand-built files read back, plain and gzip; bad bytes give IDXError."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from fastmlp.datasets.idx import IDXError, parse_idx, read_idx

from covering import pairwise

#: The IDX type byte of each element type (the data is big-endian).
TYPE_BYTES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Write ``array`` in IDX by hand: 00 00 TYPE NDIM, then NDIM big-endian uint32 sizes, then the data."""
    header = bytes([0, 0, TYPE_BYTES[array.dtype.type], array.ndim])
    sizes = b"".join(struct.pack(">I", size) for size in array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(tmp_path, raw: bytes, name="data.idx", compress=False):
    path = tmp_path / (name + ".gz" if compress else name)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def sample(dtype, shape):
    values = np.arange(np.prod(shape)).reshape(shape) * 7 - 20
    if dtype == np.uint8:
        values = np.arange(np.prod(shape)).reshape(shape) * 37 % 256
    return values.astype(dtype)


def test_hand_built_header_is_what_the_format_says():
    raw = idx_bytes(np.array([[1, 2, 3], [4, 5, 255]], np.uint8))
    assert raw == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255])


@pairwise(dtype=list(TYPE_BYTES), shape=[(5,), (3, 4), (2, 3, 4)], compress=[False, True])
def test_round_trip(tmp_path, dtype, shape, compress):
    array = sample(dtype, shape)
    path = write(tmp_path, idx_bytes(array), compress=compress)
    result = read_idx(path)
    assert result.shape == shape and result.dtype == np.dtype(dtype)  # native byte order
    np.testing.assert_array_equal(result, array)
    np.testing.assert_array_equal(read_idx(str(path)), array)  # str paths too


def test_parse_idx_reads_bytes():
    array = sample(np.float32, (2, 2))
    np.testing.assert_array_equal(parse_idx(idx_bytes(array)), array)


def test_empty_dimension_is_valid():
    result = parse_idx(idx_bytes(np.zeros((0, 3), np.uint8)))
    assert result.shape == (0, 3)


GOOD = idx_bytes(sample(np.uint8, (3, 4)))
BAD = {
    "empty file": (b"", r"not an IDX file \(bad magic number\)"),
    "too short": (b"\x00\x00", r"not an IDX file"),
    "bad magic": (b"\x01" + GOOD[1:], r"not an IDX file \(bad magic number\)"),
    "PNG": (b"\x89PNG\r\n\x1a\n" + bytes(24), r"not an IDX file"),
    "text": (b"label,pixel0,pixel1\n1,0,0\n", r"not an IDX file"),
    "unknown type": (GOOD[:2] + b"\x07" + GOOD[3:], r"unknown IDX element type 0x07"),
    "zero dimensions": (b"\x00\x00\x08\x00", r"truncated header"),
    "truncated header": (GOOD[:9], r"truncated header \(9 bytes for 2 dimensions\)"),
    "truncated data": (GOOD[:-1], r"truncated: 11 data bytes for shape \(3, 4\), expected 12"),
    "header only": (GOOD[:12], r"truncated: 0 data bytes"),
    "trailing bytes": (GOOD + b"\x00", r"has trailing bytes: 13 data bytes for shape \(3, 4\), expected 12"),
    # sizes whose product does not fit in 64 bits must not wrap around (to a negative or zero byte count)
    "huge sizes": (b"\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff" + bytes(8), r"truncated: 8 data bytes"),
    "sizes of product 2**64": (bytes([0, 0, 8, 3]) + struct.pack(">III", 2**22, 2**21, 2**21),
                               r"truncated: 0 data bytes"),
    "wrong element size": (GOOD[:2] + b"\x0c" + GOOD[3:], r"truncated: 12 data bytes for shape \(3, 4\), expected 48"),
}


def test_bad_bytes(tmp_path, subtests):
    """Each bad file, plain and gzip-compressed, raises an IDXError (a ValueError) that names the file."""
    for case, (raw, message) in BAD.items():
        for compress in (False, True):
            with subtests.test(case=case, compress=compress):
                path = write(tmp_path, raw, compress=compress)
                with pytest.raises(IDXError, match=message) as error:
                    read_idx(path)
                assert str(path) in str(error.value)  # the message names the file
                assert isinstance(error.value, ValueError)


def test_truncated_gzip(tmp_path):
    compressed = gzip.compress(GOOD)
    path = write(tmp_path, compressed[: len(compressed) // 2], name="cut.idx.gz")
    with pytest.raises(IDXError, match=r"corrupt or truncated gzip data"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(sample(np.uint8, (40, 40)))))
    compressed[-6] ^= 0xFF  # inside the CRC-32 trailer: the data no longer matches its checksum
    path = write(tmp_path, bytes(compressed), name="crc.idx.gz")
    with pytest.raises(IDXError, match=r"corrupt or truncated gzip data"):
        read_idx(path)
    garbled = bytearray(gzip.compress(idx_bytes(sample(np.uint8, (40, 40)))))
    garbled[12:40] = bytes(28)  # zeros over the start of the deflate stream
    path = write(tmp_path, bytes(garbled), name="garbled.idx.gz")
    with pytest.raises(IDXError):
        read_idx(path)

"""distributed.shard without MPI (rank and size given): each rank's rows of every file format, read without
the other rows; bad files and arguments named. tests/distributed/test_mpi.py reads the same under mpiexec."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pytest

from fastmlp.datasets import IDXError
from fastmlp.distributed import Part, rows_of, shard

FULL = np.arange(11 * 4 * 3, dtype=np.uint8).reshape(11, 4, 3)


def _idx(array: np.ndarray, type_byte: int) -> bytes:
    header = bytes([0, 0, type_byte, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(tmp_path, kind: str, array=FULL):
    if kind == "npy":
        np.save(tmp_path / "a.npy", array)
        return tmp_path / "a.npy"
    if kind in ("npz", "npz-compressed"):
        save = np.savez_compressed if kind == "npz-compressed" else np.savez
        save(tmp_path / "a.npz", X=array, y=array[:, 0, 0])
        return tmp_path / "a.npz"
    type_byte = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.float64): 0x0E}[array.dtype]
    path = tmp_path / ("a.idx.gz" if kind == "idx-gz" else "a.idx")
    with (gzip.open if kind == "idx-gz" else open)(path, "wb") as stream:
        stream.write(_idx(array, type_byte))
    return path


def test_rows_are_contiguous_blocks_that_differ_by_at_most_one():
    for n, size in [(11, 3), (2, 4), (0, 2), (60_000, 7)]:
        blocks = [rows_of(n, Part(rank, size)) for rank in range(size)]
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        assert max(b - a for a, b in blocks) - min(b - a for a, b in blocks) <= 1


@pytest.mark.parametrize("kind", ["npy", "npz", "npz-compressed", "idx", "idx-gz"])
@pytest.mark.parametrize("size", [1, 3, 13])
def test_every_rank_gets_its_rows_and_together_they_are_the_file(tmp_path, kind, size):
    path = _write(tmp_path, kind)
    key = "X" if kind.startswith("npz") else None
    parts = [shard(path, key=key, rank=rank, size=size) for rank in range(size)]
    for rank, part in enumerate(parts):
        start, stop = rows_of(11, Part(rank, size))
        np.testing.assert_array_equal(part, FULL[start:stop])
    np.testing.assert_array_equal(np.concatenate(parts), FULL)


@pytest.mark.parametrize("kind", ["npy", "npz", "idx"])
def test_uncompressed_files_are_memory_mapped(tmp_path, kind):
    part = shard(_write(tmp_path, kind), key="X" if kind == "npz" else None, rank=1, size=2)
    assert isinstance(part.base, np.memmap) or isinstance(part, np.memmap)
    assert not part.flags.writeable


@pytest.mark.parametrize("dtype", [np.int16, np.float64])
def test_big_endian_idx_types_come_in_native_order(tmp_path, dtype):
    values = (np.arange(24).reshape(8, 3) * 7 - 50).astype(dtype)
    part = shard(_write(tmp_path, "idx", values), rank=1, size=2)
    assert part.dtype == np.dtype(dtype) and part.dtype.isnative
    np.testing.assert_array_equal(part, values[4:])


def test_an_npz_with_one_array_needs_no_key(tmp_path):
    np.savez(tmp_path / "one.npz", only=FULL)
    np.testing.assert_array_equal(shard(tmp_path / "one.npz", rank=0, size=2), FULL[:5])


def test_bad_arguments_and_files_are_named(tmp_path):
    path = _write(tmp_path, "npz")
    with pytest.raises(ValueError, match=r"holds arrays \['X', 'y'\]; name one with key="):
        shard(path, rank=0, size=2)
    with pytest.raises(ValueError, match="has no array 'Z'"):
        shard(path, key="Z", rank=0, size=2)
    with pytest.raises(ValueError, match="key names an array of an .npz file"):
        shard(_write(tmp_path, "idx"), key="X", rank=0, size=2)
    with pytest.raises(ValueError, match=r"rank must be in \[0, size\)"):
        shard(path, key="X", rank=2, size=2)
    with pytest.raises(TypeError, match="comm, or rank and size"):
        shard(path, key="X")
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04 not data")
    with pytest.raises(IDXError, match="not an .npy, .npz or IDX file"):
        shard(tmp_path / "junk", rank=0, size=1)
    truncated = tmp_path / "short.idx"
    truncated.write_bytes(_idx(FULL, 0x08)[:-5])
    with pytest.raises(IDXError, match="truncated"):
        shard(truncated, rank=0, size=2)
    short_gz = tmp_path / "short.idx.gz"
    short_gz.write_bytes(gzip.compress(_idx(FULL, 0x08)[:-5]))
    with pytest.raises(IDXError, match="truncated"):
        shard(short_gz, rank=1, size=2)
    with zipfile.ZipFile(tmp_path / "broken.npz", "w") as archive:
        archive.writestr("X.npy", b"\x93NUMPY but not really")
    with pytest.raises(ValueError, match="array 'X' is not a valid .npy member"):
        shard(tmp_path / "broken.npz", rank=0, size=1)

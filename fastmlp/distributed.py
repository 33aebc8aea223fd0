"""Training beyond one process: each MPI rank's share of a data file, and the errors and warnings of a
data-parallel fit (``net.fit(X_shard, y_shard, comm=MPI.COMM_WORLD, sync_every=k)``). docs/distributed.md
tells the whole story; this module needs mpi4py only for a communicator.
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._ranks import DEFAULT_TIMEOUT, TIMEOUT_VARIABLE, RankError
from ._threads import OversubscriptionWarning, budget
from .datasets import catalog
from .datasets.idx import IDX_TYPES, IDXError, read_idx
from .datasets.mnist import DEBIAN_FASHION_MNIST, IDX_FILES

__all__ = ["DEFAULT_TIMEOUT", "TIMEOUT_VARIABLE", "OversubscriptionWarning", "RankError", "Part", "load_split",
           "rows_of", "shard", "thread_budget"]

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_GZIP_MAGIC = b"\x1f\x8b"


class Part(NamedTuple):
    """Which rank of how many: ``rank`` in [0, size)."""

    rank: int
    size: int


def _part(comm, rank, size) -> Part:
    if comm is not None:
        if rank is not None or size is not None:
            raise TypeError("pass comm, or rank and size, not both")
        return Part(comm.Get_rank(), comm.Get_size())
    if rank is None or size is None:
        raise TypeError("shard needs comm, or rank and size")
    for name, value in (("rank", rank), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= rank < size:
        raise ValueError(f"rank must be in [0, size) = [0, {size}), got {rank}")
    return Part(int(rank), int(size))


def rows_of(n_rows: int, part: Part) -> tuple[int, int]:
    """Rank ``part.rank``'s rows [start, stop) of ``n_rows``: contiguous blocks, in rank order, whose
    sizes differ by at most one.

    >>> [rows_of(10, Part(rank, 3)) for rank in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return n_rows * part.rank // part.size, n_rows * (part.rank + 1) // part.size


def shard(path, comm=None, *, key: str | None = None, rank: int | None = None, size: int | None = None) -> np.ndarray:
    """This rank's rows of the array in ``path``, read without loading the other ranks' rows.

    Rank r of P gets rows [r n / P, (r + 1) n / P) (:func:`rows_of`) of the first axis. ``.npy`` files,
    plain IDX files and arrays stored uncompressed in ``.npz`` files (``np.savez``) are memory-mapped: the
    result is a read-only view that reads its rows from disk as they are used. Compressed members
    (``np.savez_compressed``) and gzip-compressed IDX files (``.gz``) are decompressed as a stream up
    to this rank's rows, and only those rows are kept.

    Parameters
    ----------
    path : path
        A ``.npy`` file, an ``.npz`` file (name the array with ``key`` unless it holds one), or an IDX
        file (the MNIST format), plain or gzip-compressed; recognised by their first bytes.
    comm : mpi4py communicator, optional
        Whose rank and size to use; or give ``rank`` and ``size`` instead.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(20).reshape(10, 2))
    >>> shard(path, rank=1, size=3).tolist()
    [[6, 7], [8, 9], [10, 11]]
    """
    part = _part(comm, rank, size)
    name = os.fspath(path)
    with open(name, "rb") as stream:
        magic = stream.read(6)
    if magic.startswith(_NPY_MAGIC):
        array = np.load(name, mmap_mode="r", allow_pickle=False)
        if array.ndim == 0:
            raise ValueError(f"{name}: holds a scalar, not rows")
        start, stop = rows_of(array.shape[0], part)
        return array[start:stop]
    if magic.startswith(_ZIP_MAGIC):
        return _npz_shard(name, key, part)
    if key is not None:
        raise ValueError(f"{name}: key names an array of an .npz file; this file is not one")
    if magic.startswith(_GZIP_MAGIC):
        with gzip.open(name, "rb") as stream:
            return _idx_stream_shard(stream, name, part)
    return _idx_memmap_shard(name, part)


# ------------------------------------------------------------------------------------------------ IDX
def _idx_header(stream, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(element type, shape, header bytes) of an IDX file: magic 00 00 TYPE NDIM, then NDIM big-endian sizes."""
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise IDXError(f"{name}: not an .npy, .npz or IDX file (bad magic number)")
    if head[2] not in IDX_TYPES:
        raise IDXError(f"{name}: unknown IDX element type 0x{head[2]:02x}")
    ndim = head[3]
    sizes = stream.read(4 * ndim)
    if ndim == 0 or len(sizes) < 4 * ndim:
        raise IDXError(f"{name}: truncated header ({4 + len(sizes)} bytes for {ndim} dimensions)")
    shape = tuple(int(size) for size in np.frombuffer(sizes, ">u4"))
    return IDX_TYPES[head[2]], shape, 4 + 4 * ndim


def _native(rows: np.ndarray) -> np.ndarray:
    """Multi-byte IDX types are big-endian: copy this shard to the machine's order (uint8 stays a view)."""
    return rows if rows.dtype.isnative else rows.astype(rows.dtype.newbyteorder("="))


def _idx_memmap_shard(name: str, part: Part) -> np.ndarray:
    with open(name, "rb") as stream:
        dtype, shape, offset = _idx_header(stream, name)
    expected = offset + math.prod(shape) * dtype.itemsize
    actual = os.path.getsize(name)
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise IDXError(f"{name}: {kind}: {actual} bytes for shape {shape}, expected {expected}")
    start, stop = rows_of(shape[0], part)
    if shape[0] == 0 or math.prod(shape) == 0:
        return np.empty((stop - start, *shape[1:]), dtype.newbyteorder("="))
    array = np.memmap(name, dtype=dtype, mode="r", offset=offset, shape=shape)
    return _native(array[start:stop])


def _idx_stream_shard(stream, name: str, part: Part) -> np.ndarray:
    try:
        dtype, shape, offset = _idx_header(stream, name)
        start, stop = rows_of(shape[0], part)
        row_bytes = math.prod(shape[1:]) * dtype.itemsize
        stream.seek(offset + start * row_bytes)  # decompresses the rows before, keeping none of them
        raw = stream.read((stop - start) * row_bytes)
    except (EOFError, OSError) as error:
        raise IDXError(f"{name}: corrupt or truncated gzip data ({error})") from None
    if len(raw) != (stop - start) * row_bytes:
        raise IDXError(f"{name}: truncated: rows {start}-{stop} of shape {shape} are not all there")
    return _native(np.frombuffer(raw, dtype).reshape(stop - start, *shape[1:]))


# ------------------------------------------------------------------------------------------------ npz
def _npz_shard(name: str, key: str | None, part: Part) -> np.ndarray:
    try:
        archive = zipfile.ZipFile(name)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{name}: not a readable .npz file ({error})") from None
    with archive:
        members = [info.filename[:-4] for info in archive.infolist() if info.filename.endswith(".npy")]
        if key is None:
            if len(members) != 1:
                raise ValueError(f"{name}: holds arrays {members}; name one with key=")
            key = members[0]
        if key not in members:
            raise ValueError(f"{name}: has no array {key!r}; it holds {members}")
        info = archive.getinfo(key + ".npy")
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read(member)
            except ValueError as error:
                raise ValueError(f"{name}: array {key!r} is not a valid .npy member ({error})") from None
            header = member.tell()
            if fortran or dtype.hasobject or len(shape) == 0:
                raise ValueError(f"{name}: array {key!r} must be C-ordered numbers with rows, to be split")
            start, stop = rows_of(shape[0], part)
            row_bytes = math.prod(shape[1:]) * dtype.itemsize
            if info.compress_type != zipfile.ZIP_STORED:  # compressed: stream up to this rank's rows
                member.seek(header + start * row_bytes)
                raw = member.read((stop - start) * row_bytes)
                return np.frombuffer(raw, dtype).reshape(stop - start, *shape[1:])
    # Stored uncompressed: the member's bytes lie in the file as they are, after its local header
    # (30 bytes, then the file name and an extra field whose lengths sit at bytes 26-29).
    with open(name, "rb") as stream:
        stream.seek(info.header_offset)
        local = stream.read(30)
    data = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    if math.prod(shape) == 0:
        return np.empty((stop - start, *shape[1:]), dtype)
    array = np.memmap(name, dtype=dtype, mode="r", offset=data + header, shape=shape)
    return array[start:stop]


# ------------------------------------------------------------------------------------------ datasets
def _idx_directory(name, directory) -> Path | None:
    """The directory of MNIST-format IDX files that ``name`` stands for, or None for another kind of dataset."""
    key = str(name).strip().lower()
    if key in ("fashion-mnist", "fashion_mnist", "fashionmnist"):
        return Path(directory or os.environ.get("FASTMLP_FASHION_MNIST") or DEBIAN_FASHION_MNIST)
    if key == "mnist" and (directory or os.environ.get("FASTMLP_MNIST")):
        return Path(directory or os.environ["FASTMLP_MNIST"])
    return Path(name) if Path(name).is_dir() else None


def _idx_file(directory: Path, stem: str) -> Path:
    for candidate in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / candidate).is_file():
            return directory / candidate
    raise FileNotFoundError(f"no {stem}[.gz] in {directory}")


def load_split(name, comm, *, directory=None, label_column=None, test_fraction: float = 0.2) -> catalog.Splits:
    """A dataset as :func:`fastmlp.datasets.load` names it, with this rank's rows of the training split.

    For MNIST-format IDX data (``fashion-mnist``, ``mnist``, a directory) each rank reads only its rows
    (:func:`shard`), and only rank 0 reads the test split (the others get 0 test rows). Smaller formats
    (``.npz``, ``.csv``, ``digits``) are read whole by every rank, which keeps its rows.
    """
    part = _part(comm, None, None)
    folder = _idx_directory(name, directory)
    if folder is None:
        data = catalog.load(name, directory=directory, label_column=label_column, test_fraction=test_fraction)
        (X, y), test = data
        start, stop = rows_of(X.shape[0], part)
        if part.rank != 0:
            test = (test[0][:0], test[1][:0])
        return catalog.Splits((X[start:stop], y[start:stop]), test, name=data.name, image_shape=data.image_shape,
                              class_names=data.class_names or [str(c) for c in range(data.n_classes)])
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset directory {folder} does not exist")
    (train_images, train_labels), (test_images, test_labels) = IDX_FILES["train"], IDX_FILES["test"]
    images = shard(_idx_file(folder, train_images), comm)
    labels = shard(_idx_file(folder, train_labels), comm)
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise IDXError(f"{folder}: expected uint8 images (n, rows, cols) and n labels, got {images.dtype} "
                       f"{images.shape} and {labels.shape}")
    X_test = np.empty((0, images.shape[1] * images.shape[2]), np.uint8)
    y_test = np.empty(0, np.int64)
    if part.rank == 0:
        X_test = read_idx(_idx_file(folder, test_images)).reshape(-1, X_test.shape[1])
        y_test = read_idx(_idx_file(folder, test_labels)).astype(np.int64)
    top = comm.allreduce(int(max(labels.max(initial=0), y_test.max(initial=0))), op=_max_op())
    key = str(name).strip().lower()
    names = catalog.FASHION_MNIST_CLASSES if key.startswith("fashion") else [str(c) for c in range(top + 1)]
    return catalog.Splits((images.reshape(images.shape[0], -1), labels.astype(np.int64)), (X_test, y_test),
                          name="fashion-mnist" if key.startswith("fashion") else str(name),
                          image_shape=images.shape[1:], class_names=names)


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


# ------------------------------------------------------------------------------------------- threads
def thread_budget() -> tuple[int, str]:
    """This process's default thread count for fastmlp, and why: its CPU affinity's cores divided among
    the MPI ranks (from the launcher's environment) or the Dask worker threads on this node.

    >>> count, why = thread_budget()
    >>> count >= 1
    True
    """
    return budget()

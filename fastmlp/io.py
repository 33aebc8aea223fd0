"""Model files: an uncompressed .npz of flat arrays plus a JSON metadata entry, written atomically.

Reading never unpickles and never executes anything from the file; every entry is checked before use.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import MLP

FORMAT = "fastmlp"
FORMAT_VERSION = 1
#: Arrays in each kind of file, besides the ``metadata`` entry (UTF-8 JSON as a uint8 vector).
ARRAYS = {"model": ("params", "loss_curve"), "checkpoint": ("params", "velocity", "loss_curve")}
#: The metadata fields every file has; checkpoints add CHECKPOINT_FIELDS.
MODEL_FIELDS = ("format", "format_version", "kind", "fastmlp_version", "layer_sizes", "loss", "output",
                "dtype", "random_state")
CHECKPOINT_FIELDS = ("epochs_done", "rng_state", "training")
#: Metadata larger than this is not ours (a model's metadata is a few hundred bytes).
MAX_METADATA_BYTES = 1 << 20


# ------------------------------------------------------------------------------------------- writing
def save(net: MLP, path: str | os.PathLike) -> None:
    """Write ``net`` to ``path`` (the name is used as given; ``.npz`` is the usual suffix).

    The file holds ``params`` (the flat parameter vector in the model's dtype), ``loss_curve``
    (float64) and ``metadata``: JSON with the format name and version, layer sizes, loss, output,
    dtype, random_state and the fastmlp version. The write is atomic: a crash leaves either the old
    file or the new one.
    """
    write(path, model_metadata(net, "model"), {"params": net.params, "loss_curve": loss_curve_array(net)})


def model_metadata(net, kind: str) -> dict:
    from . import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "fastmlp_version": __version__,
        "layer_sizes": list(net.layer_sizes),
        "loss": net.loss,
        "output": net.output,
        "dtype": net.dtype.name,
        "random_state": net.random_state,
    }


def loss_curve_array(net) -> np.ndarray:
    return np.asarray(net.loss_curve_, dtype=np.float64).reshape(-1)


def write(path, metadata: dict, arrays: dict) -> None:
    """Atomically write ``metadata`` and ``arrays`` as an uncompressed .npz at ``path``.

    A temporary file in the target's directory is written, flushed and fsynced, then renamed over
    the target, and the directory is fsynced so the rename itself survives a crash
    (tests/test_io.py::test_killed_while_saving_leaves_old_or_new).
    """
    path = Path(os.fspath(path))
    text = json.dumps(metadata, allow_nan=False, sort_keys=True).encode()
    entries = {"metadata": np.frombuffer(text, dtype=np.uint8)}
    entries.update((name, np.ascontiguousarray(array)) for name, array in arrays.items())
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = _create_temporary(directory, path.name)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **entries)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Also on KeyboardInterrupt: the target keeps its old content, and no temporary is left.
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _create_temporary(directory: Path, name: str) -> tuple[int, str]:
    """A new file ``.name.<random>.tmp`` next to the target, opened exclusively.

    Unlike tempfile.mkstemp (mode 0600) it is created with mode 0666 less the umask, so the saved
    model gets the permissions any newly written file would.
    """
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory handles; the file itself is synced
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ------------------------------------------------------------------------------------------- reading
def load(path: str | os.PathLike) -> MLP:
    """Read a model (or a checkpoint) written by :func:`save`; returns an :class:`~fastmlp.MLP`.

    Raises ValueError naming the problem for a file that is not a valid fastmlp file: truncated,
    corrupted, foreign (a .npy, a pickle, another zip), of a newer format version, or with entries
    whose shapes, dtypes or values do not fit the metadata. A checkpoint also restores the momentum
    buffer and the random generator, so training can go on exactly where it stopped.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmlp
    >>> net = fastmlp.MLP([4, 3, 2], random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> net.save(path)
    >>> bool((fastmlp.load(path).params == net.params).all())
    True
    """
    metadata, arrays = read(path)
    return build(metadata, arrays)


def read(path) -> tuple[dict, dict]:
    """The validated metadata and arrays of a fastmlp file (model or checkpoint)."""
    name = os.fspath(path)
    with open(name, "rb") as file:
        _sniff(file, name)
        try:
            with zipfile.ZipFile(file) as archive:
                return _read_archive(archive, name, os.fstat(file.fileno()).st_size)
        except _ZIP_ERRORS as error:
            raise ValueError(f"{name}: corrupted fastmlp file ({type(error).__name__}: {error})") from None


#: What zipfile raises on damaged archives besides ValueError; e.g. a flipped bit in a version field gives
#: NotImplementedError, in a flag field RuntimeError ("encrypted") (tests/test_io.py::test_every_single_bit_flip).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, UnicodeDecodeError, NotImplementedError,
               RuntimeError, struct.error)


def _sniff(file, name: str) -> None:
    head = file.read(8)
    file.seek(0)
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"{name}: is a single NumPy array (.npy), not a fastmlp model file (.npz archive)")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise ValueError(f"{name}: looks like a pickle; fastmlp files are .npz archives and are never unpickled")
    if not zipfile.is_zipfile(file):
        raise ValueError(f"{name}: not a fastmlp model file: not a zip archive (empty, truncated or corrupted?)")
    file.seek(0)


def _read_archive(archive: zipfile.ZipFile, name: str, file_size: int) -> tuple[dict, dict]:
    members = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy") or info.filename[:-4] in members:
            raise ValueError(f"{name}: not a fastmlp file: unexpected entry {info.filename!r}")
        members[info.filename[:-4]] = info
    if "metadata" not in members:
        raise ValueError(f"{name}: not a fastmlp file: no 'metadata' entry (entries: {sorted(members)})")
    text = _read_member(archive, members["metadata"], name, np.dtype(np.uint8), None, MAX_METADATA_BYTES)
    metadata = _parse_metadata(text.tobytes(), name)
    expected = set(ARRAYS[metadata["kind"]]) | {"metadata"}
    if set(members) != expected:
        missing, extra = sorted(expected - set(members)), sorted(set(members) - expected)
        raise ValueError(f"{name}: a fastmlp {metadata['kind']} file has entries {sorted(expected)}; "
                         f"missing {missing}, unexpected {extra}")
    dtype = np.dtype(metadata["dtype"])
    size = n_params(metadata["layer_sizes"])
    n_epochs = metadata.get("epochs_done")
    expected = {"params": (size, dtype), "velocity": (size, dtype), "loss_curve": (n_epochs, np.dtype(np.float64))}
    arrays = {}
    for key in ARRAYS[metadata["kind"]]:
        length, kind = expected[key]
        arrays[key] = _read_member(archive, members[key], name, kind, length, file_size)
        if not np.isfinite(arrays[key]).all():
            raise ValueError(f"{name}: entry {key!r} contains NaN or infinity")
    return metadata, arrays


def _read_member(archive, info, name, dtype, length, max_bytes) -> np.ndarray:
    """One 1-D entry with exactly ``dtype`` and ``length`` elements (any length when None)."""
    key = info.filename[:-4]
    if info.compress_type != zipfile.ZIP_STORED:
        # fastmlp never compresses; refusing compression also rules out zip bombs.
        raise ValueError(f"{name}: entry {key!r} is compressed; fastmlp files are written uncompressed")
    if info.file_size > max_bytes:
        raise ValueError(f"{name}: entry {key!r} is larger than the file can hold ({info.file_size} bytes)")
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, found = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran, found = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as error:
            raise ValueError(f"{name}: entry {key!r} is not a valid NumPy array ({error})") from None
        if found.hasobject:
            raise ValueError(f"{name}: entry {key!r} holds Python objects; fastmlp never unpickles")
        if found != dtype:
            raise ValueError(f"{name}: entry {key!r} has dtype {found}, expected {dtype}")
        if len(shape) != 1 or (length is not None and shape[0] != length):
            want = "1-D" if length is None else f"({length},)"
            raise ValueError(f"{name}: entry {key!r} has shape {shape}, expected {want}")
        nbytes = shape[0] * dtype.itemsize
        if info.file_size - member.tell() != nbytes:
            raise ValueError(f"{name}: entry {key!r} is truncated or has trailing bytes")
        data = member.read(nbytes)
        if len(data) != nbytes or member.read(1):  # reading to the end also checks the CRC
            raise ValueError(f"{name}: entry {key!r} is truncated")
    return np.frombuffer(data, dtype=dtype).copy()


def _reject_constant(value):
    raise ValueError(f"{value} is not allowed")


def _parse_metadata(raw: bytes, name: str) -> dict:
    try:
        metadata = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{name}: metadata is not valid JSON ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{name}: not a fastmlp file (its metadata does not name the format {FORMAT!r})")
    version = metadata.get("format_version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"{name}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{name}: written in format version {version} by a newer fastmlp; "
                         f"this one reads version {FORMAT_VERSION}: upgrade fastmlp")
    kind = metadata.get("kind")
    if not isinstance(kind, str) or kind not in ARRAYS:
        raise ValueError(f"{name}: unknown kind {kind!r}; expected 'model' or 'checkpoint'")
    fields = MODEL_FIELDS + (CHECKPOINT_FIELDS if kind == "checkpoint" else ())
    if set(metadata) != set(fields):
        missing, extra = sorted(set(fields) - set(metadata)), sorted(set(metadata) - set(fields))
        raise ValueError(f"{name}: metadata fields missing {missing}, unexpected {extra}")
    _check_model_fields(metadata, name)
    if kind == "checkpoint":
        from .checkpoint import check_checkpoint_fields

        check_checkpoint_fields(metadata, name)
    return metadata


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_model_fields(metadata: dict, name: str) -> None:
    from . import model

    if not isinstance(metadata["fastmlp_version"], str):
        raise ValueError(f"{name}: fastmlp_version must be a string")
    sizes = metadata["layer_sizes"]
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(_is_int(s) and s >= 1 for s in sizes):
        raise ValueError(f"{name}: layer_sizes must be a list of at least two integers >= 1, got {sizes!r}")
    try:
        model._check_loss_output(metadata["loss"], metadata["output"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: {error}") from None
    if not isinstance(metadata["output"], str) or not isinstance(metadata["dtype"], str) \
            or metadata["dtype"] not in model.DTYPES:
        raise ValueError(f"{name}: invalid output {metadata['output']!r} or dtype {metadata['dtype']!r}")
    state = metadata["random_state"]
    if state is not None and not (_is_int(state) and state >= 0):
        raise ValueError(f"{name}: random_state must be null or an integer >= 0, got {state!r}")


def n_params(layer_sizes) -> int:
    """Weights and biases of a network with these layer sizes (Python ints: no overflow)."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))


def build(metadata: dict, arrays: dict):
    """An MLP holding the validated contents of a file."""
    from .model import MLP

    net = MLP(metadata["layer_sizes"], loss=metadata["loss"], output=metadata["output"],
              dtype=metadata["dtype"], random_state=metadata["random_state"])
    net.params[:] = arrays["params"]
    net.loss_curve_ = [float(value) for value in arrays["loss_curve"]]
    if metadata["kind"] == "checkpoint":
        net._velocity[:] = arrays["velocity"]
        net._rng.bit_generator.state = metadata["rng_state"]
    return net


"""Model and checkpoint files: an uncompressed .npz of flat arrays plus a JSON metadata entry.

Writing is atomic; reading never unpickles and never executes anything from the file, and every entry is
checked before use. This module knows the format, not the model: it reads and writes validated arrays
and metadata (the model builds itself from them).
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import zipfile
from pathlib import Path

import numpy as np

from . import _validation as check
from ._settings import TrainingSettings
from ._version import __version__

FORMAT = "fastmlp"
#: Version 2 added hidden activations, the input dtype, optimizer state for Adam, validation curves and
#: early-stopping progress; version 1 files are read and brought up to version 2 (:func:`_upgrade_v1`).
FORMAT_VERSION = 2
#: The training curves, one value an epoch; a model's attributes add a trailing underscore (MLP.loss_curve_).
CURVES = ("loss_curve", "validation_scores", "validation_loss_curve")
#: Arrays in each kind of file, besides the ``metadata`` entry (UTF-8 JSON as a uint8 vector).
ARRAYS = {
    "model": ("params", *CURVES),
    "checkpoint": ("params", "first", "second", "best_params", *CURVES),
}
ARRAYS_V1 = {"model": ("params", "loss_curve"), "checkpoint": ("params", "velocity", "loss_curve")}
#: The metadata fields every file has; checkpoints add CHECKPOINT_FIELDS.
MODEL_FIELDS = ("format", "format_version", "kind", "fastmlp_version", "layer_sizes", "loss", "output",
                "activation", "dtype", "random_state", "input_dtype", "estimator", "class_names")
#: Fields a version 2 file may leave out; reading fills them in as null. ``class_names`` (a name for each class,
#: label 0 first) is written only when the model has them, so files without them stay readable by older fastmlp.
OPTIONAL_FIELDS = ("estimator", "class_names")
#: The ``estimator`` field of a file saved from a scikit-learn estimator (null for a plain network):
#: its class, get_params() as JSON, its labels and feature names (or null), epochs of its last fit and
#: samples seen. fastmlp.sklearn rebuilds the estimator from it.
ESTIMATOR_FIELDS = ("class", "params", "classes", "feature_names", "n_iter", "t")
ESTIMATOR_CLASSES = ("MLPClassifier", "MLPRegressor")
MODEL_FIELDS_V1 = ("format", "format_version", "kind", "fastmlp_version", "layer_sizes", "loss", "output",
                   "dtype", "random_state")
CHECKPOINT_FIELDS = ("epochs_done", "rng_state", "training", "data", "progress")
CHECKPOINT_FIELDS_V1 = ("epochs_done", "rng_state", "training")
#: Where a fit stands besides its arrays: optimizer steps and samples seen, the current learning rate
#: (schedules change it), the early-stopping record, and the seed of the held-out validation split.
PROGRESS_FIELDS = ("step", "samples_seen", "learning_rate", "best_loss", "best_score", "no_improvement",
                   "stopped", "split_seed")
#: Metadata larger than this is not ours (a model's metadata is a few hundred bytes).
MAX_METADATA_BYTES = 1 << 20


def header(kind: str) -> dict:
    """The metadata fields that name the format, for a file of ``kind`` "model" or "checkpoint"."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "fastmlp_version": __version__}


# ------------------------------------------------------------------------------------------- writing
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
        except OSError as error:  # named by the file asked for, not by the temporary one
            raise type(error)(error.errno, f"cannot create a file in its directory ({error.strerror})",
                              os.path.join(directory, name)) from None


def check_writable(path) -> None:
    """Raise the OSError that :func:`write` would meet at ``path``, by creating and removing a file beside it:
    before hours of training, not after them."""
    path = Path(os.fspath(path))
    handle, temporary = _create_temporary(path.parent if str(path.parent) else Path("."), path.name)
    os.close(handle)
    os.unlink(temporary)


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
    kind, version = metadata["kind"], metadata["format_version"]
    names = (ARRAYS if version == FORMAT_VERSION else ARRAYS_V1)[kind]
    expected = set(names) | {"metadata"}
    if set(members) != expected:
        missing, extra = sorted(expected - set(members)), sorted(set(members) - expected)
        raise ValueError(f"{name}: a fastmlp {kind} file has entries {sorted(expected)}; "
                         f"missing {missing}, unexpected {extra}")
    dtype = np.dtype(metadata["dtype"])
    size = n_params(metadata["layer_sizes"])
    curve = (metadata.get("epochs_done"), np.dtype(np.float64))
    shapes = {"params": (size, dtype), "velocity": (size, dtype), "first": (size, dtype), "second": (size, dtype),
              "best_params": (None, dtype), "loss_curve": curve, "validation_scores": (None, np.dtype(np.float64)),
              "validation_loss_curve": (None, np.dtype(np.float64))}
    arrays = {}
    for key in names:
        length, kind_of = shapes[key]
        arrays[key] = _read_member(archive, members[key], name, kind_of, length, file_size)
        if not np.isfinite(arrays[key]).all():
            raise ValueError(f"{name}: entry {key!r} contains NaN or infinity")
    if version == 1:
        metadata, arrays = _upgrade_v1(metadata, arrays)
    _check_arrays(metadata, arrays, size, name)
    return metadata, arrays


def _check_arrays(metadata: dict, arrays: dict, size: int, name: str) -> None:
    n_scores = arrays["validation_scores"].size
    if arrays["validation_loss_curve"].size != n_scores or n_scores > arrays["loss_curve"].size:
        raise ValueError(f"{name}: validation_scores and validation_loss_curve must have one value per epoch "
                         "with validation data, at most one per epoch trained")
    if "best_params" in arrays and arrays["best_params"].size not in (0, size):
        raise ValueError(f"{name}: entry 'best_params' must be empty or hold {size} parameters")
    if "second" in arrays and (arrays["second"] < 0).any():
        raise ValueError(f"{name}: entry 'second' (Adam's mean of squared gradients) must be >= 0")


def _upgrade_v1(metadata: dict, arrays: dict) -> tuple[dict, dict]:
    """A version 1 file as version 2 would hold it: sigmoid hidden layers, input dtype unknown, no
    validation curves; a checkpoint's momentum buffer becomes the first optimizer buffer."""
    metadata = dict(metadata, format_version=FORMAT_VERSION, activation="logistic", input_dtype=None, estimator=None,
                    class_names=None)
    empty = np.empty(0, np.float64)
    arrays = dict(arrays, validation_scores=empty, validation_loss_curve=empty.copy())
    if metadata["kind"] == "checkpoint":
        old = metadata["training"]
        arrays["first"] = arrays.pop("velocity")
        arrays["second"] = np.zeros_like(arrays["first"])
        arrays["best_params"] = np.empty(0, arrays["params"].dtype)
        metadata["training"] = {key: old[key] for key in ("batch_size", "learning_rate", "momentum", "nesterov",
                                                          "weight_decay", "shuffle")}
        metadata["data"] = {"n_samples": old["n_samples"], "sha256": old["data_sha256"]}
        metadata["progress"] = {"step": 0, "samples_seen": metadata["epochs_done"] * old["n_samples"],
                                "learning_rate": old["learning_rate"], "best_loss": None, "best_score": None,
                                "no_improvement": 0, "stopped": False, "split_seed": None}
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
    if version == 1:
        fields = MODEL_FIELDS_V1 + (CHECKPOINT_FIELDS_V1 if kind == "checkpoint" else ())
    else:
        fields = MODEL_FIELDS + (CHECKPOINT_FIELDS if kind == "checkpoint" else ())
    missing = sorted(set(fields) - set(metadata) - (set(OPTIONAL_FIELDS) if version >= 2 else set()))
    extra = sorted(set(metadata) - set(fields))
    if missing or extra:
        raise ValueError(f"{name}: metadata fields missing {missing}, unexpected {extra}")
    if version >= 2:
        metadata.update({field: None for field in OPTIONAL_FIELDS if field not in metadata})
    _check_model_fields(metadata, name)
    if kind == "checkpoint":
        (_check_checkpoint_fields_v1 if version == 1 else _check_checkpoint_fields)(metadata, name)
    return metadata


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _check_model_fields(metadata: dict, name: str) -> None:
    if not isinstance(metadata["fastmlp_version"], str):
        raise ValueError(f"{name}: fastmlp_version must be a string")
    sizes = metadata["layer_sizes"]
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(_is_int(s) and s >= 1 for s in sizes):
        raise ValueError(f"{name}: layer_sizes must be a list of at least two integers >= 1, got {sizes!r}")
    try:
        check.check_loss_output(metadata["loss"], metadata["output"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: {error}") from None
    if not isinstance(metadata["output"], str) or not isinstance(metadata["dtype"], str) \
            or metadata["dtype"] not in check.DTYPES:
        raise ValueError(f"{name}: invalid output {metadata['output']!r} or dtype {metadata['dtype']!r}")
    state = metadata["random_state"]
    if state is not None and not (_is_int(state) and state >= 0):
        raise ValueError(f"{name}: random_state must be null or an integer >= 0, got {state!r}")
    if metadata["format_version"] >= 2:
        if metadata["activation"] not in check.ACTIVATIONS:
            raise ValueError(f"{name}: activation must be one of {list(check.ACTIVATIONS)}, "
                             f"got {metadata['activation']!r}")
        if metadata["input_dtype"] is not None and metadata["input_dtype"] not in check.INPUT_DTYPES:
            raise ValueError(f"{name}: input_dtype must be null or one of {list(check.INPUT_DTYPES)}, "
                             f"got {metadata['input_dtype']!r}")
        _check_estimator_field(metadata["estimator"], sizes[0], name)
        try:
            check.check_class_names(metadata["class_names"], sizes[-1], metadata["output"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: {error}") from None


def _is_label(value) -> bool:
    return isinstance(value, (str, bool, int)) or (isinstance(value, float) and bool(np.isfinite(value)))


def _is_json_setting(value) -> bool:
    """A parameter value as fastmlp.sklearn stores it: null, a scalar, or a list of them (or of pairs)."""
    if value is None or _is_label(value):
        return True
    return isinstance(value, list) and all(_is_json_setting(item) for item in value)


def _check_estimator_field(record, n_features: int, name: str) -> None:
    """The ``estimator`` field's structure; fastmlp.sklearn checks the parameters' values when it rebuilds."""
    if record is None:
        return
    if not isinstance(record, dict) or set(record) != set(ESTIMATOR_FIELDS):
        raise ValueError(f"{name}: estimator must be null or an object with the fields {list(ESTIMATOR_FIELDS)}")
    if record["class"] not in ESTIMATOR_CLASSES:
        raise ValueError(f"{name}: estimator class must be one of {list(ESTIMATOR_CLASSES)}, got {record['class']!r}")
    params = record["params"]
    if not isinstance(params, dict) or not all(_is_json_setting(value) for value in params.values()):
        raise ValueError(f"{name}: estimator params must be an object of JSON scalars and lists")
    classes = record["classes"]
    if classes is not None:
        kinds = {str if isinstance(label, str) else bool if isinstance(label, bool) else float for label in classes} \
            if isinstance(classes, list) else set()
        if not classes or len(kinds) != 1 or not all(_is_label(label) for label in classes) \
                or len(set(map(repr, classes))) != len(classes):
            raise ValueError(f"{name}: estimator classes must be null or a non-empty list of distinct labels "
                             "of one kind (strings, numbers or booleans)")
    names = record["feature_names"]
    if names is not None and not (isinstance(names, list) and len(names) == n_features
                                  and all(isinstance(feature, str) for feature in names)):
        raise ValueError(f"{name}: estimator feature_names must be null or {n_features} strings")
    if not all(_is_int(record[key]) and record[key] >= 0 for key in ("n_iter", "t")):
        raise ValueError(f"{name}: estimator n_iter and t must be integers >= 0")


def _check_checkpoint_fields(metadata: dict, name: str) -> None:
    done = metadata["epochs_done"]
    if not _is_int(done) or done < 0:
        raise ValueError(f"{name}: epochs_done must be an integer >= 0, got {done!r}")
    check.check_rng_state(metadata["rng_state"], name)
    TrainingSettings.from_record(metadata["training"], name)
    data = metadata["data"]
    if not (isinstance(data, dict) and set(data) == {"n_samples", "sha256"} and _is_int(data["n_samples"])
            and data["n_samples"] >= 1 and isinstance(data["sha256"], str)):
        raise ValueError(f"{name}: data must be an object with n_samples >= 1 and a sha256 string")
    progress = metadata["progress"]
    if not isinstance(progress, dict) or set(progress) != set(PROGRESS_FIELDS):
        raise ValueError(f"{name}: progress must have the fields {list(PROGRESS_FIELDS)}")
    counts_ok = all(_is_int(progress[key]) and 0 <= progress[key] <= MAX_COUNT
                    for key in ("step", "samples_seen", "no_improvement"))
    rate = progress["learning_rate"]  # 0 once a schedule has decayed it that far
    rate_ok = _is_number(rate) and 0 <= rate <= float(np.finfo(np.dtype(metadata["dtype"])).max)
    best_ok = all(progress[key] is None or _is_number(progress[key]) for key in ("best_loss", "best_score"))
    seed_ok = progress["split_seed"] is None or (_is_int(progress["split_seed"]) and progress["split_seed"] >= 0)
    if not (counts_ok and rate_ok and best_ok and seed_ok and isinstance(progress["stopped"], bool)):
        raise ValueError(f"{name}: progress is invalid: {progress!r}")


#: The largest step and sample count a checkpoint may record: the kernels count steps in int64 and add to them.
MAX_COUNT = 2**62
#: A version 1 checkpoint's training record: settings, the data's size and hash.
_TRAINING_TYPES_V1 = {"batch_size": int, "learning_rate": float, "momentum": float, "nesterov": bool,
                      "weight_decay": float, "shuffle": bool, "n_samples": int, "data_sha256": str}


def _check_checkpoint_fields_v1(metadata: dict, name: str) -> None:
    done = metadata["epochs_done"]
    if not _is_int(done) or done < 0:
        raise ValueError(f"{name}: epochs_done must be an integer >= 0, got {done!r}")
    check.check_rng_state(metadata["rng_state"], name)
    training = metadata["training"]
    if not isinstance(training, dict) or set(training) != set(_TRAINING_TYPES_V1):
        raise ValueError(f"{name}: training settings must have the fields {list(_TRAINING_TYPES_V1)}")
    for field, kind in _TRAINING_TYPES_V1.items():
        value = training[field]
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, float) and np.isfinite(value) and value >= 0
        if kind is int:
            ok = ok and value >= 1
        if not ok:
            raise ValueError(f"{name}: training setting {field} is invalid: {value!r}")
    settings = {key: training[key] for key in ("batch_size", "learning_rate", "momentum", "nesterov",
                                               "weight_decay", "shuffle")}
    TrainingSettings.from_record(settings, name)


def n_params(layer_sizes) -> int:
    """Weights and biases of a network with these layer sizes (Python ints: no overflow)."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))

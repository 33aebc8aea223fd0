"""Model files: round trips, the documented format, clear errors for bad files (SIGKILL: tests/robustness)."""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import io

from cases import LOSS_OUTPUTS


def _net(dtype="float32", loss="softmax_cross_entropy", output=None, sizes=(5, 6, 3), seed=0, epochs=2):
    net = fastmlp.MLP(sizes, loss=loss, output=output, dtype=dtype, random_state=seed)
    if epochs:
        rng = np.random.default_rng(seed)
        X = rng.random((40, sizes[0]))
        y = rng.random((40, sizes[-1])) if loss == "mse" else rng.integers(0, sizes[-1], 40)
        if loss == "sigmoid_cross_entropy":
            y = (y > 0.5).astype(np.float64) if y.ndim == 2 else np.eye(sizes[-1])[y]
        net.fit(X, y, epochs=epochs, batch_size=8, learning_rate=0.1)
    return net


def _entries(path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _write_entries(path, entries: dict, metadata: dict | None = None):
    """Write an .npz like fastmlp's, optionally with replaced metadata (for corrupting files on purpose)."""
    entries = dict(entries)
    if metadata is not None:
        entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(path, **entries)


# ------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("loss, output", LOSS_OUTPUTS)
def test_round_trip(tmp_path, dtype, loss, output):
    net = _net(dtype.name, loss, output, sizes=(5, 7, 4, 3))
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = fastmlp.load(path)
    assert (loaded.layer_sizes, loaded.loss, loaded.output, loaded.dtype) == (
        net.layer_sizes, net.loss, net.output, net.dtype)
    assert loaded.params.dtype == net.dtype
    np.testing.assert_array_equal(loaded.params, net.params)
    assert loaded.loss_curve_ == net.loss_curve_
    X = np.random.default_rng(1).random((9, 5))
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))


def test_class_names_round_trip_and_are_left_out_when_unset(tmp_path):
    """Names travel with models, checkpoints and pickles; a model without them writes no field, so older
    fastmlp versions (which refuse unknown fields) still read its file."""
    net = _net()
    net.save(tmp_path / "plain.npz")
    assert "class_names" not in _metadata(tmp_path / "plain.npz")[1]
    assert fastmlp.load(tmp_path / "plain.npz").class_names is None
    net.class_names = ["cat", "dog", "bird, small"]
    net.save(tmp_path / "named.npz")
    assert _metadata(tmp_path / "named.npz")[1]["class_names"] == ["cat", "dog", "bird, small"]
    assert fastmlp.load(tmp_path / "named.npz").class_names == ("cat", "dog", "bird, small")
    assert pickle.loads(pickle.dumps(net)).class_names == net.class_names
    X, y = np.random.default_rng(0).random((16, 5)), np.arange(16) % 3
    net.fit(X, y, epochs=1, batch_size=8, checkpoint=tmp_path / "run.ckpt")
    assert fastmlp.load(tmp_path / "run.ckpt").class_names == net.class_names
    binary = fastmlp.MLP([2, 1], loss="sigmoid_cross_entropy")
    binary.class_names = ("no", "yes")  # one sigmoid unit: two classes
    binary.save(tmp_path / "binary.npz")
    assert fastmlp.load(tmp_path / "binary.npz").class_names == ("no", "yes")


@pytest.mark.parametrize("names, error, fragment", [
    (["a", "b"], ValueError, "must name the 3 classes"),
    (["a", "b", "a"], ValueError, "['a'] appear more than once"),
    ("abc", TypeError, "list of 3 strings"),
    ([0, 1, 2], TypeError, "must be strings"),
])
def test_class_names_are_checked(names, error, fragment):
    net = _net(epochs=0)
    with pytest.raises(error, match=re.escape(fragment)):
        net.class_names = names
    with pytest.raises(ValueError, match="identity output is a regression"):
        fastmlp.MLP([2, 2], loss="mse", output="identity").class_names = ["a", "b"]


def test_format_is_plain_npz_with_json_metadata(tmp_path):
    net = _net(seed=3)
    path = tmp_path / "net.npz"
    net.save(str(path))
    entries = _entries(path)  # readable by NumPy alone, without pickle
    assert sorted(entries) == ["loss_curve", "metadata", "params", "validation_loss_curve", "validation_scores"]
    metadata = json.loads(entries["metadata"].tobytes())
    assert metadata == {
        "format": "fastmlp", "format_version": 2, "kind": "model", "fastmlp_version": fastmlp.__version__,
        "layer_sizes": [5, 6, 3], "loss": "softmax_cross_entropy", "output": "softmax", "dtype": "float32",
        "random_state": 3, "activation": "logistic", "input_dtype": net.input_dtype_,
    }
    np.testing.assert_array_equal(entries["params"], np.concatenate([theta.ravel() for theta in net.thetas()]))
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_save_overwrites_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "net.npz"
    _net(seed=1).save(path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not mkstemp's 0600
    second = _net(seed=2)
    second.save(path)
    np.testing.assert_array_equal(fastmlp.load(path).params, second.params)
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_interrupted_save_keeps_old_file_and_removes_temporary(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    first = _net(seed=1)
    first.save(path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _net(seed=2).save(path)
    monkeypatch.undo()
    np.testing.assert_array_equal(fastmlp.load(path).params, first.params)
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_untrained_and_unseeded_models_round_trip(tmp_path):
    net = fastmlp.MLP([3, 1], loss="mse", output="identity", dtype="float64")
    net.save(tmp_path / "m.npz")
    loaded = fastmlp.load(tmp_path / "m.npz")
    assert loaded.random_state is None and loaded.loss_curve_ == []
    np.testing.assert_array_equal(loaded.params, net.params)


# ------------------------------------------------------------------------------------------- bad files
def _bad(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _valid(tmp_path, dtype="float32"):
    path = tmp_path / "valid.npz"
    _net(dtype).save(path)
    return path


def _assert_rejected(path, *fragments):
    with pytest.raises(ValueError) as info:
        fastmlp.load(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message


def test_rejects_random_bytes_and_empty_files(tmp_path):
    _assert_rejected(_bad(tmp_path, "empty.npz", b""), "not a zip archive")
    _assert_rejected(_bad(tmp_path, "noise.npz", np.random.default_rng(0).bytes(5000)), "not a zip archive")


def test_rejects_npy_and_pickle(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(5))
    _assert_rejected(tmp_path / "array.npy", ".npy")
    _assert_rejected(_bad(tmp_path, "model.pkl", pickle.dumps({"params": np.zeros(3)})), "pickle")


def test_rejects_pickle_inside_npz(tmp_path):
    entries = _entries(_valid(tmp_path))
    entries["params"] = np.array([{"evil": 1}] * entries["params"].size, dtype=object)
    _write_entries(tmp_path / "objects.npz", entries)
    _assert_rejected(tmp_path / "objects.npz", "'params'", "Python objects")


def test_rejects_foreign_zip_and_foreign_npz(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    _assert_rejected(tmp_path / "other.zip", "unexpected entry 'readme.txt'")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    _assert_rejected(tmp_path / "other.npz", "no 'metadata' entry")
    np.savez(tmp_path / "other2.npz", metadata=np.frombuffer(b'{"a": 1}', np.uint8))
    _assert_rejected(tmp_path / "other2.npz", "not a fastmlp file")


def test_rejects_compressed_npz(tmp_path):
    np.savez_compressed(tmp_path / "packed.npz", **_entries(_valid(tmp_path)))
    _assert_rejected(tmp_path / "packed.npz", "compressed")


def test_rejects_every_truncation(tmp_path):
    content = _valid(tmp_path).read_bytes()
    for size in sorted({0, 1, 10, 100, len(content) // 2, len(content) - 22, len(content) - 1}
                       | set(range(0, len(content), max(1, len(content) // 40)))):
        _assert_rejected(_bad(tmp_path, "cut.npz", content[:size]))


def test_every_single_bit_flip_and_insertion(tmp_path):
    """Flip one bit of every byte (and insert a byte at many places) of a small model file.

    Each damaged file either raises ValueError or, when the change hit a field the zip reader ignores
    (the local headers' copies of versions, times, CRCs and sizes; bytes around the archive), loads as
    the very same model. Before fastmlp.io caught them, zipfile's NotImplementedError (a flipped version
    byte) and RuntimeError (a flipped "encrypted" flag) escaped from load.
    """
    original = _valid(tmp_path)
    content = original.read_bytes()
    expected = fastmlp.load(original)
    damaged = [content[:i] + bytes([content[i] ^ (1 << (i % 8))]) + content[i + 1 :] for i in range(len(content))]
    damaged += [content[:i] + b"\x07" + content[i:] for i in range(0, len(content) + 1, 3)]
    loaded = 0
    for data in damaged:
        path = _bad(tmp_path, "damaged.npz", data)
        try:
            net = fastmlp.load(path)
        except ValueError:
            continue
        loaded += 1
        np.testing.assert_array_equal(net.params, expected.params)
        assert (net.layer_sizes, net.loss, net.output, net.dtype) == (
            expected.layer_sizes, expected.loss, expected.output, expected.dtype)
    assert loaded < len(damaged) // 4


def _metadata(path) -> tuple[dict, dict]:
    entries = _entries(path)
    return entries, json.loads(entries.pop("metadata").tobytes())


INCONSISTENT_METADATA = [
    (dict(format_version=3), "newer fastmlp"),
    (dict(format_version=0), "invalid format_version"),
    (dict(format_version="1"), "invalid format_version"),
    (dict(format="other"), "not a fastmlp file"),
    (dict(kind="weights"), "unknown kind"),
    (dict(layer_sizes=[5, 6]), "'params' has shape"),
    (dict(layer_sizes=[5]), "layer_sizes"),
    (dict(layer_sizes=[5, 0, 3]), "layer_sizes"),
    (dict(layer_sizes=[5, 6.0, 3]), "layer_sizes"),
    (dict(layer_sizes="5-6-3"), "layer_sizes"),
    (dict(loss="hinge"), "unknown loss"),
    (dict(output="relu"), "unknown output"),
    (dict(loss="sigmoid_cross_entropy"), "needs output"),
    (dict(dtype="float16"), "dtype"),
    (dict(dtype="float64"), "has dtype float32, expected float64"),
    (dict(random_state=-1), "random_state"),
    (dict(extra=1), "unexpected ['extra']"),
    (dict(class_names=["a", "b"]), "must name the 3 classes"),
    (dict(class_names=["a", "b", 3]), "must be strings"),
    (dict(class_names="abc"), "list of 3 strings"),
]


def test_rejects_inconsistent_metadata(tmp_path, subtests):
    for change, fragment in INCONSISTENT_METADATA:
        with subtests.test(change=change):
            entries, metadata = _metadata(_valid(tmp_path))
            metadata.update(change)
            _write_entries(tmp_path / "bad.npz", entries, metadata)
            _assert_rejected(tmp_path / "bad.npz", fragment)


def test_rejects_missing_metadata_fields_and_bad_json(tmp_path):
    entries, metadata = _metadata(_valid(tmp_path))
    del metadata["dtype"]
    _write_entries(tmp_path / "bad.npz", entries, metadata)
    _assert_rejected(tmp_path / "bad.npz", "missing ['dtype']")
    entries["metadata"] = np.frombuffer(b'{"format": "fastmlp", NaN', np.uint8)
    np.savez(tmp_path / "bad.npz", **entries)
    _assert_rejected(tmp_path / "bad.npz", "not valid JSON")
    entries["metadata"] = np.frombuffer(b"\xff\xfe", np.uint8)
    np.savez(tmp_path / "bad.npz", **entries)
    _assert_rejected(tmp_path / "bad.npz", "not valid JSON")


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("params", lambda p: p[:-1], "'params' has shape"),
        ("params", lambda p: p.astype(np.float64), "'params' has dtype float64"),
        ("params", lambda p: p.reshape(1, -1), "'params' has shape"),
        ("params", lambda p: np.where(np.arange(p.size) == 3, np.nan, p).astype(p.dtype), "NaN or infinity"),
        ("params", lambda p: np.full_like(p, np.inf), "NaN or infinity"),
        ("loss_curve", lambda c: c.astype(np.float32), "'loss_curve' has dtype"),
        ("loss_curve", lambda c: np.array([np.nan]), "NaN or infinity"),
        ("metadata", lambda m: m.astype(np.int16), "'metadata' has dtype"),
    ],
)
def test_rejects_bad_arrays(tmp_path, key, value, fragment):
    entries = _entries(_valid(tmp_path))
    entries[key] = value(entries[key])
    _write_entries(tmp_path / "bad.npz", entries)
    _assert_rejected(tmp_path / "bad.npz", fragment)


def test_rejects_missing_and_extra_entries(tmp_path):
    entries = _entries(_valid(tmp_path))
    _write_entries(tmp_path / "bad.npz", {k: v for k, v in entries.items() if k != "loss_curve"})
    _assert_rejected(tmp_path / "bad.npz", "missing ['loss_curve']")
    _write_entries(tmp_path / "bad.npz", dict(entries, velocity=entries["params"]))
    _assert_rejected(tmp_path / "bad.npz", "unexpected ['velocity']")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.load(tmp_path / "absent.npz")

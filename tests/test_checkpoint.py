"""Checkpoints and exact resume, Ctrl-C during fit, divergence, and failed calls that change nothing."""

from __future__ import annotations

import contextlib
import json
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp import checkpoint as checkpointing
from fastmlp import model
from fastmlp._settings import RECORDED

from child_env import child_env
from covering import pairwise

SIZES = (6, 9, 5, 3)


def _kernel_overflow_allowed():
    """Compiled kernels overflow silently; run as Python (NUMBA_DISABLE_JIT=1, for coverage) NumPy warns."""
    return np.errstate(over="ignore", invalid="ignore") if numba.config.DISABLE_JIT else contextlib.nullcontext()


def _data(seed=0, n=90):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def _net(dtype="float64", seed=0):
    return fastmlp.MLP(SIZES, dtype=dtype, random_state=seed)


def _state(net) -> dict:
    """Everything a call could change, copied."""
    return dict(params=net.params.copy(), velocity=net._first.copy(), rng=net._rng.bit_generator.state,
                curve=list(net.loss_curve_))


def _assert_same_state(net, state):
    np.testing.assert_array_equal(net.params, state["params"])
    np.testing.assert_array_equal(net._first, state["velocity"])
    assert net._rng.bit_generator.state == state["rng"]
    assert net.loss_curve_ == state["curve"]


class _InterruptAt:
    """Replaces the epoch kernel: raises KeyboardInterrupt in epoch ``epoch`` (counted from 1 in this call).

    ``after=True`` runs the kernel first, as when Ctrl-C arrives while the compiled epoch runs (Python
    handles the signal only once the kernel returns); ``after=False`` interrupts between epochs.
    """

    def __init__(self, epoch, after=True, result=None):
        self.epoch, self.after, self.result, self.calls = epoch, after, result, 0
        self.kernel = model.train_epoch

    def __call__(self, *args):
        self.calls += 1
        if self.calls == self.epoch:
            if self.after:
                self.kernel(*args)
            if self.result is not None:
                return self.result
            raise KeyboardInterrupt
        return self.kernel(*args)


SETTINGS = {
    "sgd": dict(batch_size=7, learning_rate=0.3),
    "momentum": dict(batch_size=16, learning_rate=0.2, momentum=0.9, weight_decay=1e-3),
    "nesterov-b1": dict(batch_size=1, learning_rate=0.05, momentum=0.8, nesterov=True, shuffle=False),
}


@pairwise(settings=list(SETTINGS), dtype=["float32", "float64"], every_stop=[(1, 4), (3, 5), (2, 1)])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch, settings, dtype, every_stop):
    """Stopped after epoch ``stop`` with checkpoints every ``every`` epochs, resumed: the same bits."""
    settings, (every, stop) = SETTINGS[settings], every_stop
    X, y = _data()
    total = 7
    reference = _net(dtype).fit(X, y, epochs=total, **settings)

    path = tmp_path / "run.ckpt.npz"
    monkeypatch.setattr(model, "train_epoch", _InterruptAt(stop + 1))
    interrupted = _net(dtype)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, y, epochs=total, checkpoint=path, checkpoint_every=every, **settings)
    monkeypatch.undo()
    assert len(interrupted.loss_curve_) == stop

    # A new process would start from a fresh model with any seed: everything comes from the file.
    resumed = _net(dtype, seed=99).fit(X, y, epochs=total, checkpoint=path, checkpoint_every=every,
                                       resume=path, **settings)
    np.testing.assert_array_equal(resumed.params, reference.params)
    np.testing.assert_array_equal(resumed._first, reference._first)
    assert resumed.loss_curve_ == reference.loss_curve_
    assert resumed._rng.bit_generator.state == reference._rng.bit_generator.state


def test_resume_from_the_last_periodic_checkpoint_after_a_crash(tmp_path, monkeypatch):
    """A crash (no Ctrl-C handling) loses the epochs after the last checkpoint, nothing else."""
    X, y = _data()
    reference = _net().fit(X, y, epochs=8, momentum=0.9)
    path = tmp_path / "c.npz"
    written = []
    original = checkpointing.io.write

    def write(target, metadata, arrays):
        original(target, metadata, arrays)
        written.append(metadata["epochs_done"])
        if metadata["epochs_done"] == 6:
            raise SystemExit("crash")  # not a KeyboardInterrupt: no final checkpoint

    monkeypatch.setattr(checkpointing.io, "write", write)
    with pytest.raises(SystemExit):
        _net().fit(X, y, epochs=8, momentum=0.9, checkpoint=path, checkpoint_every=3)
    monkeypatch.undo()
    assert written == [3, 6]
    resumed = _net(seed=5).fit(X, y, epochs=8, momentum=0.9, resume=path)
    np.testing.assert_array_equal(resumed.params, reference.params)


def test_checkpoint_cadence_and_contents(tmp_path, monkeypatch):
    X, y = _data()
    path = tmp_path / "c.npz"
    written = []
    original = checkpointing.io.write
    monkeypatch.setattr(checkpointing.io, "write",
                        lambda target, metadata, arrays: (written.append(metadata["epochs_done"]),
                                                          original(target, metadata, arrays)))
    net = _net().fit(X, y, epochs=7, momentum=0.5, checkpoint=path, checkpoint_every=3)
    assert written == [3, 6, 7]  # every third epoch, and the end of the fit
    loaded = fastmlp.load(path)  # a checkpoint is also a model file
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded._first, net._first)
    assert loaded._rng.bit_generator.state == net._rng.bit_generator.state
    assert loaded.loss_curve_ == net.loss_curve_
    with np.load(path, allow_pickle=False) as archive:
        metadata = json.loads(archive["metadata"].tobytes())
    assert metadata["kind"] == "checkpoint" and metadata["epochs_done"] == 7
    assert set(metadata["training"]) == set(RECORDED)
    assert metadata["training"]["momentum"] == 0.5


def test_resume_with_more_epochs_extends_training(tmp_path):
    X, y = _data()
    path = tmp_path / "c.npz"
    _net().fit(X, y, epochs=3, checkpoint=path)
    extended = _net().fit(X, y, epochs=5, resume=path)
    np.testing.assert_array_equal(extended.params, _net().fit(X, y, epochs=5).params)
    same = _net(seed=4).fit(X, y, epochs=3, resume=path)  # nothing left to do: the checkpoint itself
    np.testing.assert_array_equal(same.params, fastmlp.load(path).params)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(learning_rate=0.2), "learning_rate"),
        (dict(batch_size=8), "batch_size"),
        (dict(momentum=0.5), "momentum"),
        (dict(shuffle=False), "shuffle"),
        (dict(weight_decay=0.1), "weight_decay"),
        (dict(epochs=2), "more than epochs=2"),
        (dict(X=lambda X: X[::-1]), "different data"),
        (dict(X=lambda X: X[:-1], y=lambda y: y[:-1]), "different data"),
    ],
)
def test_resume_refuses_other_settings(tmp_path, change, fragment):
    X, y = _data()
    path = tmp_path / "c.npz"
    settings = dict(epochs=4, batch_size=16, learning_rate=0.1, momentum=0.0, shuffle=True, weight_decay=0.0)
    _net().fit(X, y, checkpoint=path, **dict(settings, epochs=3))
    net = _net(seed=1)
    before = _state(net)
    X2 = change.pop("X", lambda X: X)(X)
    y2 = change.pop("y", lambda y: y)(y)
    with pytest.raises(ValueError, match=fragment):
        net.fit(X2, y2, resume=path, **dict(settings, **change))
    _assert_same_state(net, before)


def test_resume_refuses_other_validation_data(tmp_path):
    """Validation data given, left out (early stopping then holds out a split of the training data) or changed
    would each change the run; the checkpoint's data record includes it."""
    X, y = _data()
    Xv, yv = _data(seed=1, n=30)
    path = tmp_path / "c.npz"
    settings = dict(epochs=4, early_stopping=True, n_iter_no_change=5)
    _net().fit(X, y, validation_data=(Xv, yv), checkpoint=path, **dict(settings, epochs=2))
    for validation in (None, (Xv[::-1], yv[::-1]), (Xv[:-1], yv[:-1])):
        net = _net(seed=1)
        before = _state(net)
        with pytest.raises(ValueError, match="different data"):
            net.fit(X, y, validation_data=validation, resume=path, **settings)
        _assert_same_state(net, before)
    resumed = _net(seed=1).fit(X, y, validation_data=(Xv, yv), resume=path, **settings)
    whole = _net().fit(X, y, validation_data=(Xv, yv), **settings)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert resumed.validation_scores_ == whole.validation_scores_
    held_out = tmp_path / "h.npz"  # early stopping's own split: recorded by its seed, and resumed exactly
    _net().fit(X, y, checkpoint=held_out, **dict(settings, epochs=2))
    with pytest.raises(ValueError, match="different data"):
        _net().fit(X, y, validation_data=(Xv, yv), resume=held_out, **settings)
    np.testing.assert_array_equal(_net(seed=1).fit(X, y, resume=held_out, **settings).params,
                                  _net().fit(X, y, **settings).params)


def test_resume_refuses_other_networks_and_model_files(tmp_path):
    X, y = _data()
    path = tmp_path / "c.npz"
    _net().fit(X, y, epochs=2, checkpoint=path)
    with pytest.raises(ValueError, match="dtype"):
        _net("float32").fit(X, y, epochs=3, resume=path)
    with pytest.raises(ValueError, match="layer_sizes"):
        fastmlp.MLP((6, 4, 3), dtype="float64").fit(X, y, epochs=3, resume=path)
    with pytest.raises(ValueError, match="loss"):
        fastmlp.MLP(SIZES, loss="mse", dtype="float64").fit(X, y, epochs=3, resume=path)
    _net().save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="not a checkpoint"):
        _net().fit(X, y, epochs=3, resume=tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError):
        _net().fit(X, y, epochs=3, resume=tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError):
        _net().fit(X, y, epochs=3, checkpoint=tmp_path / "no" / "such" / "dir.npz")
    with pytest.raises(TypeError):
        _net().fit(X, y, epochs=3, checkpoint=3)
    net = _net()
    before = _state(net)
    with pytest.raises(IsADirectoryError):  # refused before training, not after the first epoch
        net.fit(X, y, epochs=3, checkpoint=tmp_path)
    _assert_same_state(net, before)


def test_checkpoint_validation_rejects_tampered_state(tmp_path):
    X, y = _data()
    path = tmp_path / "c.npz"
    _net().fit(X, y, epochs=2, momentum=0.9, checkpoint=path)
    with np.load(path, allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    metadata = json.loads(entries["metadata"].tobytes())
    for change, fragment in [
        (dict(epochs_done=3), "'loss_curve' has shape"),
        (dict(epochs_done=-1), "epochs_done"),
        (dict(rng_state={"bit_generator": "MT19937"}), "rng_state"),
        (dict(rng_state=dict(metadata["rng_state"], state={"state": -1, "inc": 1})), "rng_state"),
        (dict(training=dict(metadata["training"], batch_size=0)), "batch_size"),
        (dict(training={"learning_rte": 0.1}), "training settings"),
        (dict(progress=dict(metadata["progress"], step=2**70)), "progress is invalid"),  # counted in int64
        (dict(progress=dict(metadata["progress"], samples_seen=-1)), "progress is invalid"),
    ]:
        tampered = dict(entries, metadata=np.frombuffer(json.dumps(dict(metadata, **change)).encode(), np.uint8))
        np.savez(tmp_path / "bad.npz", **tampered)
        with pytest.raises(ValueError, match=fragment):
            fastmlp.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad.npz", **dict(entries, first=np.full_like(entries["first"], np.nan)))
    with pytest.raises(ValueError, match="'first' contains NaN"):
        fastmlp.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad.npz", **dict(entries, second=np.full_like(entries["second"], -1.0)))
    with pytest.raises(ValueError, match="'second' .* must be >= 0"):
        fastmlp.load(tmp_path / "bad.npz")
    _net("float32").fit(X, y, epochs=1, checkpoint=tmp_path / "f32.npz")
    with np.load(tmp_path / "f32.npz", allow_pickle=False) as archive:
        narrow = {key: archive[key] for key in archive.files}
    meta32 = json.loads(narrow["metadata"].tobytes())
    meta32["progress"]["learning_rate"] = 1e300  # a float64 network's may be; float32 cannot hold it
    np.savez(tmp_path / "bad.npz", **dict(narrow, metadata=np.frombuffer(json.dumps(meta32).encode(), np.uint8)))
    with pytest.raises(ValueError, match="progress is invalid"):
        fastmlp.load(tmp_path / "bad.npz")
    decayed = dict(metadata, progress=dict(metadata["progress"], learning_rate=0.0))  # a schedule's rate reaches 0
    np.savez(tmp_path / "ok.npz", **dict(entries, metadata=np.frombuffer(json.dumps(decayed).encode(), np.uint8)))
    assert fastmlp.load(tmp_path / "ok.npz")._progress["learning_rate"] == 0.0


# ------------------------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("after", [True, False], ids=["after-kernel", "between-epochs"])
def test_keyboard_interrupt_leaves_last_completed_epoch(tmp_path, monkeypatch, after):
    X, y = _data()
    two = _net().fit(X, y, epochs=2, momentum=0.9)
    monkeypatch.setattr(model, "train_epoch", _InterruptAt(3, after=after))
    net = _net()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=5, momentum=0.9)
    monkeypatch.undo()
    _assert_same_state(net, _state(two))
    net.save(tmp_path / "m.npz")  # usable and savable
    np.testing.assert_array_equal(fastmlp.load(tmp_path / "m.npz").params, two.params)
    np.testing.assert_array_equal(net.predict(X), two.predict(X))
    # and it trains on exactly as the uninterrupted model would
    net.partial_fit(X, y, momentum=0.9)
    two.partial_fit(X, y, momentum=0.9)
    np.testing.assert_array_equal(net.params, two.params)


def test_keyboard_interrupt_in_partial_fit_changes_nothing(monkeypatch):
    X, y = _data()
    net = _net().fit(X, y, epochs=1)
    before = _state(net)
    monkeypatch.setattr(model, "train_epoch", _InterruptAt(1))
    with pytest.raises(KeyboardInterrupt):
        net.partial_fit(X, y)
    _assert_same_state(net, before)


def test_keyboard_interrupt_while_scoring_cuts_every_curve_back(monkeypatch):
    """Ctrl-C while an epoch is scored, after its loss and validation score went into the curves: the rollback
    (which keeps the curves' lengths, MLP._get_state) cuts all three back to the last completed epoch."""
    X, y = _data()
    validation = _data(seed=1, n=20)
    two = _net().fit(X, y, epochs=2, momentum=0.9, validation_data=validation)
    validate, scored = model.MLP._validate, []

    def interrupted(net, *args):
        validate(net, *args)
        scored.append(1)
        if len(scored) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(model.MLP, "_validate", interrupted)
    net = _net()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=5, momentum=0.9, validation_data=validation)
    monkeypatch.undo()
    _assert_same_state(net, _state(two))
    assert len(two.validation_scores_) == 2
    assert (net.validation_scores_, net.validation_loss_curve_) == (two.validation_scores_, two.validation_loss_curve_)


_LONG_FIT = textwrap.dedent(
    """
    import signal
    import sys
    import numpy as np
    import fastmlp
    # Ctrl-C as in a terminal: a runner started in the background by a script (`pytest &`) ignores SIGINT, and
    # so would this child, which inherits that and then trained on for 100,000 epochs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    checkpoint, saved = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    X = rng.random((4000, 30)); y = rng.integers(0, 4, 4000)
    net = fastmlp.MLP([30, 40, 4], dtype="float64", random_state=0)
    try:
        net.fit(X, y, epochs=100000, batch_size=4, momentum=0.9, checkpoint=checkpoint)
    except KeyboardInterrupt:
        assert np.isfinite(net.params).all() and len(net.loss_curve_) >= 1
        net.save(saved)
        print("interrupted after", len(net.loss_curve_), flush=True)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals")
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compares a compiled child's epochs with this process's bits")
def test_sigint_during_a_long_fit(tmp_path):
    """A real SIGINT to a training process: the model is saved at its last completed epoch."""
    checkpoint, saved = tmp_path / "c.npz", tmp_path / "m.npz"
    child = subprocess.Popen([sys.executable, "-c", _LONG_FIT, str(checkpoint), str(saved)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    time.sleep(0.1)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    epochs = int(out.split()[-1])
    model_file, state = fastmlp.load(saved), fastmlp.load(checkpoint)
    assert len(model_file.loss_curve_) == epochs == len(state.loss_curve_)
    np.testing.assert_array_equal(model_file.params, state.params)  # Ctrl-C brought the checkpoint up to date
    # The interrupted run resumes exactly: one more epoch equals an uninterrupted run of epochs + 1.
    rng = np.random.default_rng(0)
    X, y = rng.random((4000, 30)), rng.integers(0, 4, 4000)
    settings = dict(batch_size=4, momentum=0.9)
    resumed = fastmlp.MLP([30, 40, 4], dtype="float64").fit(X, y, epochs=epochs + 1, resume=checkpoint, **settings)
    reference = fastmlp.MLP([30, 40, 4], dtype="float64", random_state=0).fit(X, y, epochs=epochs + 1, **settings)
    np.testing.assert_array_equal(resumed.params, reference.params)


# ------------------------------------------------------------------------------------------- divergence
def test_divergence_names_the_epoch_and_keeps_finite_weights():
    X, y = _data()
    net = fastmlp.MLP((6, 5, 3), loss="mse", output="identity", dtype="float32", random_state=0)
    targets = np.random.default_rng(1).random((X.shape[0], 3)) * 100
    before = net.params.copy()
    with pytest.raises(fastmlp.DivergenceError) as info, _kernel_overflow_allowed():
        net.fit(X, targets, epochs=5, learning_rate=1e30)
    assert isinstance(info.value, ValueError)
    assert info.value.epoch == 1
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.epoch, copy.detail) == (str(info.value), 1, info.value.detail)
    assert info.value.detail.startswith(("the mean loss was", "the weights became")), info.value.detail
    assert info.value.detail in str(info.value)
    assert "epoch 1" in str(info.value) and "smaller learning_rate" in str(info.value)
    np.testing.assert_array_equal(net.params, before)
    assert net.loss_curve_ == []


@pytest.mark.parametrize("how", ["loss", "weights"])
def test_divergence_in_a_later_epoch_restores_that_epochs_start(monkeypatch, how):
    X, y = _data()
    three = _net().fit(X, y, epochs=3, momentum=0.9)
    kernel = model.train_epoch
    calls = []

    def diverging(net_tuple, *args):
        calls.append(1)
        loss = kernel(net_tuple, *args)
        if len(calls) == 4:
            if how == "loss":
                return np.nan
            net_tuple.params[5] = np.inf
        return loss

    monkeypatch.setattr(model, "train_epoch", diverging)
    net = _net()
    with pytest.raises(fastmlp.DivergenceError, match="epoch 4") as info:
        net.fit(X, y, epochs=6, momentum=0.9)
    assert info.value.epoch == 4
    _assert_same_state(net, _state(three))


# ------------------------------------------------------------------------------------------- failed calls
BAD_CALLS = [
    dict(X=np.full((90, 6), np.nan)),
    dict(y=np.full(90, 7)),
    dict(batch_size=0),
    dict(learning_rate=-1.0),
    dict(learning_rate=1e300),  # overflows float32
    dict(momentum=1.5),
    dict(nesterov=True),
    dict(n_threads=10_000),
    dict(epochs=-1),
    dict(checkpoint_every=0),
    dict(shuffle="yes"),
]


def test_failed_call_changes_nothing(subtests):
    """fit and partial_fit (where it takes the argument) raise and leave every part of the state as it was."""
    X, y = _data()
    net = _net("float32").fit(X, y, epochs=2, momentum=0.9)
    before = _state(net)
    for bad in BAD_CALLS:
        for method in ["fit", "partial_fit"]:
            call = dict(dict(X=X, y=y), **bad)
            if method == "partial_fit":
                call.pop("epochs", None)
                call.pop("checkpoint_every", None)
                if set(bad) <= {"epochs", "checkpoint_every"}:
                    continue
            with subtests.test(method=method, bad=next(iter(bad))):
                with pytest.raises((ValueError, TypeError)):
                    getattr(net, method)(call.pop("X"), call.pop("y"), **call)
                _assert_same_state(net, before)

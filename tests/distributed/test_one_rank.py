"""A data-parallel fit on a communicator of one rank (MPI.COMM_SELF, no mpiexec needed) is the plain fit: the
averaging multiplies by 1, so the weights match bit for bit. Runs in every plain test run, so the data-parallel
code is exercised (and covered) without MPI jobs; tests/distributed/test_mpi.py runs two ranks."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import MLP, load

MPI = pytest.importorskip("mpi4py.MPI", reason="needs mpi4py (pip install mpi4py mpich)")

from fastmlp.distributed import RankError  # noqa: E402

SETTINGS = {"sgd": dict(learning_rate=0.3), "momentum": dict(learning_rate=0.1, momentum=0.9, nesterov=True),
            "adam": dict(optimizer="adam", learning_rate=0.01)}


def _data(n=45):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    return X, rng.integers(0, 3, n)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_one_rank_is_the_plain_fit(name):
    X, y = _data()
    common = dict(epochs=3, batch_size=4, shuffle=False, **SETTINGS[name])
    plain = MLP([5, 6, 3], dtype="float64", random_state=0).fit(X, y, **common)
    alone = MLP([5, 6, 3], dtype="float64", random_state=0).fit(X, y, comm=MPI.COMM_SELF, sync_every=3, **common)
    np.testing.assert_array_equal(alone.params, plain.params)
    # The epoch's loss is summed chunk by chunk (a mean per sync_every steps, times its samples): rounding only.
    np.testing.assert_allclose(alone.loss_curve_, plain.loss_curve_, rtol=1e-14)
    assert alone.t_ == plain.t_ == 3 * 45


def test_shuffled_early_stopping_validation_and_resume(tmp_path):
    X, y = _data(120)
    settings = dict(epochs=6, batch_size=8, early_stopping=True, n_iter_no_change=50, learning_rate=0.2)
    whole = MLP([5, 6, 3], random_state=1).fit(X, y, comm=MPI.COMM_SELF, **settings)
    assert len(whole.validation_scores_) == 6
    path = tmp_path / "run.npz"
    MLP([5, 6, 3], random_state=1).fit(X, y, comm=MPI.COMM_SELF, checkpoint=path, **dict(settings, epochs=3))
    resumed = MLP([5, 6, 3], random_state=9).fit(X, y, comm=MPI.COMM_SELF, resume=path, **settings)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert resumed.validation_scores_ == whole.validation_scores_
    assert load(path).loss_curve_ == whole.loss_curve_[:3]
    # The same data without comm is other data to the checkpoint (one rank's shard hash, not the plain one).
    with pytest.raises(ValueError, match="different data"):
        MLP([5, 6, 3], random_state=1).fit(X, y, resume=path, **settings)


def test_arguments_are_checked_on_the_rank_and_named():
    X, y = _data()
    net = MLP([5, 6, 3], random_state=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="sync_every must be >= 1"):
        net.fit(X, y, comm=MPI.COMM_SELF, sync_every=0)
    with pytest.raises(ValueError, match="sync_every applies to data-parallel fits"):
        net.fit(X, y, sync_every=4)
    with pytest.raises(TypeError, match="comm must be an mpi4py intracommunicator"):
        net.fit(X, y, comm="world")
    with pytest.raises(ValueError, match="resumes on the same number of ranks"):
        net.fit(X, y, comm=MPI.COMM_SELF, resume=__file__)
    np.testing.assert_array_equal(net.params, before)


def test_a_failing_callback_is_raised_and_the_next_fit_runs():
    X, y = _data()

    def fail(net, seconds):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        MLP([5, 6, 3], random_state=0).fit(X, y, comm=MPI.COMM_SELF, epochs=2, callback=fail)
    MLP([5, 6, 3], random_state=0).fit(X, y, comm=MPI.COMM_SELF, epochs=1)


def test_a_wait_past_the_timeout_raises_rank_error_and_ends_the_job_at_exit(monkeypatch):
    from fastmlp import _ranks

    registered = []
    monkeypatch.setattr(_ranks.atexit, "register", registered.append)  # never abort this test process
    monkeypatch.setattr(_ranks, "_ABORTING", [])
    monkeypatch.setenv(_ranks.TIMEOUT_VARIABLE, "0.05")
    group = _ranks.Group(MPI.COMM_SELF)

    class Never:
        def Test(self):
            return False

    with pytest.raises(RankError, match=r"no answer from the other ranks for 0.05 s while testing"):
        group._wait(Never(), "testing")
    assert len(registered) == 1 and callable(registered[0])  # MPI_Abort at exit, not a hang in MPI_Finalize
    monkeypatch.setenv(_ranks.TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ValueError, match="FASTMLP_SYNC_TIMEOUT must be a number of seconds > 0"):
        _ranks.Group(MPI.COMM_SELF)

"""Data-parallel fits on two MPI ranks: run under `mpiexec -n 2 python -m mpi4py -m pytest tests/distributed`
(.ci/run does); skipped in a plain pytest run. Every test runs on both ranks, in the same order."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile

import numpy as np
import pytest

from fastmlp import MLP, DivergenceError, load

_SIZE = int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1")))
if _SIZE != 2:  # never import mpi4py outside an MPI job: that would initialise MPI in the pytest process
    pytest.skip("runs under mpiexec -n 2 (see .ci/run)", allow_module_level=True)

import numba  # noqa: E402
from mpi4py import MPI  # noqa: E402

from fastmlp._ranks import Group  # noqa: E402
from fastmlp.distributed import OversubscriptionWarning, Part, RankError, rows_of, shard  # noqa: E402

WORLD = MPI.COMM_WORLD
RANK = WORLD.rank
#: ||params of 2 ranks at batch b - params of 1 process at batch 2b|| / ||params||, after 5 epochs of 32
#: steps each. float64: rounding only. float32: the one process sums 2b per-sample gradients at once, the
#: ranks b each and then average two updated parameter vectors, each rounded to float32 (about 2e-6 seen).
EQUIVALENCE_TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


@pytest.fixture(scope="module")
def shared_dir():
    """A directory both ranks name the same way (rank 0 makes it and removes it)."""
    path = WORLD.bcast(tempfile.mkdtemp(prefix="fastmlp-mpi-") if RANK == 0 else None)
    yield path
    WORLD.Barrier()
    if RANK == 0:
        shutil.rmtree(path)


def _problem(n_per_rank=64, n_in=12, n_classes=3, seed=0):
    """The same data on every rank; rank r's shard is rows [r n, (r + 1) n)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n_per_rank, n_in))
    y = rng.integers(0, n_classes, 2 * n_per_rank)
    mine = slice(RANK * n_per_rank, (RANK + 1) * n_per_rank)
    return X, y, X[mine], y[mine]


def _all_equal(array) -> bool:
    """True when every rank holds exactly these bytes."""
    return len(set(WORLD.allgather(np.ascontiguousarray(array).tobytes()))) == 1


# ------------------------------------------------------------------------------------------ equivalence
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("settings", [{}, dict(momentum=0.9, nesterov=True, weight_decay=1e-3)],
                         ids=["sgd", "nesterov-decay"])
def test_sync_every_step_equals_one_process_with_twice_the_batch(dtype, settings):
    n, b = 128, 4
    X, y, X_mine, y_mine = _problem(n_per_rank=n)
    common = dict(epochs=5, learning_rate=0.3, shuffle=False, **settings)
    net = MLP([12, 9, 3], dtype=dtype, random_state=1)
    net.fit(X_mine, y_mine, comm=WORLD, sync_every=1, batch_size=b, **common)
    # The same samples in the same order: step s takes rank 0's rows s b .. (s + 1) b, then rank 1's.
    order = np.concatenate([np.r_[s * b:(s + 1) * b, n + s * b:n + (s + 1) * b] for s in range(n // b)])
    one = MLP([12, 9, 3], dtype=dtype, random_state=1).fit(X[order], y[order], batch_size=2 * b, **common)
    difference = np.linalg.norm(net.params - one.params) / np.linalg.norm(one.params)
    assert difference < EQUIVALENCE_TOLERANCE[dtype]
    assert difference > 0 or dtype == "float64"  # float32 rounds differently: the test compares real results
    np.testing.assert_allclose(net.loss_curve_, one.loss_curve_, rtol=1e-10 if dtype == "float64" else 1e-5)
    assert net.t_ == one.t_ == 5 * 2 * n


# ------------------------------------------------------------------------------ identical on every rank
@pytest.mark.parametrize("settings", [dict(momentum=0.9), dict(optimizer="adam", learning_rate=0.01)],
                         ids=["momentum", "adam"])
def test_every_rank_holds_the_same_weights_and_state_after_each_sync(settings, monkeypatch):
    _, _, X, y = _problem(n_per_rank=50 + 7 * RANK)  # unequal shards; 50 / 4 steps end mid-period
    after_sync, after_epoch = [], []
    average = Group.average

    def checked_average(group, arrays):  # every rank calls it at the same point: its check may be collective
        average(group, arrays)
        after_sync.append(all(_all_equal(array) for array in arrays))

    def same_everywhere(net, seconds):
        after_epoch.append(_all_equal(net.params) and _all_equal(net._first) and _all_equal(net._second))

    monkeypatch.setattr(Group, "average", checked_average)
    net = MLP([12, 9, 3], random_state=RANK)  # different initial weights: rank 0's are broadcast
    net.fit(X, y, comm=WORLD, sync_every=3, epochs=4, batch_size=4, callback=same_everywhere,
            **{"learning_rate": 0.2, **settings})
    assert after_sync == [True] * 4 * 5  # 13 steps per epoch (50 / 4, rounded up): syncs after 3, 6, 9, 12, 13
    assert after_epoch == [True] * 4
    assert _all_equal(np.array(net.loss_curve_))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_average_gives_every_rank_the_mean(dtype):
    rng = np.random.default_rng(RANK)
    arrays = [rng.normal(size=1000).astype(dtype), rng.normal(size=7).astype(dtype)]
    expected = [np.mean(WORLD.allgather(array), axis=0) for array in arrays]
    group = Group(WORLD)
    group.average(arrays)
    group.close()
    for array, mean in zip(arrays, expected):
        assert _all_equal(array)
        np.testing.assert_allclose(array, mean, rtol=1e-6 if dtype == "float32" else 1e-15)


def test_reproducible_within_a_job():
    _, _, X, y = _problem()

    def run():
        return MLP([12, 9, 3], random_state=3).fit(X, y, comm=WORLD, sync_every=4, epochs=3, batch_size=4,
                                                   optimizer="adam", learning_rate=0.01).params

    np.testing.assert_array_equal(run(), run())


# ----------------------------------------------------------------------------------- steps, validation
def test_ranks_agree_on_the_steps_per_epoch():
    # 10 and 13 samples, batch 4: rank 0 fills 3 steps, rank 1 would fill 4; both take 3 (10 + 12 samples).
    _, _, X, y = _problem(n_per_rank=13)
    n = 10 if RANK == 0 else 13
    net = MLP([12, 9, 3], random_state=0).fit(X[:n], y[:n], comm=WORLD, epochs=3, batch_size=4, sync_every=2)
    assert net.t_ == 3 * 22
    # A shard smaller than the batch size shrinks every rank's minibatch to it: one step of 3 samples each.
    n = 3 if RANK == 0 else 13
    net = MLP([12, 9, 3], random_state=0).fit(X[:n], y[:n], comm=WORLD, epochs=1, batch_size=8)
    assert net.t_ == 3 + 3


def test_validation_and_early_stopping_agree_across_ranks():
    _, _, X, y = _problem(n_per_rank=120)
    net = MLP([12, 9, 3], random_state=0)
    net.fit(X, y, comm=WORLD, epochs=40, batch_size=8, learning_rate=0.5, early_stopping=True,
            n_iter_no_change=2, sync_every=2)
    assert _all_equal(np.array(net.validation_scores_)) and _all_equal(net.params)
    assert len(net.validation_scores_) < 40


def test_threads_default_to_the_ranks_share_of_the_cores():
    _, _, X, y = _problem()
    threads = []
    net = MLP([12, 9, 3], random_state=0)
    net.fit(X, y, comm=WORLD, epochs=1, callback=lambda net, seconds: threads.append(numba.get_num_threads()))
    cores = len(os.sched_getaffinity(0))
    assert threads == [max(1, cores // 2)]  # both ranks of this job run on this node
    if cores // 2 < numba.config.NUMBA_NUM_THREADS:
        with pytest.warns(OversubscriptionWarning, match="2 ranks of this fit on this node"):
            net.fit(X, y, comm=WORLD, epochs=1, n_threads=numba.config.NUMBA_NUM_THREADS)


# ------------------------------------------------------------------------------------------ checkpoints
def test_rank_0_writes_the_checkpoint_and_a_resumed_fit_matches(shared_dir):
    _, _, X, y = _problem()
    settings = dict(epochs=4, batch_size=4, sync_every=3, momentum=0.9, learning_rate=0.1)
    whole = MLP([12, 9, 3], random_state=2).fit(X, y, comm=WORLD, **settings)
    own = os.path.join(shared_dir, f"rank{RANK}.npz")
    MLP([12, 9, 3], random_state=2).fit(X, y, comm=WORLD, checkpoint=own, **dict(settings, epochs=2))
    WORLD.Barrier()
    assert os.path.exists(own) == (RANK == 0)
    first = os.path.join(shared_dir, "rank0.npz")
    # Any seed on any rank: the weights, optimizer state and generator come from rank 0's file.
    resumed = MLP([12, 9, 3], random_state=7 + RANK).fit(X, y, comm=WORLD, resume=first, **settings)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert resumed.loss_curve_ == whole.loss_curve_


def test_resuming_with_another_rank_count_is_refused(shared_dir):
    _, _, X, y = _problem()
    path = os.path.join(shared_dir, "two-ranks.npz")
    MLP([12, 9, 3], random_state=2).fit(X, y, comm=WORLD, epochs=1, checkpoint=path)
    WORLD.Barrier()
    alone = WORLD.Split(color=RANK)  # each rank on its own, with its own shard
    with pytest.raises(ValueError, match="different data"):
        MLP([12, 9, 3], random_state=2).fit(X, y, comm=alone, epochs=2, resume=path)
    alone.Free()
    assert isinstance(load(path), MLP)


# --------------------------------------------------------------------------------------------- failures
def test_a_check_failing_on_one_rank_raises_on_every_rank():
    _, _, X, y = _problem()
    if RANK == 1:
        y = y.copy()
        y[0] = 7  # not a class of a 3-output network
    with pytest.raises(ValueError if RANK == 1 else RankError, match="labels" if RANK == 1 else "rank 1 of 2"):
        MLP([12, 9, 3]).fit(X, y, comm=WORLD, epochs=1)
    # Every rank left the checks together: the communicator still works.
    MLP([12, 9, 3], random_state=0).fit(*_problem()[2:], comm=WORLD, epochs=1)


@pytest.mark.parametrize("name, mine, theirs", [
    ("layer_sizes", dict(sizes=[12, 9, 3]), dict(sizes=[12, 7, 3])),
    ("activation", dict(activation="logistic"), dict(activation="tanh")),
    ("dtype", dict(dtype="float32"), dict(dtype="float64")),
    ("learning_rate", dict(learning_rate=0.1), dict(learning_rate=0.2)),
    ("epochs", dict(epochs=2), dict(epochs=3)),
    ("validation_data", dict(validation=False), dict(validation=True)),
    ("sync_every", dict(sync_every=1), dict(sync_every=2)),
])
def test_ranks_fitting_other_networks_or_settings_all_refuse_at_the_start(name, mine, theirs):
    """Before: an error blaming MPI's Allreduce, a wait for the timeout, or a rank training on silently."""
    _, _, X, y = _problem()
    given = dict(dict(sizes=[12, 9, 3], activation="logistic", dtype="float32", learning_rate=0.1, epochs=2,
                      validation=False, sync_every=1), **(mine if RANK == 0 else theirs))
    net = MLP(given["sizes"], activation=given["activation"], dtype=given["dtype"], random_state=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match=f"{name} differs between rank 0 and rank 1"):
        net.fit(X, y, comm=WORLD, epochs=given["epochs"], learning_rate=given["learning_rate"],
                sync_every=given["sync_every"], validation_data=(X[:8], y[:8]) if given["validation"] else None)
    np.testing.assert_array_equal(net.params, before)
    MLP([12, 9, 3], random_state=0).fit(X, y, comm=WORLD, epochs=1)  # the communicator is still in step


def test_divergence_on_one_shard_stops_every_rank_alike():
    rng = np.random.default_rng(RANK)
    X = rng.normal(size=(40, 4)) * (1e150 if RANK == 1 else 1.0)
    y = rng.normal(size=(40, 1))
    net = MLP([4, 3, 1], loss="mse", output="identity", activation="identity", dtype="float64", random_state=0)
    with pytest.raises(DivergenceError) as raised:
        net.fit(X, y, comm=WORLD, epochs=3, batch_size=8, learning_rate=1.0)
    assert WORLD.allgather(raised.value.epoch) == [1, 1]
    # A divergence every rank saw leaves the communicator in step: the next fit runs.
    MLP([12, 9, 3], random_state=0).fit(*_problem()[2:], comm=WORLD, epochs=1)


# ------------------------------------------------------------------------------------------------ shards
def _idx_bytes(array: np.ndarray, type_byte: int) -> bytes:
    header = bytes([0, 0, type_byte, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("kind", ["npy", "npz", "npz-compressed", "idx", "idx-gz", "idx-int32"])
def test_each_rank_reads_its_rows_of_a_file(shared_dir, kind):
    full = np.arange(7 * 5 * 3, dtype=np.uint8).reshape(7, 5, 3)
    path = os.path.join(shared_dir, f"data-{kind}")
    if RANK == 0:
        if kind == "npy":
            np.save(path + ".npy", full)
        elif kind.startswith("npz"):
            (np.savez_compressed if kind.endswith("compressed") else np.savez)(path + ".npz", X=full, y=full[:, 0])
        elif kind == "idx-int32":
            with open(path, "wb") as stream:
                stream.write(_idx_bytes(full.astype(np.int32) * 1000, 0x0C))
        else:
            raw = _idx_bytes(full, 0x08)
            with (gzip.open if kind == "idx-gz" else open)(path, "wb") as stream:
                stream.write(raw)
    WORLD.Barrier()
    name = path + (".npy" if kind == "npy" else ".npz" if kind.startswith("npz") else "")
    mine = shard(name, WORLD, key="X" if kind.startswith("npz") else None)
    expected = full.astype(np.int32) * 1000 if kind == "idx-int32" else full
    start, stop = rows_of(7, Part(RANK, 2))
    np.testing.assert_array_equal(mine, expected[start:stop])
    assert mine.dtype.isnative
    np.testing.assert_array_equal(np.concatenate(WORLD.allgather(np.asarray(mine))), expected)


# ----------------------------------------------------------------------------------------- command line
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_command_line_trains_on_shards_and_rank_0_reports(shared_dir, capsys, gz):
    from fastmlp.cli import main

    from idx_data import write_idx_dir

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    images = (labels[:, None, None] * 60 + rng.integers(0, 30, (300, 6, 6))).astype(np.uint8)
    directory = os.path.join(shared_dir, f"idx-{gz}")
    if RANK == 0:
        write_idx_dir(directory, (images[:240], labels[:240]), (images[240:], labels[240:]), gz=gz)
    WORLD.Barrier()
    code = main(["train", directory, "--distributed", "--sync-every", "4", "--epochs", "3", "--hidden", "8",
                 "--progress", "lines", "--batch-size", "8"])
    out = capsys.readouterr().out
    assert code == 0
    if RANK == 0:
        assert "216 train on 2 ranks, 24 validation, 60 test samples, 4 classes" in out
        assert "2 ranks averaged every 4 steps, 1 thread each" in out or os.cpu_count() > 2
        assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["1/3", "2/3", "3/3"]
        assert "test accuracy" in out and "samples/s" in out
    else:
        assert out == ""

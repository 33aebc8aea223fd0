"""The default thread count: the CPU affinity's cores, divided among the MPI ranks or Dask task threads on
the node, at most Numba's count (NUMBA_NUM_THREADS, numba.set_num_threads); more when asked, with a warning."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest

from fastmlp import MLP, _threads
from fastmlp.distributed import OversubscriptionWarning, thread_budget
from fastmlp.kernels.forward import PREDICT_PARALLEL_MIN_SAMPLES

TWO_CORES = {0, 1}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def alone(monkeypatch):
    """No launcher variables (these tests also run under mpiexec, which sets them) and two cores."""
    for name in _threads.LOCAL_RANKS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: TWO_CORES)


def _threads_in_fit(**fit) -> int:
    """The Numba thread count in effect during a fit (the team trains on that many threads, or fewer)."""
    seen = []
    X = np.random.default_rng(0).normal(size=(40, 6))
    MLP([6, 5, 2], random_state=0).fit(X, (X[:, 0] > 0).astype(int), epochs=1, batch_size=8,
                                       callback=lambda net, seconds: seen.append(numba.get_num_threads()), **fit)
    return seen[0]


def test_alone_a_process_takes_all_cores_of_its_affinity(monkeypatch):
    assert thread_budget() == (2, "2 cores")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})  # taskset -c 3
    assert thread_budget() == (1, "1 core")
    assert _threads.default_threads(pool=numba.config.NUMBA_NUM_THREADS) == 1
    assert _threads_in_fit() == 1


@pytest.mark.parametrize("variable", _threads.LOCAL_RANKS_VARIABLES)
def test_mpi_ranks_on_the_node_share_the_cores(monkeypatch, variable):
    monkeypatch.setenv(variable, "2")
    assert thread_budget() == (1, f"2 cores shared by 2 MPI ranks on this node ({variable})")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setenv(variable, "3")
    assert thread_budget()[0] == 5  # 16 // 3: never more threads than cores in all
    monkeypatch.setenv(variable, "32")
    assert thread_budget()[0] == 1  # more ranks than cores: one thread each, not zero


def test_nonsense_in_a_launcher_variable_is_ignored(monkeypatch):
    monkeypatch.setenv("MPI_LOCALNRANKS", "many")
    assert thread_budget() == (2, "2 cores")


def test_numbas_thread_count_caps_the_default():
    assert _threads.default_threads(pool=1) == 1  # NUMBA_NUM_THREADS=1 or numba.set_num_threads(1)
    assert _threads.default_threads(pool=8) == 2  # a larger pool than cores is not used by default
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert _threads_in_fit() == 1
    finally:
        numba.set_num_threads(previous)


def test_numba_num_threads_in_the_environment_is_respected():
    code = ("import numba, numpy as np; from fastmlp import MLP; seen = []; X = np.ones((8, 3)); "
            "MLP([3, 2], loss='mse').fit(X, X[:, :2], epochs=1, callback=lambda n, s: seen.append("
            "numba.get_num_threads())); print(seen[0], numba.config.NUMBA_NUM_THREADS)")
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_DISABLE_JIT"}
    env.update(NUMBA_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["1", "1"]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs a Numba pool of 2 threads")
def test_asking_for_more_than_the_share_warns_and_is_granted(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    assert _threads_in_fit() == 1
    with pytest.warns(OversubscriptionWarning, match=r"n_threads=2 is more than this process's share of the "
                                                     r"cores \(1: 2 cores shared by 2 MPI ranks"):
        assert _threads_in_fit(n_threads=2) == 2
    monkeypatch.delenv("OMPI_COMM_WORLD_LOCAL_SIZE")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within the share: no warning
        assert _threads_in_fit(n_threads=2) == 2


def test_prediction_takes_the_share_too(monkeypatch):
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    seen = []
    original = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (seen.append(n), original(n)))
    net = MLP([6, 5, 2], random_state=0)
    net.predict(np.ones((3, 6)))  # fewer than PREDICT_PARALLEL_MIN_SAMPLES: on the calling thread, no count to set
    assert seen == []
    net.predict(np.ones((PREDICT_PARALLEL_MIN_SAMPLES, 6)))
    assert seen[:1] == [1]

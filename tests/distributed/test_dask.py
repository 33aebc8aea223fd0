"""Sweeps on Dask: scikit-learn's GridSearchCV over fastmlp's estimators under joblib's Dask backend, on a
LocalCluster of two one-thread workers. Each fit takes one thread (two task threads share two cores), and
a fresh worker loads the kernels from the cache this process filled instead of compiling them."""

from __future__ import annotations

import os
import sys
import warnings

import numba
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")
cloudpickle = pytest.importorskip("cloudpickle")

pytestmark = [
    pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: the workers would train as Python"),
    pytest.mark.skipif(int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1,
                       reason="one cluster, not one per MPI rank"),
]
# The workers cannot import this test module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _kernel_cache() -> tuple[int, int]:
    """(loads from the on-disk cache, compilations) of fastmlp's kernels in this process so far."""
    from fastmlp import _compile

    hits = sum(sum(dispatcher.stats.cache_hits.values()) for dispatcher in _compile.REGISTRY)
    misses = sum(sum(dispatcher.stats.cache_misses.values()) for dispatcher in _compile.REGISTRY)
    return hits, misses


def _scores(estimator, X, y) -> dict:
    """Accuracy, and what a fit on this worker did: its default thread count and the kernel cache's counts."""
    import numba

    from fastmlp import _threads

    hits, misses = _kernel_cache()
    return {"accuracy": estimator.score(X, y), "threads": _threads.default_threads(numba.get_num_threads()),
            "cache_hits": hits, "cache_misses": misses, "pid": os.getpid()}


def _threads_inside_a_fit(X, y) -> list[int]:
    import numba

    from fastmlp import MLP

    seen = []
    MLP([X.shape[1], 8, 2], random_state=0).fit(X, y, epochs=2, callback=lambda net, s: seen.append(
        numba.get_num_threads()))
    return seen


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


@pytest.fixture(scope="module")
def client(problem):
    from fastmlp import MLP
    from fastmlp.sklearn import MLPClassifier

    # Fill the kernel cache the workers share with this process (the package's __pycache__, or
    # NUMBA_CACHE_DIR when set): the kernels of fitting and of scoring.
    X, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(X, y).score(X, y)
        MLP([12, 8, 2]).fit(X, y, epochs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_grid_search_runs_on_the_workers_one_thread_per_fit_from_cached_kernels(client, problem):
    import joblib
    from sklearn.model_selection import GridSearchCV

    from fastmlp.sklearn import MLPClassifier

    X, y = problem
    grid = GridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0),
                        {"learning_rate_init": [0.003, 0.03], "alpha": [1e-4, 1e-2]}, cv=2, scoring=_scores,
                        refit="accuracy")
    with warnings.catch_warnings(), joblib.parallel_backend("dask"):
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        grid.fit(X, y)
    results = grid.cv_results_
    splits = ("split0", "split1")
    pids = {int(pid) for split in splits for pid in results[f"{split}_test_pid"]}
    assert len(pids) >= 1 and os.getpid() not in pids  # every fit ran on a worker
    cores = len(os.sched_getaffinity(0))
    for split in splits:
        # Two workers of one task thread each on this host share its cores.
        assert set(results[f"{split}_test_threads"]) == {max(1, cores // 2)}
        assert set(results[f"{split}_test_cache_misses"]) == {0}  # nothing compiled in a fresh worker
        assert min(results[f"{split}_test_cache_hits"]) >= 1  # the kernels came from the cache
    assert grid.best_score_ > 0.8


def test_a_fit_in_a_worker_trains_on_its_share_of_the_cores(client, problem):
    seen = client.submit(_threads_inside_a_fit, *problem, pure=False).result()
    assert seen == [max(1, len(os.sched_getaffinity(0)) // 2)] * 2

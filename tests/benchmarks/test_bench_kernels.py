"""Kernels, the fused epoch, predict and a Fashion-MNIST fit epoch under pytest-benchmark.

Skipped in the normal test run, which passes --benchmark-disable (pyproject.toml); run them with
``bash scripts/bench_pytest.sh`` (README "Benchmarks"). Groups are "<kernel> 784-<hidden>-10 batch
<batch_size>", so each table compares dtypes and thread counts of one kernel at one size. Every test
calls its kernel once before timing (explicit JIT warm-up).
"""

import sys
from pathlib import Path

import pytest

# benchmarks/common.py holds the seeded data builders shared with the asv suite. (No conftest.py
# here: a second module named "conftest" would shadow tests/conftest.py for the other test files.)
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402


@pytest.fixture(autouse=True)
def _only_when_benchmarking(request):
    config = request.config
    if config.getoption("benchmark_disable") and not config.getoption("benchmark_enable"):
        pytest.skip("benchmarks run only with --benchmark-enable (bash scripts/bench_pytest.sh)")

KERNEL_NAMES = ["forward", "forward_backward", "gradients"]


@pytest.fixture(params=common.THREADS, ids=lambda t: f"{t}thr")
def threads(request):
    import numba

    try:
        common.set_threads(request.param)
    except common.Unavailable as error:
        pytest.skip(str(error))
    previous = numba.get_num_threads()
    yield request.param
    numba.set_num_threads(previous)


def fashion_mnist():
    try:
        return common.fashion_mnist()
    except common.Unavailable as error:
        pytest.skip(str(error))


@pytest.mark.parametrize("dtype", common.DTYPES)
@pytest.mark.parametrize("hidden", common.HIDDEN_SIZES)
@pytest.mark.parametrize("batch_size", common.BATCH_SIZES)
@pytest.mark.parametrize("kernel", KERNEL_NAMES)
def test_kernel(benchmark, kernel, batch_size, hidden, dtype, threads):
    case = common.kernel_case(batch_size, hidden, dtype)
    common.warm_up(case)
    benchmark.group = f"{kernel} 784-{hidden}-10 batch {batch_size}"
    benchmark(common.KERNELS[kernel], case)


@pytest.mark.parametrize("dtype", common.DTYPES)
@pytest.mark.parametrize("batch_size", common.BATCH_SIZES)
def test_epoch(benchmark, batch_size, dtype, threads):
    case = common.kernel_case(batch_size, 100, dtype, n_samples=2048)
    common.warm_up(case)
    benchmark.group = f"epoch 784-100-10 batch {batch_size} (2048 samples)"
    benchmark.pedantic(common.run_epoch, args=(case,), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("dtype", common.DTYPES)
@pytest.mark.parametrize("hidden", common.HIDDEN_SIZES)
def test_predict(benchmark, hidden, dtype, threads):
    _, (X_test, _) = fashion_mnist()
    model = common.network(hidden, dtype)
    model.predict(X_test[:8])
    benchmark.group = f"predict 784-{hidden}-10 (10000 test images)"
    benchmark(model.predict, X_test)


@pytest.mark.parametrize("batch_size", [32, 512])
def test_fit_epoch(benchmark, batch_size, threads):
    (X, y), _ = fashion_mnist()
    common.fit_epoch(X[:batch_size], y[:batch_size], batch_size)
    benchmark.group = f"fit 784-100-10 batch {batch_size} (60000 images)"
    benchmark.pedantic(common.fit_epoch, args=(X, y, batch_size), rounds=3, warmup_rounds=0)

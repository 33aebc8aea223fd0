"""fastmlp.bench.startup: a child process reports its memory, compile and fit times."""

from __future__ import annotations

import pytest

from fastmlp.bench.startup import spawn


def test_startup_child_reports_memory_and_cache(monkeypatch):
    # The child inherits the environment: in the coverage run it must still compile (it trains on 60,000 images).
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    run = spawn(None, 128, 0.1, synthetic=True)
    assert run["data"] == "synthetic" and run["data_mb"] == pytest.approx(60000 * 784 / 2**20)
    assert run["first_fit_seconds"] > 0 and run["second_fit_seconds"] > 0
    assert run["peak_rss_above_loaded_mb"] > 0
    assert run["cache_misses"] >= 0 and isinstance(run["kernels_compiled"], list)

"""pytest-benchmark suite: skipped in the normal test run, which passes --benchmark-disable (pyproject.toml).

Run it with ``bash scripts/bench_pytest.sh`` (or pytest ... --benchmark-enable); see README "Benchmarks".
"""

import sys
from pathlib import Path

import pytest

# benchmarks/common.py holds the seeded data builders shared with the asv suite.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_collection_modifyitems(config, items):
    disabled = config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")
    if not disabled:
        return
    skip = pytest.mark.skip(reason="benchmarks run only with --benchmark-enable (bash scripts/bench_pytest.sh)")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(skip)

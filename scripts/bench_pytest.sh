#!/usr/bin/env bash
# pytest-benchmark suite (tests/benchmarks/), grouped by kernel and size, each kernel warmed before timing.
#   bash scripts/bench_pytest.sh                 run and print the tables
#   bash scripts/bench_pytest.sh save            run and save the run as the baseline (.benchmarks/)
#   bash scripts/bench_pytest.sh compare         run and fail (exit 1) when a median is 25% slower than
#                                                the latest saved baseline (BENCH_FAIL=median:10% to change)
# Extra arguments go to pytest, e.g. -k "forward and float32".
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
mode=run
case "${1:-}" in run|save|compare) mode=$1; shift ;; esac

args=(tests/benchmarks --benchmark-enable --benchmark-warmup=on --benchmark-warmup-iterations=10
      --benchmark-min-rounds=5 --benchmark-max-time=0.5 --benchmark-group-by=group
      --benchmark-sort=name --benchmark-columns=min,median,iqr,rounds -q)
case "$mode" in
    save) args+=(--benchmark-save=baseline) ;;
    compare)
        baseline=$(ls .benchmarks/*/*_baseline.json 2>/dev/null | sort | tail -n 1 || true)
        if [ -z "$baseline" ]; then
            echo "no saved baseline: run 'bash scripts/bench_pytest.sh save' first" >&2
            exit 2
        fi
        id=$(basename "$baseline" .json)
        echo "comparing against $baseline"
        args+=(--benchmark-compare="${id%%_*}" --benchmark-compare-fail="${BENCH_FAIL:-median:25%}") ;;
esac
exec "$python" -m pytest "${args[@]}" "$@"

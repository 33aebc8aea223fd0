#!/usr/bin/env bash
# Regression gate: time two commits with asv and fail (exit 1) when a benchmark got slower by more than
# FACTOR (asv continuous: the new/old ratio must exceed FACTOR and the difference be significant).
#   bash scripts/regression_gate.sh [BASE [HEAD]]     defaults: main HEAD
#   FACTOR=1.5                                        slowdown ratio that fails the gate
#   BENCH='(time|timeraw|peakmem)_'                   asv --bench regex (track_ values are not timings)
#   ASV_CONFIG=asv.conf.json
# Exit status: 0 no slowdown, 1 a slowdown (or an error), as asv continuous returns it.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-$PWD/.venv/bin/python}
base=${1:-main}
head=${2:-HEAD}
[ -f "$HOME/.asv-machine.json" ] || "$python" -m asv machine --yes >/dev/null
exec "$python" -m asv continuous --config "${ASV_CONFIG:-asv.conf.json}" --factor "${FACTOR:-1.5}" \
    --bench "${BENCH:-(time|timeraw|peakmem)_}" --show-stderr "$base" "$head"

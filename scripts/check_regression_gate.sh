#!/usr/bin/env bash
# Shows the regression gate catching a deliberate slowdown, in a throwaway clone under /tmp:
# commit a forward kernel that does its work three times, run scripts/regression_gate.sh between the
# clean commit and the slowed one, and pass only when the gate fails with exit status 1.
#   bash scripts/check_regression_gate.sh        (a few minutes: two builds, the Forward benchmarks)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
tmp=$(mktemp -d /tmp/fastmlp-gate-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
began=$(date +%s)

git clone -q "$root" "$tmp/repo"
cd "$tmp/repo"
git config user.email gate@localhost
git config user.name "regression gate check"
# The clone times the benchmark suite of this working tree (asv uses the checkout's benchmarks/).
rm -rf benchmarks && cp -r "$root/benchmarks" "$root/asv.conf.json" .
git add -A benchmarks asv.conf.json && git commit -q -m "benchmarks as in the working tree" || true
base=$(git rev-parse HEAD)

cat >> fastmlp/kernels/forward.py <<'PY'


# Deliberate slowdown for scripts/check_regression_gate.sh: the same forward pass, three times.
_predict_chunk_once = predict_chunk


@kernel
def predict_chunk(net, X, order, start, count, scale, output, acts, out):
    for _ in range(3):
        _predict_chunk_once(net, X, order, start, count, scale, output, acts, out)
PY
git commit -q -am "slow down predict_chunk three times"
slow=$(git rev-parse HEAD)

# Results go to the clone; the asv environment is the main checkout's, so nothing is installed twice.
"$python" - "$root" "$tmp" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1] + "/scripts")
import dashboard
root, tmp = sys.argv[1], sys.argv[2]
conf = dashboard.load_config(dashboard.CONFIG)
conf.update(repo=tmp + "/repo", benchmark_dir=tmp + "/repo/benchmarks", env_dir=root + "/.asv/env",
            results_dir=tmp + "/results", html_dir=tmp + "/html")
open(tmp + "/asv.conf.json", "w").write(json.dumps(conf, indent=2))
PY

set +e
ASV_CONFIG="$tmp/asv.conf.json" BENCH='bench_kernels\.Forward\.time_forward' \
    bash "$root/scripts/regression_gate.sh" "$base" "$slow" 2>&1 | tee "$tmp/gate.log"
status=${PIPESTATUS[0]}
set -e
echo "regression gate exit status: $status ($(( $(date +%s) - began )) s)"
# Exit 1 alone could be a broken build; the slowdown must be what the gate reported.
if [ "$status" -eq 1 ] && grep -q "PERFORMANCE DECREASED" "$tmp/gate.log"; then
    echo "OK: the gate caught the deliberate 3x slowdown of predict_chunk"
    exit 0
fi
echo "FAIL: the gate should have exited 1 on the slowed commit" >&2
exit 1

#!/usr/bin/env bash
# The README's speed section from one AVX-512 machine: the full bench and the time to accuracy, once on the
# machine's own code path and once with the AVX2 path forced, then the README's summary and
# docs/performance.md's tables written from the two runs (scripts/readme_table.py). About an hour; keep the
# machine otherwise idle while it runs.
#   bash scripts/two_paths.sh [DIR]     JSON files and printed reports go to DIR (artifacts/two-paths)
# On a machine without AVX-512 the two paths would be the same code, so it refuses (exit 2). FASTMLP, PYTHON
# and CPUINFO replace .venv/bin/fastmlp, .venv/bin/python and /proc/cpuinfo (tests/test_docs.py).
set -euo pipefail
cd "$(dirname "$0")/.."
fastmlp=${FASTMLP:-.venv/bin/fastmlp}
python=${PYTHON:-.venv/bin/python}
out=${1:-artifacts/two-paths}

if ! grep -qw avx512f "${CPUINFO:-/proc/cpuinfo}"; then
    echo "two_paths.sh: this CPU has no AVX-512 (no avx512f in /proc/cpuinfo), so its own code path is the" \
         "AVX2 path; run 'fastmlp bench' for that one path instead" >&2
    exit 2
fi
mkdir -p "$out"

# AVX2 code for fastmlp (NUMBA_CPU_FEATURES must be set, to nothing, or Numba keeps the host's features), in a
# kernel cache of its own; AVX2 kernels for NumPy's OpenBLAS and for PyTorch's ATen and oneMKL
# (docs/benchmarks.md).
avx2=(env NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES= NUMBA_CACHE_DIR="${TMPDIR:-/tmp}/fastmlp-avx2-cache"
      OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2)

"$fastmlp" bench --json "$out/native.json" --plot docs/speed-native.png | tee "$out/native.txt"
"${avx2[@]}" "$fastmlp" bench --json "$out/avx2.json" --plot docs/speed-avx2.png | tee "$out/avx2.txt"
"$fastmlp" bench --time-to-accuracy --json "$out/native-tta.json" | tee "$out/native-tta.txt"
"${avx2[@]}" "$fastmlp" bench --time-to-accuracy --json "$out/avx2-tta.json" | tee "$out/avx2-tta.txt"
"$python" scripts/readme_table.py "$out/native.json" "$out/avx2.json"
echo "two_paths.sh: README.md, docs/performance.md and docs/speed-*.png rewritten; reports in $out"

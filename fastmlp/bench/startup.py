"""Memory and start-up, each in fresh processes: peak RSS of a fit from uint8 data, cold and cached first fits.

The parent runs this module twice as a child with the same empty NUMBA_CACHE_DIR: the first child compiles
every kernel (cold), the second should load them all from the cache (no cache misses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

LAYER_SIZES = (784, 100, 10)


def _status_mb(field: str) -> float | None:
    """A VmRSS / VmHWM line of /proc/self/status in MB, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs), so the peak counts the fit only."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _cache_counts():
    from fastmlp._compile import REGISTRY

    hits = sum(sum(dispatcher.stats.cache_hits.values()) for dispatcher in REGISTRY)
    misses = sum(sum(dispatcher.stats.cache_misses.values()) for dispatcher in REGISTRY)
    missed = sorted(f"{d.py_func.__module__}.{d.py_func.__name__}" for d in REGISTRY if d.stats.cache_misses)
    return hits, misses, missed


#: The child's entry point: it times ``import fastmlp`` itself, before anything else of fastmlp is imported.
CHILD = """import sys, time
began = time.perf_counter()
import fastmlp
imported = time.perf_counter()
from fastmlp.bench.startup import child
print(child(began, imported, int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "synthetic"))
"""


def child(began: float, imported: float, batch_size: int, learning_rate: float, synthetic: bool) -> str:
    """Load Fashion-MNIST as uint8, fit one epoch twice; JSON of times, cache statistics and memory."""
    import fastmlp
    from fastmlp.bench.suite import load_data

    (X, y), _, source = load_data(synthetic)
    loaded = time.perf_counter()
    rss_loaded = _status_mb("VmRSS")
    reset = _reset_peak()
    if not reset:
        import resource

        before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    net = fastmlp.MLP(LAYER_SIZES, random_state=0)
    start = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=batch_size, learning_rate=learning_rate)
    first = time.perf_counter() - start
    hits, misses, missed = _cache_counts()
    start = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=batch_size, learning_rate=learning_rate)
    second = time.perf_counter() - start
    if reset:
        peak, peak_source = _status_mb("VmHWM"), "VmHWM after resetting it once the data was loaded"
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_source = f"ru_maxrss (could not reset VmHWM; includes the loading peak of {before_peak:.0f} MB)"
    return json.dumps({
        "data": source,
        "import_seconds": imported - began,
        "load_seconds": loaded - imported,
        "first_fit_seconds": first,
        "second_fit_seconds": second,
        "compile_or_load_seconds": first - second,
        "cache_hits": hits,
        "cache_misses": misses,
        "kernels_compiled": missed,
        "caching": fastmlp._compile.CACHING,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": peak,
        "peak_rss_above_loaded_mb": None if peak is None or rss_loaded is None else peak - rss_loaded,
        "peak_source": peak_source,
        "data_mb": X.nbytes / 2**20,
    })


def spawn(cache_dir: str | None, batch_size: int, learning_rate: float, synthetic: bool) -> dict:
    """Run the child in a fresh process with kernels cached in ``cache_dir`` (None: Numba's usual place)."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    command = [sys.executable, "-c", CHILD, str(batch_size), str(learning_rate), "synthetic" if synthetic else "-"]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"start-up child failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - began
    return result


def measure_startup(batch_size: int = 32, learning_rate: float = 0.1, synthetic: bool = False) -> dict:
    """Cold then cached first fit in two fresh processes sharing a new, empty kernel cache."""
    with tempfile.TemporaryDirectory(prefix="fastmlp-bench-cache-") as cache_dir:
        cold = spawn(cache_dir, batch_size, learning_rate, synthetic)
        cached = spawn(cache_dir, batch_size, learning_rate, synthetic)
    return {
        "network": "-".join(map(str, LAYER_SIZES)),
        "batch_size": batch_size,
        "cold": cold,
        "cached": cached,
        "rss_after_load_mb": cached["rss_after_load_mb"],
        "peak_rss_above_loaded_mb": cached["peak_rss_above_loaded_mb"],
        "cold_peak_rss_above_loaded_mb": cold["peak_rss_above_loaded_mb"],
        "recompiled_when_cached": cached["cache_misses"] > 0,
    }

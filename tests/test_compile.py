"""fastmlp._compile: every kernel is made by the one policy (none spells out numba.njit itself), and kernels
cached on disk load in a new process instead of compiling."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

import fastmlp
import fastmlp.kernels
from fastmlp import _compile

from child_env import child_env
from markers import needs_jit

#: Names that, called or used as a decorator, make a compiled function outside the policy.
NUMBA_FACTORIES = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "stencil", "generated_jit"}
#: The kernels other code relies on by name (see the issue's API section).
STABLE_KERNELS = {
    "forward": ["predict_chunk"],
    "backward": ["forward_backward", "gradients"],
    "update": ["row_update", "step_rows"],
    "team": ["team_epoch"],
}


def kernel_modules():
    """fastmlp.kernels and every module in it."""
    modules = [fastmlp.kernels]
    for info in pkgutil.walk_packages(fastmlp.kernels.__path__, "fastmlp.kernels."):
        modules.append(importlib.import_module(info.name))
    return modules


def numba_objects(namespace: dict) -> dict:
    """The attributes of a module namespace that Numba compiled: dispatchers and Numba ufuncs."""
    ufunc_types = tuple(
        getattr(module, name)
        for module, name in ((numba.np.ufunc.dufunc, "DUFunc"), (numba.np.ufunc.gufunc, "GUFunc"))
        if hasattr(module, name)
    )
    return {name: value for name, value in namespace.items()
            if isinstance(value, Dispatcher) or (ufunc_types and isinstance(value, ufunc_types))}


def unregistered(namespace: dict) -> list[str]:
    """Names of compiled objects in ``namespace`` that did not come through the policy's REGISTRY."""
    return sorted(name for name, value in numba_objects(namespace).items()
                  if not any(value is registered for registered in _compile.REGISTRY))


@needs_jit
def test_kernel_modules_hold_the_stable_kernels():
    modules = {module.__name__.rsplit(".", 1)[-1]: module for module in kernel_modules()}
    for module_name, names in STABLE_KERNELS.items():
        for name in names:
            assert isinstance(getattr(modules[module_name], name, None), Dispatcher), f"{module_name}.{name}"


@needs_jit
@pytest.mark.parametrize("module", kernel_modules(), ids=lambda module: module.__name__)
def test_every_kernel_went_through_the_policy(module):
    assert unregistered(vars(module)) == [], f"{module.__name__} has kernels made outside fastmlp._compile"


@needs_jit
def test_the_scan_catches_a_kernel_made_directly():
    """The check above can fail: a function compiled with numba.njit directly is flagged."""
    direct = numba.njit(lambda x: x + 1)
    through_policy = _compile.REGISTRY[0]
    assert unregistered({"direct": direct, "through_policy": through_policy, "other": len}) == ["direct"]


@needs_jit
def test_registry_holds_only_policy_options():
    """Every registered kernel has exactly the policy's options; only ``parallel`` may differ, and serial
    kernels compile without Numba's runtime. A kernel calling another compiles it for plain argument types
    only, never for a literal constant or prange's unsigned index (_compile._OneCompilePerType): after a fit
    and a prediction that reach every kind of call, no kernel holds such a signature."""
    net = fastmlp.MLP([3, 4, 2], dtype="float64", random_state=0)
    X = np.random.default_rng(0).random((80, 3))
    for batch_size in (1, 5, 80):
        net.fit(X, np.arange(80) % 2, epochs=1, batch_size=batch_size, momentum=0.5 * (batch_size > 1), n_threads=2)
    net.predict(X)
    for dispatcher in _compile.REGISTRY:
        for signature in dispatcher.signatures:
            assert not any(isinstance(arg, numba.types.Literal) or (isinstance(arg, numba.types.Integer) and
                                                                     not arg.signed) for arg in signature), (
                f"{dispatcher.py_func.__qualname__}{signature}")
    assert len(_compile.REGISTRY) >= sum(map(len, STABLE_KERNELS.values()))
    for dispatcher in _compile.REGISTRY:
        options = dispatcher.targetoptions
        for key, value in _compile.OPTIONS.items():
            assert options.get(key) == value, f"{dispatcher.py_func.__qualname__}: {key}={options.get(key)!r}"
        assert options.get("parallel") in (True, False)
        assert options.get("nopython", True) is True
        # serial kernels run without Numba's runtime: no reference counting on every call (_compile.kernel)
        assert options["parallel"] or options.get("_nrt") is False, dispatcher.py_func.__qualname__


def test_no_module_spells_out_numba_options():
    """No source file but _compile.py names numba.njit / jit / vectorize ... (decorator or call)."""
    root = Path(fastmlp.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "_compile.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in NUMBA_FACTORIES:
                name = node.attr
            elif isinstance(node, ast.Name) and node.id in NUMBA_FACTORIES:
                name = node.id
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("numba"):
                names = [alias.name for alias in node.names if alias.name in NUMBA_FACTORIES]
                name = names[0] if names else None
            else:
                name = None
            if name:
                offenders.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert offenders == []


# ---------------------------------------------------------------- the kernel cache
CHILD = """
import json, numpy as np
import fastmlp
from fastmlp._compile import REGISTRY
rng = np.random.default_rng(0)
X = rng.integers(0, 256, (2000, 64), dtype=np.uint8)
y = rng.integers(0, 3, 2000)
# Big enough for a team of two threads (fastmlp._team.TEAM_MIN_MACS, TEAM_MIN_EPOCH_MACS).
net = fastmlp.MLP([64, 64, 3], random_state=0).fit(X, y, epochs=2, batch_size=256, learning_rate=0.5)
misses = sorted(d.py_func.__name__ for d in REGISTRY if d.stats.cache_misses)
hits = sorted(d.py_func.__name__ for d in REGISTRY if d.stats.cache_hits)
print(json.dumps({"params": net.params.tolist(), "misses": misses, "hits": hits}))
"""


def run_child(cache_dir):
    env = child_env(NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"child failed with {done.returncode}:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


@needs_jit
def test_second_process_loads_every_kernel_from_the_cache(tmp_path):
    cold = run_child(tmp_path)
    assert "team_epoch" in cold["misses"], "the first process should compile the fused epoch"
    # Loaded from the cache, the epoch must run as compiled: its barrier calls sched_yield, a symbol
    # resolved when the cached code is loaded. (An earlier epoch, a serial kernel calling parallel
    # ones, called through a null pointer when loaded from the cache: SIGSEGV, numba issue 8578.)
    cached = run_child(tmp_path)
    assert cached["misses"] == [], f"recompiled although cached: {cached['misses']}"
    assert "team_epoch" in cached["hits"]
    assert cached["params"] == cold["params"] or max(
        abs(a - b) for a, b in zip(cached["params"], cold["params"])
    ) < 1e-5

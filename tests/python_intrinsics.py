"""Python stand-ins for the LLVM intrinsics of fastmlp.kernels.intrinsics, for NUMBA_DISABLE_JIT=1 runs.

Numba intrinsics cannot be called from Python, so without them every float32 sigmoid (pow2_float32) and
every barrier of a team (the atomics) fails when the kernels run as Python for line coverage. Each
stand-in does what its intrinsic does; tests/kernels/test_intrinsics.py compares them on compiled code.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from numba.core.extending import _Intrinsic

# One lock makes the read-modify-write of atomic_add atomic between Python threads.
_LOCK = threading.Lock()


def atomic_add(array, index, value):
    """array[index] += value atomically; returns the old value."""
    with _LOCK:
        old = int(array[index])
        array[index] = old + value
        return old


def atomic_load(array, index):
    """array[index], read atomically."""
    with _LOCK:
        return int(array[index])


def atomic_store(array, index, value):
    """array[index] = value, atomically."""
    with _LOCK:
        array[index] = value


def spin_pause():
    """A spinning Python thread must let go of the GIL, or the thread it waits for cannot run."""
    time.sleep(0)


def yield_core():
    """sched_yield, and the GIL with it."""
    time.sleep(0)


def prefetch(array, index):
    """A cache hint: nothing to do in Python."""


def pow2_float32(n):
    """2.0 ** n as a float32 for an integer -126 <= n <= 127 (exact: a power of two)."""
    return np.float32(np.ldexp(1.0, int(n)))


STAND_INS = {function.__name__: function for function in
             (atomic_add, atomic_load, atomic_store, spin_pause, yield_core, prefetch, pow2_float32)}


def install() -> list[str]:
    """Replace every intrinsic that a kernel module imported by its stand-in; returns "module.name"s replaced.

    Kernels run as Python look their globals up at each call, so replacing the module attribute suffices.
    """
    import importlib
    import pkgutil

    import fastmlp.kernels

    replaced = []
    names = [info.name for info in pkgutil.iter_modules(fastmlp.kernels.__path__, "fastmlp.kernels.")
             if info.name != "fastmlp.kernels.intrinsics"]  # where they are defined, not used
    for module in map(importlib.import_module, names):
        for name, stand_in in STAND_INS.items():
            if isinstance(getattr(module, name, None), _Intrinsic):
                setattr(module, name, stand_in)
                replaced.append(f"{module.__name__}.{name}")
    return replaced

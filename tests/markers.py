"""Skip markers for the coverage run, where NUMBA_DISABLE_JIT=1 runs every kernel as Python."""

from __future__ import annotations

import numba
import pytest

#: Tests about compiled code itself: dispatchers, their options, the intrinsics' machine code.
needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: kernels are not compiled")
#: Tests that train on images or 784-input networks: as Python loops that would take many minutes.
needs_compiled_kernels = pytest.mark.skipif(numba.config.DISABLE_JIT,
                                            reason="NUMBA_DISABLE_JIT=1: training on images is too slow as Python")
#: Tests that need at least two threads in Numba's pool.
needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="needs a Numba thread pool of at least 2 threads")

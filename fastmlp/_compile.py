"""The one compile policy: threading layer, cache and Numba options for every kernel.

Every kernel goes through :func:`kernel` or :func:`parallel_kernel`; ``tests/test_compile_policy.py``
checks that none spells out its own ``numba.njit`` options.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import os
import sys

# Numba's tbb layer is both thread-safe (two Python threads may train at once) and fork-safe (a forked
# child may train). GNU OpenMP, the default here, kills a forked child; workqueue aborts on concurrent
# use. pip's tbb puts libtbb.so.12 in <prefix>/lib, where the dynamic loader does not look, so load it
# by path first: Numba's tbbpool extension then finds it by its soname.
_TBB_LOADED = False
for _path in sorted(glob.glob(os.path.join(sys.prefix, "lib", "libtbb.so.12*"))):
    try:
        ctypes.CDLL(_path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        continue
    _TBB_LOADED = True
    break

#: Why Numba cannot be imported, or None when it can. Without Numba a model still predicts, in NumPy
#: (fastmlp.inference); training needs the kernels.
NUMBA_ERROR = None
try:
    import numba  # noqa: E402  (must come after the tbb preload)
except ImportError as error:
    numba = None
    NUMBA_ERROR = f"{type(error).__name__}: {error}"

if numba is not None and "NUMBA_THREADING_LAYER" not in os.environ and _TBB_LOADED:
    numba.config.THREADING_LAYER = "tbb"

# reassoc lets LLVM vectorise float reductions; contract allows FMA. No nnan/ninf: the model checks
# losses for NaN/inf, and those flags would let LLVM delete the checks.
FASTMATH = frozenset({"reassoc", "contract", "nsz"})
OPTIONS = dict(nogil=True, fastmath=set(FASTMATH), error_model="numpy", boundscheck=False)

#: Every dispatcher created here, for the policy test and for ``fastmlp info``.
REGISTRY: list = []
#: True when kernels are cached on disk; False when no cache location is writable (read-only install).
CACHING = True


def _sources_digest() -> str:
    """Hash of every kernel source file and of this policy."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(here, "kernels", "*.py"))) + [os.path.abspath(__file__)]:
        with open(path, "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()


_DIGEST = _sources_digest()


def _make(func, parallel: bool, **extra):
    global CACHING
    options = dict(OPTIONS, parallel=parallel, **extra)
    try:
        dispatcher = numba.njit(cache=CACHING, **options)(func)
    except RuntimeError as error:  # "cannot cache function ...: no locator available"
        if "locator" not in str(error):
            raise
        CACHING = False
        dispatcher = numba.njit(cache=False, **options)(func)
    # Numba stamps a cached kernel with its own file only, so a kernel compiled with an older
    # version of a kernel it calls would be loaded stale. Stamp every kernel with all their sources.
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = (cache_file._source_stamp, _DIGEST)
    REGISTRY.append(dispatcher)
    return dispatcher


def kernel(func):
    """Compile ``func`` as a serial kernel under the project's policy."""
    return _make(func, parallel=False)


def inline_kernel(func):
    """A serial kernel that Numba inlines into its callers: a call inside a loop stops LLVM from
    vectorising the loop, and LLVM does not always inline a callee by itself."""
    return _make(func, parallel=False, inline="always")


def parallel_kernel(func):
    """Compile ``func`` with ``prange`` loops run on all of Numba's threads."""
    return _make(func, parallel=True)


def threading_layer() -> str:
    """Name of the threading layer in use (after the first parallel call), else the configured one."""
    try:
        return numba.threading_layer()
    except ValueError:
        return str(numba.config.THREADING_LAYER)

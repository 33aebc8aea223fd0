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
import threading

# Numba's threading layers differ in what they survive (numba docs, "The Threading Layers"):
# - tbb is thread-safe (two Python threads may predict at once) and fork-safe (a forked child may
#   train and predict). pip's tbb puts libtbb.so.12 in <prefix>/lib, where the dynamic loader does
#   not look, so it is loaded by path first: Numba's tbbpool extension then finds it by its soname.
# - GNU OpenMP, Numba's choice on Linux when tbb is missing, kills a child forked after the parent
#   made a parallel call ("fork() called from a process already using GNU OpenMP").
# - workqueue is fork-safe but aborts the process when two threads launch parallel kernels at once.
# So without tbb, fastmlp uses workqueue and its parallel kernels take turns through a lock
# (tests/robustness/test_no_tbb.py). Training needs neither: it runs serial kernels on its own team.
for _path in sorted(glob.glob(os.path.join(sys.prefix, "lib", "libtbb.so.12*"))):
    try:
        ctypes.CDLL(_path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        continue
    break

#: Why Numba cannot be imported, or None when it can. Without Numba a model still predicts, in NumPy
#: (fastmlp.inference); training needs the kernels.
NUMBA_ERROR = None
try:
    import numba
except ImportError as error:
    numba = None
    NUMBA_ERROR = f"{type(error).__name__}: {error}"

#: Numba's minimum tbb: TBB_INTERFACE_VERSION of oneTBB 2021.6.
_TBB_MIN_INTERFACE = 12060


def _tbb_usable() -> bool:
    """True when Numba's tbb layer will load (pip's tbb preloaded above, or conda's, or the system's)."""
    name = {"win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}.get(sys.platform, "libtbb.so.12")
    try:
        version = ctypes.CDLL(name).TBB_runtime_interface_version
        version.restype = ctypes.c_int
        if version() < _TBB_MIN_INTERFACE:
            return False
        from numba.np.ufunc import tbbpool  # noqa: F401  (links against libtbb)
    except (OSError, AttributeError, ImportError):
        return False
    return True


TBB = False
LAYER_CHOICE = "Numba cannot be imported: prediction runs in NumPy"
TAKE_TURNS = False
_TURN = threading.Lock()


def _new_turn() -> None:
    """A forked child starts with a free lock, whichever thread of the parent held it."""
    global _TURN
    _TURN = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_turn)

if numba is not None:
    TBB = _tbb_usable()
    #: Why the layer is what it is, for ``fastmlp info``.
    LAYER_CHOICE = "set by NUMBA_THREADING_LAYER" if "NUMBA_THREADING_LAYER" in os.environ else \
        "thread-safe and fork-safe" if TBB else "tbb could not be loaded; fork-safe fallback"
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "tbb" if TBB else "workqueue"
    #: True when the layer may turn out to be workqueue: parallel kernels then take turns (one launch at a
    #: time in the process), because workqueue aborts on concurrent launches from several threads.
    TAKE_TURNS = str(numba.config.THREADING_LAYER).lower() not in ("tbb", "omp", "safe", "threadsafe")

    class _TakingTurns(numba.core.registry.CPUDispatcher):
        """A dispatcher that holds the process-wide launch lock while called from Python.

        Jitted callers would bypass it; no kernel calls a parallel kernel (tests/robustness/test_no_tbb.py).
        """

        def __call__(self, *args, **kwargs):
            with _TURN:
                return super().__call__(*args, **kwargs)

    class _OneCompilePerType(numba.core.registry.CPUDispatcher):
        """A dispatcher that a kernel calling it compiles for plain argument types only.

        Numba types a constant argument as a literal (``0`` as Literal[int](0)) and prange's index as
        uint64, and compiles the callee, and every kernel it calls, once more for each: the test suite's
        cache held 287 kernel signatures that way, and 161 with this class. Here a literal argument counts
        as its plain type and an unsigned integer as int64, and the call converts it.
        """

        def get_call_template(self, args, kws):
            def plain(arg):
                arg = numba.types.unliteral(arg)
                return numba.types.int64 if isinstance(arg, numba.types.Integer) and not arg.signed else arg

            return super().get_call_template(tuple(map(plain, args)), {k: plain(v) for k, v in kws.items()})


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
    if parallel and TAKE_TURNS and isinstance(dispatcher, numba.core.registry.CPUDispatcher):
        dispatcher.__class__ = _TakingTurns
    elif not parallel and type(dispatcher) is numba.core.registry.CPUDispatcher:
        dispatcher.__class__ = _OneCompilePerType
    REGISTRY.append(dispatcher)
    return dispatcher


def kernel(func):
    """Compile ``func`` as a serial kernel under the project's policy, without Numba's runtime (NRT).

    Serial kernels never allocate, and with the runtime on Numba counts references to every array a
    call passes or a slice makes, with atomic instructions: a kernel that calls a kernel on a block of
    64 rows paid about 0.35 us a call that way (the first layer's update of one sample, 784 x 100 in 13
    blocks: 10.2 us against 6.3 us without). Without it, ``dst[:] = src`` does not compile (Numba may
    copy an overlapping source first): kernels write ``activations.assign(dst, src)``.
    """
    return _make(func, parallel=False, _nrt=False)


def inline_kernel(func):
    """A serial kernel that Numba inlines into its callers: a call inside a loop stops LLVM from
    vectorising the loop, and LLVM does not always inline a callee by itself.

    It also saves compile time. Numba links every callee's code into each kernel that calls it, then
    optimizes and generates machine code for the whole again, so a deep call tree compiles the code at its
    leaves once per level above them. The few kernels between team_epoch and the microkernels that are
    called from one or two places are inlined, not compiled on their own (not dense: inlined into
    prediction's blocks too, it made prediction 1.26x slower on Zen 3). Called from Python (as the tests
    do), an inline kernel still compiles by itself.

    Numba inlines before it types the code, so an inline kernel must type the same whatever it is
    passed: no branch on an argument's type or number of dimensions (output_block has one and stays a
    kernel)."""
    return _make(func, parallel=False, inline="always", _nrt=False)


def parallel_kernel(func):
    """Compile ``func`` with ``prange`` loops run on all of Numba's threads."""
    return _make(func, parallel=True)


def threading_layer() -> str:
    """Name of the threading layer in use (after the first parallel call), else the configured one."""
    if numba is None:
        return "none"
    try:
        return numba.threading_layer()
    except ValueError:
        return str(numba.config.THREADING_LAYER)


def threading_summary() -> str:
    """The threading layer, why it was chosen and whether parallel calls take turns (``fastmlp info``)."""
    turns = "; parallel calls from several threads take turns" if TAKE_TURNS else ""
    return f"{threading_layer()} ({LAYER_CHOICE}{turns})"

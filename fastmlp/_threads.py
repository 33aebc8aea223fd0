"""The thread budget: by default a fit or a prediction takes this process's share of the cores (its CPU
affinity over the MPI ranks or Dask task threads on the node, at most Numba's count), since neither MPI
launchers nor Dask set NUMBA_NUM_THREADS (docs/distributed.md)."""

from __future__ import annotations

import os
import sys
import time
import warnings

#: Where MPI launchers tell each rank how many ranks share its node (MPICH's and Intel MPI's hydra,
#: Open MPI, MVAPICH2, HPE Cray PALS). A data-parallel fit asks the communicator instead.
LOCAL_RANKS_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE",
                         "PALS_LOCAL_SIZE")
#: How long a Dask worker trusts its count of the worker threads on its host (a cluster may grow).
DASK_CACHE_SECONDS = 60.0


class OversubscriptionWarning(RuntimeWarning):
    """More threads were asked for than this process's share of the cores."""

    __module__ = "fastmlp.distributed"  # where users import it from


def cpus() -> set[int]:
    """The CPUs this process may run on (its affinity; all of them where affinity is unknown)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def _env_count(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


_dask_cache: dict[str, tuple[float, int]] = {}


def _dask_slots() -> tuple[int, str] | None:
    """Task threads of all Dask workers on this host, when called inside a Dask task; else None.

    Each of them may run a fit at the same time (a worker runs ``nthreads`` tasks at once)."""
    if "distributed" not in sys.modules:  # never import Dask: only a task already running in it counts
        return None
    from distributed import get_client, get_worker

    try:
        worker = get_worker()
    except ValueError:  # not inside a task
        return None
    own = worker.state.nthreads
    cached = _dask_cache.get(worker.address)
    if cached is None or time.monotonic() - cached[0] > DASK_CACHE_SECONDS:
        try:
            workers = get_client().scheduler_info()["workers"].values()
            slots = sum(info["nthreads"] for info in workers if info.get("host") == worker.ip)
        except Exception:  # noqa: BLE001 - no scheduler answer: count this worker alone
            slots = own
        cached = _dask_cache[worker.address] = (time.monotonic(), max(slots, own))
    return cached[1], f"{cached[1]} Dask worker threads on this host"


def sharers() -> tuple[int, str]:
    """How many processes or task threads share this process's cores, and a phrase saying who they are.

    MPI ranks from the launcher's environment (LOCAL_RANKS_VARIABLES), Dask worker threads on this
    host inside a Dask task, else 1."""
    for name in LOCAL_RANKS_VARIABLES:
        count = _env_count(name)
        if count is not None:
            return count, f"{count} MPI ranks on this node ({name})"
    return _dask_slots() or (1, "")


def budget(sharing: tuple[int, str] | None = None) -> tuple[int, str]:
    """This process's share of the cores: its affinity's CPUs divided by ``sharing`` (default: :func:`sharers`),
    at least 1; and a phrase explaining it for messages."""
    count, who = sharing or sharers()
    n_cpus = len(cpus())
    share = max(1, n_cpus // max(1, count))
    why = f"{n_cpus} core{'s' if n_cpus != 1 else ''}" + (f" shared by {who}" if count > 1 else "")
    return share, why


def default_threads(pool: int, sharing: tuple[int, str] | None = None) -> int:
    """The thread count to use when none was asked for: this process's share of the cores, at most
    ``pool`` (Numba's current thread count, which NUMBA_NUM_THREADS and numba.set_num_threads bound)."""
    return max(1, min(pool, budget(sharing)[0]))


def warn_if_oversubscribed(n_threads: int, sharing: tuple[int, str] | None = None) -> None:
    """Warn (OversubscriptionWarning) when ``n_threads`` exceeds this process's share of the cores."""
    share, why = budget(sharing)
    if n_threads > share:
        warnings.warn(f"n_threads={n_threads} is more than this process's share of the cores ({share}: {why}); "
                      "threads will compete for cores and each step slows down", OversubscriptionWarning,
                      stacklevel=4)

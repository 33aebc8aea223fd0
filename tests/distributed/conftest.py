"""Under ``mpiexec -n 2 python -m mpi4py -m pytest`` (.ci/run) both ranks run this directory's tests at once."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    """Give each MPI rank a temporary-directory root of its own. Sharing pytest's default root, each rank
    numbers, scans and removes the other's directories; one CI run failed when a rank's scan of the
    root hit a directory the other had just removed (an unclosed scandir iterator, an error under -W error)."""
    rank = os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK")
    if rank is not None and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix=f"fastmlp-pytest-rank{rank}-")

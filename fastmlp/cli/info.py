"""``fastmlp info``: versions, the CPU and what the kernels are compiled for, threading layer, cores and where
compiled kernels are cached."""

from __future__ import annotations

import os
import platform
from pathlib import Path

DESCRIPTION = """\
Show what fastmlp runs on: versions, the CPU and the instruction set the kernels are compiled for,
Numba's threading layer (after a tiny parallel call), the cores and threads, and where compiled
kernels are cached.

examples:
  fastmlp info
  NUMBA_NUM_THREADS=1 fastmlp info
"""


def add_arguments(parser) -> None:
    del parser  # no options


def facts() -> dict:
    """The facts ``fastmlp info`` prints, as an ordered dict of label -> text."""
    import numba
    import numpy as np

    from .. import MLP, __version__, _compile

    # A tiny prediction runs a parallel kernel, which is what makes Numba pick its threading layer.
    MLP([2, 2, 2], random_state=0).predict(np.zeros((2, 2)))
    cache_dir = numba.config.CACHE_DIR or str(Path(_compile.__file__).parent / "kernels" / "__pycache__")
    return {
        "fastmlp": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "numpy": np.__version__,
        "numba": numba.__version__,
        **_cpu(),
        "threading layer": f"{_compile.threading_summary()}, for prediction; training runs its own thread team",
        "cores": f"{os.cpu_count()} (os.cpu_count)",
        "numba threads": f"{numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS), {numba.get_num_threads()} in use",
        "kernel cache": cache_dir if _compile.CACHING else "off (no writable cache location; set NUMBA_CACHE_DIR)",
        "kernels": str(len(_compile.REGISTRY)),
    }


def _cpu() -> dict:
    """The CPU (model and vector extensions) and the target Numba compiles the kernels for, as the bench's machine
    line names them."""
    from ..bench import machine

    flags = "+".join(machine.cpu_flags()) or "no AVX2/FMA/AVX-512F"
    return {"cpu": f"{machine.cpu_model()}, {flags}", "compiled for": machine.describe_target(machine.kernel_target())}


def run(args) -> int:
    for label, text in facts().items():
        print(f"{label + ':':<17}{text}")
    return 0

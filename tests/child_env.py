"""The environment of the child processes tests start (the CLI, examples, cache and signal tests)."""

from __future__ import annotations

import os


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment with ``extra`` added and without NUMBA_DISABLE_JIT: a child in the coverage
    run compiles its kernels (or loads them from the cache), since coverage measures only this process."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_DISABLE_JIT"}
    env.update(extra)
    return env

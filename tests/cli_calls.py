"""Calling the fastmlp command in this process or in a child, for the tests of fastmlp.cli and fastmlp.progress."""

from __future__ import annotations

import subprocess
import sys

from fastmlp.cli import main

from child_env import child_env


def run_cli(*args, timeout=300):
    """``python -m fastmlp ARGS`` in a child process; returns (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=child_env(COLUMNS="100"))
    return done.returncode, done.stdout, done.stderr


def call(capsys, *args):
    """``main(ARGS)`` in this process (the kernels are compiled once); returns (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err

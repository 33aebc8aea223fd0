"""fastmlp.cli.info: versions, threading layer, cores and the kernel cache."""

from __future__ import annotations

import os

import numba

import fastmlp

from cli_calls import call


def test_info(capsys):
    code, out, _ = call(capsys, "info")
    assert code == 0
    facts = dict(line.split(":", 1) for line in out.splitlines())
    assert facts["fastmlp"].strip() == fastmlp.__version__ and facts["numba"].strip() == numba.__version__
    assert facts["threading layer"].split()[0] in ("tbb", "omp", "workqueue")
    assert facts["cores"].strip().startswith(str(os.cpu_count()))
    assert facts["kernel cache"].strip()


def test_info_names_the_cpu_and_the_kernels_target(capsys):
    """docs/performance.md: `fastmlp info` gives the CPU, as the bench's machine line does."""
    from fastmlp.bench import machine

    code, out, _ = call(capsys, "info")
    assert code == 0
    facts = {label: text.strip() for label, text in (line.split(":", 1) for line in out.splitlines())}
    assert facts["cpu"].startswith(machine.cpu_model())
    assert facts["compiled for"] == machine.describe_target(machine.kernel_target())

"""fastmlp.bench.machine: the machine line is read from the machine and from Numba's code generator."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

import pytest

from fastmlp.bench import machine, report

from child_env import child_env

X86 = platform.machine() in ("x86_64", "AMD64")
TARGET = "import json; from fastmlp.bench import machine; print(json.dumps(machine.kernel_target()))"


def target_in_child(**env) -> dict:
    done = subprocess.run([sys.executable, "-c", TARGET], capture_output=True, text=True, timeout=120,
                          env=child_env(**env))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not X86, reason="the probe reads x86 assembly")
def test_native_target_emits_what_the_host_has():
    target = machine.kernel_target()
    flags = machine.cpu_flags()
    assert target["source"] in ("host", "NUMBA_CPU_NAME")
    if target["source"] == "host":
        emitted = target["emitted"]
        assert emitted["avx512f"] == ("avx512f" in flags) and emitted["fma"] == ("fma" in flags)
        assert emitted["vector_bits"] == (512 if "avx512f" in flags else 256 if "avx2" in flags else 128)


@pytest.mark.skipif(not X86, reason="the probe reads x86 assembly")
def test_cpu_name_with_empty_features_compiles_for_that_cpu():
    """haswell with NUMBA_CPU_FEATURES="" emits AVX2 + FMA on 256-bit vectors on any x86 host."""
    target = target_in_child(NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="")
    assert (target["cpu_name"], target["source"]) == ("haswell", "NUMBA_CPU_NAME")
    assert target["emitted"] == {"avx512f": False, "avx2": True, "fma": True, "vector_bits": 256}
    assert machine.describe_target(target) == "haswell (NUMBA_CPU_NAME; emits AVX2, FMA: 256-bit vectors)"
    # below the host only where the host has AVX-512: there a peer that picks its code by CPUID runs wider code
    assert machine.kernels_below_host(target, ["avx2", "fma", "avx512f"])
    assert not machine.kernels_below_host(target, ["avx2", "fma"])
    sse = {"emitted": {"avx512f": False, "avx2": False, "fma": False, "vector_bits": 128}}
    assert machine.kernels_below_host(sse, ["avx2", "fma"]) and not machine.kernels_below_host(sse, [])
    assert machine.kernels_below_host(target, machine.cpu_flags()) == ("avx512f" in machine.cpu_flags())


@pytest.mark.skipif(not X86, reason="the probe reads x86 assembly")
def test_native_kernels_are_not_below_the_host():
    assert not machine.kernels_below_host(machine.kernel_target(), machine.cpu_flags())
    assert not machine.kernels_below_host({"emitted": {"error": "no vectors"}}, ["avx512f"])


@pytest.mark.skipif(not X86 or "avx512f" not in machine.cpu_flags(), reason="needs an AVX-512 host")
def test_cpu_name_alone_keeps_the_host_features():
    """NUMBA_CPU_NAME=znver3 alone: Numba still passes the host's feature list, so AVX-512 code is emitted."""
    target = target_in_child(NUMBA_CPU_NAME="znver3")
    assert target["cpu_name"] == "znver3" and target["emitted"]["avx512f"]


def test_assembly_reading():
    assert machine._vector_use("vfmadd231ps %ymm1, %ymm2, %ymm3\nvpaddd %ymm0, %ymm0, %ymm0") == \
        {"avx512f": False, "avx2": True, "fma": True, "vector_bits": 256}
    # AVX without AVX2 or FMA: multiply and add apart, integer vectors split into xmm halves.
    assert machine._vector_use("vmulps %ymm1, %ymm2, %ymm3\nvaddps %ymm3, %ymm4, %ymm4\nvpaddd %xmm0, %xmm0, %xmm0") \
        == {"avx512f": False, "avx2": False, "fma": False, "vector_bits": 256}


def test_blas_named_by_the_package_that_ships_it():
    libraries = [{"internal_api": "openblas", "version": "0.3.30", "architecture": "Haswell", "num_threads": 2,
                  "filepath": "/venv/lib/python3.11/site-packages/scipy.libs/libscipy_openblas.so"},
                 {"internal_api": "openblas", "version": "0.3.31", "architecture": "SkylakeX", "num_threads": 1,
                  "filepath": "/venv/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_.so"}]
    assert machine.describe_blas(libraries) == ("openblas 0.3.31 (SkylakeX kernel, 1 threads, from numpy); "
                                                "openblas 0.3.30 (Haswell kernel, 2 threads, from scipy)")
    assert machine.describe_blas([]) == ""


def test_machine_line_names_cpu_target_blas_and_pytorchs_kernels():
    import numpy as np

    np.ones((64, 64)) @ np.ones((64, 64))  # NumPy's BLAS loaded and its threads started
    info = report.machine()
    line = report.machine_line(info)
    assert info["cpu"] in line and info["kernel_target"]["cpu_name"] in line
    assert json.loads(json.dumps(info)) == info  # JSON-ready
    if info["blas"]:
        assert info["blas"][0]["architecture"] in line and "from numpy" in info["numpy_blas"]
    torch = pytest.importorskip("torch")  # once a peer has loaded PyTorch, the line names its kernel level
    info = report.machine()
    assert info["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert f"PyTorch's ATen kernels: {info['torch_cpu_capability']}" in report.machine_line(info)


def _git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_source_commit_names_the_checkout_and_its_changes(tmp_path):
    """A checkout of fastmlp gives its commit, with "+changes" once a tracked file differs; a fastmlp directory that
    is not the top of its repository (an installed copy inside another project's tree) and one outside any
    repository give None."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "checkout"
    package = repo / "fastmlp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    assert machine.source_commit(package) == commit
    (package / "__init__.py").write_text("x = 1\n")
    assert machine.source_commit(package) == commit + "+changes"
    (package / "__init__.py").write_text("")
    (package / "new.py").write_text("")  # untracked files are not the measured commit's business
    assert machine.source_commit(package) == commit

    nested = repo / "vendor" / "fastmlp"
    nested.mkdir(parents=True)
    assert machine.source_commit(nested) is None
    alone = tmp_path / "installed" / "fastmlp"
    alone.mkdir(parents=True)
    assert machine.source_commit(alone) is None


def test_machine_records_the_source_commit():
    info = report.machine()
    assert info["source_commit"] == machine.source_commit()
    if info["source_commit"]:
        assert f"fastmlp {info['versions']['fastmlp']} at commit {info['source_commit']}" in report.machine_line(info)


def test_a_run_records_the_commit_it_began_on(tmp_path, monkeypatch):
    """A commit made while a run of minutes goes on is not the source it timed: the JSON names the one read at the
    start (it named the one read at the end)."""
    import fastmlp.bench.suite as suite
    from fastmlp.bench import main as bench_main

    checkout = {"commit": "0123456789ab"}
    monkeypatch.setattr(machine, "source_commit", lambda package=None: checkout["commit"])

    def measured(**kwargs):  # a run of no rows, during which the checkout moves on
        checkout["commit"] = "ba9876543210+changes"
        return {"peers": [], "settings": {}, "roofline": {}, "training": [], "prediction": []}

    monkeypatch.setattr(suite, "run_suite", measured)
    path = tmp_path / "run.json"
    assert bench_main(["--quick", "--peers", "numpy", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["machine"]["source_commit"] == "0123456789ab"

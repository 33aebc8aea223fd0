"""What the machine of a run is, read from the machine itself: CPU model, the instruction set Numba compiles the
kernels for, and the BLAS NumPy calls.

The kernels' instruction set is asked of Numba's own code generator, not of the host: with ``NUMBA_CPU_NAME``
set, Numba still passes the host's feature list unless ``NUMBA_CPU_FEATURES`` is set too, so the CPU name alone
does not say which vector instructions the kernels use. A tiny function compiled by that code generator does.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import threading
import time
from pathlib import Path

from .._threads import cpus


def cpu_ticks(path: str = "/proc/stat") -> tuple[int, int] | None:
    """(steal, total) clock ticks of all the host's CPUs since boot, from the ``cpu`` line of /proc/stat; None
    where there is none. Steal is time a hypervisor gave this guest's virtual CPUs to other guests: on a shared
    cloud machine, the part of a run's wall time that no code of the guest could use."""
    try:
        with open(path) as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal (guests: in user)
    return ticks[7], sum(ticks)


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the CPUs' ticks between two cpu_ticks readings that were stolen; None without both."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


#: Barrier passes timed for one core_round_trip_ns: about 2 ms between two cores of one chip, 6 ms when a line takes
#: 300 ns to cross.
ROUND_TRIPS = 20_000


def core_round_trip_ns(times: int = ROUND_TRIPS) -> float | None:
    """Nanoseconds per pass of the training team's barrier (kernels.sync) between two threads, each on its own core:
    a cache line's trip from one core to the other and back, which every step of a team pays for each line of
    sums and deltas that one thread writes and the other reads. None with fewer than two CPUs to run on.

    On a cloud host this is not a constant of the CPU: on a 2-vCPU Zen 4 guest it took 71-88 ns, and for minutes
    at a time 290-304 ns, as if the host had moved the two virtual CPUs far apart; two-thread training (and
    OpenBLAS's two threads) slowed with it, while two independent one-thread runs did not. Now and then it took
    30-45 ns, with the team's every phase slower, as if the two virtual CPUs shared one physical core.
    """
    if len(cpus()) < 2:
        return None
    import numpy as np

    from ..kernels.sync import STATE_SIZE, meet_again

    state = np.zeros(STATE_SIZE, np.int64)
    meet_again(state, 1, 1)  # compiled (or loaded) before the clock starts
    other = threading.Thread(target=meet_again, args=(state, 2, times + 1), name="fastmlp-round-trip")
    other.start()
    meet_again(state, 2, 1)  # both threads running
    began = time.perf_counter()
    meet_again(state, 2, times)
    seconds = time.perf_counter() - began
    other.join()
    return 1e9 * seconds / times


#: Passes of swap_rows timed for one exchange_ns measurement, and the measurements alternated.
EXCHANGES, EXCHANGE_ROUNDS = 2000, 5


def exchange_ns(nbytes: int, times: int = EXCHANGES, rounds: int = EXCHANGE_ROUNDS) -> float | None:
    """Nanoseconds that moving ``nbytes`` (a float32 row of whole cache lines, at least one) from each of two
    threads' cores to the other's, both ways at once, adds to a pass of the team's barrier (kernels.sync.swap_rows):
    the quickest of ``rounds`` timings of passes that read the other thread's row less the quickest of as many
    timings of passes that read their own, alternating. A slow spell of the host only adds time, so each kind's
    quickest is its cost; the median of the rounds' differences, used before, went negative (-4.8 us in a CI run
    on a 2-vCPU Zen 4 guest) when a spell hit the own-row passes of two rounds of three. None with fewer than two
    CPUs to run on.

    A team of two moves this much every step: each member's sums of the other's samples, and its deltas, which
    the other's rows of weights take their gradient from (kernels.team). On a 2-vCPU Intel guest whose round trip
    took 234 ns: 361 ns for 1,280 bytes, 1,564 for 6,400 and 2,597 for 12,800."""
    if len(cpus()) < 2:
        return None
    import numpy as np

    from ..kernels.sync import STATE_SIZE, swap_rows

    rows = np.zeros((2, max(16, -(-nbytes // 64) * 16)), np.float32)
    state = np.zeros(STATE_SIZE, np.int64)
    swap_rows(rows, state, 0, 0, True)  # compiled (or loaded) before the clock starts

    def passes(crossing):
        other = threading.Thread(target=swap_rows, args=(rows, state, 1, times, crossing), name="fastmlp-exchange")
        began = time.perf_counter()
        other.start()
        swap_rows(rows, state, 0, times, crossing)
        other.join()
        return (time.perf_counter() - began) / times

    crossing, own = [], []
    for _ in range(rounds):
        crossing.append(passes(True))
        own.append(passes(False))
    return 1e9 * (min(crossing) - min(own))


#: A round of a bench row whose core round trip took over this many times the row's quickest found the way
#: between the cores slow (report, suite.quick_link_rounds).
SLOW_LINK_FACTOR = 1.5
#: A core round trip under this many nanoseconds: the two virtual CPUs shared one physical core (the line never
#: left it), and every two-thread run was slower for it, so such a round is no quick one and no baseline either.
#: 2-vCPU guests: Zen 4 30-45 ns shared against 71-88 apart; Zen 3 40-42 ns shared against 85-110 apart, and the
#: one shared round of a prediction row ran at 0.63x NumPy against the row's 1.11x.
SHARED_CORE_NS = 60.0


#: Host flags worth naming: the vector and FMA extensions the kernels can be built for.
FLAGS = ("avx2", "fma", "avx512f")

# Loads three 16-float vectors, fuses a multiply-add, and doubles 8 int32: the register width and the FMA
# instruction the target emits for it show its vector extensions (zmm: AVX-512F; ymm integer add: AVX2).
_PROBE_IR = """
define void @probe(<16 x float>* %a, <16 x float>* %b, <16 x float>* %c, <8 x i32>* %i) {
  %x = load <16 x float>, <16 x float>* %a
  %y = load <16 x float>, <16 x float>* %b
  %z = load <16 x float>, <16 x float>* %c
  %r = call <16 x float> @llvm.fma.v16f32(<16 x float> %x, <16 x float> %y, <16 x float> %z)
  store <16 x float> %r, <16 x float>* %c
  %p = load <8 x i32>, <8 x i32>* %i
  %q = add <8 x i32> %p, %p
  store <8 x i32> %q, <8 x i32>* %i
  ret void
}
declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)
"""


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name with its family/model numbers when the name alone is vague (a VM's "AMD EPYC")."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name


def cpu_flags() -> list[str]:
    """Which of FLAGS the host CPU has (/proc/cpuinfo)."""
    flags = set(_cpuinfo().get("flags", "").split())
    return [flag for flag in FLAGS if flag in flags]


def _vector_use(assembly: str) -> dict:
    """The extensions a compiled PROBE shows (x86 assembly; other targets report none of them)."""
    fma = re.search(r"\bv?fn?m(add|sub)\w*ps\b", assembly) is not None
    integer_ymm = re.search(r"\bvp\w+\s[^\n]*%ymm", assembly) is not None  # AVX1 splits these into xmm halves
    return {"avx512f": "%zmm" in assembly, "avx2": integer_ymm, "fma": fma,
            "vector_bits": 512 if "%zmm" in assembly else 256 if "%ymm" in assembly else 128 if "%xmm" in assembly
            else None}


def kernel_target() -> dict:
    """The CPU name and features Numba compiles for, and what a probe compiled with them emits."""
    import llvmlite.binding as llvm
    from numba.core import config
    from numba.core.registry import cpu_target

    codegen = cpu_target.target_context.codegen()
    name = config.CPU_NAME or llvm.get_host_cpu_name()
    features = [f[1:] for f in codegen._tm_features.split(",") if f.startswith("+")]
    out = {
        "cpu_name": name,
        "source": "NUMBA_CPU_NAME" if config.CPU_NAME else "host",
        "numba_cpu_features": os.environ.get("NUMBA_CPU_FEATURES"),
        "features": [flag for flag in FLAGS if flag in features],
    }
    try:
        module = llvm.parse_assembly(_PROBE_IR)
        module.triple = codegen._tm.triple
        out["emitted"] = _vector_use(codegen._tm.emit_assembly(module))
    except (RuntimeError, AttributeError) as error:  # a target without these vector types, or another llvmlite
        out["emitted"] = {"error": str(error).splitlines()[0] if str(error) else type(error).__name__}
    return out


def kernels_below_host(target: dict, flags: list[str]) -> bool:
    """Whether the kernels were compiled for narrower vectors than the host has (``kernel_target``'s probe
    against the host's ``cpu_flags``), such as an AVX2 run forced on an AVX-512 machine. A peer that picks its
    code from the CPU's flags at run time still runs the host's wider code in such a run."""
    bits = target.get("emitted", {}).get("vector_bits")
    host_bits = 512 if "avx512f" in flags else 256 if "avx2" in flags else 128
    return bool(bits) and bits < host_bits


def blas() -> list[dict]:
    """NumPy's (and any other loaded) BLAS libraries: implementation, version, kernel, threads (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{key: info.get(key) for key in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for info in threadpool_info() if info["user_api"] == "blas"]


#: What oneMKL says of itself with MKL_VERBOSE=1: "... for Intel(R) 64 architecture Intel(R) Advanced Vector
#: Extensions 2 (Intel(R) AVX2) enabled processors, ..." (or "... 512 (Intel(R) AVX-512) with support of ...").
_MKL_ISA = re.compile(r"MKL_VERBOSE.*? architecture .*?\(Intel\(R\) ([\w-]+)\)")


def mkl_isa(verbose_output: str) -> str | None:
    """The instruction set oneMKL reports in MKL_VERBOSE output ("AVX2", "AVX-512"...), None if none."""
    found = _MKL_ISA.search(verbose_output)
    return found.group(1) if found else None


def torch_mkl_isa(timeout: float = 120.0) -> str | None:
    """The instruction set PyTorch's oneMKL runs its matrix products with in this environment, asked of MKL
    itself: a child process multiplies two small matrices with MKL_VERBOSE=1. None without PyTorch or MKL.
    ATEN_CPU_CAPABILITY does not reach MKL; MKL_ENABLE_INSTRUCTIONS=AVX2 does."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", "import torch; torch.ones(8, 8) @ torch.ones(8, 8)"],
                              capture_output=True, text=True, timeout=timeout, env=dict(os.environ, MKL_VERBOSE="1"))
    except (OSError, subprocess.SubprocessError):
        return None
    return mkl_isa(done.stdout) if done.returncode == 0 else None


def describe_target(target: dict) -> str:
    """e.g. "znver5 (host; emits AVX-512F, FMA: 512-bit vectors)"."""
    emitted = target.get("emitted", {})
    if "error" in emitted or not emitted:
        return f"{target['cpu_name']} ({target['source']}; features {'+'.join(target['features']) or 'none named'})"
    names = [label for key, label in (("avx512f", "AVX-512F"), ("avx2", "AVX2"), ("fma", "FMA")) if emitted.get(key)]
    bits = f"{emitted['vector_bits']}-bit vectors" if emitted.get("vector_bits") else "no vector registers"
    return f"{target['cpu_name']} ({target['source']}; emits {', '.join(names) or 'no AVX2/FMA'}: {bits})"


def _owner(filepath) -> str:
    """The package that ships a library: numpy for .../site-packages/numpy.libs/libscipy_openblas64_....so."""
    parts = str(filepath or "").replace("\\", "/").split("/")
    for part in reversed(parts[:-1]):
        if part and part not in ("lib", "lib64", ".libs"):
            return part.removesuffix(".libs").removesuffix(".dylibs")
    return "?"


def describe_blas(libraries: list[dict]) -> str:
    """e.g. "openblas 0.3.30 (Haswell kernel, 2 threads, from numpy)", NumPy's first; "" when threadpoolctl saw none."""
    ordered = sorted(libraries, key=lambda b: _owner(b.get("filepath")) != "numpy")
    return "; ".join(f"{b['internal_api']} {b['version']} ({b['architecture']} kernel, {b['num_threads']} threads, "
                     f"from {_owner(b.get('filepath'))})" for b in ordered)


def source_commit(package: Path | None = None) -> str | None:
    """The git commit of the fastmlp source a run measured (``package``: its directory, this one's by default),
    with "+changes" when its tracked files differ from that commit; None for an installed copy outside a
    checkout of fastmlp (one in some other repository's tree included) or without git."""
    package = (package or Path(__file__).resolve().parents[1]).resolve()

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != package.parent:
        return None
    commit = git("rev-parse", "--short=12", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    if commit is None or changes is None:
        return None
    return commit + ("+changes" if changes else "")


#: The commit source_commit() read when the run began (remember_source_commit), if it was read then.
_RUN_SOURCE: dict[str, str | None] = {}


def remember_source_commit() -> None:
    """Read source_commit() now, at the start of a run, for run_source_commit(): a commit or an edit made while
    a run of minutes goes on is not what it timed."""
    _RUN_SOURCE["commit"] = source_commit()


def run_source_commit() -> str | None:
    """The commit remembered when the run began (remember_source_commit), else source_commit() now."""
    return _RUN_SOURCE["commit"] if "commit" in _RUN_SOURCE else source_commit()


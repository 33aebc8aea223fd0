"""The CPU Numba compiles for (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES honoured) and what its vector unit holds.

The microkernels size their register tiles from :data:`TARGET`, found once at import by asking LLVM to
compile a probe for that exact CPU name and feature string and reading the instructions it chose.
"""

from __future__ import annotations

from typing import NamedTuple

import llvmlite.binding as llvm
import numba
from numba.core.codegen import get_host_cpu_features


class Target(NamedTuple):
    """cpu: the CPU name Numba compiles for; isa: "avx512", "avx2" or "portable"; vector_bytes: width of one
    vector register; registers: how many vector registers the ISA has; fma: fused multiply-add in hardware."""

    cpu: str
    isa: str
    vector_bytes: int
    registers: int
    fma: bool


def cpu_name_and_features() -> tuple[str, str]:
    """The CPU name and feature string Numba's JIT passes to LLVM (numba.core.codegen.JITCPUCodegen).

    Note that NUMBA_CPU_NAME alone keeps the host's features: on an AVX-512 host, NUMBA_CPU_NAME=znver3
    still compiles AVX-512 code; NUMBA_CPU_FEATURES="" (or an explicit list) is needed for AVX2 code.
    """
    name = numba.config.CPU_NAME or llvm.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    if features is None:
        features = get_host_cpu_features()
    return name, features


_PROBE = """
define <{n} x float> @probe(<{n} x float> %a, <{n} x float> %b, <{n} x float> %c) {{
  %r = call <{n} x float> @llvm.fma.v{n}f32(<{n} x float> %a, <{n} x float> %b, <{n} x float> %c)
  ret <{n} x float> %r
}}
declare <{n} x float> @llvm.fma.v{n}f32(<{n} x float>, <{n} x float>, <{n} x float>)
"""


def _assembly(machine, lanes: int) -> str:
    module = llvm.parse_assembly(_PROBE.format(n=lanes))
    module.triple = machine.triple
    return machine.emit_assembly(module)


def detect(name: str, features: str) -> Target:
    """What the vector unit of CPU ``name`` with ``features`` holds, as LLVM compiles for it."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    triple = llvm.get_process_triple()
    machine = llvm.Target.from_triple(triple).create_target_machine(cpu=name, features=features, opt=0)
    if triple.startswith(("x86_64", "i386", "i686")):
        wide = _assembly(machine, 16)
        if "zmm" in wide and "vfmadd" in wide:
            return Target(name, "avx512", 64, 32, True)
        mid = _assembly(machine, 8)
        if "ymm" in mid and "vfmadd" in mid:
            return Target(name, "avx2", 32, 16, True)
        return Target(name, "portable", 16, 16, "vfmadd" in _assembly(machine, 4))
    # aarch64 (NEON: 32 registers of 128 bits) and anything else: 128-bit vectors, 16 registers assumed.
    return Target(name, "portable", 16, 32 if triple.startswith(("aarch64", "arm64")) else 16, True)


#: The target every kernel of this process is compiled for.
TARGET = detect(*cpu_name_and_features())

"""The microkernels' hot loops keep every vector in registers on an AVX2 target (16 registers) and an AVX-512
target (32): compiled in child processes for NUMBA_CPU_NAME=znver3 and znver4, the innermost loops of their
machine code move no vector to or from the stack. The checker is shown to catch the spills of a 4 x 4 tile."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys

import pytest

import fastmlp
from fastmlp.kernels import microkernel
from fastmlp.kernels.microkernel import tile_shape
from fastmlp.kernels.target import detect

from child_env import child_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
X86 = platform.machine().lower() in {"x86_64", "amd64"}
pytestmark = pytest.mark.skipif(not X86, reason="reads x86-64 assembly")

_LABEL = re.compile(r"^(\.?L\w+|[A-Za-z_$][\w.$]*):")
_JUMP = re.compile(r"^\s+(j\w+)\s+(\S+)")
_TABLE = re.compile(r"^\s+\.(?:quad|long)\s+(\.?L\w+)")
_VECTOR = re.compile(r"%(?:[xyz]mm\d+|k[0-7])\b")
_RETURN = ("ret", "retq")


def _blocks(asm: str) -> list[tuple[str | None, list[str]]]:
    """Basic blocks (label, instructions) of AT&T assembly: split at labels and after jumps and returns."""
    blocks: list[tuple[str | None, list[str]]] = []
    current: tuple[str | None, list[str]] = (None, [])
    for line in asm.splitlines():
        label = _LABEL.match(line)
        if label:
            blocks.append(current)
            current = (label.group(1), [])
        elif line.strip() and not line.lstrip().startswith((".", "#")):
            current[1].append(line)
            if _JUMP.match(line) or line.split()[0] in _RETURN:
                blocks.append(current)
                current = (None, [])
    blocks.append(current)
    return [block for block in blocks if block[0] is not None or block[1]]


def innermost_loops(asm: str) -> list[list[str]]:
    """The instructions of each innermost natural loop: back edges are jumps to a block that dominates the
    jumping block; a loop is innermost when no other loop's header lies inside it."""
    blocks = _blocks(asm)
    index = {label: n for n, (label, _) in enumerate(blocks) if label}
    tables = [index[t] for t in {m.group(1) for m in map(_TABLE.match, asm.splitlines()) if m} if t in index]
    successors = []
    for n, (_, lines) in enumerate(blocks):
        last = lines[-1] if lines else ""
        jump = _JUMP.match(last)
        out = set()
        if jump:
            op, target = jump.groups()
            out |= set(tables) if target.startswith("*") else {index[target]} if target in index else set()
            if op not in ("jmp", "jmpq"):
                out.add(n + 1)
        elif not last or last.split()[0] not in _RETURN:
            out.add(n + 1)
        successors.append({s for s in out if s < len(blocks)})
    predecessors: list[set[int]] = [set() for _ in blocks]
    for n, out in enumerate(successors):
        for s in out:
            predecessors[s].add(n)
    entries = {n for n, (label, _) in enumerate(blocks) if label and not label.startswith(".L")} or {0}
    reached, stack = set(entries), list(entries)
    while stack:
        for s in successors[stack.pop()] - reached:
            reached.add(s)
            stack.append(s)
    dominators = {n: {n} if n in entries else set(reached) for n in reached}
    changed = True
    while changed:
        changed = False
        for n in sorted(reached - entries):
            new = {n} | set.intersection(*(dominators[p] for p in predecessors[n] if p in reached))
            if new != dominators[n]:
                dominators[n], changed = new, True
    loops: dict[int, set[int]] = {}
    for tail in reached:
        for head in successors[tail] & dominators[tail]:
            body, stack = {head, tail}, [tail] if tail != head else []
            while stack:
                for p in predecessors[stack.pop()] - body:
                    body.add(p)
                    stack.append(p)
            loops.setdefault(head, set()).update(body)
    inner = [h for h, body in loops.items() if not any(other != h and other in body for other in loops)]
    return [[line for n in sorted(loops[h]) for line in blocks[n][1]] for h in inner]


def stack_vector_moves(asm: str) -> list[str]:
    """Instructions of innermost loops that load or store a vector (or mask) register from or to the stack:
    rsp-relative, or rbp-relative when rbp is the frame pointer. A loop that calls a function is left out: its
    work is in the callee, whose own loops are checked, and a call makes the caller keep its values in memory
    (every vector register is the callee's to overwrite)."""
    frame = re.search(r"mov\w*\s+%rsp,\s*%rbp", asm) is not None
    stack = re.compile(r"\(%rsp\b" + (r"|\(%rbp\b" if frame else ""))
    return [line.strip() for loop in innermost_loops(asm) if not any(line.split()[0].startswith("call")
                                                                     for line in loop)
            for line in loop if _VECTOR.search(line) and stack.search(line)]


SAMPLE = """
f:
\tpushq\t%rbp
\tvmovups\t%ymm3, 64(%rsp)
\ttestq\t%rdi, %rdi
\tje\t.LBB0_4
.LBB0_1:
\tvbroadcastss\t(%rsi,%rax,4), %ymm2
\tvfmadd231ps\t(%rdx), %ymm2, %ymm0
.LBB0_2:
\tvmovups\t%ymm0, 32(%rsp)
\tvfmadd231ps\t32(%rdx), %ymm2, %ymm1
\tdecq\t%rdi
\tjne\t.LBB0_1
\tvmovups\t32(%rsp), %ymm0
.LBB0_4:
\tretq
"""


def test_checker_flags_a_spill_inside_a_loop_only():
    """A two-block loop that stores a vector on the stack is flagged; the same store before or after it is not."""
    assert stack_vector_moves(SAMPLE) == ["vmovups\t%ymm0, 32(%rsp)"]
    assert stack_vector_moves(SAMPLE.replace("\tvmovups\t%ymm0, 32(%rsp)\n", "")) == []
    assert [len(loop) for loop in innermost_loops(SAMPLE)] == [6]
    calling = SAMPLE.replace("\tdecq\t%rdi\n", "\tcallq\t*%rax\n\tdecq\t%rdi\n")
    assert stack_vector_moves(calling) == []


def test_tile_shapes_fit_the_register_file(subtests):
    """MR x NV accumulators + NV loads of B + one broadcast of A <= the vector registers of the ISA, and so for
    every r x tile_widths[r] tile, merged panels' included (AVX2: 4 x 3). On this machine's target, the row tiles
    of a panel (tile_rows within tile_limits) cover its rows with none longer than the most rows, which _tile
    holds at that width, and none shorter than the fewest (too few chains for the FMA units), unless the
    rectangle is, or no split into tiles of that many rows or fewer can avoid it: whole panels (MR, FULL_ROWS),
    panels of one vector (tall tiles: TALL, CHAINS; TALL has as many accumulators as a whole tile, or CHAINS
    where MR rows reach it), and with FUSED, panels whose partial vector joins the loop."""
    for isa, registers in (("avx2", 16), ("avx512", 32), ("portable", 16)):
        for itemsize in (4, 8):
            with subtests.test(isa=isa, itemsize=itemsize):
                rows, vectors, lanes = tile_shape(isa, itemsize)
                assert rows * vectors + vectors + 1 <= registers
                assert lanes * itemsize == {"avx2": 32, "avx512": 64}.get(isa, 16)
                for merged in (False, True):
                    widths = microkernel.tile_widths(isa, itemsize, merged)
                    assert all(r * w + w + 1 <= registers for r, w in enumerate(widths[1:], 1)), widths
                if isa == "avx2":  # merged panels' 4 x 3 tiles, where whole panels take 4 x 2
                    assert microkernel.tile_widths(isa, itemsize, True)[4] == 3
                    assert microkernel.tile_widths(isa, itemsize)[4] == 2
    for mr, vectors, tall in ((microkernel.MR32, microkernel.NV32, microkernel.TALL32),
                              (microkernel.MR64, microkernel.NV64, microkernel.TALL64)):
        assert tall == (mr if mr >= microkernel.CHAINS else mr * vectors)
    for itemsize in (4, 8):
        single = itemsize == 4
        mr, lanes = (microkernel.MR32, microkernel.VW32) if single else (microkernel.MR64, microkernel.VW64)
        for cols, plain in ((2 * lanes, True), (2 * lanes, False), (lanes - 1, True), (lanes + 1, False),
                            (lanes + 1, True), (2 * lanes + 1, True), (3 * lanes, True)):
            most, fewest = microkernel.tile_limits(cols, itemsize, plain, True)
            n_vectors = -(-cols // lanes)
            if microkernel.FUSED and plain and n_vectors > 1:  # one loop over every vector, the partial one too
                widths = microkernel.PLAIN_WIDTHS32 if single else microkernel.PLAIN_WIDTHS64
                assert most <= mr and widths[most] >= n_vectors and fewest * n_vectors >= microkernel.CHAINS
            elif plain and cols < 2 * lanes:
                assert (most, fewest) == ((microkernel.TALL32 if single else microkernel.TALL64), microkernel.CHAINS)
            else:
                assert (most, fewest) == ((mr, microkernel.FULL_ROWS32) if single else (mr, microkernel.FULL_ROWS64))
            for n in range(1, 4 * most + 2):
                with subtests.test(itemsize=itemsize, cols=cols, plain=plain, rows=n):
                    tiles = []
                    while sum(tiles) < n:
                        tiles.append(microkernel.tile_rows(n - sum(tiles), most, fewest))
                    assert sum(tiles) == n and max(tiles) <= most, tiles
                    assert min(tiles) >= min(n, fewest, (most + 1) // 2), tiles  # 7 rows of MR 6: 3 and 4


def test_detect_reads_the_isa_from_the_cpu_name_and_features():
    """An empty feature string means the CPU's own features; explicit features override the name's."""
    assert detect("haswell", "").isa == "avx2"
    assert detect("znver3", "").isa == "avx2"
    assert detect("znver4", "").isa == "avx512"
    assert detect("x86-64", "").isa == "portable"
    assert detect("znver3", "+avx512f,+avx2,+fma,+avx,+sse4.2").isa == "avx512"


CHILD = """
import json, sys
import numba
import numpy as np
from fastmlp.kernels.microkernel import gemm, gemm_momentum, gemm_packed, gemm_panels, step_and_sum, STORE
out = {}


def compiled(function, *args):  # compiled for the arguments' types, never run: the host may lack the ISA
    signature = tuple(numba.typeof(arg) for arg in args)
    function.compile(signature)
    return function.inspect_asm(signature)


for dtype in (np.float32, np.float64):
    a = np.zeros((8, 8), dtype)
    out["gemm " + np.dtype(dtype).name] = compiled(gemm, a, 0, 8, 1, a, 0, 8, a, 0, 8, 1, 1, 1, dtype(1), STORE)
    out["gemm_packed " + np.dtype(dtype).name] = compiled(gemm_packed, a, 0, 8, a, 0, 8, a, 0, 8, 1, 1, 1, dtype(1),
                                                          STORE, a.reshape(-1))
    out["gemm_panels " + np.dtype(dtype).name] = compiled(gemm_panels, a, 0, 8, a.reshape(-1), 0, a, 0, 8, 1, 1, 1,
                                                          dtype(1), STORE)
    out["gemm_momentum " + np.dtype(dtype).name] = compiled(gemm_momentum, a, 0, 8, a, 0, 8, a, 0, 8, 1, 1, 1, dtype(1),
                                                            a.reshape(-1), a, dtype(1), dtype(0), dtype(1), True)

    @numba.njit
    def step(W, X, v, rows, cols):  # batch 1's step and sums (team.sgd_one_and_sum), through a caller
        step_and_sum(W, 0, 8, X, 0, v[0], v, 0, v, 0, v, 0, v[0], rows, cols)

    out["step_and_sum " + np.dtype(dtype).name] = compiled(step, np.zeros(64, dtype), np.zeros(8, np.uint8),
                                                           np.zeros(8, dtype), 1, 8)
if "dense" in sys.argv:
    # The earlier forward tile: 4 samples x 4 weight rows of dot products, 16 vector accumulators.
    @numba.njit(fastmath={"reassoc", "contract", "nsz"}, error_model="numpy", boundscheck=False)
    def dense_4x4(w, x, z, n):
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = np.float32(0)
        for k in range(n):
            p, q, r, s = w[0, k], w[1, k], w[2, k], w[3, k]
            v0, v1, v2, v3 = x[0, k], x[1, k], x[2, k], x[3, k]
            a0 += p * v0; a1 += p * v1; a2 += p * v2; a3 += p * v3
            b0 += q * v0; b1 += q * v1; b2 += q * v2; b3 += q * v3
            c0 += r * v0; c1 += r * v1; c2 += r * v2; c3 += r * v3
            d0 += s * v0; d1 += s * v1; d2 += s * v2; d3 += s * v3
        z[0] = a0 + a1 + a2 + a3 + b0 + b1 + b2 + b3 + c0 + c1 + c2 + c3 + d0 + d1 + d2 + d3

    w, z = np.zeros((4, 64), np.float32), np.zeros(1, np.float32)
    out["dense_4x4 float32"] = compiled(dense_4x4, w, w, z, 64)
json.dump(out, sys.stdout)
"""


def test_no_vector_spills_in_the_innermost_loops(tmp_path):
    """gemm, gemm_packed, gemm_panels and gemm_momentum compiled for znver3 (AVX2) and znver4 (AVX-512), float32 and
    float64: every innermost loop that does the tile's FMAs keeps its vectors in registers. The earlier 4 x 4
    forward tile, compiled for znver3, is flagged: 16 accumulators are every AVX2 register.

    NUMBA_CPU_FEATURES="" makes LLVM take the named CPU's features: with NUMBA_CPU_NAME alone Numba passes
    the host's features, and on an AVX-512 host znver3 would get AVX-512 code.
    """
    children = {}
    for cpu in ("znver3", "znver4"):
        env = child_env(NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=str(tmp_path / cpu))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH", "")]))  # this tree
        children[cpu] = subprocess.Popen([sys.executable, "-c", CHILD] + (["dense"] if cpu == "znver3" else []),
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for cpu, child in children.items():
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr[-2000:]
        for name, asm in json.loads(stdout).items():
            vector = "zmm" if cpu == "znver4" else "ymm"
            fma_loops = [loop for loop in innermost_loops(asm) if any("vfmadd" in line and vector in line
                                                                       for line in loop)]
            if name.startswith(("gemm", "step_and_sum")):
                assert fma_loops, f"{cpu} {name}: no innermost loop with {vector} FMAs found"
                assert stack_vector_moves(asm) == [], f"{cpu} {name}"
            else:
                assert len(stack_vector_moves(asm)) >= 4, f"{cpu} {name}: the spilling tile was not flagged"

"""kernels.microkernel.gemm: against a float64 NumPy reference, bit-identical however the rectangle is cut
and through gemm_packed's copy, nothing written outside it, and the compiled tiles equal their NumPy
stand-in bit for bit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from fractions import Fraction

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp.kernels import microkernel
from fastmlp.kernels.intrinsics import python as python_intrinsics
from fastmlp.kernels.microkernel import ADD, CHAIN, STORE, gemm

from child_env import child_env
from markers import needs_jit

DTYPES = [np.float32, np.float64]
# Rows, columns and t lengths across the edge tiles of every target: 1 .. MR + 1 rows, masked and full last
# vectors (widths 8 and 16), several row tiles and column panels, panels of under two vectors over more than MR
# rows (tall tiles: 10 x 12, and the last panel of 17, 40 and 100 columns), T past one KC chunk, T = 0, and rows past
# one block of gemm_packed's copy (MC_DOWN); its edge tiles (a few columns past the last whole vector, rows
# past one EDGE_ROWS), with T past one chunk. Every count of columns past the last whole vector, 1 to 7 (AVX2's
# partial vectors, stored lane group by lane group: 15 and 22 columns give 7 and 6).
SHAPES = [(1, 1, 1), (5, 3, 7), (13, 17, 33), (7, 100, 40), (25, 40, 300), (3, 10, 0), (12, 64, 5), (1, 130, 9),
          (2, 100, 20), (3, 129, 3), (0, 5, 3), (4, 0, 3), (microkernel.MC_DOWN + 17, 20, 70),
          (2 * microkernel.EDGE_ROWS32 + 7, 100, 70), (10, 12, 50), (9, 15, 20), (5, 22, 11)]
SHAPES_DISABLED_JIT = [(1, 1, 1), (5, 3, 7), (13, 17, 9), (3, 10, 0)]


def _shapes():
    import numba

    return SHAPES_DISABLED_JIT if numba.config.DISABLE_JIT else SHAPES


class Forward:
    """The forward pass's layout: A rows in an activation buffer that C's region shares, B k-major weights."""

    def __init__(self, dtype, n_rows, n_cols, T, rng, pad=3):
        self.row = T + n_cols + pad  # an activation row: inputs, the z region, a guard
        self.buffer = rng.standard_normal((n_rows + 2, self.row)).astype(dtype)  # guard rows around
        self.B = rng.standard_normal((T + 1, n_cols + pad)).astype(dtype)
        self.args = (self.buffer, self.row, self.row, 1, self.B, 1, n_cols + pad, self.buffer, self.row + T, self.row)

    def output(self):
        return self.buffer

    def index(self, n_rows, n_cols, T):
        return slice(1, 1 + n_rows), slice(T, T + n_cols)

    def region(self, n_rows, n_cols, T):
        return self.buffer[self.index(n_rows, n_cols, T)]


class Gradient:
    """The weight gradient's layout: A read down the columns of the activation buffer, C its own array."""

    def __init__(self, dtype, n_rows, n_cols, T, rng, pad=2):
        self.acts = rng.standard_normal((T, n_rows + pad)).astype(dtype)
        self.B = rng.standard_normal((T, n_cols)).astype(dtype)
        self.C = rng.standard_normal((n_rows + 2, n_cols + 1)).astype(dtype)
        self.args = (self.acts, 1, 1, n_rows + pad, self.B, 0, n_cols, self.C, n_cols + 2, n_cols + 1)

    def output(self):
        return self.C

    def index(self, n_rows, n_cols, T):
        return slice(1, 1 + n_rows), slice(1, 1 + n_cols)

    def region(self, n_rows, n_cols, T):
        return self.C[self.index(n_rows, n_cols, T)]


def _operands(layout, n_rows, n_cols, T):
    """A (n_rows, T) and B (T, n_cols) as gemm reads them, from the flat arguments."""
    A, a_off, a_rs, a_ts, B, b_off, b_ts = layout.args[:7]
    r, t, c = np.arange(n_rows)[:, None], np.arange(T)[None, :], np.arange(n_cols)[None, :]
    return A.reshape(-1)[a_off + r * a_rs + t * a_ts], B.reshape(-1)[b_off + t.T * b_ts + c]


def _call(layout, n_rows, n_cols, T, alpha, mode, r0=0, c0=0, packed=False):
    """gemm on the layout's arguments, or with ``packed`` gemm_packed (A read down its columns) through a
    NaN-filled copy buffer, so that a value it reads before copying shows."""
    A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs = layout.args
    if packed:
        assert a_rs == 1
        pack = np.full(microkernel.pack_size(C.itemsize), np.nan, C.dtype)
        microkernel.gemm_packed(A, a_off + r0, a_ts, B, b_off + c0, b_ts, C, c_off + r0 * c_rs + c0, c_rs,
                                n_rows, n_cols, T, alpha, mode, pack)
        return
    gemm(A, a_off + r0 * a_rs, a_rs, a_ts, B, b_off + c0, b_ts, C, c_off + r0 * c_rs + c0, c_rs,
         n_rows, n_cols, T, alpha, mode)


def _panels(layout, n_cols, T):
    """The forward layout's B as gemm_panels reads it, chunk by chunk of KC t and in each chunk panel by panel
    (panel_stop), the padding NaN: it must reach no output."""
    B, b_off, b_ts = layout.args[4:7]
    panel = microkernel.panel_width(B.itemsize)
    blocks = []
    for t0 in range(0, T, microkernel.KC):
        t = np.arange(t0, min(T, t0 + microkernel.KC))
        c0 = 0
        while c0 < n_cols:
            stop = microkernel.panel_stop(c0, n_cols, panel, B.itemsize, True)
            block = np.full((t.size, microkernel.panels_size(stop - c0, B.itemsize)), np.nan, B.dtype)
            block[:, : stop - c0] = B.reshape(-1)[b_off + t[:, None] * b_ts + np.arange(c0, stop)]
            blocks.append(block.reshape(-1))
            c0 = stop
    packed = np.concatenate(blocks) if blocks else np.empty(0, B.dtype)
    assert packed.size == T * microkernel.panels_size(n_cols, B.itemsize)
    return packed


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout_kind", [Forward, Gradient])
def test_gemm_matches_float64_reference(dtype, layout_kind, subtests):
    """Within the rounding bound of a chain of fmas: |computed - exact| <= (T + 2) u (|alpha| sum |a b| + |C|).

    Each fma rounds once (relative u), so a chain of T of them errs at most about T u times the sum of the
    magnitudes it adds; the chunk combination and alpha add two more roundings. Mode CHAIN (alpha 1): C + A B.
    """
    rng = np.random.default_rng(0)
    u = np.finfo(dtype).eps / 2
    for shape in _shapes():
        for mode in (STORE, ADD, CHAIN):
            with subtests.test(shape=shape, mode=mode):
                layout = layout_kind(dtype, *shape, rng)
                a, b = _operands(layout, *shape)
                before = layout.region(*shape).astype(np.float64)
                alpha = {STORE: dtype(1.5), ADD: dtype(-0.375), CHAIN: dtype(1)}[mode]
                expected = float(alpha) * (a.astype(np.float64) @ b.astype(np.float64))
                bound = abs(float(alpha)) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
                if mode != STORE:
                    expected += before
                    bound += np.abs(before)
                _call(layout, *shape, alpha, mode)
                error = np.abs(layout.region(*shape) - expected)
                assert (error <= (shape[2] + 2) * u * bound * (1 + 1e-6)).all(), error.max()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout_kind", [Forward, Gradient])
def test_gemm_is_bit_identical_however_the_rectangle_is_cut(dtype, layout_kind, subtests):
    """One call over the rectangle == calls over random sub-rectangles, bit for bit; the rest of C unchanged.
    For the gradient's layout the cut calls go through gemm_packed's copy, which must change no bit; for
    the forward layout one more call reads B through its copy in panels (gemm_panels), the same bits."""
    rng = np.random.default_rng(1)
    for shape in _shapes():
        n_rows, n_cols, T = shape
        for mode in (STORE, ADD):
            with subtests.test(shape=shape, mode=mode):
                whole, cut, fresh = (layout_kind(dtype, *shape, np.random.default_rng(2)) for _ in range(3))
                alpha = dtype(0.8125)
                _call(whole, *shape, alpha, mode)
                rows = np.unique(np.r_[0, rng.integers(0, n_rows + 1, 3), n_rows])
                cols = np.unique(np.r_[0, rng.integers(0, n_cols + 1, 3), n_cols])
                for r0, r1 in zip(rows[:-1], rows[1:]):
                    for c0, c1 in zip(cols[:-1], cols[1:]):
                        _call(cut, r1 - r0, c1 - c0, T, alpha, mode, r0, c0, packed=layout_kind is Gradient)
                np.testing.assert_array_equal(cut.output(), whole.output())
                if layout_kind is Forward:
                    panelled = layout_kind(dtype, *shape, np.random.default_rng(2))
                    A, a_off, a_rs, _, _, _, _, C, c_off, c_rs = panelled.args
                    microkernel.gemm_panels(A, a_off, a_rs, _panels(panelled, n_cols, T), 0, C, c_off, c_rs, n_rows,
                                            n_cols, T, alpha, mode)
                    np.testing.assert_array_equal(panelled.output(), whole.output())
                outside = np.ones(whole.output().shape, bool)
                outside[whole.index(*shape)] = False
                np.testing.assert_array_equal(whole.output()[outside], fresh.output()[outside])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout_kind", [Forward, Gradient])
def test_chain_mode_goes_on_from_c_however_t_rows_and_columns_are_cut(dtype, layout_kind, subtests):
    """Mode CHAIN, alpha 1: each value's chain of fmas starts from C's value and goes over t in order, python.fma's
    bits step by step; calls over consecutive ranges of t, each range over random sub-rectangles, give one call's
    bits (team.part_block: a part's sums over its rows, which a team of two may cut between its members anywhere),
    and nothing outside the rectangle changes."""
    rng = np.random.default_rng(3)
    one = dtype(1)
    for shape in _shapes():
        n_rows, n_cols, T = shape
        with subtests.test(shape=shape):
            whole, cut, fresh = (layout_kind(dtype, *shape, np.random.default_rng(4)) for _ in range(3))
            a, b = _operands(whole, *shape)
            expected = whole.region(*shape).copy()
            for t in range(T):
                expected = microkernel.python.fma(a[:, t : t + 1], b[t : t + 1, :], expected)
            _call(whole, *shape, one, CHAIN)
            np.testing.assert_array_equal(whole.region(*shape), expected)
            A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs = cut.args
            steps = np.unique(np.r_[0, rng.integers(0, T + 1, 3), T])
            for t0, t1 in zip(steps[:-1], steps[1:]):
                rows = np.unique(np.r_[0, rng.integers(0, n_rows + 1, 2), n_rows])
                cols = np.unique(np.r_[0, rng.integers(0, n_cols + 1, 2), n_cols])
                for r0, r1 in zip(rows[:-1], rows[1:]):
                    for c0, c1 in zip(cols[:-1], cols[1:]):
                        gemm(A, a_off + r0 * a_rs + t0 * a_ts, a_rs, a_ts, B, b_off + t0 * b_ts + c0, b_ts, C,
                             c_off + r0 * c_rs + c0, c_rs, r1 - r0, c1 - c0, t1 - t0, one, CHAIN)
            np.testing.assert_array_equal(cut.output(), whole.output())
            outside = np.ones(whole.output().shape, bool)
            outside[whole.index(*shape)] = False
            np.testing.assert_array_equal(whole.output()[outside], fresh.output()[outside])


@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_copy_leaves_out_the_t_whose_rows_are_zero_and_changes_no_bit(dtype, subtests):
    """gemm_packed and gemm_momentum through the copy, whose tiles go over the t where their strip's values of A
    are not all zero (pack_strip), give gemm's bits (every t, in place) on A mostly of zeros: whole t, whole row
    tiles and scattered values zero, a NaN that must still reach its row, and n_t past one chunk; and pack_strip's
    bits."""
    rng = np.random.default_rng(11)
    single = dtype == np.float32
    chunk = microkernel.KC_DOWN32 if single else microkernel.KC_DOWN64
    lanes = microkernel.VW32 if single else microkernel.VW64
    for n_rows, n_cols, n_t in [(40, 100, 32), (microkernel.MC_DOWN + 9, 2 * lanes + 2, chunk + 5), (7, 3, 9),
                              (30, 40, 1)]:
        A = rng.standard_normal((n_t, n_rows + 2)).astype(dtype)
        A[rng.random(A.shape) < 0.6] = 0
        A[: n_t // 2 : 3] = 0  # every row at these t
        A[:, 1:20] = 0  # whole row tiles at every t
        if n_rows > 30:
            A[n_t - 1, 25] = np.nan
        B = rng.standard_normal((n_t, n_cols + 1)).astype(dtype)
        args = (A, 1, A.shape[1], B, 1, B.shape[1])
        pack = np.full(microkernel.pack_size(A.itemsize), np.nan, dtype)
        for mode in (STORE, ADD):
            with subtests.test(shape=(n_rows, n_cols, n_t), mode=mode):
                dense = np.random.default_rng(12).standard_normal((n_rows, n_cols + 2)).astype(dtype)
                sparse = dense.copy()
                gemm(*args[:2], 1, *args[2:], dense, 1, n_cols + 2, n_rows, n_cols, n_t, dtype(0.75), mode)
                microkernel.gemm_packed(*args, sparse, 1, n_cols + 2, n_rows, n_cols, n_t, dtype(0.75), mode, pack)
                np.testing.assert_array_equal(sparse, dense)
        if n_t <= chunk:
            with subtests.test(shape=(n_rows, n_cols, n_t), mode="momentum"):
                states = []
                for buffer in (np.empty(0, dtype), pack):
                    W, V = np.random.default_rng(13).standard_normal((2, n_rows, n_cols + 3)).astype(dtype)
                    microkernel.gemm_momentum(*args, W, 1, W.shape[1], n_rows, n_cols, n_t, dtype(0.25), buffer, V,
                                              dtype(0.75), dtype(0.125), dtype(0.5), False)
                    states.append((W, V))
                np.testing.assert_array_equal(states[1][0], states[0][0])
                np.testing.assert_array_equal(states[1][1], states[0][1])
    strip = np.zeros((5, 4), dtype)
    strip[[1, 3], 2] = 1
    strip[4, 3] = np.nan
    D = np.full(64, -1, dtype)
    _compiled_pack_strip(strip, 0, 4, D, 0, 4, 5, 4, 20)
    np.testing.assert_array_equal(D[:20], strip.reshape(-1))
    assert D.view(np.int64)[20] == 0b11010  # t 1, 3 and 4


@numba.njit
def _compiled_pack_strip(S, s_off, s_ts, D, d_off, d_ts, n_t, rows, word):
    microkernel.pack_strip(S, s_off, s_ts, D, d_off, d_ts, n_t, rows, word)


@numba.njit
def _compiled_step_and_sum(W, w_off, w_rs, X, x_off, scale, A, a_off, D, d_off, S, s_off, factor, rows, cols):
    microkernel.step_and_sum(W, w_off, w_rs, X, x_off, scale, A, a_off, D, d_off, S, s_off, factor, rows, cols)


@needs_jit
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_tiles_equal_their_numpy_stand_in(dtype, monkeypatch):
    """gemm compiled and gemm run as Python on microkernel.python.tile agree bit for bit; so do gemm_momentum's
    steps (mode MOMENTUM), and step_and_sum and its stand-in."""
    shape = (13, 21, 300)
    results = []
    for compiled in (True, False):
        layout = Forward(dtype, *shape, np.random.default_rng(3))
        if compiled:
            _call(layout, *shape, dtype(0.5), ADD)
        else:
            monkeypatch.setattr(microkernel, "_tile", microkernel.python.tile)
            monkeypatch.setattr(microkernel, "_direct", microkernel._direct.py_func)  # else the compiled one runs
            monkeypatch.setattr(microkernel, "flat", python_intrinsics.flat)
            A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs = layout.args
            gemm.py_func(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, *shape, dtype(0.5), ADD)
        results.append(layout.buffer)
    np.testing.assert_array_equal(results[0], results[1])
    # gemm_momentum, direct and through the copy: Nesterov's step with weight decay on weights and velocities,
    # two columns past the last whole vector and rows past an edge tile (_edge)
    monkeypatch.undo()
    rng = np.random.default_rng(7)
    single = dtype == np.float32
    n_rows = (microkernel.EDGE_ROWS32 if single else microkernel.EDGE_ROWS64) + 13
    n_cols = 2 * (microkernel.VW32 if single else microkernel.VW64) + 2
    T = microkernel.MOMENTUM_MAX32 if single else microkernel.MOMENTUM_MAX64
    A, B = rng.standard_normal((2, T, n_rows + n_cols)).astype(dtype)
    A[rng.random(A.shape) < 0.5] = 0  # t whose rows are all zero in some row tiles: left out of the copy
    A[::4] = 0
    rule = (dtype(0.75), dtype(0.125), dtype(0.5), True)
    for pack in (np.empty(0, dtype), np.empty(microkernel.pack_size(A.itemsize), dtype)):
        states = []
        for compiled in (True, False):
            W, V = np.random.default_rng(8).standard_normal((2, n_rows, n_cols + 3)).astype(dtype)
            args = (A, 1, A.shape[1], B, 2, B.shape[1], W, 1, W.shape[1], n_rows, n_cols, T, dtype(0.25), pack, V,
                    *rule)
            if compiled:
                microkernel.gemm_momentum(*args)
            else:
                monkeypatch.setattr(microkernel, "_tile", microkernel.python.tile)
                for name in ("gemm_momentum", "_direct", "_packed", "_panel_and_whole", "tile_rows", "pack_size",
                             "words_at", "edge_width", "_edge_columns", "_packed_chunk"):
                    monkeypatch.setattr(microkernel, name, getattr(microkernel, name).py_func)
                monkeypatch.setattr(microkernel, "pack_strip", microkernel._pack_strip_python)
                monkeypatch.setattr(microkernel, "_edge", microkernel._edge_python)
                monkeypatch.setattr(microkernel, "flat", python_intrinsics.flat)
                microkernel.gemm_momentum(*args)
                monkeypatch.undo()
            states.append((W, V))
        np.testing.assert_array_equal(states[0][0], states[1][0])
        np.testing.assert_array_equal(states[0][1], states[1][1])
    # step_and_sum: a masked last vector, more rows than one pass of columns
    rng = np.random.default_rng(4)
    lanes = microkernel.VW32 if dtype == np.float32 else microkernel.VW64
    cols, rows = microkernel.STEP_VECTORS * lanes - 3, 70  # the most columns one call takes
    X = rng.integers(0, 256, rows + 2, dtype=np.uint8)
    A, D = rng.standard_normal(rows + 1).astype(dtype), rng.standard_normal(cols + 2).astype(dtype)
    args = (X, 1, dtype(1 / 255), A, 1, D, 2)
    outputs = []
    for run in (_compiled_step_and_sum, microkernel._step_and_sum_python):
        W, S = np.random.default_rng(6).standard_normal((2, (rows + 1) * (cols + 1))).astype(dtype)
        run(W, 3, cols + 1, *args, S, 5, dtype(-0.25), rows, cols)
        outputs.append((W, S))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


@numba.njit
def _compiled_update_rows(W, G, M, S, first, lead, rows, cols, rule, decay, rate, mu, b1, b2, eps):
    microkernel.update_rows(W, G, M, S, first, lead, rows, cols, rule, decay, rate, mu, b1, b2, eps)


@needs_jit
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule", ["SGD_PLAIN", "SGD_MOMENTUM", "SGD_NESTEROV", "ADAM_RULE"])
def test_update_rows_equals_its_numpy_stand_in_and_skips_the_gaps(dtype, rule):
    """update_rows compiled and in NumPy agree bit for bit, rows with a masked last vector and whole ones; the
    elements between the rows and around them, NaN, are left as they are (and their NaN reaches no row)."""
    lanes = microkernel.VW32 if dtype == np.float32 else microkernel.VW64
    rng = np.random.default_rng(9)
    for cols, lead in ((2 * lanes + 3, 2 * lanes + 8), (lanes, lanes + 1), (3, 3)):
        rows, first = 5, 7
        size = first + rows * lead + 4
        start = rng.standard_normal((4, size)).astype(dtype)
        start[2:] = np.abs(start[2:])  # Adam's second moments are not negative
        inside = np.zeros(size, bool)
        for k in range(rows):
            inside[first + k * lead : first + k * lead + cols] = True
        start[:, ~inside] = np.nan
        settings = (getattr(microkernel, rule), dtype(0.125), dtype(0.5), dtype(0.875), dtype(0.9), dtype(0.999),
                    dtype(1e-3))
        results = []
        for run in (_compiled_update_rows, microkernel._update_rows_python):
            W, G, M, S = start.copy()
            run(W, G, M, S, first, lead, rows, cols, *settings)
            results.append(np.stack([W, M, S]))
        np.testing.assert_array_equal(results[0], results[1])
        assert not np.isnan(results[0][:, inside]).any()
        changed = results[0][:2, inside] != start[[0, 2]][:, inside]
        assert changed[0].all() and changed[1].all() == (rule != "SGD_PLAIN")
        np.testing.assert_array_equal(results[0][:, ~inside], start[[0, 2, 3]][:, ~inside])


@pytest.mark.parametrize("dtype", DTYPES)
def test_uint8_a_gives_what_its_float_copy_gives(dtype):
    """A of uint8 (images) is converted exactly: the result equals the one from A cast to C's dtype, bit for bit."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (9, 30), dtype=np.uint8)  # (n_rows, T)
    B = rng.standard_normal((30, 21)).astype(dtype)  # (T, n_cols)
    results = []
    for A in (images, images.astype(dtype)):
        C = np.zeros((9, 21), dtype)
        gemm(A, 0, 30, 1, B, 0, 21, C, 0, 21, 9, 21, 30, dtype(1 / 255), STORE)
        results.append(C)
    np.testing.assert_array_equal(results[0], results[1])


def _exact_fma(a, b, c, dtype):
    """a * b + c rounded once to ``dtype``, ties to even, from the exact rational value."""
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    near = dtype(float(exact))  # within one unit of the answer
    candidates = [np.nextafter(near, dtype(-np.inf)), near, np.nextafter(near, dtype(np.inf))]
    bits = np.int32 if dtype == np.float32 else np.int64
    return min(candidates, key=lambda x: (abs(Fraction(float(x)) - exact), int(np.array(x).view(bits)) & 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_stand_in_fma_is_rounded_once(dtype):
    """python.fma against exact rationals, on products that nearly cancel c (where a double rounding shows)."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal(600).astype(dtype)
    b = rng.standard_normal(600).astype(dtype)
    c = np.r_[-(a[:300].astype(np.float64) * b[:300]) * (1 + rng.standard_normal(300) * 1e-7),
              rng.standard_normal(300) * 1e-9].astype(dtype)
    got = microkernel.python.fma(a, b, c)
    expected = [_exact_fma(x, y, z, dtype) for x, y, z in zip(a, b, c)]
    np.testing.assert_array_equal(got, np.array(expected, dtype))


AVX2_CHILD = """
import json
from fastmlp.kernels.target import TARGET
from test_microkernel import cross_target_cases
print(json.dumps({"isa": TARGET.isa, "results": cross_target_cases()}))
"""


def cross_target_cases() -> dict[str, str]:
    """gemm, STORE then ADD, on rectangles with a partial last vector (float32 and float64) whose B either ends
    at the rectangle's last element or goes on for a vector past it (AVX2 then loads the last vector whole):
    the results' bytes in hex."""
    out = {}
    for dtype in DTYPES:
        for n_rows, n_cols, T in [(7, 100, 40), (25, 12, 300), (6, 4, 784), (1, 10, 3)]:
            for pad in (0, 16):
                rng = np.random.default_rng(n_rows * 1000 + n_cols + pad)
                A = rng.standard_normal((n_rows, T)).astype(dtype)
                B = rng.standard_normal(T * n_cols + pad).astype(dtype)
                C = np.zeros((n_rows, n_cols), dtype)
                gemm(A, 0, T, 1, B, 0, n_cols, C, 0, n_cols, n_rows, n_cols, T, dtype(1.0), STORE)
                gemm(A, 0, T, 1, B, 0, n_cols, C, 0, n_cols, n_rows, n_cols, T, dtype(0.5), ADD)
                out[f"{np.dtype(dtype).name} {n_rows}x{n_cols}x{T} pad {pad}"] = C.tobytes().hex()
    return out


def _host_has_avx2() -> bool:
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    from llvmlite import binding

    features = binding.get_host_cpu_features()
    return bool(features.get("avx2")) and bool(features.get("fma"))


@needs_jit
@pytest.mark.skipif(not _host_has_avx2(), reason="runs AVX2 code: needs an x86-64 CPU with AVX2 and FMA")
def test_avx2_code_gives_the_bits_of_this_machines_code():
    """gemm compiled for AVX2 (znver3, in a child process with its own cache) computes what this process's
    build computes, bit for bit, on the partial-vector paths where the two differ most: AVX2 loads the last
    vector of B whole when B's buffer allows, AVX-512 always under a mask."""
    tests = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = child_env(NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=cache)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, tests, os.path.dirname(tests),
                                                          env.get("PYTHONPATH", "")]))
        child = subprocess.run([sys.executable, "-c", AVX2_CHILD], env=env, capture_output=True, text=True,
                               timeout=600)
    assert child.returncode == 0, child.stderr[-2000:]
    avx2 = json.loads(child.stdout)
    assert avx2["isa"] == "avx2"
    assert avx2["results"] == cross_target_cases()

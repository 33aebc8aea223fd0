"""C = alpha * A B (STORE), C += alpha * A B (ADD) or C = alpha (C + A B) with the sum going on from C's value
(CHAIN) by register-blocked outer-product tiles emitted as LLVM IR, or SGD's momentum step with the gradient
alpha * A B straight from the registers (MOMENTUM, gemm_momentum).

Every element is one fixed chain of fused multiply-adds over t (see :func:`gemm`), whatever tile, edge
tile, vector width or row and column range computes it, so callers may cut rows and columns between
threads anywhere and get bit-identical results (tests/kernels/test_microkernel.py).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._compile import inline_kernel, kernel
from . import GAP_BYTES
from .intrinsics import flat, splat
from .target import TARGET

STORE, ADD, MOMENTUM, CHAIN = 0, 1, 2, 3
#: Length of one chunk of the t loop where A is read along its rows. It keeps a KC x (NV x VW) panel of B in
#: L1 while every row tile passes over it; it is the same on every target and dtype, since the chunks decide
#: the values (gemm). On AVX-512 a float32 panel of 256 t was 32 KB, with the row tile's lines of A more than
#: an L1 of 32 or 48 KB holds: KC 128 took the forward microkernel from 0.85-0.89 of a one-thread sgemm to
#: 0.93-0.99 (784 x 100 x 512, Ice Lake server, 3 alternating pairs); with AVX2 code on the same machine,
#: 0.91-0.92 to 0.93-0.99 (on Zen 3, 128, 256 and 512 had measured within a few per cent of each other).
KC = 128


def tile_shape(isa: str, itemsize: int) -> tuple[int, int, int]:
    """(rows MR, vectors NV, lanes VW) of the register tile for an ISA and element size.

    MR x NV accumulators plus NV loads of B and one broadcast of A must fit the register file:
    AVX2 has 16 registers (6 x 2 = 12 accumulators), AVX-512 32 (12 x 2 = 24; 6 x 4 and 8 x 3 measured
    the same).
    """
    vector_bytes = {"avx512": 64, "avx2": 32}.get(isa, 16)
    lanes = vector_bytes // itemsize
    if isa == "avx512":
        return 12, 2, lanes
    if isa == "avx2":
        return 6, 2, lanes
    return 4, 2, lanes


#: Independent fma chains that keep two FMA units busy through a 4-cycle latency.
CHAINS = 8


def tile_widths(isa: str, itemsize: int, merged: bool = False) -> tuple[int, ...]:
    """Most vectors of a tile of r rows, indexed by r (entry 0 unused): NV, or more for tiles of so few rows
    that r x NV chains would leave the FMA units waiting on latency (a batch of one sample: a 1-row tile),
    as many as fit beside their B loads and the broadcast, at most CHAINS. With ``merged``, NV + 1 too
    wherever that many fit, for the panels that take the columns after them (panel_stop; AVX2: 4 x 3)."""
    rows, vectors, _ = tile_shape(isa, itemsize)
    registers = {"avx512": 32}.get(isa, 16)
    widths = [vectors if r * vectors >= CHAINS else max(vectors, min(CHAINS, (registers - 1) // (r + 1)))
              for r in range(1, rows + 1)]
    if merged:
        widths = [max(w, vectors + 1) if (registers - 1) // (r + 1) > vectors else w for r, w in enumerate(widths, 1)]
    return (0, *widths)


MR32, NV32, VW32 = tile_shape(TARGET.isa, 4)
MR64, NV64, VW64 = tile_shape(TARGET.isa, 8)
#: KC when A is read down its columns (a_ts != 1: the weight gradient, A the activations, t the samples): 64
#: (float32) and 32 (float64) on every target. Each t of a row tile then reads A from a cache line of its own,
#: so a KC x panel block of B and the row tiles' lines of A fit in L1 together only for a shorter chunk.
#: 784 x 100 x 512 float32 on one Zen 3 thread, share of a one-thread sgemm: KC 256: 0.62-0.67, 128:
#: 0.74-0.78, 64: 0.80-0.83; float64, KC 128: 0.69-0.74, 32: 0.65-0.80 (noisy); AVX-512 float32 (Ice Lake
#: server), 64: 0.79-0.89, 32: 0.74-0.79. gemm_packed, which copies A first, keeps these chunks (and so
#: gemm's values): with its copy, KC 64, 128 and 256 measured alike.
KC_DOWN32, KC_DOWN64 = 64, 32
#: Rows of A that gemm_packed copies at a time (a multiple of every tile's rows): with KC_DOWN columns, a
#: block of 96 KB on every target and dtype, which stays in L2 while the tiles read it.
MC_DOWN = 384
WIDTHS32 = tile_widths(TARGET.isa, 4)
WIDTHS64 = tile_widths(TARGET.isa, 8)
#: Fewest rows of a tile NV vectors wide whose chains keep the FMA units busy (CHAINS): a last tile of fewer
#: rows shares the rows of the one before it (tile_rows).
FULL_ROWS32, FULL_ROWS64 = -(-CHAINS // NV32), -(-CHAINS // NV64)
#: Most rows of a tile with at most one vector in each of its loops (fewer columns than NV vectors: the 4
#: float32 columns past 96 of 100, 10 outputs; with FUSED, panels of one vector or less, since the partial vector
#: of a wider one joins the loop of the whole ones): as many accumulators as a whole tile, one vector a row, so that
#: a narrow tile too has CHAINS chains where MR rows would leave the FMA units waiting on their latency (AVX2:
#: 12 rows, not 6; AVX-512's MR is 12 already). 24 x 784 blocks of gemm_panels on one Zen 3 thread (AVX2),
#: ns a row: 96 columns 1,591, 100 columns 1,826 (the 6 x 1 tail of 4 columns cost 235, more than 8 columns alone,
#: 192), 10 columns 389 against 16 columns' 271; with tall tiles 1,798, 354 and 169 (a 12 x 1 loop issues 40
#: instructions for its 12 FMAs, so it stays short of the FMA units' pace). One Zen 3 thread, Fashion-MNIST,
#: the best of six alternating process pairs, us a sample: 784-15-10 float32 prediction 0.506 against 0.572,
#: training at batch 32 1.256 against 1.390; 784-100-10 2.103 against 2.118 and 4.763 against 4.818.
TALL32, TALL64 = (MR32 * NV32 if MR32 < CHAINS else MR32), (MR64 * NV64 if MR64 < CHAINS else MR64)
#: Columns of B per panel in gemm_panels' layout: one tile's width.
PANEL32, PANEL64 = NV32 * VW32, NV64 * VW64
#: On AVX2, a tile whose B buffer goes on past its partial last vector (``whole``) loads that vector in the loop of
#: its whole vectors, as one more, and masks only the write-back: the partial vector costs one more FMA per row and
#: t in a loop of MR x NV's pace, where a loop of its own (r x 1) issued 40 instructions for 12 FMAs. So a panel
#: of 15 or 10 columns is one 6 x 2 loop instead of two 12 x 1 loops, and the 4 columns past 96 of 100 join the
#: panel before them as a third vector (panel_stop: 4 x 3 tiles over 20 columns); such tiles write their partial
#: vector with plain stores (_Emitter.write_back). AVX-512 keeps its masked and half-width loads (_tile's
#: docstring), the portable target its masked ones. One Zen 3 thread, Fashion-MNIST, four alternating process
#: pairs, us a sample: 784-15-10 float32 prediction 0.457-0.467 against 0.523-0.630, training at batch 32
#: 1.077-1.109 against 1.253-1.308; 784-100-10 2.065-2.113 against 2.100-2.147 and 4.723-4.779 against 4.788-4.904.
FUSED = TARGET.isa == "avx2"
#: tile_widths of the tiles outside mode MOMENTUM: with FUSED, NV + 1 vectors too where they fit (4 rows on AVX2).
#: 24 x 784 blocks of gemm_panels, one Zen 3 thread, ns a row, 20 columns (16 and 4): 4 x 3 tiles 408-411, 3 x 3
#: 413-421, 6 x 2 and 12 x 1 (the 4 columns' loop of their own) 452-454.
PLAIN_WIDTHS32 = tile_widths(TARGET.isa, 4, FUSED)
PLAIN_WIDTHS64 = tile_widths(TARGET.isa, 8, FUSED)
#: The edge tile (_edge): at most EDGE_COLS columns, each EDGE_VECTORS vectors of rows, so that its
#: accumulators, its vectors of A and a broadcast fit the register file beside the write-back's factors, which
#: LLVM keeps in registers across the loop (AVX-512: 4 x 4 + 4 + 1 and up to 8 of 32: 6 vectors spilled in
#: float64's momentum step; otherwise 4 x 3 + 3 + 1 of 16, which LLVM schedules without a spill).
#: EDGE_ROWS: its rows.
EDGE_COLS = 4
EDGE_VECTORS = 4 if TARGET.isa == "avx512" else 3
EDGE_ROWS32, EDGE_ROWS64 = EDGE_VECTORS * VW32, EDGE_VECTORS * VW64


class _Arguments:
    """An intrinsic's arguments inside its codegen, by position: as an i64, as a number of a dtype, or an array's
    data pointer moved on by the flat offset at another position."""

    def __init__(self, context, builder, signature, args):
        self.context, self.builder, self.types, self.values = context, builder, signature.args, args

    def int64(self, index):
        return self.context.cast(self.builder, self.values[index], self.types[index], types.int64)

    def number(self, index, dtype):
        return self.context.cast(self.builder, self.values[index], self.types[index], dtype)

    def data(self, index, offset_index):
        array = self.context.make_array(self.types[index])(self.context, self.builder, self.values[index])
        return self.builder.gep(array.data, [self.int64(offset_index)])

    def converter(self, index, dtype):
        """A function that casts an element of the array at ``index`` to ``dtype``."""
        return lambda value: self.context.cast(self.builder, value, self.types[index].dtype, dtype)

    def momentum(self, v_index, offset_index, dtype):
        """SGD's momentum step as _Emitter.write_back takes it, from V at ``v_index`` (moved on by the offset at
        ``offset_index``) and the four arguments after it: V's pointer, mu, decay, -rate and nesterov."""
        pv = self.data(v_index, offset_index)
        mu, decay = self.number(v_index + 1, dtype), self.number(v_index + 2, dtype)
        neg_rate = self.builder.fneg(self.number(v_index + 3, dtype))
        return pv, mu, decay, neg_rate, self.number(v_index + 4, types.boolean)


class _Emitter:
    """Emits the loops of one tile intrinsic; vector type <lanes x element>."""

    def __init__(self, builder, element, lanes, convert=lambda value: value, masks=True):
        self.b = builder
        self.convert = convert  # A's element to C's dtype
        self.element = element
        self.lanes = lanes
        self.vector = ir.VectorType(element, lanes)
        self.itemsize = 4 if isinstance(element, ir.FloatType) else 8
        suffix = f"v{lanes}f{self.itemsize * 8}"
        module = builder.module
        vec, ptr = self.vector, self.vector.as_pointer()
        bits = ir.VectorType(ir.IntType(1), lanes)
        i32 = ir.IntType(32)
        self.fma = cgutils.get_or_insert_function(module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.{suffix}")
        i64 = ir.IntType(64)
        self.cttz = cgutils.get_or_insert_function(module, ir.FunctionType(i64, [i64, ir.IntType(1)]), "llvm.cttz.i64")
        # AVX2 takes the mask as integers (sign bits) through its own maskload/maskstore: given the generic
        # intrinsics' <lanes x i1> mask, LLVM recomputes it inside the t loop and spills its inputs.
        self.avx2 = TARGET.isa == "avx2"
        if not masks:  # vectors of another width than the ISA's (edge_tile's rows): no masked access declared
            return
        if self.avx2:
            self.mask_type = ir.VectorType(ir.IntType(self.itemsize * 8), lanes)
            kind = f"{'ps' if self.itemsize == 4 else 'pd'}.256"
            byte_ptr = ir.IntType(8).as_pointer()
            self.masked_load = cgutils.get_or_insert_function(
                module, ir.FunctionType(vec, [byte_ptr, self.mask_type]), f"llvm.x86.avx.maskload.{kind}")
            self.masked_store = cgutils.get_or_insert_function(
                module, ir.FunctionType(ir.VoidType(), [byte_ptr, self.mask_type, vec]),
                f"llvm.x86.avx.maskstore.{kind}")
        else:
            self.masked_load = cgutils.get_or_insert_function(
                module, ir.FunctionType(vec, [ptr, i32, bits, vec]), f"llvm.masked.load.{suffix}.p0")
            self.masked_store = cgutils.get_or_insert_function(
                module, ir.FunctionType(ir.VoidType(), [vec, ptr, i32, bits]), f"llvm.masked.store.{suffix}.p0")

    def mask(self, valid):
        """The mask of the first ``valid`` lanes (an i64), in the form load and store take.

        AVX2's mask passes through an empty inline assembly statement, which LLVM cannot look into: otherwise
        it may sink the comparison into a loop that loads under the mask and recompute it there at every t,
        from inputs spilled to the stack (it did in gemm_packed's masked tiles once _tile's write-backs had
        more uses of the mask; tests/kernels/test_spills.py)."""
        b = self.b
        i64 = ir.IntType(64)
        lane = ir.Constant(ir.VectorType(i64, self.lanes), list(range(self.lanes)))
        bits = b.icmp_unsigned("<", lane, splat(b, valid, self.lanes))
        if not self.avx2:
            return bits
        computed = b.sext(bits, self.mask_type)
        return b.asm(ir.FunctionType(self.mask_type, [self.mask_type]), "", "=x,0", [computed], False, "mask")

    def loop_metadata(self):
        """A loop ID that keeps LLVM from unrolling the t loop: unrolled, its scheduler hoists the B loads of
        several t ahead and runs out of registers (tests/kernels/test_spills.py)."""
        module = self.b.module
        hint = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
        loop_id = module.add_metadata([hint, hint])  # operand 0 becomes the node itself below
        loop_id.operands = (loop_id, hint)
        return loop_id

    def begin_loop(self, count, name, bits=None):
        """Blocks (head, loop, tail) of a counted loop that runs when ``count`` > 0 (or, given ``bits``, when any
        is set), the builder placed in its body; the caller adds the phis, the body and the back edge."""
        b = self.b
        head = b.block
        loop = b.append_basic_block(f"{name}.loop")
        tail = b.append_basic_block(f"{name}.tail")
        zero = ir.Constant(ir.IntType(64), 0)
        b.cbranch(b.icmp_signed(">", count, zero) if bits is None else b.icmp_unsigned("!=", bits, zero), loop, tail)
        b.position_at_end(loop)
        return head, loop, tail

    def address(self, base, offset):
        return self.b.bitcast(self.b.gep(base, [offset]), self.vector.as_pointer())

    def load(self, base, offset, mask):
        b = self.b
        if mask is None:
            return b.load(self.address(base, offset), align=self.itemsize)
        if self.avx2:
            return b.call(self.masked_load, [b.bitcast(b.gep(base, [offset]), ir.IntType(8).as_pointer()), mask])
        zero = ir.Constant(self.vector, [0.0] * self.lanes)
        return b.call(self.masked_load, [self.address(base, offset), ir.Constant(ir.IntType(32), self.itemsize),
                                         mask, zero])

    def store(self, value, base, offset, mask):
        b = self.b
        if mask is None:
            b.store(value, self.address(base, offset), align=self.itemsize)
        elif self.avx2:
            b.call(self.masked_store, [b.bitcast(b.gep(base, [offset]), ir.IntType(8).as_pointer()), mask, value])
        else:
            b.call(self.masked_store, [value, self.address(base, offset), ir.Constant(ir.IntType(32), self.itemsize),
                                       mask])

    def tile(self, rows, vectors, mask, pa, a_rs, a_ts, pb, b_ts, pc, c_rs, n_t, alpha, mode, momentum, done,
             load_mask=True, left=None, bits=None):
        """The loop over t for a rows x vectors tile (last vector under ``mask`` if given), then its write-back:
        SGD's momentum step when ``momentum`` (the pointer to V and the rule's values; see _tile) is given, else
        by ``mode``, STORE, ADD or CHAIN (an i64; CHAIN's chains start from C's values, chain_starts).

        With ``load_mask`` False the loop loads the last vector of B whole, lanes past the tile included,
        and only the write-back is masked: the caller knows those lanes lie inside B's buffer. Their values
        reach no stored lane. ``left``: the lanes of ``mask`` (an i64), for write_back. With ``bits`` (an i64), the
        loop runs over the t whose bits are set, in order, instead of t < n_t (_tile's K).

        LLVM's strength reduction turns the rows' addresses of A into a chain of adds, 28 instructions a t in
        the 6 x 2 loop on Zen 3. With each row's start made opaque to it (a base register a row, one shared
        index), 24, at the same speed (784 x 100 x 512, share of a one-thread sgemm in 6 alternating pairs:
        forward 0.92-0.95 against 0.91-0.95, gradient 0.89-0.90 against 0.91-0.93): the count of instructions is
        not what holds these loops at about four fifths of the FMA peak (3.2 GHz here: 102 GFLOP/s)."""
        b = self.b
        i64 = ir.IntType(64)
        offsets = [[(b.add(b.mul(c_rs, ir.Constant(i64, r)), ir.Constant(i64, v * self.lanes)),
                     mask if v == vectors - 1 else None) for v in range(vectors)] for r in range(rows)]
        zero = ir.Constant(self.vector, [0.0] * self.lanes)
        starts = [[zero] * vectors for _ in range(rows)] if momentum is not None else \
            self.chain_starts(offsets, pc, mode)
        head, loop, tail = self.begin_loop(n_t, "tile", bits)
        t = b.phi(i64)  # with bits: the bits still to go, the lowest one's t where A and B are read
        t.add_incoming(ir.Constant(i64, 0) if bits is None else bits, head)
        if bits is None:  # where A and B are read, a step further each t
            a_at, b_at = b.phi(i64), b.phi(i64)
            a_at.add_incoming(ir.Constant(i64, 0), head)
            b_at.add_incoming(ir.Constant(i64, 0), head)
        acc = [[b.phi(self.vector) for _ in range(vectors)] for _ in range(rows)]
        for row, row_starts in zip(acc, starts):
            for phi, start in zip(row, row_starts):
                phi.add_incoming(start, head)
        if bits is not None:  # the lowest bit's t
            at = b.call(self.cttz, [t, ir.Constant(ir.IntType(1), 1)])
            a_at, b_at = b.mul(at, a_ts), b.mul(at, b_ts)
        lanes = ir.Constant(i64, self.lanes)
        loaded = [self.load(pb, b.add(b_at, b.mul(lanes, ir.Constant(i64, v))),
                            mask if v == vectors - 1 and load_mask else None) for v in range(vectors)]
        new = []
        for r in range(rows):
            a_value = self.convert(b.load(b.gep(pa, [b.add(a_at, b.mul(a_rs, ir.Constant(i64, r)))])))
            broadcast = splat(b, a_value, self.lanes)
            # fma(a, b, s) in t order: the one chain every element follows, whatever the tile.
            new.append([b.call(self.fma, [broadcast, loaded[v], acc[r][v]]) for v in range(vectors)])
        if bits is None:
            t_next = b.add(t, ir.Constant(i64, 1))
            going = b.icmp_signed("<", t_next, n_t)
        else:  # the lowest bit cleared
            t_next = b.and_(t, b.sub(t, ir.Constant(i64, 1)))
            going = b.icmp_unsigned("!=", t_next, ir.Constant(i64, 0))
        body_end = b.block
        t.add_incoming(t_next, body_end)
        if bits is None:
            a_at.add_incoming(b.add(a_at, a_ts), body_end)
            b_at.add_incoming(b.add(b_at, b_ts), body_end)
        for r in range(rows):
            for v in range(vectors):
                acc[r][v].add_incoming(new[r][v], body_end)
        back = b.cbranch(going, loop, tail)
        back.set_metadata("llvm.loop", self.loop_metadata())
        b.position_at_end(tail)
        sums = self.loop_results(new, head, body_end, starts)
        places = [(sums[r][v], *offsets[r][v]) for r in range(rows) for v in range(vectors)]
        self.write_back(places, pc, alpha, mode, momentum, left)
        b.branch(done)

    def loop_results(self, values, head, body_end, starts=None):
        """After a loop that begins at ``head`` and runs when its count > 0: phis for each vector of the grid
        ``values`` (its last iteration's), where the loop did not run the grid ``starts`` (the chains' starts),
        or zero."""
        zero = ir.Constant(self.vector, [0.0] * self.lanes)
        grid = [[self.b.phi(self.vector) for _ in row] for row in values]
        for r, (row, phis) in enumerate(zip(values, grid)):
            for v, (value, phi) in enumerate(zip(row, phis)):
                phi.add_incoming(zero if starts is None else starts[r][v], head)
                phi.add_incoming(value, body_end)
        return grid

    def chain_starts(self, offsets, pc, mode):
        """Where the chains of a tile's accumulators start, a grid like ``offsets`` (its (offset, mask) in C): C's
        values there in mode CHAIN (loaded before the loop, in a block of their own), else 0."""
        b = self.b
        zero = ir.Constant(self.vector, [0.0] * self.lanes)
        before = b.block
        loading = b.append_basic_block("tile.chain")
        joined = b.append_basic_block("tile.start")
        b.cbranch(b.icmp_signed("==", mode, ir.Constant(ir.IntType(64), CHAIN)), loading, joined)
        b.position_at_end(loading)
        loaded = [[self.load(pc, at, mask) for at, mask in row] for row in offsets]
        b.branch(joined)
        b.position_at_end(joined)
        starts = []
        for row in loaded:
            starts.append([])
            for value in row:
                phi = b.phi(self.vector)
                phi.add_incoming(zero, before)
                phi.add_incoming(value, loading)
                starts[-1].append(phi)
        return starts

    def edge_tile(self, cols, vectors, valid, pa, a_ts, pb, b_ts, pc, c_rs, n_t, alpha, mode, momentum, done):
        """The loop over t for a tile of ``vectors`` x lanes rows and ``cols`` columns with its vectors along
        the rows: at each t, ``vectors`` of A's values down a column (rows contiguous) times each column's
        value of B, broadcast. Then the write-back, row by row as vectors of ``cols`` (write_back's rules).
        With ``valid`` (an i64) given, one vector of which the first ``valid`` rows are the tile's: A's loads
        masked, and only those rows written."""
        b = self.b
        i64 = ir.IntType(64)
        zero = ir.Constant(self.vector, [0.0] * self.lanes)
        head, loop, tail = self.begin_loop(n_t, "edge")
        t, a_at, b_at = b.phi(i64), b.phi(i64), b.phi(i64)
        for phi in (t, a_at, b_at):
            phi.add_incoming(ir.Constant(i64, 0), head)
        acc = [[b.phi(self.vector) for _ in range(vectors)] for _ in range(cols)]
        for column in acc:
            for phi in column:
                phi.add_incoming(zero, head)
        mask = None if valid is None else self.mask(valid)
        loaded = [self.load(pa, b.add(a_at, ir.Constant(i64, v * self.lanes)), mask) for v in range(vectors)]
        new = []
        for c in range(cols):
            broadcast = splat(b, b.load(b.gep(pb, [b.add(b_at, ir.Constant(i64, c))])), self.lanes)
            # tile's chain, fma(a, b, s) in t order: its product a b is b a, exactly
            new.append([b.call(self.fma, [loaded[v], broadcast, acc[c][v]]) for v in range(vectors)])
        t_next = b.add(t, ir.Constant(i64, 1))
        body_end = b.block
        t.add_incoming(t_next, body_end)
        a_at.add_incoming(b.add(a_at, a_ts), body_end)
        b_at.add_incoming(b.add(b_at, b_ts), body_end)
        for c in range(cols):
            for v in range(vectors):
                acc[c][v].add_incoming(new[c][v], body_end)
        back = b.cbranch(b.icmp_signed("<", t_next, n_t), loop, tail)
        back.set_metadata("llvm.loop", self.loop_metadata())
        b.position_at_end(tail)
        results = self.loop_results(new, head, body_end)  # [c][v]
        row_emitter = _Emitter(b, self.element, cols, masks=False)
        places = []
        for v in range(vectors):
            sums = [results[c][v] for c in range(cols)]
            # the columns' vectors end to end (padded to a power of two), then each row's values out of them
            while len(sums) & (len(sums) - 1):
                sums.append(zero)
            while len(sums) > 1:
                width = sums[0].type.count
                pairs = ir.Constant(ir.VectorType(ir.IntType(32), 2 * width), list(range(2 * width)))
                sums = [b.shuffle_vector(sums[k], sums[k + 1], pairs) for k in range(0, len(sums), 2)]
            for lane in range(self.lanes):
                picks = ir.Constant(ir.VectorType(ir.IntType(32), cols), [c * self.lanes + lane for c in range(cols)])
                row = b.shuffle_vector(sums[0], ir.Constant(sums[0].type, ir.Undefined), picks)
                places.append((row, b.mul(c_rs, ir.Constant(i64, v * self.lanes + lane)), None))
                if valid is not None:  # a row of the tile's only if its lane is
                    with b.if_then(b.icmp_signed("<", ir.Constant(i64, lane), valid)):
                        row_emitter.write_back(places[-1:], pc, alpha, mode, momentum)
        if valid is None:
            row_emitter.write_back(places, pc, alpha, mode, momentum)
        b.branch(done)

    def narrow_stores(self, places, pc, left):
        """Each (value, offset) of ``places``: its first ``left`` lanes (an i64 below the vector's lanes) to pc +
        offset by plain stores, the halves of ``left``'s binary digits in turn (4, 2 and 1 lanes of float32), each
        value shifted down past the lanes stored before."""
        b = self.b
        i64 = ir.IntType(64)
        values = [value for value, _ in places]
        offsets = [offset for _, offset in places]
        count = self.lanes // 2
        while count >= 1:
            digit = b.and_(left, ir.Constant(i64, count))
            present = b.icmp_unsigned("!=", digit, ir.Constant(i64, 0))
            with b.if_then(present):
                for value, offset in zip(values, offsets):
                    part = b.shuffle_vector(value, ir.Constant(value.type, ir.Undefined),
                                            ir.Constant(ir.VectorType(ir.IntType(32), count), list(range(count))))
                    b.store(part, b.bitcast(b.gep(pc, [offset]), part.type.as_pointer()), align=self.itemsize)
            if count > 1:
                down = ir.Constant(ir.VectorType(ir.IntType(32), self.lanes),
                                   [min(lane + count, self.lanes - 1) for lane in range(self.lanes)])
                values = [b.select(present, b.shuffle_vector(value, ir.Constant(value.type, ir.Undefined), down),
                                   value) for value in values]
                offsets = [b.add(offset, digit) for offset in offsets]
            count //= 2

    def write_back(self, places, pc, alpha, mode, momentum, left=None):
        """Each (sum, offset, mask) of ``places`` into C at pc + offset: SGD's momentum step when ``momentum``
        is given (see _tile), else by ``mode`` (an i64): alpha s in modes STORE and CHAIN, fma(alpha, s, C) in ADD.

        On AVX2 with ``left`` (the lanes of the places' masks, an i64), the masked vectors go out through plain
        stores of their lanes (narrow_stores), in either mode: Zen 3's masked store (vmaskmovps) takes many
        cycles. 24 x 784 blocks of gemm_panels on one Zen 3 thread, ns a row: 20 columns in 4 x 3 tiles 436-439
        with masked stores, 408-411 with plain ones (24 columns, no partial vector: 404-416). _tile passes
        ``left`` from its FUSED tiles only: from the r x 1 tails as well, the first fit of 784-100-10 in float32
        and float64 compiled in 227 s instead of 198 (164 before either)."""
        b = self.b
        partial = [place for place in places if place[2] is not None]
        if self.avx2 and momentum is None and left is not None and partial:
            self.write_back([place for place in places if place[2] is None], pc, alpha, mode, momentum)
            scale = splat(b, alpha, self.lanes)
            storing = b.icmp_signed("!=", mode, ir.Constant(ir.IntType(64), ADD))
            # STORE's (and CHAIN's) value, or ADD's from C's lanes (read in every mode: a masked load costs little)
            self.narrow_stores([(b.select(storing, b.fmul(scale, s), b.call(self.fma, [scale, s,
                                                                                        self.load(pc, at, edge)])),
                                 at) for s, at, edge in partial], pc, left)
            return
        scale = splat(b, alpha, self.lanes)
        if momentum is None:
            with b.if_else(b.icmp_signed("!=", mode, ir.Constant(ir.IntType(64), ADD))) as (then_store, then_add):
                with then_store:
                    for s, at, edge in places:
                        self.store(b.fmul(scale, s), pc, at, edge)
                with then_add:
                    for s, at, edge in places:
                        self.store(b.call(self.fma, [scale, s, self.load(pc, at, edge)]), pc, at, edge)
            return
        pv, mu, decay, neg_rate, nesterov = momentum
        mu, decay, neg_rate = (splat(b, value, self.lanes) for value in (mu, decay, neg_rate))
        for s, at, edge in places:
            # as update_rows (with fmas): g = alpha s + decay w;  v = mu v + g;  w -= rate (g + mu v if nesterov else v)
            weight = self.load(pc, at, edge)
            g = b.call(self.fma, [decay, weight, b.fmul(scale, s)])
            velocity = b.call(self.fma, [mu, self.load(pv, at, edge), g])
            self.store(velocity, pv, at, edge)
            step = b.select(nesterov, b.call(self.fma, [mu, velocity, g]), velocity)
            self.store(b.call(self.fma, [neg_rate, step, weight]), pc, at, edge)


def _words(context, builder, array_type, array):
    """An array's data as a pointer to i64 words (bit masks kept in a buffer of another dtype)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(data, ir.IntType(64).as_pointer())


@intrinsic
def _tile(typingctx, A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, whole, V, mu,
          decay, rate, nesterov, K, k_word):
    """C[c_off + r*c_rs + c] = alpha s (modes STORE and CHAIN) or fma(alpha, s, C[...]) (ADD) with s = the fma chain
    over t < n_t of A[a_off + r*a_rs + t*a_ts] B[b_off + t*b_ts + c] from s = 0, or in mode CHAIN from s = C[...],
    for r < rows <= MR, c < cols <= NV x VW of C's
    dtype; rows <= TALL where cols < 2 VW, outside mode MOMENTUM, and cols at most PLAIN_WIDTHS[rows] vectors
    (WIDTHS in mode MOMENTUM; a caller that passes more rows or columns does nothing).
    Mode MOMENTUM takes alpha s as the gradient of weights w = C[...] with velocities v = V[same index] and makes
    SGD's step, each an fma: g = decay w + alpha s; v = mu v + g; w = w - rate (g + mu v if nesterov else v),
    with V, mu, decay and rate of C's dtype and nesterov a boolean; the other modes take V None, and their code
    then holds no momentum step (compiling it into every tile took a third longer). With an array K (C-contiguous,
    of any dtype), the loops go over the t whose bits are set in K's int64 word ``k_word`` (pack_strip's), in order,
    instead of every t < n_t: A is 0 in every row of the tile at the t left out, and an fma of 0 by a finite B adds
    an exact 0 to a chain that starts at +0, so the values are the same, bit for bit (not so for a chain from a
    -0 in C: K is for modes STORE, ADD and MOMENTUM).

    One loop per (rows, full vectors), picked by a switch on the runtime sizes, then for a partial last vector a
    loop of its own under a mask: a mask live across a loop of many accumulators would not fit AVX2's registers
    beside them (tests/kernels/test_spills.py), so a tall tile's masked loop runs in two of at most MR rows. With
    ``whole`` true the caller vouches that B's buffer goes on for a whole vector past the partial one's first column
    in every t; that vector is then loaded unmasked, in the loop of the whole ones where the rows take one more
    vector (FUSED; not in mode MOMENTUM), and only the write-back is masked, on AVX2 only: there a loop of masked
    loads took 1.4 times as long as one of plain loads, while AVX-512's masked loads were faster than whole ones,
    which cross a cache line at nearly every t (measured on Zen 5, both code paths). On AVX-512 a partial vector of
    at most half the lanes (100 float32 columns: 6 whole vectors and 4) runs in vectors of half the width: Zen 4
    executes a 512-bit FMA as two 256-bit halves, so the 4 columns cost half a 512-bit FMA per row and t instead of
    a whole one, and elsewhere the narrower FMA costs the same. 784 x 100 on one Zen 4 thread, blocks of 24
    (gemm_panels) and 32 (gemm) rows, three alternating pairs, ns a row: float32
    1686-1690 / 1586-1670 and 1658-1836 / 1598-1645; float64 3079-3194 / 2978-3010 and 3168-3289 / 3063-3159."""
    if not isinstance(C, types.Array) or C.dtype not in (types.float32, types.float64):
        return None
    if not isinstance(A, types.Array) or not isinstance(A.dtype, (types.Integer, types.Float)) or B.dtype != C.dtype:
        return None
    dtype = C.dtype
    mr, widths, tall = (MR32, WIDTHS32, TALL32) if dtype == types.float32 else (MR64, WIDTHS64, TALL64)
    stepping = not isinstance(V, types.NoneType)
    if stepping:  # the momentum step's factors stay in registers beside the accumulators: no tall or merged tiles
        tall = mr
    else:
        widths = PLAIN_WIDTHS32 if dtype == types.float32 else PLAIN_WIDTHS64
    if stepping and (not isinstance(V, types.Array) or V.dtype != C.dtype):
        return None
    skipping = not isinstance(K, types.NoneType)
    if skipping and (not isinstance(K, types.Array) or K.layout != "C"):
        return None
    sig = types.none(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, whole, V, mu,
                     decay, rate, nesterov, K, k_word)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        arguments = _Arguments(context, builder, signature, args)
        int64 = arguments.int64
        a_rs, a_ts, b_ts, c_rs, rows, cols, n_t = (int64(i) for i in (2, 3, 6, 9, 10, 11, 12))
        pa, pb, pc = arguments.data(0, 1), arguments.data(4, 5), arguments.data(7, 8)
        bits = None
        if skipping:  # the loops go over the t of the set bits of K's word k_word
            bits = builder.load(builder.gep(_words(context, builder, K, args[21]), [int64(22)]))
        momentum = tail_momentum = None
        if stepping:
            momentum = arguments.momentum(16, 8, dtype)
        alpha = arguments.number(13, dtype)
        mode = int64(14)
        whole = arguments.number(15, types.boolean)
        element = context.get_value_type(dtype)
        lanes = (TARGET.vector_bytes // (4 if dtype == types.float32 else 8))
        emit = _Emitter(builder, element, lanes, arguments.converter(0, dtype))
        width = ir.Constant(i64, lanes)
        full = builder.sdiv(cols, width)  # vectors whose every lane is a column of the tile
        left = builder.srem(cols, width)  # columns in the partial vector after them
        mask = emit.mask(left)
        # AVX-512: a partial vector of at most half the lanes goes in a vector of half the width (see the docstring)
        half = _Emitter(builder, element, lanes // 2, emit.convert) if TARGET.isa == "avx512" else None
        if half is not None:
            half_mask = half.mask(left)
            narrow = builder.icmp_signed("<=", left, ir.Constant(i64, lanes // 2))
        skip = builder.mul(full, width)
        pb_tail, pc_tail = builder.gep(pb, [skip]), builder.gep(pc, [skip])
        if stepping:
            tail_momentum = (builder.gep(momentum[0], [skip]), *momentum[1:])
        has_tail = builder.icmp_signed("!=", left, ir.Constant(i64, 0))
        stride = max(widths) + 1
        key = builder.add(builder.mul(builder.sub(rows, ir.Constant(i64, 1)), ir.Constant(i64, stride)), full)
        done = builder.append_basic_block("tile.done")
        if FUSED and not stepping:  # B loadable whole: the partial vector in the loop of the whole ones
            fused, plain = builder.append_basic_block("tile.fused"), builder.append_basic_block("tile.plain")
            builder.cbranch(builder.and_(whole, has_tail), fused, plain)
            builder.position_at_end(fused)
            fused_switch = builder.switch(key, plain)
            for r in range(1, mr + 1):
                for v in range(2, widths[r] + 1):  # v - 1 whole vectors and the partial one
                    block = builder.append_basic_block(f"tile.{r}x{v}.fused")
                    fused_switch.add_case(ir.Constant(i64, (r - 1) * stride + v - 1), block)
                    builder.position_at_end(block)
                    emit.tile(r, v, mask, pa, a_rs, a_ts, pb, b_ts, pc, c_rs, n_t, alpha, mode, None, done,
                              load_mask=False, left=left, bits=bits)
            builder.position_at_end(plain)
        switch = builder.switch(key, done)
        for r in range(1, tall + 1):  # rows past MR: tall tiles, at most one whole vector
            after = builder.append_basic_block(f"tile.{r}.after")
            tail = builder.append_basic_block(f"tile.{r}.tail")
            switch.add_case(ir.Constant(i64, (r - 1) * stride), after)
            for v in range(1, (widths[r] if r <= mr else 1) + 1):
                block = builder.append_basic_block(f"tile.{r}x{v}")
                switch.add_case(ir.Constant(i64, (r - 1) * stride + v), block)
                builder.position_at_end(block)
                emit.tile(r, v, None, pa, a_rs, a_ts, pb, b_ts, pc, c_rs, n_t, alpha, mode, momentum, after,
                          bits=bits)
            builder.position_at_end(after)
            builder.cbranch(has_tail, tail, done)
            builder.position_at_end(tail)
            if emit.avx2:
                with builder.if_else(whole) as (then_whole, then_masked):
                    with then_whole:
                        emit.tile(r, 1, mask, pa, a_rs, a_ts, pb_tail, b_ts, pc_tail, c_rs, n_t, alpha, mode,
                                  tail_momentum, done, load_mask=False, bits=bits)
                    with then_masked:  # the mask lives across the loop: a tall tile's rows in two loops of MR
                        for first, count in ((0, min(r, mr)), (mr, r - mr)):
                            if count <= 0:
                                continue
                            at = ir.Constant(i64, first)
                            rest = builder.append_basic_block(f"tile.{r}.tail.{first}") if first + count < r else done
                            emit.tile(count, 1, mask, builder.gep(pa, [builder.mul(a_rs, at)]), a_rs, a_ts, pb_tail,
                                      b_ts, builder.gep(pc_tail, [builder.mul(c_rs, at)]), c_rs, n_t, alpha, mode,
                                      tail_momentum, rest, bits=bits)
                            if rest is not done:
                                builder.position_at_end(rest)
                builder.unreachable()
            elif half is not None:
                with builder.if_else(narrow) as (then_half, then_full):
                    for tail_emit, tail_mask, branch in ((half, half_mask, then_half), (emit, mask, then_full)):
                        with branch:
                            tail_emit.tile(r, 1, tail_mask, pa, a_rs, a_ts, pb_tail, b_ts, pc_tail, c_rs, n_t, alpha,
                                           mode, tail_momentum, done, bits=bits)
                builder.unreachable()
            else:
                emit.tile(r, 1, mask, pa, a_rs, a_ts, pb_tail, b_ts, pc_tail, c_rs, n_t, alpha, mode, tail_momentum,
                          done, bits=bits)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _edge(typingctx, A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, V, mu, decay,
          rate, nesterov):
    """What _tile computes for rows and cols <= EDGE_COLS columns with A read down its columns (a_rs = 1), A of
    C's dtype, bit for bit (the same chains), with its vectors along the rows instead: for a few columns past
    a product's last whole vector, where _tile's rows would each take a vector for them. Rows: EDGE_ROWS, or
    at most one vector's lanes (a masked tile of one vector for the rows after the last whole edge tile)."""
    if not isinstance(C, types.Array) or C.dtype not in (types.float32, types.float64):
        return None
    if not isinstance(A, types.Array) or A.dtype != C.dtype or B.dtype != C.dtype:
        return None
    dtype = C.dtype
    stepping = not isinstance(V, types.NoneType)
    if stepping and (not isinstance(V, types.Array) or V.dtype != C.dtype):
        return None
    sig = types.none(A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, V, mu, decay, rate,
                     nesterov)

    def codegen(context, builder, signature, args):
        arguments = _Arguments(context, builder, signature, args)
        int64, data = arguments.int64, arguments.data

        pa, pb, pc = data(0, 1), data(3, 4), data(6, 7)
        a_ts, b_ts, c_rs, rows, cols, n_t = int64(2), int64(5), int64(8), int64(9), int64(10), int64(11)
        mode = int64(13)
        momentum = arguments.momentum(14, 7, dtype) if stepping else None
        alpha = arguments.number(12, dtype)
        lanes = TARGET.vector_bytes // (4 if dtype == types.float32 else 8)
        emit = _Emitter(builder, context.get_value_type(dtype), lanes)
        i64 = ir.IntType(64)
        done = builder.append_basic_block("edge.done")
        partial = builder.zext(builder.icmp_signed("!=", rows, ir.Constant(i64, EDGE_VECTORS * lanes)), i64)
        switch = builder.switch(builder.add(builder.mul(cols, ir.Constant(i64, 2)), partial), done)
        for k in range(1, EDGE_COLS + 1):
            for masked in (0, 1):
                block = builder.append_basic_block(f"edge.{k}.{masked}")
                switch.add_case(ir.Constant(i64, 2 * k + masked), block)
                builder.position_at_end(block)
                emit.edge_tile(k, 1 if masked else EDGE_VECTORS, rows if masked else None, pa, a_ts, pb, b_ts, pc,
                               c_rs, n_t, alpha, mode, momentum, done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


@kernel
def edge_width(n_rows, n_cols, itemsize):
    """Columns at the right of a gemm_packed product that _edge_columns takes: those past its last whole
    vector when they fill at most half a vector and the rows at least one edge tile, else 0. There each of
    _tile's rows spends a whole vector's FMA on them at every t: 784 x 100 x 512 float32 on AVX-512, 3 tiles of
    32 columns and 4 more, 7 FMAs where 6.25 carry columns."""
    lanes = VW32 if itemsize == 4 else VW64
    left = n_cols % lanes
    return left if 2 * left <= lanes and n_rows >= (EDGE_ROWS32 if itemsize == 4 else EDGE_ROWS64) else 0


@kernel
def _edge_columns(A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, n_t, alpha, mode, V, mu, decay,
                  rate, nesterov):
    """One chunk of n_t t of _packed's product for its edge_width columns: edge tiles of up to EDGE_COLS columns
    over every whole EDGE_ROWS of rows, then a vector of rows at a time (_edge)."""
    rows = EDGE_ROWS32 if C.itemsize == 4 else EDGE_ROWS64
    lanes = VW32 if C.itemsize == 4 else VW64
    full = n_rows // rows * rows
    for c0 in range(0, n_cols, EDGE_COLS):
        cols = min(EDGE_COLS, n_cols - c0)
        for r0 in range(0, full, rows):
            _edge(A, a_off + r0, a_ts, B, b_off + c0, b_ts, C, c_off + r0 * c_rs + c0, c_rs, rows, cols, n_t, alpha,
                  mode, V, mu, decay, rate, nesterov)
        for r0 in range(full, n_rows, lanes):
            _edge(A, a_off + r0, a_ts, B, b_off + c0, b_ts, C, c_off + r0 * c_rs + c0, c_rs, min(lanes, n_rows - r0),
                  cols, n_t, alpha, mode, V, mu, decay, rate, nesterov)


@kernel
def _panel_and_whole(B, b_off, b_ts, C, n_rows, n_cols, T):
    """For gemm and gemm_packed: the columns of one pass of row tiles (a rectangle of fewer rows than a tile
    takes wider tiles, for more chains; see tile_widths), and whether B's buffer holds a whole vector from the
    partial one's first column in the last t, so that the tiles may load it unmasked."""
    single = C.itemsize == 4
    lanes = VW32 if single else VW64
    panel = lanes * (WIDTHS32[min(max(n_rows, 1), MR32)] if single else WIDTHS64[min(max(n_rows, 1), MR64)])
    return panel, b_off + max(T - 1, 0) * b_ts + (n_cols // lanes + 1) * lanes <= B.size


@kernel
def chunk_mode(mode, t0):
    """The write-back mode of the chunk of t from ``t0`` of a product in ``mode``: the chunks after the first add
    their chain to what the first stored; CHAIN's chain goes on through them, and MOMENTUM's product is one chunk."""
    return ADD if t0 > 0 and mode in (STORE, ADD) else mode


@kernel
def tile_limits(cols, itemsize, plain, whole):
    """(most, fewest): the most rows of the row tiles over a panel of ``cols`` columns of C's ``itemsize``, and
    the fewest whose chains keep the FMA units busy (tile_rows). MR and FULL_ROWS; TALL and CHAINS for a panel
    of fewer than two vectors outside mode MOMENTUM (``plain``); with FUSED, ``plain`` and a B loadable
    ``whole``, a panel of more than one vector whose partial last vector joins the loop: the most rows whose
    tiles that many vectors wide _tile holds (PLAIN_WIDTHS: 4 rows of 3 vectors on AVX2), and enough rows for
    CHAINS chains."""
    single = itemsize == 4
    lanes = VW32 if single else VW64
    vectors = (cols + lanes - 1) // lanes
    if FUSED and plain and whole and vectors > 1:
        widths = PLAIN_WIDTHS32 if single else PLAIN_WIDTHS64
        most = 1
        for r in range(2, (MR32 if single else MR64) + 1):
            if widths[r] >= vectors:
                most = r
        return most, (CHAINS + vectors - 1) // vectors
    if plain and cols < 2 * lanes:
        return (TALL32 if single else TALL64), CHAINS
    return (MR32, FULL_ROWS32) if single else (MR64, FULL_ROWS64)


@kernel
def tile_rows(left, most, fewest):
    """Rows of the next row tile of a rectangle with ``left`` rows still to go, with tiles of at most ``most``
    rows (tile_limits), but where that would leave a last tile too short to keep the FMA units busy (fewer than
    ``fewest`` rows, as 32 samples leave 2 after five tiles of 6), the last two share their rows about evenly (4
    and 4). The tile shapes change no value: each element is its own chain."""
    if most < left < most + fewest:
        return left // 2
    return min(left, most)


@kernel
def panel_stop(c0, n_cols, panel, itemsize, fuse):
    """Where the panel of columns from c0 (``panel`` wide, or what is left) ends: with ``fuse`` (FUSED, tiles that
    may load B's partial last vector whole), a panel of NV vectors whose rectangle ends within one vector after
    it takes those columns too, since its tiles' loop then covers them as one more vector (FUSED)."""
    stop = min(c0 + panel, n_cols)
    single = itemsize == 4
    if fuse and FUSED and panel == (PANEL32 if single else PANEL64) and stop < n_cols <= stop + (VW32 if single
                                                                                                  else VW64):
        return n_cols
    return stop


@inline_kernel
def gemm(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode):
    """For r < n_rows, c < n_cols (flat element indices into C-contiguous A, B, C of one float dtype):
    s = chain of fma(A[a_off + r*a_rs + t*a_ts], B[b_off + t*b_ts + c], s) over t in order from s = 0;
    mode STORE: C[c_off + r*c_rs + c] = alpha * s; ADD: C[...] = fma(alpha, s, C[...]). Mode CHAIN: the chain
    starts from s = C[...] instead and C[...] = alpha * s, so that with alpha 1 a sum over t taken in pieces, each
    a call in mode CHAIN over the next range of t, is one chain, cut wherever the calls cut it.

    A may hold another number type than B and C (uint8 images): its values are converted to C's dtype
    (exactly for integers below 2**24 in float32), as a NumPy cast would.

    The t loop runs in chunks of KC counted from t = 0: each chunk's chain goes into C by the mode's rule
    (STORE for the first chunk only, and only in mode STORE), so T > KC is a few chains, not one (but in mode
    CHAIN, one).
    KC is 128 where A is read along its rows (a_ts == 1), 64 for float32 and 32 for float64 where it is read
    down its columns, on every target: results are the same on every CPU too.

    Inlined into its callers, and its operands passed on as flat views (intrinsics.flat), so that one compiled
    _direct serves arrays of every rank: the callers' 1-d and 2-d operands had compiled five versions of it for
    float32 alone. A cold first fit and prediction of 784-100-10 in float32 and float64 (Zen 3) compiled in 156 s
    instead of 182 s.
    """
    _direct(flat(A), a_off, a_rs, a_ts, flat(B), b_off, b_ts, flat(C), c_off, c_rs, n_rows, n_cols, T, alpha, mode,
            None, alpha, alpha, alpha, False)


@kernel
def _direct(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode, V, mu, decay, rate,
            nesterov):
    """gemm's tiles, with every mode of _tile."""
    single = C.itemsize == 4
    if a_ts == 1:
        chunk = KC
    else:
        chunk = KC_DOWN32 if single else KC_DOWN64
    panel, whole = _panel_and_whole(B, b_off, b_ts, C, n_rows, n_cols, T)
    for t0 in range(0, max(T, 1), chunk):  # at least once: T = 0 still stores alpha * 0 in mode STORE
        n_t = min(chunk, T - t0)
        written = chunk_mode(mode, t0)
        # B's KC x panel block stays in L1 while every row tile of the rectangle passes over it
        c0 = 0
        while c0 < n_cols:
            cols = panel_stop(c0, n_cols, panel, C.itemsize, whole and V is None) - c0
            most, fewest = tile_limits(cols, C.itemsize, V is None, whole)
            r0 = 0
            while r0 < n_rows:
                rows = tile_rows(n_rows - r0, most, fewest)
                _tile(A, a_off + r0 * a_rs + t0 * a_ts, a_rs, a_ts, B, b_off + t0 * b_ts + c0, b_ts,
                      C, c_off + r0 * c_rs + c0, c_rs, rows, cols, n_t, alpha, written, whole, V, mu, decay, rate,
                      nesterov, None, 0)
                r0 += rows
            c0 += cols


@kernel
def words_at(itemsize):
    """The word (int64) of gemm_packed's buffer for C's ``itemsize`` after its copy of A: MC_DOWN rows x KC_DOWN and
    the lanes that the last row's whole-vector stores write past them. From there, a word per strip of a block
    (pack_strip)."""
    return (MC_DOWN * (KC_DOWN32 if itemsize == 4 else KC_DOWN64) * itemsize + 64 + 7) // 8


@kernel
def pack_size(itemsize):
    """Elements of the buffer gemm_packed copies A into for C's ``itemsize``: the copy, then a word for each of a
    block's strips, at most MC_DOWN / FULL_ROWS + 1 (words_at)."""
    return (words_at(itemsize) + MC_DOWN // (FULL_ROWS32 if itemsize == 4 else FULL_ROWS64) + 1) * 8 // itemsize


def pack_row(itemsize: int) -> int:
    """Elements of a row of Work.pack, a thread's buffer for gemm_packed: pack_size, then GAP_BYTES free."""
    return pack_size(itemsize) + GAP_BYTES // itemsize


@intrinsic
def pack_strip(typingctx, S, s_off, s_ts, D, d_off, d_ts, n_t, rows, word):
    """D[d_off + t*d_ts + r] = S[s_off + t*s_ts + r] for t < n_t <= 64, r < rows <= MR of D's dtype, and in D's
    word ``word`` (words_at) bit t set where the t's rows are not all zero: each t's rows by masked vector loads
    and whole vector stores, so up to a vector past them in D is written too (zeros).

    The loop that gemm_packed copies A's strips with, at about the speed of memcpy. The tiles over the strip go
    over the t of its word only (_tile's K): a t whose rows are all 0 (a pixel that is 0 in every image of a row
    tile: a fifth of the t of a 12-row tile of Fashion-MNIST at batch 32) would add exact zeros to the chains."""
    if not isinstance(D, types.Array) or D.dtype not in (types.float32, types.float64) or S.dtype != D.dtype:
        return None
    dtype = D.dtype
    sig = types.none(S, s_off, s_ts, D, d_off, d_ts, n_t, rows, word)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)

        arguments = _Arguments(context, builder, signature, args)
        int64 = arguments.int64
        ps, pd = arguments.data(0, 1), arguments.data(3, 4)
        s_ts, d_ts, n_t, rows = int64(2), int64(5), int64(6), int64(7)
        itemsize = 4 if dtype == types.float32 else 8
        lanes = TARGET.vector_bytes // itemsize
        emit = _Emitter(builder, context.get_value_type(dtype), lanes)
        zero = ir.Constant(i64, 0)
        masks = []  # vector v holds rows [v * lanes, (v + 1) * lanes)
        for v in range(-(-(MR32 if itemsize == 4 else MR64) // lanes)):
            left = builder.sub(rows, ir.Constant(i64, v * lanes))
            masks.append(emit.mask(builder.select(builder.icmp_signed("<", left, zero), zero, left)))
        head, loop, tail = emit.begin_loop(n_t, "pack")
        t, s_at, d_at, bits = builder.phi(i64), builder.phi(i64), builder.phi(i64), builder.phi(i64)
        for phi in (t, s_at, d_at, bits):
            phi.add_incoming(zero, head)
        some = ir.Constant(ir.IntType(1), 0)
        for v, mask in enumerate(masks):
            offset = ir.Constant(i64, v * lanes)
            values = emit.load(ps, builder.add(s_at, offset), mask)  # lanes past the rows load as 0
            emit.store(values, pd, builder.add(d_at, offset), None)
            # not 0, NaN included (it must reach the sums)
            nonzero = builder.fcmp_unordered("!=", values, ir.Constant(emit.vector, [0.0] * lanes))
            lanes_bits = ir.IntType(lanes)
            some = builder.or_(some, builder.icmp_unsigned("!=", builder.bitcast(nonzero, lanes_bits),
                                                           ir.Constant(lanes_bits, 0)))
        seen = builder.shl(builder.zext(some, i64), t)
        t_next = builder.add(t, ir.Constant(i64, 1))
        bits_next = builder.or_(bits, seen)
        body_end = builder.block
        t.add_incoming(t_next, body_end)
        s_at.add_incoming(builder.add(s_at, s_ts), body_end)
        d_at.add_incoming(builder.add(d_at, d_ts), body_end)
        bits.add_incoming(bits_next, body_end)
        builder.cbranch(builder.icmp_signed("<", t_next, n_t), loop, tail)
        builder.position_at_end(tail)
        result = builder.phi(i64)
        result.add_incoming(zero, head)
        result.add_incoming(bits_next, body_end)
        builder.store(result, builder.gep(_words(context, builder, signature.args[3], args[3]), [int64(8)]))
        return context.get_dummy_value()

    return sig, codegen


#: gemm_packed takes gemm's path for products of at most NARROW_COLS columns over at most NARROW_T t: so few
#: columns use each copied value too few times to pay for the copy. 784-15-10 float32 on one Zen 3 thread,
#: gradient and update in cycles of the forward pass, gemm's path against the copy: batch 32 0.94-1.01 / 1.14-1.15
#: (samples/s 620-647k / 587-591k), float64 even; batch 128 and 512 the copy stays ahead (1.00-1.10 / 0.91-1.03).
NARROW_COLS, NARROW_T = 16, 32


@inline_kernel
def gemm_packed(A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode, pack):
    """gemm with A read down its columns (a_rs = 1: the weight gradient, A the activations, t the samples),
    through a copy: the same values, bit for bit (the same chunks of t, the same chains).

    gemm would read each t of a row tile from a cache line (and, 3.5 KB apart, a page) of its own. Here, for
    each chunk of KC_DOWN t and block of MC_DOWN rows, every row tile's rows over the chunk are first copied
    into ``pack`` one after the other (BLIS's packed A), so that the tiles then read A in order, from L2.
    ``pack``: a buffer of C's dtype of at least pack_size(C.itemsize) elements, or gemm's path when shorter
    (an empty one). A narrow product over few t (NARROW_COLS, NARROW_T) takes gemm's path too. A of C's
    dtype; ``mode`` STORE or ADD (its edge tiles and its skip of all-zero t start every chain from 0). 784 x 100
    x 512 float32 on one Zen 3 thread: 1.22-1.30 times gemm's speed, 0.92-0.95 of a one-thread sgemm in the same
    run.

    The edge_width columns past the last whole vector go to edge tiles with their vectors along the rows
    (_edge), which read A in place. 784 x 100 x 512 float32 on one Ice Lake server thread, 3 alternating
    pairs of `fastmlp bench --kernels`: 0.93-0.96 of a one-thread sgemm with them, 0.77-0.81 without; with
    AVX2 code on the same machine, 0.93-0.95 and 0.81-0.89.
    """
    if pack.size < pack_size(C.itemsize) or (n_cols <= NARROW_COLS and T <= NARROW_T):
        gemm(A, a_off, 1, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode)
        return
    _packed(flat(A), a_off, a_ts, flat(B), b_off, b_ts, flat(C), c_off, c_rs, n_rows, n_cols, T, alpha, mode, pack,
            None, alpha, alpha, alpha, False)


#: Most samples (t) of a gemm_momentum: its gradient must be one chain, one chunk of KC_DOWN.
MOMENTUM_MAX32, MOMENTUM_MAX64 = KC_DOWN32, KC_DOWN64


@inline_kernel
def gemm_momentum(A, a_off, a_ts, B, b_off, b_ts, W, w_off, w_rs, n_rows, n_cols, T, alpha, pack, V, mu, decay, rate,
                  nesterov):
    """SGD's step on weights W (velocities V at the same indices) with the gradient gemm_packed would store, alpha
    times the chain over t of A B, worked out tile by tile and used from the registers (_tile's mode MOMENTUM):
    the gradient never goes to memory, and W and V pass through the core once. For T <= MOMENTUM_MAX (one chunk,
    which callers check); with a ``pack`` shorter than pack_size, gemm's path, the same values."""
    a, b, w, v = flat(A), flat(B), flat(W), flat(V)  # one compiled version for operands of every rank (gemm)
    if pack.size < pack_size(W.itemsize):
        _direct(a, a_off, 1, a_ts, b, b_off, b_ts, w, w_off, w_rs, n_rows, n_cols, T, alpha, MOMENTUM, v, mu, decay,
                rate, nesterov)
        return
    _packed(a, a_off, a_ts, b, b_off, b_ts, w, w_off, w_rs, n_rows, n_cols, T, alpha, MOMENTUM, pack, v, mu, decay,
            rate, nesterov)


@inline_kernel
def _packed(A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode, pack, V, mu, decay, rate,
            nesterov):
    """gemm_packed's tiles through the copy, with every mode of _tile, chunk by chunk of t: the columns of
    whole vectors (_packed_chunk), then the edge_width columns after them (_edge_columns). Two calls, so that
    neither loop nest holds a call: across one, every vector register is the callee's to overwrite, and the
    values LLVM keeps in them over the loops (AVX2's masks) would be spilled."""
    single = C.itemsize == 4
    chunk = KC_DOWN32 if single else KC_DOWN64
    edge = edge_width(n_rows, n_cols, C.itemsize)
    main = n_cols - edge  # columns for the tiles over the copy; the edge's read A itself
    panel, whole = _panel_and_whole(B, b_off, b_ts, C, n_rows, main, T)
    for t0 in range(0, max(T, 1), chunk):  # at least once: T = 0 still stores alpha * 0 in mode STORE
        n_t = min(chunk, T - t0)
        written = chunk_mode(mode, t0)
        if main > 0:
            _packed_chunk(A, a_off + t0 * a_ts, a_ts, B, b_off + t0 * b_ts, b_ts, C, c_off, c_rs, n_rows, main, n_t,
                          alpha, written, pack, panel, whole, V, mu, decay, rate, nesterov)
        if edge > 0:
            _edge_columns(A, a_off + t0 * a_ts, a_ts, B, b_off + t0 * b_ts + main, b_ts, C, c_off + main, c_rs, n_rows,
                          edge, n_t, alpha, written, V, mu, decay, rate, nesterov)


@kernel
def _packed_chunk(A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, n_t, alpha, mode, pack, panel, whole,
                  V, mu, decay, rate, nesterov):
    """One chunk of n_t t of _packed's product, for columns [0, n_cols): block by block of MC_DOWN rows, every
    row tile's strip copied into ``pack``, then the tiles over it, panel by panel."""
    chunk = KC_DOWN32 if C.itemsize == 4 else KC_DOWN64  # the copy's stride, as pack_size counts it
    most, fewest = (MR32, FULL_ROWS32) if C.itemsize == 4 else (MR64, FULL_ROWS64)  # the strips' rows
    words = words_at(C.itemsize)
    for m0 in range(0, n_rows, MC_DOWN):
        m1 = min(n_rows, m0 + MC_DOWN)
        r0, strip = m0, words
        while r0 < m1:  # the strip of the row tile from r0: n_t runs of its rows' values, and its word
            rows = tile_rows(m1 - r0, most, fewest)
            pack_strip(A, a_off + r0, a_ts, pack, (r0 - m0) * chunk, rows, n_t, rows, strip)
            r0, strip = r0 + rows, strip + 1
        for c0 in range(0, n_cols, panel):
            cols = min(panel, n_cols - c0)
            r0, strip = m0, words
            while r0 < m1:  # each over the t in its strip's word
                rows = tile_rows(m1 - r0, most, fewest)
                _tile(pack, (r0 - m0) * chunk, 1, rows, B, b_off + c0, b_ts, C, c_off + r0 * c_rs + c0, c_rs, rows,
                      cols, n_t, alpha, mode, whole, V, mu, decay, rate, nesterov, pack, strip)
                r0, strip = r0 + rows, strip + 1


@kernel
def panel_width(itemsize):
    """PANEL32 or PANEL64 for C's ``itemsize``."""
    return PANEL32 if itemsize == 4 else PANEL64


@kernel
def panels_size(n_cols, itemsize):
    """Columns of gemm_panels' layout of ``n_cols`` columns, its panels' padding included: whole panels, the last
    one vector wider where it takes the columns after it (panel_stop)."""
    panel = panel_width(itemsize)
    c0 = size = 0
    while c0 < n_cols:
        stop = panel_stop(c0, n_cols, panel, itemsize, True)
        size += panel if stop - c0 <= panel else panel + (VW32 if itemsize == 4 else VW64)
        c0 = stop
    return size


@kernel
def panel_offset(t0, n_t, c0, total):
    """Where gemm_panels' layout holds the rows from t0 (a multiple of KC; n_t of them) of the panel from column
    c0, of a B whose panels are ``total`` columns wide in all (panels_size): after the whole chunks of t before
    t0, and in that chunk after the c0 columns of the panels before it."""
    return t0 * total + c0 * n_t


@kernel
def gemm_panels(A, a_off, a_rs, B, b_off, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode):
    """gemm with A read along its rows (a_ts = 1) and B in panels: B's columns cut at multiples of P =
    panel_width(C.itemsize), but the last panel runs on to the last column if that is at most one vector further
    (panel_stop; FUSED only), each panel padded to P columns, or P + one vector for such a last one; chunk by chunk
    of KC t, and in each chunk panel by panel: the value of column c of the panel from column c0, W wide, at t in
    the chunk from t0 (n_t t long) is B[b_off + panel_offset(t0, n_t, c0, panels_size(n_cols)) + (t - t0) * W + c -
    c0]. The same values as gemm, bit for bit (the same chunks of t, the same chains).

    For each chunk of t, the row tiles go over every panel in turn while their rows of A stay in L1, and
    each panel's rows of B are one run of memory, read in order and never split across cache lines the way
    rows of n_out weights are; a chunk's panels are one run too, so weights too large for L2 stream from L3
    in a single pass per chunk (784-256-128-10 float32, whose first layer is 0.8 MB, one Zen 3 thread: that layer
    4,300-4,321 ns a sample against 4,350-4,376 with each panel's chunks one after the other; whole prediction of
    10,000 images 1.01 times as fast on one thread and on two, 5 alternating process pairs).

    Meant for a few dozen rows at a time (prediction's blocks of forward.SAMPLE_BLOCK samples), with B copied
    once for many such calls (forward.pack_panels): 24 x 100 x 784 float32 blocks on one Zen 3 thread ran at
    1.15 times gemm's speed, and as fast as a one-thread sgemm of 512 rows, when a stored row of 100 units was
    not a whole number of cache lines; since rows are whole lines (112 units), at 1.02-1.06 times (1,743-1,754
    against 1,786-1,863 ns a row, three runs), and alike at 128 rows.
    """
    panel = panel_width(C.itemsize)
    total = panels_size(n_cols, C.itemsize)
    chunk = KC
    for t0 in range(0, max(T, 1), chunk):  # at least once: T = 0 still stores alpha * 0 in mode STORE
        n_t = min(chunk, T - t0)
        written = chunk_mode(mode, t0)
        c0 = 0
        while c0 < n_cols:
            cols = panel_stop(c0, n_cols, panel, C.itemsize, True) - c0
            width = panels_size(cols, C.itemsize)
            most, fewest = tile_limits(cols, C.itemsize, True, True)
            r0 = 0
            while r0 < n_rows:
                rows = tile_rows(n_rows - r0, most, fewest)
                _tile(A, a_off + r0 * a_rs + t0, a_rs, 1, B, b_off + panel_offset(t0, n_t, c0, total), width, C,
                      c_off + r0 * c_rs + c0, c_rs, rows, cols, n_t, alpha, written, True, None, alpha, alpha, alpha,
                      False, None, 0)
                r0 += rows
            c0 += cols


def _two_sum(x, y):
    """s = x + y rounded, e the exact error: s + e == x + y (Knuth)."""
    s = x + y
    back = s - x
    return s, (x - (s - back)) + (y - back)


def _round_to_odd(s, e):
    """The float bracketing s + e (e the error of s) whose last bit is odd, s itself when e == 0."""
    even = (s.view(np.int64) & 1) == 0
    return np.where((e != 0) & even, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)


class python:
    """The tile in NumPy, for NUMBA_DISABLE_JIT=1 (the coverage run), with an exactly rounded fma so that it
    computes what the compiled tile computes, bit for bit (tests/kernels/test_microkernel.py)."""

    @staticmethod
    def fma(a, b, c):
        """a * b + c rounded once, elementwise, for float32 or float64 arrays (exact away from overflow and
        from float64 underflow)."""
        a, b, c = np.asarray(a), np.asarray(b), np.asarray(c)
        with np.errstate(all="ignore"):
            if c.dtype == np.float32:
                # The product of two float32 is exact in float64; the sum rounded to odd in 53 bits, then to
                # 24 bits, is the sum rounded once (Boldo and Melquiond, rounding to odd).
                s, e = _two_sum(a.astype(np.float64) * b.astype(np.float64), c.astype(np.float64))
                return _round_to_odd(s, e).astype(np.float32)
            # float64: the exact product as high + low (Dekker), the exact sum high + low with c, the two lows
            # added with rounding to odd, the whole rounded once (Boldo and Melquiond's fma emulation).
            split = np.float64(134217729.0)  # 2**27 + 1
            a_big = a * split
            a_hi = a_big - (a_big - a)
            a_lo = a - a_hi
            b_big = b * split
            b_hi = b_big - (b_big - b)
            b_lo = b - b_hi
            u_hi = a * b
            u_lo = ((a_hi * b_hi - u_hi) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
            t_hi, t_lo = _two_sum(c, u_hi)
            v = _round_to_odd(*_two_sum(t_lo, u_lo))
            return np.where(np.isfinite(u_hi) & (a * b != 0), t_hi + v, a * b + c)

    @staticmethod
    def tile(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, whole=False, V=None,
             mu=0, decay=0, rate=0, nesterov=False, K=None, k_word=0):
        a, b, c = A.reshape(-1), B.reshape(-1), C.reshape(-1)
        r = np.arange(rows)[:, None]
        k = np.arange(cols)[None, :]
        at = c_off + r * c_rs + k
        s = c[at] if mode == CHAIN else np.zeros((rows, cols), C.dtype)
        ts = range(n_t)
        if K is not None:  # the t of the set bits of K's word (_tile)
            bits = int(K.reshape(-1).view(np.int64)[k_word])
            ts = [t for t in range(64) if (bits >> t) & 1]
        for t in ts:
            s = python.fma(a[a_off + r * a_rs + t * a_ts], b[b_off + t * b_ts + k], s)
        alpha = C.dtype.type(alpha)
        if mode == MOMENTUM:  # as _Emitter.tile, fma by fma
            v, dtype = V.reshape(-1), C.dtype.type
            g = python.fma(dtype(decay), c[at], alpha * s)
            v[at] = python.fma(dtype(mu), v[at], g)
            step = python.fma(dtype(mu), v[at], g) if nesterov else v[at]
            c[at] = python.fma(-dtype(rate), step, c[at])
        else:
            c[at] = python.fma(alpha, s, c[at]) if mode == ADD else alpha * s


#: Most vectors of columns that one pass of ``step_and_sum`` keeps in registers: the sums and the deltas of
#: each, beside three broadcasts, AVX2's mask and the weights in flight (AVX2: 3 + 3 + 3 + 1 + 3 of 16, as 4
#: spilled one; AVX-512: 8 + 8 + 3 + 8 of 32, its masks in mask registers).
STEP_VECTORS = 8 if TARGET.isa == "avx512" else 3


def _step_and_sum_loop(emit, vectors, mask, pw, w_rs, px, scale, pa, pd, ps, factor, rows, convert, done):
    """The loop over rows k of one ``step_and_sum`` pass of ``vectors`` vectors (the last under ``mask``)."""
    b = emit.b
    i64 = ir.IntType(64)
    zero = ir.Constant(emit.vector, [0.0] * emit.lanes)
    lanes = ir.Constant(i64, emit.lanes)

    def edge(v):
        return mask if v == vectors - 1 else None

    deltas = [emit.load(pd, b.mul(lanes, ir.Constant(i64, v)), edge(v)) for v in range(vectors)]
    starts = [emit.load(ps, b.mul(lanes, ir.Constant(i64, v)), edge(v)) for v in range(vectors)]
    step = splat(b, factor, emit.lanes)
    head, loop, tail = emit.begin_loop(rows, "step")
    k = b.phi(i64)
    k.add_incoming(ir.Constant(i64, 0), head)
    sums = [b.phi(emit.vector) for _ in range(vectors)]
    for phi, start in zip(sums, starts):
        phi.add_incoming(start, head)
    now = splat(b, b.load(b.gep(pa, [k])), emit.lanes)
    after = splat(b, b.fmul(convert(b.load(b.gep(px, [k]))), scale), emit.lanes)
    at = b.mul(k, w_rs)
    new = []
    for v in range(vectors):
        offset = b.add(at, b.mul(lanes, ir.Constant(i64, v)))
        product = b.call(emit.fma, [now, deltas[v], zero])
        weight = b.call(emit.fma, [step, product, emit.load(pw, offset, edge(v))])
        emit.store(weight, pw, offset, edge(v))
        new.append(b.call(emit.fma, [after, weight, sums[v]]))
    k_next = b.add(k, ir.Constant(i64, 1))
    body_end = b.block
    k.add_incoming(k_next, body_end)
    for phi, value in zip(sums, new):
        phi.add_incoming(value, body_end)
    back = b.cbranch(b.icmp_signed("<", k_next, rows), loop, tail)
    back.set_metadata("llvm.loop", emit.loop_metadata())
    b.position_at_end(tail)
    for v, value in enumerate(emit.loop_results([new], head, body_end, [starts])[0]):
        emit.store(value, ps, b.mul(lanes, ir.Constant(i64, v)), edge(v))
    b.branch(done)


@intrinsic
def step_and_sum(typingctx, W, w_off, w_rs, X, x_off, scale, A, a_off, D, d_off, S, s_off, factor, rows, cols):
    """One sample's SGD step on ``rows`` rows of W and the next sample's sums over them, in one pass: for
    k < rows, c < cols <= STEP_VECTORS vectors, with w = W[w_off + k*w_rs + c]:

        w = fma(factor, fma(A[a_off + k], D[d_off + c], 0), w)      (gemm's step for one t, ADD mode)
        s_c = fma(X[x_off + k] * scale, w, s_c) over k in order from S[s_off + c], then S[s_off + c] = s_c

    (gemm's chain in mode CHAIN, alpha 1), X converted to W's dtype first as ``gather`` does. The
    sums and the deltas stay in registers over the rows; the last vector is masked."""
    arrays = (W, X, A, D, S)
    if not all(isinstance(t, types.Array) and t.layout == "C" for t in arrays):
        return None  # flat offsets: contiguous arrays only
    if W.dtype not in (types.float32, types.float64):
        return None
    if not (A.dtype == D.dtype == S.dtype == W.dtype):
        return None
    dtype = W.dtype
    sig = types.none(W, w_off, w_rs, X, x_off, scale, A, a_off, D, d_off, S, s_off, factor, rows, cols)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)

        arguments = _Arguments(context, builder, signature, args)
        int64, data = arguments.int64, arguments.data

        pw, px, pa, pd, ps = data(0, 1), data(3, 4), data(6, 7), data(8, 9), data(10, 11)
        w_rs, rows, cols = int64(2), int64(13), int64(14)
        scale, factor = arguments.number(5, dtype), arguments.number(12, dtype)
        lanes = TARGET.vector_bytes // (4 if dtype == types.float32 else 8)
        emit = _Emitter(builder, context.get_value_type(dtype), lanes)
        width = ir.Constant(i64, lanes)
        left = builder.srem(cols, width)
        vectors = builder.sdiv(builder.add(cols, ir.Constant(i64, lanes - 1)), width)
        mask = emit.mask(left)
        masked = builder.zext(builder.icmp_signed("!=", left, ir.Constant(i64, 0)), i64)
        key = builder.add(builder.mul(vectors, ir.Constant(i64, 2)), masked)
        done = builder.append_basic_block("step.done")
        switch = builder.switch(key, done)
        for v in range(1, STEP_VECTORS + 1):
            for partial in (0, 1):
                block = builder.append_basic_block(f"step.{v}.{partial}")
                switch.add_case(ir.Constant(i64, 2 * v + partial), block)
                builder.position_at_end(block)
                _step_and_sum_loop(emit, v, mask if partial else None, pw, w_rs, px, scale, pa, pd, ps, factor,
                                   rows, arguments.converter(3, dtype), done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


#: The rules of ``update_rows``, by number: SGD without momentum, with momentum, with Nesterov momentum; Adam.
SGD_PLAIN, SGD_MOMENTUM, SGD_NESTEROV, ADAM_RULE = 0, 1, 2, 3


def _update_vector(emit, rule, pointers, at, mask, values, left=None):
    """One vector of ``update_rows``: its elements at offset ``at`` of each pointer, under ``mask`` if given, whose
    ``left`` first lanes (an i64) AVX2 stores with plain stores (_Emitter.write_back: Zen 3's masked store is slow)."""
    b = emit.b
    pw, pg, pm, ps = pointers
    decay, rate, mu, c1, b2, c2, eps = values

    def store(value, pointer):
        if emit.avx2 and mask is not None:
            emit.narrow_stores([(value, at)], pointer, left)
        else:
            emit.store(value, pointer, at, mask)

    w = emit.load(pw, at, mask)
    g = b.fadd(emit.load(pg, at, mask), b.fmul(decay, w))  # the gradient with weight decay
    if rule == SGD_PLAIN:
        step = g
    elif rule in (SGD_MOMENTUM, SGD_NESTEROV):
        v = b.fadd(b.fmul(mu, emit.load(pm, at, mask)), g)
        store(v, pm)
        step = b.fadd(g, b.fmul(mu, v)) if rule == SGD_NESTEROV else v
    else:
        m = b.fadd(b.fmul(mu, emit.load(pm, at, mask)), b.fmul(c1, g))
        v = b.fadd(b.fmul(b2, emit.load(ps, at, mask)), b.fmul(c2, b.fmul(g, g)))
        store(m, pm)
        store(v, ps)
        sqrt = cgutils.get_or_insert_function(b.module, ir.FunctionType(emit.vector, [emit.vector]),
                                              f"llvm.sqrt.v{emit.lanes}f{emit.itemsize * 8}")
        root = b.call(sqrt, [v])
        store(b.fsub(w, b.fdiv(b.fmul(rate, m), b.fadd(root, eps))), pw)
        return
    store(b.fsub(w, b.fmul(rate, step)), pw)


def _update_rows_loops(emit, rule, pointers, lead, rows, cols, values, done):
    """The loops of one rule of ``update_rows``: over the rows, over each row's whole vectors, then its masked
    partial one."""
    b = emit.b
    i64 = ir.IntType(64)
    width = ir.Constant(i64, emit.lanes)
    full = b.sdiv(cols, width)
    left = b.srem(cols, width)
    mask = emit.mask(left)
    partial = b.icmp_signed("!=", left, ir.Constant(i64, 0))
    head, row_loop, row_tail = emit.begin_loop(rows, "rows")
    k, at = b.phi(i64), b.phi(i64)
    k.add_incoming(ir.Constant(i64, 0), head)
    at.add_incoming(ir.Constant(i64, 0), head)
    inner_head, vector_loop, vector_tail = emit.begin_loop(full, "vectors")
    j = b.phi(i64)
    j.add_incoming(ir.Constant(i64, 0), inner_head)
    _update_vector(emit, rule, pointers, b.add(at, b.mul(j, width)), None, values)
    j_next = b.add(j, ir.Constant(i64, 1))
    j.add_incoming(j_next, b.block)
    b.cbranch(b.icmp_signed("<", j_next, full), vector_loop, vector_tail)
    b.position_at_end(vector_tail)
    with b.if_then(partial):
        _update_vector(emit, rule, pointers, b.add(at, b.mul(full, width)), mask, values, left)
    k_next = b.add(k, ir.Constant(i64, 1))
    k.add_incoming(k_next, b.block)
    at.add_incoming(b.add(at, lead), b.block)
    b.cbranch(b.icmp_signed("<", k_next, rows), row_loop, row_tail)
    b.position_at_end(row_tail)
    b.branch(done)


@intrinsic
def update_rows(typingctx, W, G, M, S, first, lead, rows, cols, rule, decay, rate, mu, b1, b2, eps):
    """The optimizer's update of ``rows`` rows of ``cols`` elements, ``lead`` apart from flat index ``first`` of
    W, its gradient G and its state M and S (all of W's dtype; S Adam's only), by ``rule`` (SGD_PLAIN,
    SGD_MOMENTUM, SGD_NESTEROV or ADAM_RULE), element by element in vectors, a row's last one masked, so that
    the elements between rows are never read. Every operation is rounded on its own (no fma), in this order:

        g = G + decay W
        SGD:  v = mu M + g (M = v);  W = W - rate (g + mu v if Nesterov else v)   (W = W - rate g without momentum)
        Adam: m = b1 M + (1 - b1) g;  v = b2 S + (1 - b2) g^2  (M = m, S = v);  W = W - rate m / (sqrt(v) + eps)

    the same values as the scalar loop spelled so, whatever the rows, the vector width or the ISA."""
    arrays = (W, G, M, S)
    if not all(isinstance(t, types.Array) and t.layout == "C" for t in arrays):
        return None
    if W.dtype not in (types.float32, types.float64) or not all(t.dtype == W.dtype for t in arrays):
        return None
    dtype = W.dtype
    sig = types.none(W, G, M, S, first, lead, rows, cols, rule, decay, rate, mu, b1, b2, eps)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)

        arguments = _Arguments(context, builder, signature, args)
        int64 = arguments.int64
        pointers = [arguments.data(i, 4) for i in range(4)]
        lead, rows, cols, rule = int64(5), int64(6), int64(7), int64(8)
        lanes = TARGET.vector_bytes // (4 if dtype == types.float32 else 8)
        emit = _Emitter(builder, context.get_value_type(dtype), lanes)
        one = ir.Constant(context.get_value_type(dtype), 1.0)
        decay, rate, mu, b1, b2, eps = (arguments.number(i, dtype) for i in range(9, 15))
        # SGD's momentum and Adam's beta_1 multiply M alike
        scalars = (decay, rate, mu, builder.fsub(one, b1), b2, builder.fsub(one, b2), eps)
        values = [splat(builder, value, lanes) for value in scalars]
        done = builder.append_basic_block("update.done")
        switch = builder.switch(rule, done)
        for code in (SGD_PLAIN, SGD_MOMENTUM, SGD_NESTEROV, ADAM_RULE):
            block = builder.append_basic_block(f"update.{code}")
            switch.add_case(ir.Constant(i64, code), block)
            builder.position_at_end(block)
            factor = values[:2] + [splat(builder, b1, lanes) if code == ADAM_RULE else values[2]] + values[3:]
            _update_rows_loops(emit, code, pointers, lead, rows, cols, factor, done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


def _update_rows_python(W, G, M, S, first, lead, rows, cols, rule, decay, rate, mu, b1, b2, eps):
    """update_rows in NumPy (NUMBA_DISABLE_JIT=1), the same operations in the same order."""
    dtype = W.dtype.type
    decay, rate, mu, b1, b2, eps = (dtype(x) for x in (decay, rate, mu, b1, b2, eps))
    for k in range(rows):
        at = slice(first + k * lead, first + k * lead + cols)
        w = W[at]
        g = G[at] + decay * w
        if rule == ADAM_RULE:
            M[at] = b1 * M[at] + (dtype(1) - b1) * g
            S[at] = b2 * S[at] + (dtype(1) - b2) * (g * g)
            W[at] = w - rate * M[at] / (np.sqrt(S[at]) + eps)
            continue
        if rule != SGD_PLAIN:
            M[at] = mu * M[at] + g
            g = g + mu * M[at] if rule == SGD_NESTEROV else M[at]
        W[at] = w - rate * g


def _step_and_sum_python(W, w_off, w_rs, X, x_off, scale, A, a_off, D, d_off, S, s_off, factor, rows, cols):
    """step_and_sum in NumPy, the same operations in the same order (NUMBA_DISABLE_JIT=1)."""
    w, x, a, d, out = W.reshape(-1), X.reshape(-1), A.reshape(-1), D.reshape(-1), S.reshape(-1)
    dtype = w.dtype.type
    deltas = d[d_off : d_off + cols]
    sums = out[s_off : s_off + cols].copy()
    for k in range(rows):
        at = w_off + k * w_rs
        row = python.fma(dtype(factor), python.fma(a[a_off + k], deltas, dtype(0)), w[at : at + cols])
        w[at : at + cols] = row
        sums = python.fma(dtype(x[x_off + k]) * dtype(scale), row, sums)
    out[s_off : s_off + cols] = sums


def _bits(nonzero):
    """The int64 whose bit j is set where nonzero[j] (at most 64 booleans), as the compiled kernels make it."""
    return np.array(sum(1 << int(j) for j in np.flatnonzero(nonzero)), np.uint64).view(np.int64)[()]


def _pack_strip_python(S, s_off, s_ts, D, d_off, d_ts, n_t, rows, word):
    """pack_strip in NumPy (NUMBA_DISABLE_JIT=1); it writes the rows and the word only."""
    s, d = S.reshape(-1), D.reshape(-1)
    for t in range(n_t):
        d[d_off + t * d_ts : d_off + t * d_ts + rows] = s[s_off + t * s_ts : s_off + t * s_ts + rows]
    d.view(np.int64)[word] = _bits([np.any(s[s_off + t * s_ts : s_off + t * s_ts + rows] != 0) for t in range(n_t)])


def _edge_python(A, a_off, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, V, mu, decay, rate,
                 nesterov):
    """_edge in NumPy (NUMBA_DISABLE_JIT=1): the tile's values, whichever way its vectors run."""
    python.tile(A, a_off, 1, a_ts, B, b_off, b_ts, C, c_off, c_rs, rows, cols, n_t, alpha, mode, False, V, mu, decay,
                rate, nesterov)


if numba.config.DISABLE_JIT:
    _tile = python.tile
    _edge = _edge_python
    step_and_sum = _step_and_sum_python
    update_rows = _update_rows_python
    pack_strip = _pack_strip_python

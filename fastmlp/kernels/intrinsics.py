"""The few LLVM instructions the kernels need and Numba does not offer: atomics, spin-wait and
prefetch hints, a call to sched_yield, a power of two built from its exponent bits, a flat view of an
array that needs no runtime, and an argmax down the rows of one vector of columns.

Each is a Numba intrinsic: it emits its instruction in place, inside the kernel that uses it, so
a loop that uses one can still be vectorised and the kernel can still be cached.
"""

import platform
import threading
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

from .target import TARGET

_X86 = platform.machine().lower() in {"x86_64", "amd64", "i686", "x86"}


def _pointer(context, builder, array_type, array, index):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index])


@intrinsic
def atomic_add(typingctx, array, index, value):
    """array[index] += value atomically; returns the old value.  array: int64[::1]."""
    if array != types.int64[::1]:
        return None

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", pointer, value, "seq_cst")

    return types.int64(array, index, value), codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """array[index], read atomically."""
    if array != types.int64[::1]:
        return None

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "seq_cst", 8)

    return types.int64(array, index), codegen


@intrinsic
def atomic_store(typingctx, array, index, value):
    """array[index] = value, written atomically."""
    if array != types.int64[::1]:
        return None

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(value, pointer, "seq_cst", 8)
        return context.get_dummy_value()

    return types.none(array, index, value), codegen


@intrinsic
def spin_pause(typingctx):
    """The CPU's spin-wait hint (x86 ``pause``); nothing elsewhere."""

    def codegen(context, builder, signature, args):
        if _X86:
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"
            )
            builder.call(function, [])
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def yield_core(typingctx):
    """Give the core to another runnable thread (POSIX ``sched_yield``)."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield"
        )
        builder.call(function, [])
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Ask the CPU to bring the cache line of array[index] in, for reading; nothing else happens."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(),
                            [ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(32), ir.IntType(32)]),
            "llvm.prefetch.p0i8",
        )
        i32 = ir.IntType(32)
        address = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        # read, high temporal locality, data cache
        builder.call(function, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen


@intrinsic
def touch(typingctx, array, index):
    """Read array[index] and drop the value: a load that LLVM keeps (an empty assembly statement takes its
    value) and the CPU carries out, so the line comes into the cache where a prefetch hint for it may not
    (forward.prefetch_samples)."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        value = builder.load(pointer)
        if isinstance(value.type, ir.FloatType):  # as integers, so that one register constraint serves every CPU
            value = builder.bitcast(value, ir.IntType(32))
        elif isinstance(value.type, ir.DoubleType):
            value = builder.bitcast(value, ir.IntType(64))
        # an empty assembly statement that takes the value, which LLVM cannot look into: the load stays
        builder.asm(ir.FunctionType(ir.VoidType(), [value.type]), "", "r", [value], True, "touch")
        return context.get_dummy_value()

    return types.none(array, index), codegen


@intrinsic
def pow2(typingctx, n, like):
    """2.0 ** n for an integer n in the normal exponent range of the float type of ``like`` (-126..127 for
    float32, -1022..1023 for float64), of that type, written straight into its exponent bits; ``like``'s
    value is not read."""
    if not isinstance(n, types.Integer) or like not in (types.float32, types.float64):
        return None
    width, fraction_bits, bias = (32, 23, 127) if like == types.float32 else (64, 52, 1023)

    def codegen(context, builder, signature, args):
        integer = ir.IntType(width)
        given = signature.args[0].bitwidth
        k = args[0]
        if given > width:
            k = builder.trunc(k, integer)
        elif given < width:
            k = builder.sext(k, integer)
        bits = builder.shl(builder.add(k, ir.Constant(integer, bias)), ir.Constant(integer, fraction_bits))
        return builder.bitcast(bits, context.get_value_type(like))

    return like(n, like), codegen


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (x86 ``rdtsc``; 0 where LLVM has none), for timing phases of an epoch."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter"
        )
        return builder.call(function, [])

    return types.int64(), codegen


@intrinsic
def flat(typingctx, array):
    """A C-contiguous array's elements as a 1-d view, without Numba's runtime: the microkernels index their
    operands by flat offsets, so taking every operand as 1-d compiles one version of them where arrays of
    several ranks would each compile their own."""
    if not isinstance(array, types.Array) or array.layout != "C":
        return None
    result = array.copy(ndim=1, layout="C")

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        view = context.make_array(result)(context, builder)
        populate_array(view, data=source.data, shape=cgutils.pack_array(builder, [source.nitems]),
                       strides=cgutils.pack_array(builder, [source.itemsize]), itemsize=source.itemsize,
                       meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, result, view._getvalue())  # a view: its own reference if counted

    return result(array), codegen


def splat(builder, value, lanes):
    """A vector of ``lanes`` copies of the scalar ``value``."""
    vector = builder.insert_element(ir.Constant(ir.VectorType(value.type, lanes), ir.Undefined), value,
                                    ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    return builder.shuffle_vector(vector, ir.Constant(vector.type, ir.Undefined), mask)


def vector_lanes(itemsize: int) -> int:
    """Values of ``itemsize`` bytes in one of the target's vector registers."""
    return TARGET.vector_bytes // itemsize


@intrinsic
def argmax_lanes(typingctx, y, at, stride, n, best, b_at):
    """For each lane l < L of one vector (L = vector_lanes of y's itemsize): best[b_at + l] = the first j < n of the
    largest y[at + j * stride + l], as a number of y's dtype: NumPy's argmax down a column, but for NaN (only a
    NaN in row 0 wins, as the comparisons with it are false). Whole vectors, no masks: y must hold L values from
    at + j * stride for every j < n, and best L from b_at. Where samples lie across the lanes
    (forward._output_across), LLVM left the same loop in Numba to one value at a time: a block of 24 samples is
    shorter than the 32 lanes of its vectorised steps."""
    if not isinstance(y, types.Array) or y.dtype not in (types.float32, types.float64) or best != y:
        return None
    sig = types.none(y, at, stride, n, best, b_at)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        dtype = signature.args[0].dtype
        element = context.get_value_type(dtype)
        itemsize = context.get_abi_sizeof(element)
        vector = ir.VectorType(element, vector_lanes(itemsize))
        stride, n = (context.cast(builder, args[k], signature.args[k], types.int64) for k in (2, 3))
        start = _pointer(context, builder, signature.args[0], args[0], args[1])

        def load(offset):
            return builder.load(builder.bitcast(builder.gep(start, [offset]), vector.as_pointer()), align=itemsize)

        first = load(ir.Constant(i64, 0))
        zero = ir.Constant(vector, [0.0] * vector.count)
        head = builder.block
        loop = builder.append_basic_block("argmax.loop")
        done = builder.append_basic_block("argmax.done")
        builder.cbranch(builder.icmp_signed(">", n, ir.Constant(i64, 1)), loop, done)
        builder.position_at_end(loop)
        j, top, index = builder.phi(i64), builder.phi(vector), builder.phi(vector)
        j.add_incoming(ir.Constant(i64, 1), head)
        top.add_incoming(first, head)
        index.add_incoming(zero, head)
        value = load(builder.mul(j, stride))
        better = builder.fcmp_ordered(">", value, top)  # strictly: the first of equal values stays
        new_top = builder.select(better, value, top)
        new_index = builder.select(better, splat(builder, builder.sitofp(j, element), vector.count), index)
        j_next = builder.add(j, ir.Constant(i64, 1))
        end = builder.block
        j.add_incoming(j_next, end)
        top.add_incoming(new_top, end)
        index.add_incoming(new_index, end)
        builder.cbranch(builder.icmp_signed("<", j_next, n), loop, done)
        builder.position_at_end(done)
        result = builder.phi(vector)
        result.add_incoming(zero, head)
        result.add_incoming(new_index, end)
        target = _pointer(context, builder, signature.args[4], args[4], args[5])
        builder.store(result, builder.bitcast(target, vector.as_pointer()), align=itemsize)
        return context.get_dummy_value()

    return sig, codegen


class python:
    """The same operations in plain Python, for NUMBA_DISABLE_JIT=1 (the coverage run), where the kernels
    run as Python and an intrinsic cannot be called; a lock makes the atomics atomic.
    tests/kernels/test_intrinsics.py checks that each does what its intrinsic does."""

    _lock = threading.Lock()

    @staticmethod
    def atomic_add(array, index, value):
        with python._lock:
            old = array[index]
            array[index] += value
            return old

    @staticmethod
    def atomic_load(array, index):
        with python._lock:
            return array[index]

    @staticmethod
    def atomic_store(array, index, value):
        with python._lock:
            array[index] = value

    @staticmethod
    def spin_pause():
        pass

    @staticmethod
    def yield_core():
        time.sleep(0)  # lets the other Python threads of the team run

    @staticmethod
    def prefetch(array, index):
        pass

    @staticmethod
    def touch(array, index):
        pass

    @staticmethod
    def cycles():
        return time.perf_counter_ns()

    @staticmethod
    def flat(array):
        return array.reshape(-1)

    @staticmethod
    def pow2(n, like):
        return np.asarray(like).dtype.type(np.ldexp(1.0, int(n)))

    @staticmethod
    def argmax_lanes(y, at, stride, n, best, b_at):
        lanes = vector_lanes(y.itemsize)
        for lane in range(lanes):
            top, index = y[at + lane], 0
            for j in range(1, n):
                if y[at + j * stride + lane] > top:
                    top, index = y[at + j * stride + lane], j
            best[b_at + lane] = index


if numba.config.DISABLE_JIT:
    atomic_add = python.atomic_add
    atomic_load = python.atomic_load
    atomic_store = python.atomic_store
    spin_pause = python.spin_pause
    yield_core = python.yield_core
    prefetch = python.prefetch
    touch = python.touch
    pow2 = python.pow2
    flat = python.flat
    cycles = python.cycles
    argmax_lanes = python.argmax_lanes

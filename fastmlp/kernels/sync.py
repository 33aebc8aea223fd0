"""A spinning barrier for a team of threads that each run one serial kernel (see kernels.team).

Numba has no atomics on the CPU, so the three operations the barrier needs are written here as
LLVM instructions: a sequentially consistent fetch-and-add, load and store on an int64 array
element. Sequential consistency also orders the ordinary loads and stores around them, which is
what makes one thread's results visible to the others after the barrier.
"""

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._compile import kernel

#: Spins (each a CPU pause) before a waiting thread starts to give its core away: a team that
#: shares its cores with other work must not burn their time slices.
SPINS_BEFORE_YIELD = 20_000
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


#: Slots of the barrier's state array; each on its own 64-byte cache line.
ARRIVED, GENERATION, STATE_SIZE = 0, 8, 16


@kernel
def barrier(state, n_threads):
    """Wait until all ``n_threads`` threads of the team have called barrier, then return in each.

    state: int64[STATE_SIZE], zeros at the start, shared by the team. The last thread to arrive
    resets the count and starts the next generation, which releases the others.
    """
    if n_threads == 1:
        return
    generation = atomic_load(state, GENERATION)
    if atomic_add(state, ARRIVED, 1) == n_threads - 1:
        atomic_store(state, ARRIVED, 0)
        atomic_add(state, GENERATION, 1)
        return
    spins = 0
    while atomic_load(state, GENERATION) == generation:
        if spins < SPINS_BEFORE_YIELD:
            spin_pause()
            spins += 1
        else:
            yield_core()

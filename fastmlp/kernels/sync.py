"""A spinning barrier for a team of threads that each run one serial kernel (see kernels.team).

Numba has no atomics on the CPU, so the three operations the barrier needs are LLVM instructions
(kernels.intrinsics): a sequentially consistent fetch-and-add, load and store on an int64 array
element. Sequential consistency also orders the ordinary loads and stores around them, which is
what makes one thread's results visible to the others after the barrier.
"""

from .._compile import kernel
from .intrinsics import atomic_add, atomic_load, atomic_store, spin_pause, yield_core

#: Spins (each a CPU pause) before a waiting thread starts to give its core away: a team that
#: shares its cores with other work must not burn their time slices.
SPINS_BEFORE_YIELD = 20_000
#: Slots of the barrier's state array; each on its own 64-byte cache line.
ARRIVED, GENERATION, STATE_SIZE = 0, 8, 16


@kernel
def wait_until(state, slot, value):
    """Wait until state[slot] (which another thread of the team sets with atomic_store or atomic_add) is at
    least ``value``: spinning SPINS_BEFORE_YIELD times, then giving the core away between looks."""
    spins = 0
    while atomic_load(state, slot) < value:
        if spins < SPINS_BEFORE_YIELD:
            spin_pause()
            spins += 1
        else:
            yield_core()


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
    wait_until(state, GENERATION, generation + 1)  # generations only count up


@kernel
def meet_again(state, n_threads, times):
    """Pass the barrier ``times`` times: run on every thread of a team, the time it takes is that many trips of
    a cache line between their cores and back (bench.machine.core_round_trip_ns)."""
    for _ in range(times):
        barrier(state, n_threads)


@kernel
def swap_rows(rows, state, member, times, crossing):
    """As member ``member`` of a team of two, ``times`` times: write this member's row of ``rows`` (pass t writes
    member + t + 1 everywhere), meet the other member, read the other member's row (``crossing``) or this
    member's own again, and meet again. Returns the sum of what was read, so that the reads are made.

    A pass that crosses takes longer than one that does not by what moving a row's cache lines from one core to
    the other costs, in both directions at once, as a training step's sums and deltas move
    (bench.machine.exchange_ns)."""
    read = 1 - member if crossing else member
    total = 0.0
    for time in range(times):
        mine = rows[member]
        for k in range(mine.size):
            mine[k] = member + time + 1
        barrier(state, 2)
        theirs = rows[read]
        for k in range(theirs.size):
            total += theirs[k]
        barrier(state, 2)
    return total

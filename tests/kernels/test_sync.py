"""kernels.sync: the team's barrier makes every write before it visible to every thread after it."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
import pytest

from fastmlp._compile import kernel
from fastmlp.kernels.intrinsics import atomic_store
from fastmlp.kernels.sync import GENERATION, STATE_SIZE, barrier, meet_again, swap_rows, wait_until

from cases import TEAM_SIZES


@kernel
def _rounds(state, n_threads, me, seen, errors, rounds):
    """Each round: write my round number, meet, check everyone's, meet again."""
    for r in range(1, rounds + 1):
        seen[me * 16] = r  # one cache line per thread
        barrier(state, n_threads)
        for other in range(n_threads):
            if seen[other * 16] != r:
                errors[me] += 1
        barrier(state, n_threads)


@pytest.mark.parametrize("n_threads", TEAM_SIZES)
def test_barrier_makes_every_write_before_it_visible_after_it(n_threads):
    state = np.zeros(STATE_SIZE, np.int64)
    seen = np.zeros(16 * n_threads, np.int64)
    errors = np.zeros(n_threads, np.int64)
    # As Python, each meeting waits for the GIL; with more threads than cores, for the scheduler.
    rounds = 300 if numba.config.DISABLE_JIT else 2_000 if n_threads > (os.cpu_count() or 1) else 20_000
    helpers = [threading.Thread(target=_rounds, args=(state, n_threads, me, seen, errors, rounds))
               for me in range(1, n_threads)]
    for thread in helpers:
        thread.start()
    _rounds(state, n_threads, 0, seen, errors, rounds)
    for thread in helpers:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert errors.tolist() == [0] * n_threads
    assert (seen[::16] == rounds).all()


def test_meet_again_passes_the_barrier_as_often_as_asked():
    """bench.machine's round-trip probe: every pass starts a new generation of the barrier, none is skipped."""
    state = np.zeros(STATE_SIZE, np.int64)
    times = 5 if numba.config.DISABLE_JIT else 1000
    other = threading.Thread(target=meet_again, args=(state, 2, times))
    other.start()
    meet_again(state, 2, times)
    other.join(timeout=60)
    assert not other.is_alive() and state[GENERATION] == times
    meet_again(state, 1, 3)  # alone: nothing to wait for, the barrier is not touched
    assert state[GENERATION] == times


@pytest.mark.parametrize("crossing", [True, False])
def test_swap_rows_reads_the_other_members_row_when_crossing(crossing):
    """bench.machine.exchange_ns times this: crossing, each member reads what the other wrote in the same pass;
    else its own row."""
    rows = np.zeros((2, 32), np.float32)
    state = np.zeros(STATE_SIZE, np.int64)
    times = 3 if numba.config.DISABLE_JIT else 50
    totals = [0.0, 0.0]

    def member(me):
        totals[me] = swap_rows(rows, state, me, times, crossing)

    other = threading.Thread(target=member, args=(1,))
    other.start()
    member(0)
    other.join()
    for me in (0, 1):
        read = 1 - me if crossing else me
        assert totals[me] == rows.shape[1] * sum(read + t + 1 for t in range(times))


@kernel
def _hand_over(state, slot, values, me, rounds):
    """Thread 0 writes values[r] and then sets state[slot] to r; thread 1 waits for r and copies what it sees into
    values[rounds + r]: a round's value must be there once the slot says so."""
    for r in range(1, rounds + 1):
        if me == 0:
            values[r] = 7 * r
            atomic_store(state, slot, r)
        else:
            wait_until(state, slot, r)
            values[rounds + r] = values[r]


def test_wait_until_returns_once_the_slot_is_set_and_sees_the_writes_before_it():
    """The point-to-point wait of a team of two (team.stolen_tail waits for the part's owner this way)."""
    rounds = 50 if numba.config.DISABLE_JIT else 5000
    state = np.zeros(STATE_SIZE + 8, np.int64)
    values = np.zeros(2 * rounds + 1, np.int64)
    waiter = threading.Thread(target=_hand_over, args=(state, STATE_SIZE, values, 1, rounds))
    waiter.start()
    _hand_over(state, STATE_SIZE, values, 0, rounds)
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    np.testing.assert_array_equal(values[rounds + 1 :], 7 * np.arange(1, rounds + 1))
    wait_until(state, STATE_SIZE, rounds)  # already there: returns at once

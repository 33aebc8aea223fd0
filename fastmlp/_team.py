"""Runs the compiled epoch (kernels.team) on a team of threads: the caller and n - 1 helpers.

Each member is an ordinary Python thread inside one nogil kernel call for the whole epoch, so
between the phases of a step the team pays for nothing but a barrier (about 0.1 us here). A pool
of Numba threads would instead be woken for every phase of every minibatch (fastmlp bench measured
1.0-1.5x from two threads that way).

The helpers are kept between epochs, one set per calling thread, and wait on an event in between.
Threads started afresh for every epoch made a short epoch (2,000 samples at batch 1) run at
50-130k samples/s from one call to the next; kept, the helper stays on its own core and the same
calls ran at 95-130k.
"""

from __future__ import annotations

import threading
import weakref

import numba
import numpy as np

from ._layout import n_params
from .kernels import SIZE
from .kernels.sync import STATE_SIZE
from .kernels.team import N_PHASES, team_epoch

#: A step with fewer multiply-adds (minibatch samples x parameters) than this runs on one thread:
#: the barriers between its phases would cost more than sharing the arithmetic saves.
TEAM_MIN_MACS = 50_000
#: Units of the first hidden layer each member needs for a team to pay under TEAM_LARGE_BATCH
#: samples: every member reads every sample's inputs, half of them gathered by the other core,
#: and a few units do too little with them. (784-15-10 at batch 32 and 128: 780k and 840k
#: samples/s on one thread, 550k and 610k on two; batch 512: 790k on one, 990k on two.)
TEAM_MIN_UNITS = 32
TEAM_LARGE_BATCH = 256


class _Helper:
    """A daemon thread that runs one team member's epoch whenever it is given one."""

    def __init__(self, name: str):
        self._go = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._job = None
        self._error: BaseException | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            self._go.wait()
            self._go.clear()
            if self._stop:
                return
            try:
                self._job()
            except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread by wait()
                self._error = error
            finally:
                self._job = None
                self._done.set()

    def start(self, job):
        self._done.wait()  # a previous epoch interrupted (Ctrl-C) while the caller waited
        self._done.clear()
        self._error = None
        self._job = job
        self._go.set()

    def wait(self):
        self._done.wait()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def stop(self):
        self._stop = True
        self._go.set()


class _Owner:
    """Stands for a calling thread in its thread-local storage: when the thread ends, the storage
    goes, this object with it, and a finalizer stops the thread's helpers."""


def _stop_all(helpers):
    for helper in helpers:
        helper.stop()


_local = threading.local()


def _helpers(count: int) -> list[_Helper]:
    """``count`` live helpers of the calling thread, started when first needed (and again in a
    forked child, where the parent's threads are not alive)."""
    helpers = getattr(_local, "helpers", None)
    if helpers is None or not all(helper.thread.is_alive() for helper in helpers):
        helpers = _local.helpers = []
        _local.owner = _Owner()
        weakref.finalize(_local.owner, _stop_all, helpers)
    while len(helpers) < count:
        helpers.append(_Helper(f"fastmlp-team-{threading.get_ident()}-{len(helpers) + 1}"))
    return helpers[:count]


def team_size(layout: np.ndarray, batch_size: int, n_threads: int) -> int:
    """Members for an epoch: all ``n_threads``, or 1 when a step is too small to share or the first
    hidden layer too narrow for the minibatch (TEAM_MIN_UNITS)."""
    if batch_size * n_params(layout) < TEAM_MIN_MACS:
        return 1
    if layout.shape[0] > 2 and layout[1, SIZE] < TEAM_MIN_UNITS * n_threads and batch_size < TEAM_LARGE_BATCH:
        return 1
    return n_threads


def train_epoch(net, opt, X, targets, weights, order, batch_size, scale, codes, work, n_threads=None,
                timings=None) -> float:
    """Train one epoch on the minibatches order[0:b], order[b:2b], ...; returns the mean per-sample
    loss, weighted by ``weights`` when it is not empty: sum w_i L_i / sum w_i (NaN when that sum is 0).

    Arguments as kernels.team.team_epoch: ``net`` a kernels.Net, ``opt`` a kernels.Optimizer (its
    state and step count advance), X (n_samples, n_in), targets (n_samples,) labels or (n_samples, n_out),
    weights (n_samples,) in the parameters' dtype or empty, order (n,) int64 rows, codes int64 (loss,
    output, hidden activation), work a kernels.Work for ``batch_size`` samples. ``n_threads``: the
    team's size; by default Numba's current thread count (``numba.set_num_threads``), or 1 for a
    network too small to share. The weights do not depend on it. ``timings``: an int64 (members, N_PHASES)
    array that each member adds its cycles per phase to (kernels.team), for ``fastmlp bench --profile``.
    """
    members = team_size(net.layout, batch_size, numba.get_num_threads()) if n_threads is None else n_threads
    state = np.zeros(STATE_SIZE, np.int64)
    if timings is None:
        timings = np.zeros((0, N_PHASES), np.int64)
    args = (net, opt, X, targets, weights, order, batch_size, scale, codes, work, state)
    if members == 1:
        total = team_epoch(*args, 0, 1, timings)
    else:
        helpers = _helpers(members - 1)
        for member, helper in enumerate(helpers, start=1):
            helper.start(lambda member=member: team_epoch(*args, member, members, timings))
        total = team_epoch(*args, 0, members, timings)
        for helper in helpers:
            helper.wait()
    if weights.size == 0:
        return total / order.size
    weight_sum = float(np.sum(weights[order], dtype=np.float64))
    return total / weight_sum if weight_sum > 0 else float("nan")

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
import time
import weakref

import numba
import numpy as np

from ._layout import n_params
from .kernels import SIZE
from .kernels.team import ADAPT, LEAN, N_PHASES, TEAM_STATE_SIZE, WAIT, team_epoch

#: A step trains on a team of threads when it has at least this many multiply-adds (minibatch samples
#: x parameters), or when its first layer has at least TEAM_MIN_FIRST_LAYER parameters; else on one
#: thread, where the team's two barriers a step would cost more than sharing saves. Since each member
#: updates and sums its own rows of the first layer (kernels.team), even one sample is worth sharing
#: when that layer is large. Measured, samples/s of one thread against a team of two (float32):
#: 784-100-10 batch 1 76-94k / 105-124k, batch 4 269-272k / 301-378k, batch 10 342-398k / 409-495k;
#: 784-15-10 batch 1 126-133k / 157-174k; 300-30-10 batch 1 278-307k / 210-247k, batch 4 951-1000k /
#: 700-886k, batch 16 even, batch 32 1.5-2.1M / 2.0-2.3M; 64-32-10 batch 8 2.7-2.9M / 1.7-2.2M, batch 128
#: 3.0-5.3M / 4.9-7.4M.
TEAM_MIN_MACS = 100_000
#: See TEAM_MIN_MACS: 784-15-10 (11,775 first-layer parameters) gains from a team at batch 1, 300-30-10
#: (9,030) does not.
TEAM_MIN_FIRST_LAYER = 10_000
#: A call of the epoch kernel (train_epoch) trains on a team only when all its steps together have at least
#: this many multiply-adds (samples x parameters): waking the helpers costs a call about 100-150 us, more than
#: sharing saves on a few small steps, such as one partial_fit of a minibatch. train_epoch on one thread against
#: two, float32, Zen 3, medians of 11 alternating rounds in one process, us: 784-100-10 batch 32, 32 samples
#: (2.5 million) 190 / 275, 64 (5.1 million) 326 / 345, 128 (10.2 million) 693 / 601; batch 1, 16 samples
#: (1.3 million) 306 / 364, 32 (2.5 million) 499 / 575, 64 (5.1 million) 1075 / 998; 784-15-10 batch 32, 256
#: samples (3.1 million) 352 / 367, 384 (4.6 million) 516 / 472; 784-256-128-10 batch 32, 16 samples (3.8
#: million) 367 / 389, 32 (7.5 million) 575 / 569.
TEAM_MIN_EPOCH_MACS = 4_000_000


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


def team_size(layout: np.ndarray, batch_size: int, n_samples: int, n_threads: int) -> int:
    """Members for an epoch of ``n_samples``: all ``n_threads``, or 1 when a step is too small to share
    (TEAM_MIN_MACS) or all of them too few to pay for waking the helpers (TEAM_MIN_EPOCH_MACS)."""
    params = n_params(layout)
    if n_samples * params < TEAM_MIN_EPOCH_MACS:
        return 1
    first_layer = int((layout[0, SIZE] + 1) * layout[1, SIZE])
    if batch_size * params >= TEAM_MIN_MACS or first_layer >= TEAM_MIN_FIRST_LAYER:
        return n_threads
    return 1


#: Steps of the first call of the team's epoch kernel in an epoch: between calls the team checks how long it
#: waited. Later calls take as many steps as last about CALL_SECONDS at the speed of the call before.
STEPS_PER_CALL = 64
#: Every call wakes the helpers and starts the pipeline of steps afresh; calls of 64 steps paid for it in
#: speed. 784-100-10 float32 on two threads, epochs of 60,000 samples in calls of 64 steps against one call:
#: batch 1 85k / 97-100k samples/s, batch 10 248k / 258-261k, batch 32 326-336k / 345-351k, batch 512 even.
#: A call costs about 120-160 us more than its steps (Zen 4, batch 32: a call of one step 231 us, median of 60,
#: against 70 us a step in calls of 256), 0.7% of a 0.02 s call. Epochs of 60,000 samples, medians of 10, calls
#: of 0.02 / 0.05 / 0.1 / 0.25 s: batch 32 461k / 469k / 468k / 476k, batch 128 497k / 496k / 502k / 502k.
#: Longer calls would also leave a team that another process slows waiting for longer before it goes solo.
CALL_SECONDS = 0.1
#: A team whose members spent this share of their cycles waiting at barriers is not getting both cores
#: (another process runs on one): the next calls run on one thread, twice as many after each relapse.
WAIT_LIMIT = 0.5
MAX_SOLO_CALLS = 64
#: Only a call of at least this share of STEPS_PER_CALL steps is judged by its wait share. In a shorter
#: one the helpers' wake-up at its start is a large share by itself: warm-up fits of 2 steps (256 samples
#: at batch 128) were all judged kept waiting, and sent the next 64 calls, whole epochs, to one thread.
JUDGED_SHARE = 0.5


def _run(args, members, timings, loss_so_far=0.0, lean=None):
    """One call of the epoch kernel on ``members`` threads: loss_so_far plus the per-sample losses. With
    ``timings`` None and several members, the wait share of a call long enough to judge (JUDGED_SHARE)
    decides how the next calls run. A team of two starts from the lean the calling thread's last call ended
    with and lets it follow its members' speeds (kernels.team.balance), or keeps ``lean`` when given."""
    state = np.zeros(TEAM_STATE_SIZE, np.int64)
    state[LEAN], state[ADAPT] = (getattr(_local, "lean", 0), 1) if lean is None else (lean, 0)
    full = args + (state,)
    if members == 1:
        return team_epoch(*full, 0, 1, np.zeros((0, N_PHASES), np.int64) if timings is None else timings,
                          loss_so_far)
    counts = np.zeros((members, N_PHASES), np.int64) if timings is None else timings
    helpers = _helpers(members - 1)
    for member, helper in enumerate(helpers, start=1):
        helper.start(lambda member=member: team_epoch(*full, member, members, counts, loss_so_far))
    total = team_epoch(*full, 0, members, counts, loss_so_far)
    for helper in helpers:
        helper.wait()
    if lean is None:  # the next call's team of two starts from the lean this one ended with
        _local.lean = int(state[LEAN])
    order, batch_size = args[5], args[6]
    if timings is None and -(-order.size // batch_size) >= max(1, JUDGED_SHARE * STEPS_PER_CALL):
        _record_team_call(counts[:, WAIT].sum() >= WAIT_LIMIT * max(counts.sum(), 1))
    return total


def lean() -> int:
    """The lean that the calling thread's last team of two ended with (kernels.team.balance): units of LEAN_ROWS
    of the first layer's rows that member 0 took from the end of member 1's part, or member 1 from member 0's when
    negative; 0 for an even split (and before any team)."""
    return int(getattr(_local, "lean", 0))


def _next_members(members):
    """Members for the calling thread's next call: 1 while a kept-waiting team sits out, else ``members``."""
    calls = getattr(_local, "solo_calls", 0)
    if calls > 0:
        _local.solo_calls = calls - 1
        return 1
    return members


def _record_team_call(kept_waiting):
    """After a team call: kept waiting, the next 1, 2, 4, ... calls (doubling per relapse) go solo; else reset."""
    backoff = getattr(_local, "backoff", 1)
    _local.solo_calls, _local.backoff = (backoff, min(2 * backoff, MAX_SOLO_CALLS)) if kept_waiting else (0, 1)


def train_epoch(net, opt, X, targets, weights, order, batch_size, scale, codes, work, n_threads=None,
                timings=None, lean=None) -> float:
    """Train one epoch on the minibatches order[0:b], order[b:2b], ...; returns the mean per-sample
    loss, weighted by ``weights`` when it is not empty: sum w_i L_i / sum w_i (NaN when that sum is 0).

    Arguments as kernels.team.team_epoch: ``net`` a kernels.Net, ``opt`` a kernels.Optimizer (its
    state and step count advance), X (n_samples, n_in), targets (n_samples,) labels or (n_samples, n_out),
    weights (n_samples,) in the parameters' dtype or empty, order (n,) int64 rows, codes int64 (loss,
    output, hidden activation), work a kernels.Work for ``batch_size`` samples. ``n_threads``: the
    team's size; by default Numba's current thread count (``numba.set_num_threads``), or 1 for a
    network or an epoch too small to share (team_size). The weights do not depend on it, so a team whose
    cores are taken by other work (it waits at its barriers for WAIT_LIMIT of its time) goes on for a while
    on one thread.
    ``timings``: an int64 (members, N_PHASES) array that each member adds its cycles per phase to
    (kernels.team), for ``fastmlp bench --profile``; the team then runs as asked throughout.
    ``lean``: a team of two's split of the first layer's rows, kept throughout (kernels.team.taken_units; the
    tests try several, the weights do not depend on it); by default it follows the members' speeds.
    """
    if n_threads is None:
        members = team_size(net.layout, batch_size, order.size, numba.get_num_threads())
    else:
        members = n_threads
    args = (net, opt, X, targets, weights, order, batch_size, scale, codes, work)
    if members == 1 or n_threads is not None or timings is not None:  # as asked
        total = _run(args, members, np.zeros((0, N_PHASES), np.int64) if timings is None else timings, 0.0, lean)
    else:  # in stretches of steps, on one thread while other work takes the team's cores
        total = 0.0
        first, steps = 0, STEPS_PER_CALL
        while first < order.size:
            part = args[:5] + (order[first : first + steps * batch_size],) + args[6:]
            began = time.perf_counter()
            total = _run(part, _next_members(members), None, total)
            seconds = time.perf_counter() - began
            first += steps * batch_size
            steps = max(STEPS_PER_CALL, int(steps * CALL_SECONDS / max(seconds, 1e-9)))
    if weights.size == 0:
        return total / order.size
    weight_sum = float(np.sum(weights[order], dtype=np.float64))
    return total / weight_sum if weight_sum > 0 else float("nan")

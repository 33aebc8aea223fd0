"""Runs the compiled epoch (kernels.team) on a team of threads: the caller and n - 1 helpers.

Each member is an ordinary Python thread inside one nogil kernel call for the whole epoch, so the
team pays for starting threads once per epoch and for nothing but a barrier (about 0.1 us here)
between the phases of a step. A pool of Numba threads would instead be woken for every phase of
every minibatch (fastmlp bench measured 1.0-1.5x from two threads that way).
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from ._layout import n_params
from .kernels.sync import STATE_SIZE
from .kernels.team import team_epoch

#: A step with fewer multiply-adds (minibatch samples x parameters) than this runs on one thread:
#: the barriers between its phases would cost more than sharing the arithmetic saves.
TEAM_MIN_MACS = 50_000


def team_size(layout: np.ndarray, batch_size: int, n_threads: int) -> int:
    """Members for an epoch: all ``n_threads``, or 1 when a step is too small to share."""
    if batch_size * n_params(layout) < TEAM_MIN_MACS:
        return 1
    return n_threads


def train_epoch(net, opt, X, targets, order, batch_size, scale, codes, work, n_threads=None) -> float:
    """Train one epoch on the minibatches order[0:b], order[b:2b], ...; returns the mean per-sample loss.

    Arguments as kernels.team.team_epoch. ``n_threads``: the team's size; by default Numba's current
    thread count (``numba.set_num_threads``), or 1 for a network too small to share. The weights do
    not depend on it.
    """
    members = team_size(net.layout, batch_size, numba.get_num_threads()) if n_threads is None else n_threads
    state = np.zeros(STATE_SIZE, np.int64)
    args = (net, opt, X, targets, order, batch_size, scale, codes, work, state)
    if members == 1:
        return team_epoch(*args, 0, 1) / order.size
    errors = []

    def helper(member):
        try:
            team_epoch(*args, member, members)
        except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread below
            errors.append(error)

    helpers = [threading.Thread(target=helper, args=(m,), name=f"fastmlp-team-{m}", daemon=True)
               for m in range(1, members)]
    for thread in helpers:
        thread.start()
    total = team_epoch(*args, 0, members)
    for thread in helpers:
        thread.join()
    if errors:
        raise errors[0]
    return total / order.size

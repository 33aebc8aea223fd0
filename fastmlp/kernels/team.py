"""One epoch of minibatch training, run by a team of threads that each own a fixed share of the work.

Every member of the team (``member`` of ``n_members``) calls :func:`team_epoch` on its own thread
(see fastmlp._team) and goes through every minibatch with the others, meeting them at a barrier
wherever it needs their results:

1. its share of the minibatch's samples, with no barrier in between: it gathers their inputs (and
   asks the cache for the first few of its share of the next minibatch's), runs them forward through
   every layer, takes their losses and output deltas and propagates the deltas down every layer;
2. after a barrier, its share of the rows of every layer's stored transpose (the weights from a share
   of the inputs to every unit, a contiguous block of memory): their gradient over all the
   minibatch's samples and their update, then a barrier before the next minibatch's forward pass
   reads them.

So a step has two barriers whatever the depth, and both halves split evenly: samples in the first,
rows in the second (shares differ by at most one). No value is computed by two members, and each is
one fixed sequence of operations whichever member and whichever range computes it
(microkernel.gemm), so the weights do not depend on the number of members
(tests/kernels/test_team.py). Every member decides alike whether a minibatch makes a step (its
weights sum to more than 0) and counts the steps itself.
With one member the barriers return at once and this is the serial epoch.
"""

from .._compile import kernel
from . import SIZE
from .backward import hidden_deltas, lecture_copy, minibatch_weight, output_block, reads_copy
from .forward import PREFETCH_AHEAD, gather, hidden_forward, prefetch_rows
from .intrinsics import cycles
from .sync import barrier
from .update import step_rate, step_rows


@kernel
def share(n, member, n_members):
    """[first, stop): ``member``'s part of range(n) cut into ``n_members`` parts that differ by at most one."""
    return n * member // n_members, n * (member + 1) // n_members


#: Columns of team_epoch's ``timings``: cycles spent per phase of a step, and waiting at barriers.
GATHER, FORWARD, OUTPUT, BACKWARD, UPDATE, WAIT, N_PHASES = 0, 1, 2, 3, 4, 5, 8


@kernel
def _now(timings):
    """The cycle counter, or 0 without a timings table."""
    return cycles() if timings.shape[0] else 0


@kernel
def _lap(timings, member, phase, since):
    """Add the cycles since ``since`` to timings[member, phase] and return the counter now; nothing
    (and no counter read) when ``timings`` has no rows."""
    if timings.shape[0] == 0:
        return since
    now = cycles()
    timings[member, phase] += now - since
    return now


@kernel
def _meet(state, n_members, timings, member, phase, since):
    """The team's barrier, the time before it counted to ``phase`` and the time in it to WAIT."""
    since = _lap(timings, member, phase, since)
    barrier(state, n_members)
    return _lap(timings, member, WAIT, since)


@kernel
def team_epoch(net, opt, X, targets, weights, order, batch_size, scale, codes, work, state, member, n_members,
               timings, loss_so_far):
    """Train on the minibatches order[0:b], order[b:2b], ... as one member of the team; returns
    loss_so_far plus the per-sample losses, each times its sample's weight (member 0; the others
    return loss_so_far).

    weights: (n_samples,) sample weights or empty; each step follows the minibatch's weighted mean
    gradient, and a minibatch whose weights sum to 0 makes no step. opt.step[0] counts the steps:
    each member counts on from it, and member 0 writes the count back at the end (after the
    barriers that follow every member's read). state: the team's barrier, int64[sync.STATE_SIZE] of
    zeros. Each sample's loss is taken on the forward pass of its own minibatch, before that step's update.
    timings: int64 (n_members, N_PHASES) to add each member's cycles per phase to, or (0, N_PHASES) for none.
    loss_so_far: float64 that member 0 adds the losses to, one by one, so that an epoch run in several calls
    sums them exactly as one call would.
    """
    layout = net.layout
    n_layers = layout.shape[0] - 1
    acts = work.acts
    activation = codes[2]
    steps = opt.step[0]
    total = loss_so_far
    since = _now(timings)
    for l in range(1, n_layers):  # the copies of weights that hidden deltas read, before any member reads
        if reads_copy(layout, l, batch_size):
            k0, k1 = share(layout[l, SIZE] + 1, member, n_members)
            lecture_copy(net, work, l, k0, k1)
    since = _meet(state, n_members, timings, member, UPDATE, since)
    for start in range(0, order.size, batch_size):
        count = min(batch_size, order.size - start)
        s0, s1 = share(count, member, n_members)
        gather(X, order, start, scale, acts, s0, s1 - s0)
        if start + batch_size < order.size:  # the inputs this member will gather next
            p0, p1 = share(min(batch_size, order.size - start - batch_size), member, n_members)
            prefetch_rows(X, order, start + batch_size, p0, min(p1 - p0, PREFETCH_AHEAD))
        since = _lap(timings, member, GATHER, since)
        hidden_forward(net, acts, s0, s1 - s0, activation)
        since = _lap(timings, member, FORWARD, since)
        output_block(net, targets, weights, order, start, codes, work, s0, s1 - s0)
        since = _lap(timings, member, OUTPUT, since)
        hidden_deltas(net, work, s0, s1 - s0, activation, batch_size)
        since = _meet(state, n_members, timings, member, BACKWARD, since)
        if member == 0:
            for i in range(count):
                total += work.losses[i]
        weight_sum = minibatch_weight(weights, order, start, count)
        if weight_sum > 0:
            steps += 1
            rate = step_rate(opt, steps)
            for l in range(n_layers):
                k0, k1 = share(layout[l, SIZE] + 1, member, n_members)
                step_rows(net, opt, work, count, weight_sum, rate, l, k0, k1)
                if l > 0 and reads_copy(layout, l, batch_size):  # rows the next step's hidden deltas read
                    lecture_copy(net, work, l, k0, k1)
        # the next forward pass reads every row, and the next gather overwrites inputs the gradients read
        since = _meet(state, n_members, timings, member, UPDATE, since)
    if member == 0:
        opt.step[0] = steps
    return total

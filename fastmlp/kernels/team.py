"""One epoch of minibatch training, run by a team of threads that each own a fixed share of the work.

Every member of the team (``member`` of ``n_members``) calls :func:`team_epoch` on its own thread
(see fastmlp._team) and goes through every minibatch with the others, meeting them at a barrier
wherever it needs their results:

1. its share of the minibatch's samples, with no barrier in between: it adds the two parts of their
   first layer's sums (see 2), runs them forward through the other layers, takes their losses and
   output deltas and propagates the deltas down every layer (a large share in groups, GROUP_BYTES);
2. after a barrier, its share of the rows of every layer's stored transpose (the weights from a share
   of the inputs to every unit, a contiguous block of memory): their gradient over all the
   minibatch's samples and their update. Then the first layer of the next minibatch, for the same
   rows: the member gathers those input columns of every sample into its part's rows of Work.inputs
   (apart from the other parts', _layout.input_rows) and sums them against its rows, just
   updated and still in its core's cache (first_layer_part), then meets the others before the next
   minibatch's first half reads every member's sums.

So the first layer's weights and inputs never leave the core that updates them; only sums per
sample and unit, deltas and the small later layers pass between cores. A step has two barriers
whatever the depth, and both halves split evenly: samples in the first (shares differ by at most
one), rows in the second (cut at whole cache lines of inputs, CUT_ROWS). No value is computed by two
members, and each is one fixed sequence of operations whichever member and whichever range computes
it (microkernel.gemm; the first layer's sum always in the same PARTS parts), so the weights do not
depend on the number of members
(tests/kernels/test_team.py). Every member decides alike whether a minibatch makes a step (its
weights sum to more than 0) and counts the steps itself.
With one member the barriers return at once and this is the serial epoch.

A team of two whose members do not take the same time for their halves would wait for the slower at every
barrier: virtual CPUs that the host runs slower at times, cores of two kinds, or images whose two halves of
inputs hold different shares of zeros (which the weight gradient skips). So it times each member's second half
over DECIDE_SAMPLES, and where the gap is wide enough (balance), the faster member takes rows, LEAN_ROWS at a
time, from the end of the slower one's part (its ``lean``): it updates those rows, gathers
their inputs and, once the part's owner has summed the rows it keeps, goes on with the part's sums over them
(stolen_tail). Each of the part's sums is one chain over its rows in order, whoever adds which rows
(microkernel.gemm's mode CHAIN), so the weights do not depend on the lean either.
"""

from .._compile import inline_kernel, kernel
from . import CUT_ROWS, LEAD, PARTS, SIZE, THETA, UNIT
from .activations import assign
from .backward import hidden_deltas, lecture_copy, minibatch_weight, output_block, reads_copy
from .forward import PREFETCH_AHEAD, gather_into, hidden_forward, prefetch_rows, prefetch_samples
from .intrinsics import atomic_load, atomic_store, cycles
from .microkernel import CHAIN, STEP_VECTORS, VW32, VW64, gemm, step_and_sum
from .parts import input_row, member_rows, part_rows
from .sync import STATE_SIZE, barrier, wait_until
from .update import stateless, step_rate, step_rows


@kernel
def share(n, member, n_members):
    """[first, stop): ``member``'s part of range(n) cut into ``n_members`` parts that differ by at most one."""
    return n * member // n_members, n * (member + 1) // n_members


#: Columns of team_epoch's ``timings``: cycles spent per phase of a step, and waiting at barriers.
GATHER, FORWARD, OUTPUT, BACKWARD, UPDATE, WAIT, N_PHASES = 0, 1, 2, 3, 4, 5, 8

#: Slots of a team's state, an int64 array of TEAM_STATE_SIZE (zeros but for LEAN and ADAPT), past the
#: barrier's (sync.STATE_SIZE), each on a cache line of its own: DONE + 8 p, the turn (step) up to which part
#: p's owner has summed the rows it keeps (stolen_tail waits for it); BUSY + 8 m, the cycles that member m's
#: second half of the last step took; LEAN, the lean a team of two starts with and (member 0) ends with;
#: ADAPT, 1 to let the lean follow the members' speeds (balance), 0 to keep it.
DONE = STATE_SIZE
BUSY = DONE + 8 * PARTS
LEAN = BUSY + 8 * PARTS
ADAPT = LEAN + 8
TEAM_STATE_SIZE = ADAPT + 8


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


#: Bytes of the next minibatch's inputs (a member's columns of its rows) that the member asks the cache for at
#: the start of a step, at least PREFETCH_AHEAD rows: the rows then come in while the step computes, and a
#: minibatch of up to 83 images (167 on each of two threads) is in L2 when gathered. 784-100-10 float32 batch 32,
#: 60,000 Fashion-MNIST images, one Zen 3 thread: the gather took 379-459 cycles a sample instead of 609-712 with
#: the first 8 rows asked for, 180-182k samples/s instead of 177-179k.
PREFETCH_BYTES = 65536


#: Rows of the first layer per block of a small minibatch's step (block_by_block), so that a member can update a
#: block and sum it for the next minibatch while the block is in L1 (64 rows of 100 float32 weights: 25 KB). The
#: blocks decide no value: each sum's chain goes on from block to block (part_block).
BLOCK_ROWS = 64
#: Minibatches of at most this many samples gather the next minibatch's inputs block by block, between
#: the block's update and its sums; larger ones update all their rows, then gather a member's columns at
#: once and sum. 784-100-10 float32 on one thread, samples/s, block by block against all at once: batch 1
#: 101k / 96-98k, batch 4 282-291k / 277-284k, batch 10 392-414k / 420-435k.
FUSED_MAX_SAMPLES = 4


#: Bytes of the first layer's sums (samples x the units it feeds) that a member works on at a time. A step
#: of many samples goes through them in groups of about this size: the first layer's sums of a part, block
#: by block of rows, then the first half of the step (the later layers, the loss and the deltas), so that
#: a group's sums and activations stay in L2 between passes instead of streaming to L3 and back for every
#: block. Each value is computed as before (no sum crosses samples), so the weights do not change.
#: Samples/s of a batch 512 epoch (Zen 3, AVX2), in groups against all samples at once, one thread:
#: 784-256-128-10 float64 32.6-34.1k / 29.7-30.4k, 784-100-10 float32 212-215k / 208-209k; two threads:
#: 65.1-65.6k / 60.5-61.9k and 402-407k / 387-388k. 128 KB groups ran 2-3% behind on the first, 32 KB even.
GROUP_BYTES = 65536


@kernel
def group_size(n, n_out, itemsize):
    """Samples per group for ``n`` samples whose first layer feeds ``n_out`` units: even groups of at
    most GROUP_BYTES of sums where that makes more than one, else all ``n``."""
    most = max(12, GROUP_BYTES // (n_out * itemsize))
    groups = max(1, n // most)
    return max(1, (n + groups - 1) // groups)


@kernel
def part_start(net, parts, part, i0, n):
    """Part ``part`` of the first layer's sums for samples [i0, i0 + n), before any block: the biases
    in the part whose rows hold them, else 0. Part p of sample i is parts[p * (parts.size // PARTS) +
    i * n_out:][:n_out] (kernels.part_size)."""
    layout = net.layout
    n_in = layout[0, SIZE]
    n_out = layout[1, SIZE]
    t0 = layout[0, THETA]
    at = part * (parts.size // PARTS) + i0 * n_out
    if part_rows(layout, part)[1] > n_in:
        bias = net.params[t0 + n_in * layout[0, LEAD] : t0 + n_in * layout[0, LEAD] + n_out]
        for i in range(n):
            assign(parts[at + i * n_out : at + (i + 1) * n_out], bias)
    else:
        parts[at : at + n * n_out] = 0


@inline_kernel
def part_block(net, inputs, parts, part, i0, n, b0, b1):
    """Go on with the sums of part ``part`` of samples [i0, i0 + n) over inputs [b0, b1) (rows of the stored
    transpose), from the part's rows of Work.inputs: each value's chain of fused multiply-adds goes on from the
    part's value (microkernel.gemm's mode CHAIN), so that the sum over a part's rows is one chain however
    its rows are cut into calls, and by whom."""
    layout = net.layout
    n_out = layout[1, SIZE]
    row = inputs.shape[1]
    lead = layout[0, LEAD]
    at = (input_row(inputs, part) + i0) * row + b0 - part_rows(layout, part)[0]
    gemm(inputs, at, row, 1, net.params, layout[0, THETA] + b0 * lead, lead, parts,
         part * (parts.size // PARTS) + i0 * n_out, n_out, n, n_out, b1 - b0, inputs.dtype.type(1.0), CHAIN)


@inline_kernel
def chain_groups(net, inputs, parts, part, i0, n, r0, r1):
    """Go on with the part ``part``'s sums of samples [i0, i0 + n) over rows [r0, r1), group by group of samples
    (group_size), one gemm over the rows for each (part_block): a part's rows may be summed in two pieces, by two
    members (stolen_tail), and every value is still the same chain.

    In blocks of BLOCK_ROWS instead (a gemm each), every tile started its chains 12 times over a part of 392 rows
    rather than 4 (gemm's chunks of KC), each start waiting on its loads of the part's sums. One Zen 4 thread,
    784-100-10 float32, the forward phase's cycles a sample against those of the sums in blocks from zero added
    into the part (mode ADD, before mode CHAIN), alternating pairs: in blocks, 2-3% more at batch 512 (3 pairs);
    in one gemm, 2-5% less at batch 512 (3 pairs) and 1-4% less in 5 of 6 pairs at batch 32."""
    group = group_size(n, net.layout[1, SIZE], inputs.itemsize)
    for g0 in range(i0, i0 + n, group):  # each group's sums stay in L2 while gemm's chunks of rows add into them
        part_block(net, inputs, parts, part, g0, min(group, i0 + n - g0), r0, r1)


@inline_kernel
def first_layer_part(net, inputs, parts, part, i0, n):
    """Part ``part`` of the first layer's pre-activations for samples [i0, i0 + n): the biases if they are
    in the part, then the sums over its rows going on from them, group by group of samples (chain_groups).

    The parts' rows do not depend on the team: every team makes the same chains.
    """
    k0, k1 = part_rows(net.layout, part)
    part_start(net, parts, part, i0, n)
    chain_groups(net, inputs, parts, part, i0, n, k0, min(k1, net.layout[0, SIZE]))


@kernel
def block_by_block(weight_sum, count, next_count):
    """Whether a step's first layer goes block by block, each block updated, gathered and summed in turn
    (own_part): a step of at most FUSED_MAX_SAMPLES samples followed by another minibatch."""
    return weight_sum > 0 and next_count > 0 and count <= FUSED_MAX_SAMPLES


@kernel
def sgd_one_and_sum(net, work, X, order, next_start, scale, factor, part, b0, b1):
    """For a minibatch of one sample under plain SGD: rows [b0, b1) (inputs, not the biases) of the first
    layer's stored transpose take the step with ``factor`` = -rate / weight, and part ``part`` of the next
    sample's sums go on over their block, in one pass over the rows (microkernel.step_and_sum) instead of
    step_rows, gather and part_block's three, with the same operations; then the next sample's inputs go into
    the part's row of Work.inputs (the pass read them from X, and the step the current ones from there)."""
    layout = net.layout
    n_out = layout[1, SIZE]
    t0 = layout[0, THETA]
    lead = layout[0, LEAD]
    d0 = layout[1, UNIT]
    inputs = work.inputs
    row = input_row(inputs, part)
    a0 = b0 - part_rows(layout, part)[0]
    x = X[next_start] if order.size == 0 else X[order[next_start]]
    chunk = STEP_VECTORS * (VW32 if inputs.itemsize == 4 else VW64)
    at = part * (work.parts.size // PARTS)
    for c0 in range(0, n_out, chunk):
        step_and_sum(net.params, t0 + b0 * lead + c0, lead, x, b0, scale, inputs[row], a0, work.deltas[0], d0 + c0,
                     work.parts, at + c0, factor, b1 - b0, min(chunk, n_out - c0))
    gather_into(X, order, next_start, scale, inputs, row, a0, 1, b0, b1)


@kernel
def first_layer_sum(net, acts, parts, i0, n):
    """The first layer's pre-activations of samples [i0, i0 + n) into acts: part 0 + part 1 + ..., in order."""
    n_out = net.layout[1, SIZE]
    z0 = net.layout[1, UNIT]
    stride = parts.size // PARTS
    for i in range(i0, i0 + n):
        z = acts[i, z0 : z0 + n_out]
        assign(z, parts[i * n_out : (i + 1) * n_out])
        for part in range(1, PARTS):
            at = part * stride + i * n_out
            later = parts[at : at + n_out]
            for j in range(n_out):
                z[j] += later[j]


#: Rows of the first layer that a team of two's lean moves from one member to the other at a time: a cache line
#: of float32 inputs, CUT_ROWS, so that the two members' inputs of a part share no line.
LEAN_ROWS = CUT_ROWS


@kernel
def lean_units(layout, part):
    """(first row, stop, units): part ``part``'s rows of inputs (not the biases') and how many units of
    LEAN_ROWS they make, the last maybe short."""
    k0, k1 = part_rows(layout, part)
    stop = min(k1, layout[0, SIZE])
    return k0, stop, (stop - k0 + LEAN_ROWS - 1) // LEAN_ROWS


@kernel
def taken_units(part, lean):
    """Units of LEAN_ROWS at the end of part ``part``'s rows that the other member of a team of two updates and
    sums (stolen_tail): ``lean`` of part 1's, taken by member 0, when lean > 0; -lean of part 0's, taken by
    member 1, when lean < 0."""
    return max(lean if part == 1 else -lean, 0)


@kernel
def kept_stop(layout, part, lean):
    """Where the rows that part ``part``'s owner updates and sums stop: before the units the other member
    takes (taken_units), else at the part's last input."""
    k0, stop, units = lean_units(layout, part)
    taken = taken_units(part, lean)
    return stop if taken == 0 else k0 + (units - taken) * LEAN_ROWS


@kernel
def most_taken(layout, part):
    """The most units of part ``part`` that the other member may take: all but the first."""
    return max(lean_units(layout, part)[2] - 1, 0)


#: A team of two adds up its members' second halves over steps of at least this many samples (and at least one
#: step), and where the gap between the two is over LEAN_MARGIN units' cycles (a unit: LEAN_ROWS rows), the slower
#: hands the faster as many units as make up about half the gap, to the nearest (balance). A unit's cycles are
#: estimated as the two halves' mean per row of the first layer, so a move leaves a gap of at most a unit either
#: way, well within the margin. The gap moves with the host's noise alone: 784-256-10 float32 batch 32, SGD with
#: momentum 0.9, Fashion-MNIST, one Zen 4 guest at an even split, each window's gap over a unit's cycles ran from
#: -2.4 to 3.0 (the inputs' work is even: the two parts' 12-row tiles hold nonzeros at 78% and 82% of the samples,
#: 313 and 316 tiles' worth), and a margin of 1.5 units moved the lean back and forth on it: the team ran at
#: 1.72-1.87x one thread against 1.81-1.91x with the rule before (5 alternating pairs). With member 1's first
#: layer stretched 1.4 times by a spin, 3 alternating pairs of 3 epochs: 177-197k samples/s, member 0 waiting
#: 202-409 cycles a sample once the lean had settled, against 183-197k and 225-677 for the rule before (a
#: block of 64 rows when one member took over 1.25 times the other's cycles).
DECIDE_SAMPLES = 4096
LEAN_MARGIN = 3.0


@kernel
def balance(layout, lean, busy0, busy1):
    """The lean after steps whose second halves took member 0 ``busy0`` cycles and member 1 ``busy1``: when member
    1 was the slower by over LEAN_MARGIN units' cycles, k units more of part 1 to member 0 (or fewer of part 0 to
    member 1), where k units' cycles make up half the gap, to the nearest; the other way when member 0 was the
    slower; within most_taken either way. A unit's cycles are taken to be the two halves' mean per row of the
    first layer times LEAN_ROWS."""
    unit = (busy0 + busy1) * LEAN_ROWS / layout[0, SIZE]
    gap = busy1 - busy0
    if abs(gap) <= LEAN_MARGIN * unit:
        return lean
    moved = int(abs(gap) / (2.0 * unit) + 0.5)
    if gap > 0:
        return min(lean + moved, most_taken(layout, 1))
    return max(lean - moved, -most_taken(layout, 0))


@inline_kernel
def stolen_tail(net, opt, work, X, order, scale, count, weight_sum, rate, next_start, next_count, part, lean, state,
                turn, timings, member, since):
    """The units at the end of part ``part`` that ``member`` takes from the part's owner, the other member of a
    team of two (taken_units): their rows' update for the minibatch of ``count`` samples (when ``weight_sum`` >
    0), the next minibatch's inputs of their columns gathered into the part's rows of Work.inputs, and, once the
    owner has summed the rows it keeps (its DONE slot at ``turn``), the part's sums going on over their rows:
    the chains its owner alone would make, so no value changes. Returns the cycle counter."""
    layout = net.layout
    k0, stop, _ = lean_units(layout, part)
    r0 = kept_stop(layout, part, lean)
    if weight_sum > 0:
        step_rows(net, opt, work, count, weight_sum, rate, 0, r0, stop, member, True)
    since = _lap(timings, member, UPDATE, since)
    if next_count > 0:
        inputs = work.inputs
        gather_into(X, order, next_start, scale, inputs, input_row(inputs, part), r0 - k0, next_count, r0, stop)
        since = _lap(timings, member, GATHER, since)
        wait_until(state, DONE + 8 * part, turn)
        since = _lap(timings, member, WAIT, since)
        chain_groups(net, inputs, work.parts, part, 0, next_count, r0, stop)
        since = _lap(timings, member, FORWARD, since)
    return since


@inline_kernel
def own_part(net, opt, work, X, order, scale, count, weight_sum, rate, next_start, next_count, part, lean, state,
             turn, timings, member, since):
    """A member's part of the first layer, in a team of PARTS or of one: its rows' update for the
    minibatch of ``count`` samples (when ``weight_sum`` > 0), then the part of the next minibatch's sums
    over them (when ``next_count`` > 0), its inputs gathered on the way (order[next_start:]). In a team of two
    whose ``lean`` gives the other member units at the part's end (taken_units; never block by block,
    block_by_block), the rows before them, and then the part's DONE slot says ``turn``.

    Small minibatches go block by block (update, gather, sum), so the sums read weights the update has
    just left in L1; larger ones update every row first, then gather and sum. Returns the cycle counter.
    (Gathered and summed in chunks of 128 or 256 KB of inputs, so that a chunk stays in L2 at batch 512, they
    ran no faster: on Zen 3, 1 and 2 threads at batch 128 and 512, alternating process pairs, 0.98-1.13 times
    the time of the whole minibatch at once for 784-100-10 float32 (10 pairs); for 784-15-10, 0.94-0.95 at batch
    512 on two threads and 0.98-1.13 elsewhere (7 pairs), where a run of the same work as the whole minibatch's
    measured 1.10: within the host's noise.)
    """
    layout = net.layout
    n_in = layout[0, SIZE]
    inputs = work.inputs
    row = input_row(inputs, part)
    k0, k1 = part_rows(layout, part)
    stop = min(k1, n_in)
    step = weight_sum > 0
    if step and k1 > n_in:  # the biases first: the part's sums start from them
        step_rows(net, opt, work, count, weight_sum, rate, 0, n_in, k1, member, True)
    if not block_by_block(weight_sum, count, next_count):
        kept = kept_stop(layout, part, lean)
        if step:
            step_rows(net, opt, work, count, weight_sum, rate, 0, k0, kept, member, True)
        since = _lap(timings, member, UPDATE, since)
        if next_count > 0:
            gather_into(X, order, next_start, scale, inputs, row, 0, next_count, k0, kept)
            since = _lap(timings, member, GATHER, since)
            part_start(net, work.parts, part, 0, next_count)
            chain_groups(net, inputs, work.parts, part, 0, next_count, k0, kept)
            atomic_store(state, DONE + 8 * part, turn)
            since = _lap(timings, member, FORWARD, since)
        return since
    part_start(net, work.parts, part, 0, next_count)
    one_pass = stateless(opt) and count == 1 and next_count == 1
    for b0 in range(k0, stop, BLOCK_ROWS):  # first_layer_part's blocks, each updated just before
        b1 = min(b0 + BLOCK_ROWS, stop)
        if one_pass:
            sgd_one_and_sum(net, work, X, order, next_start, scale, -rate / inputs.dtype.type(weight_sum), part,
                            b0, b1)
            since = _lap(timings, member, UPDATE, since)
            continue
        step_rows(net, opt, work, count, weight_sum, rate, 0, b0, b1, member, True)
        since = _lap(timings, member, UPDATE, since)
        gather_into(X, order, next_start, scale, inputs, row, b0 - k0, next_count, b0, b1)
        since = _lap(timings, member, GATHER, since)
        part_block(net, inputs, work.parts, part, 0, next_count, b0, b1)
        since = _lap(timings, member, FORWARD, since)
    return since


@inline_kernel
def first_layer(net, opt, work, X, order, scale, count, weight_sum, rate, next_start, next_count, state, member,
                n_members, lean, turn, timings, since):
    """``member``'s share of the first layer in phase 2 of a step: the update of its rows for the minibatch
    of ``count`` samples (when ``weight_sum`` > 0), then the next minibatch's inputs and sums (when
    ``next_count`` > 0). In a team of one or PARTS, each member has whole parts (own_part), and in a team of
    two the ``lean`` may move rows at the end of one member's part to the other (stolen_tail); any other
    team updates and gathers its shares of rows and columns, meets, then sums every part for its share
    of the next minibatch's samples (reading columns others gathered). Returns the cycle counter."""
    if n_members == PARTS or n_members == 1:
        for part in range(PARTS):
            if n_members == 1 or part == member:
                since = own_part(net, opt, work, X, order, scale, count, weight_sum, rate, next_start, next_count,
                                 part, lean, state, turn, timings, member, since)
        if n_members == 2 and taken_units(1 - member, lean) > 0:
            since = stolen_tail(net, opt, work, X, order, scale, count, weight_sum, rate, next_start, next_count,
                                1 - member, lean, state, turn, timings, member, since)
        return since
    n_in = net.layout[0, SIZE]
    k0, k1 = member_rows(net.layout, member, n_members)
    if weight_sum > 0:
        step_rows(net, opt, work, count, weight_sum, rate, 0, k0, k1, member, True)
        since = _lap(timings, member, UPDATE, since)
    if next_count > 0:
        for part in range(PARTS):  # into each part's rows of Work.inputs, the columns of the part's rows
            p0, p1 = part_rows(net.layout, part)
            lo, hi = max(k0, p0), min(k1, p1, n_in)
            if hi > lo:
                gather_into(X, order, next_start, scale, work.inputs, input_row(work.inputs, part), lo - p0,
                            next_count, lo, hi)
    since = _meet(state, n_members, timings, member, GATHER, since)
    if next_count > 0:
        s0, s1 = share(next_count, member, n_members)
        for part in range(PARTS):
            first_layer_part(net, work.inputs, work.parts, part, s0, s1 - s0)
    return _lap(timings, member, FORWARD, since)


@kernel
def team_epoch(net, opt, X, targets, weights, order, batch_size, scale, codes, work, state, member, n_members,
               timings, loss_so_far):
    """Train on the minibatches order[0:b], order[b:2b], ... as one member of the team; returns
    loss_so_far plus the per-sample losses, each times its sample's weight (member 0; the others
    return loss_so_far).

    weights: (n_samples,) sample weights or empty; each step follows the minibatch's weighted mean
    gradient, and a minibatch whose weights sum to 0 makes no step. opt.step[0] counts the steps:
    each member counts on from it, and member 0 writes the count back at the end (after the
    barriers that follow every member's read). state: int64[TEAM_STATE_SIZE], the team's barrier and the
    slots past it, zeros but for LEAN (a team of two's lean to start from, within most_taken; member 0 writes the
    one it ends with there) and ADAPT (1: the lean follows the members' speeds, balance). Each sample's loss is
    taken on the forward pass of its own minibatch, before that step's update.
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
    c0, c1 = member_rows(layout, member, n_members)  # the columns of the inputs this member gathers
    c1 = min(c1, layout[0, SIZE])
    ahead = max(PREFETCH_AHEAD, PREFETCH_BYTES // max((c1 - c0) * X.itemsize, 1))  # rows asked for each step
    no_step = opt.learning_rate  # any value of the parameters' dtype: unused without a step
    lean = 0
    if n_members == 2:  # within what the parts allow, however the state came
        lean = min(max(atomic_load(state, LEAN), -most_taken(layout, 0)), most_taken(layout, 1))
    adapt = n_members == 2 and atomic_load(state, ADAPT) == 1 and batch_size > FUSED_MAX_SAMPLES
    window = max(1, DECIDE_SAMPLES // batch_size)
    busy0, busy1, seen = 0, 0, 0
    turn = 1
    since = first_layer(net, opt, work, X, order, scale, 0, 0.0, no_step, 0, min(batch_size, order.size), state,
                        member, n_members, lean, turn, timings, since)
    since = _meet(state, n_members, timings, member, FORWARD, since)
    for start in range(0, order.size, batch_size):
        turn += 1
        count = min(batch_size, order.size - start)
        next_count = min(batch_size, max(order.size - start - batch_size, 0))
        s0, s1 = share(count, member, n_members)
        if next_count > 0:  # the first inputs this member will gather next, during this step
            prefetch_rows(X, order, start + batch_size, 0, min(next_count, ahead), c0, c1)
        group = group_size(s1 - s0, layout[1, SIZE], acts.itemsize)
        for g0 in range(s0, s1, group):  # each group's rows still in cache from one phase to the next
            g = min(group, s1 - g0)
            prefetch_samples(targets, order, start, g0, g)  # read by output_block, after the forward pass
            prefetch_samples(weights, order, start, g0, g)
            first_layer_sum(net, acts, work.parts, g0, g)
            hidden_forward(net, acts, g0, g, activation, 1, net.params[:0])
            since = _lap(timings, member, FORWARD, since)
            output_block(net, targets, weights, order, start, codes, work, g0, g)
            since = _lap(timings, member, OUTPUT, since)
            hidden_deltas(net, work, g0, g, activation, batch_size)
            since = _lap(timings, member, BACKWARD, since)
        since = _meet(state, n_members, timings, member, BACKWARD, since)
        began = cycles() if adapt else 0
        if member == 0:
            for i in range(count):
                total += work.losses[i]
        weight_sum = minibatch_weight(weights, order, start, count)
        rate = no_step
        if weight_sum > 0:
            steps += 1
            rate = step_rate(opt, steps)
            for l in range(1, n_layers):
                k0, k1 = share(layout[l, SIZE] + 1, member, n_members)
                step_rows(net, opt, work, count, weight_sum, rate, l, k0, k1, member, True)
                if reads_copy(layout, l, batch_size):  # rows the next step's hidden deltas read
                    lecture_copy(net, work, l, k0, k1)
        since = _lap(timings, member, UPDATE, since)
        leaning = 0 if block_by_block(weight_sum, count, next_count) else lean  # own_part's blocks are whole parts
        since = first_layer(net, opt, work, X, order, scale, count, weight_sum, rate, start + batch_size, next_count,
                            state, member, n_members, leaning, turn, timings, since)
        if adapt:
            atomic_store(state, BUSY + 8 * member, cycles() - began)
        # the next forward pass reads every member's rows and parts
        since = _meet(state, n_members, timings, member, UPDATE, since)
        if adapt:  # both members read the same two counts, so both move the lean alike
            busy0 += atomic_load(state, BUSY)
            busy1 += atomic_load(state, BUSY + 8)
            seen += 1
            if seen == window:
                lean = balance(layout, lean, busy0, busy1)
                busy0, busy1, seen = 0, 0, 0
    if member == 0:
        opt.step[0] = steps
        if n_members == 2:
            atomic_store(state, LEAN, lean)
    return total

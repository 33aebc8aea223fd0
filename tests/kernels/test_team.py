"""kernels.team: the epoch of minibatch SGD run by a team of 1 to 3 threads, against the NumPy reference.

The team is started by fastmlp._team.train_epoch; the weights must not depend on its size.
"""

from __future__ import annotations

import itertools

import numpy as np

from fastmlp import MLP
from fastmlp._layout import ALIGNMENT, build_layout, input_rows
from fastmlp._team import train_epoch
from fastmlp.kernels import CUT_ROWS, GAP_BYTES, PARTS
from fastmlp.kernels.microkernel import KC
from fastmlp.kernels.parts import input_row
from fastmlp.kernels.team import (
    BACKWARD,
    FORWARD,
    FUSED_MAX_SAMPLES,
    GATHER,
    LEAN_MARGIN,
    LEAN_ROWS,
    N_PHASES,
    OUTPUT,
    UPDATE,
    WAIT,
    balance,
    first_layer_part,
    first_layer_sum,
    group_size,
    kept_stop,
    member_rows,
    most_taken,
    part_rows,
    share,
    taken_units,
)

import naive
from cases import (
    BATCH_SIZES,
    DEPTHS,
    DTYPES,
    LEARNING_RATE,
    LOSS_OUTPUTS,
    OPTIMIZER_NAMES,
    OPTIMIZERS,
    TEAM_SIZES,
    assert_close,
    layer_sizes,
    make_targets,
    random_thetas,
)
from covering import pairwise
from kernel_args import KernelArgs, as_targets, codes, frozen, no_weights


@pairwise(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES, members=TEAM_SIZES,
          optimizer=OPTIMIZER_NAMES)
def test_team_epoch(dtype, loss_output, depth, batch_size, members, optimizer):
    """Two shuffled epochs ending in a partial minibatch: the loss and weights of the reference, and the
    same bits as a team of one."""
    (loss, output), dtype, sizes, settings = loss_output, np.dtype(dtype), layer_sizes(depth), OPTIMIZERS[optimizer]
    rng = np.random.default_rng(6)
    thetas = random_thetas(sizes, dtype, rng)
    n = 3 * batch_size + batch_size // 2 + 1  # a last, partial minibatch (except for batch size 1)
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, n, sizes[-1])
    orders = [rng.permutation(n) for _ in range(2)]
    expected, velocity = [theta.astype(np.float64) for theta in thetas], naive.zeros_like(thetas)
    results = []
    for team in sorted({1, members}):
        args = KernelArgs(thetas, dtype, batch_size)
        opt = args.opt(**settings)
        losses = [train_epoch(args.net, opt, frozen(X), as_targets(Y, dtype), no_weights(dtype), order, batch_size,
                              dtype.type(1.0), codes(loss, output), args.work, n_threads=team) for order in orders]
        results.append((args.params, losses))
    for epoch, order in enumerate(orders):
        expected, velocity, expected_loss = naive.train_epoch(expected, velocity, X[order], Y[order], batch_size,
                                                              loss, output, learning_rate=LEARNING_RATE, **settings)
        assert_close(results[-1][1][epoch], expected_loss, dtype, factor=10, err_msg=f"loss of epoch {epoch}")
    for l, theta in enumerate(args.thetas()):
        assert_close(theta, expected[l], dtype, factor=20, err_msg=f"layer {l}")
    np.testing.assert_array_equal(results[-1][0], results[0][0])
    assert results[-1][1] == results[0][1]


@pairwise(batch_size=[1, 5, 32])
def test_team_size_bit_identical_on_uint8(batch_size):
    """uint8 inputs, layers of 37 and 21 units that 2 and 3 members share unevenly: the same bits for 1, 2, 3,
    and the reference's weights, in both dtypes. 300 inputs make each of the first layer's two parts three
    blocks (team.BLOCK_ROWS), updated and summed block by block at batch 1, all at once at 5 and 32
    (team.FUSED_MAX_SAMPLES). Into 21 units the hidden deltas are dot products at batch 1 and 5 and a
    gemm over the lecture-order copy at 32 (backward.reads_copy); into 4 units a gemm from batch 5. Plain SGD
    at batch 1 steps and sums each block in one pass (team.sgd_one_and_sum) in teams of 1 and 2, while a
    team of 3 takes step_rows, gather and part_block apart: the same bits."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (70, 300), dtype=np.uint8)
    y = rng.integers(0, 4, 70)
    order = rng.permutation(70)
    for settings, dtype in itertools.product([dict(learning_rate=0.3, momentum=0.9, weight_decay=1e-3),
                                              dict(learning_rate=0.3)], map(np.dtype, DTYPES)):
        start = MLP((300, 37, 21, 4), dtype=dtype, random_state=8).thetas()
        results = []
        for members in TEAM_SIZES:
            args = KernelArgs(start, dtype, batch_size)
            loss = train_epoch(args.net, args.opt(**settings), frozen(X), as_targets(y, dtype), no_weights(dtype),
                               order, batch_size, dtype.type(1 / 255), codes("softmax_cross_entropy", "softmax"),
                               args.work, n_threads=members)
            results.append((args.params, loss))
        expected, _, _ = naive.train_epoch([theta.astype(np.float64) for theta in start], naive.zeros_like(start),
                                           X[order] / 255, y[order], batch_size, "softmax_cross_entropy", "softmax",
                                           **settings)
        for l, theta in enumerate(args.thetas()):
            assert_close(theta, expected[l], dtype, factor=20, err_msg=f"{dtype} layer {l}")
        for params, loss in results[1:]:
            np.testing.assert_array_equal(params, results[0][0], err_msg=f"{dtype} {settings}")
            assert loss == results[0][1], (dtype, settings)


@pairwise(dtype=DTYPES)
def test_first_layer_parts_add_up_to_the_layer(dtype):
    """Both parts of the first layer (team.first_layer_part, three blocks each), added by first_layer_sum: the
    reference's pre-activations, and the same bits whichever way the samples are cut. Into 700 units the sums
    of 50 samples go in groups (team.GROUP_BYTES): 2 or 4 of them, and other groups for other cuts."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(16)
    thetas = random_thetas((300, 700, 3), dtype, rng)
    X = rng.normal(size=(50, 300)).astype(dtype)
    assert group_size(50, 700, dtype.itemsize) in (13, 25)
    results = []
    for cuts in ([0, 50], [0, 3, 4, 50]):
        args = KernelArgs(thetas, dtype, 50)
        inputs = args.work.inputs
        for part in range(PARTS):  # each part's inputs in its own rows of Work.inputs
            k0, k1 = part_rows(args.net.layout, part)
            k1 = min(k1, 300)
            inputs[input_row(inputs, part) : input_row(inputs, part) + 50, : k1 - k0] = X[:, k0:k1]
        for part in range(PARTS):
            for i0, i1 in zip(cuts, cuts[1:]):
                first_layer_part(args.net, inputs, args.work.parts, part, i0, i1 - i0)
        first_layer_sum(args.net, args.work.acts, args.work.parts, 0, 50)
        results.append(args.work.acts[:, 300:1000].copy())
    weights, bias = thetas[0][:, :-1].T.astype(np.float64), thetas[0][:, -1].astype(np.float64)
    expected = X.astype(np.float64) @ weights + bias
    # a sum of 301 rounded terms: within 301 units of roundoff of the sum of their magnitudes (Higham's bound)
    bound = 301 * np.finfo(dtype).eps * (np.abs(X.astype(np.float64)) @ np.abs(weights) + np.abs(bias))
    assert (np.abs(results[0] - expected) <= bound).all()
    np.testing.assert_array_equal(results[1], results[0])


def test_shares_and_row_cuts_cover_in_order():
    """The members' parts of range(n) (share) and of the first layer's rows (member_rows, part_rows) are
    contiguous, in member order, and cover it once. Shares differ by at most one; the rows are cut at multiples of
    CUT_ROWS (a whole cache line of inputs) near the even cut, and the last member's rows hold the biases'."""
    for n in range(1, 800, 7):
        layout, _ = build_layout([n - 1, 5, 3], 4)
        for n_members in TEAM_SIZES + [PARTS]:
            shares = [share(n, m, n_members) for m in range(n_members)]
            rows = [member_rows(layout, m, n_members) for m in range(n_members)]
            for cuts in (shares, rows):
                assert cuts[0][0] == 0 and cuts[-1][1] == n
                for (first, stop), (next_first, _) in zip(cuts, cuts[1:]):
                    assert first <= stop == next_first
            sizes = [stop - first for first, stop in shares]
            assert max(sizes) - min(sizes) <= 1
            for m, (_, stop) in enumerate(rows[:-1]):
                even = n * (m + 1) / n_members
                assert stop == n - 1 or (stop % CUT_ROWS == 0 and abs(stop - even) <= CUT_ROWS / 2 + 1), (n, rows)
            assert rows[-1][0] < n
        assert [part_rows(layout, p) for p in range(PARTS)] == [member_rows(layout, p, PARTS) for p in range(PARTS)]


def test_input_rows_hold_every_part():
    """Work.inputs (_layout.input_rows) is sized from a bound of the cut rule, not from the cuts: each part's rows
    are wide enough for the inputs of its rows of the first layer (part_rows), in whole cache lines, and each part
    starts (input_row) at least GAP_BYTES after the last row the part before it writes, for every n_in."""
    for dtype in DTYPES:
        itemsize = np.dtype(dtype).itemsize
        for n_in in range(1, 1200, 3):
            layout, _ = build_layout([n_in, 5, 3], 4)
            batch = 1 + n_in % 40
            inputs = input_rows(batch, layout, dtype)
            widest = max(min(k1, n_in) - k0 for k0, k1 in (part_rows(layout, p) for p in range(PARTS)))
            assert inputs.shape[1] >= widest and inputs.shape[1] * itemsize % ALIGNMENT == 0, (n_in, dtype)
            for part in range(1, PARTS):
                gap = (input_row(inputs, part) - input_row(inputs, part - 1) - batch) * inputs.shape[1] * itemsize
                assert gap >= GAP_BYTES, (n_in, dtype)


def test_timings_count_every_phase_and_change_nothing():
    """train_epoch(timings=...) adds each member's cycles per phase (the profile of ``fastmlp bench --profile``)
    and trains the very same weights as without, and as one thread. 1102 hidden units make a step's 32
    samples two groups (team.GROUP_BYTES) on one thread and one group a member on two: the same bits too."""
    dtype = np.dtype(np.float32)
    rng = np.random.default_rng(12)
    X = rng.normal(size=(64, 20)).astype(dtype)
    y = rng.integers(0, 4, 64)
    start = MLP((20, 1102, 9, 4), dtype=dtype, random_state=9).thetas()
    assert group_size(32, 1102, dtype.itemsize) == 16 == group_size(16, 1102, dtype.itemsize)
    results = []
    for members, timings in ((1, None), (2, None), (2, np.zeros((2, N_PHASES), np.int64))):
        args = KernelArgs(start, dtype, 32)
        train_epoch(args.net, args.opt(), frozen(X), as_targets(y, dtype), no_weights(dtype), np.arange(64), 32,
                    dtype.type(1.0), codes("softmax_cross_entropy", "softmax"), args.work, n_threads=members,
                    timings=timings)
        results.append(args.params)
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])
    phases = [GATHER, FORWARD, OUTPUT, BACKWARD, UPDATE, WAIT]
    assert (timings[:, phases] > 0).all(), timings  # both members, every phase of a 3-layer network
    assert (np.delete(timings, phases, axis=1) == 0).all()


@pairwise(dtype=DTYPES, optimizer=OPTIMIZER_NAMES, batch_size=[9, 40])
def test_a_team_of_two_leaning_either_way_trains_the_same_bits(dtype, optimizer, batch_size):
    """A team of two whose lean gives units of rows at the end of one member's part of the first layer to the other
    (team.stolen_tail), by as many as the part allows and by more than that (clamped), in either direction: the
    weights and loss of a team of one, and of the reference. 300 inputs make the parts 9 and 10 units (LEAN_ROWS),
    cut by some leans inside one of gemm's chunks of rows (KC); weights with a zero-weight minibatch make no step
    there, and the last minibatch of 3 samples takes the one-pass path of small minibatches (FUSED_MAX_SAMPLES),
    where the lean waits."""
    dtype, settings = np.dtype(dtype), OPTIMIZERS[optimizer]
    rng = np.random.default_rng(21)
    n = 2 * batch_size + 3
    assert n - 2 * batch_size <= FUSED_MAX_SAMPLES
    X = rng.integers(0, 256, (n, 300), dtype=np.uint8)
    y = rng.integers(0, 4, n)
    weights = rng.uniform(0.5, 2.0, n).astype(dtype)
    order = rng.permutation(n)
    weights[order[batch_size : 2 * batch_size]] = 0  # the second minibatch makes no step
    start = MLP((300, 37, 21, 4), dtype=dtype, random_state=8).thetas()
    layout = KernelArgs(start, dtype, batch_size).net.layout
    assert (most_taken(layout, 0), most_taken(layout, 1)) == (8, 9)
    assert (kept_stop(layout, 1, 5) - part_rows(layout, 1)[0]) % KC != 0  # inside a chunk
    results = {}
    for members, lean in [(1, None), (2, 0), (2, 1), (2, 5), (2, 9), (2, 30), (2, -1), (2, -5), (2, -8), (2, -30)]:
        args = KernelArgs(start, dtype, batch_size)
        loss = train_epoch(args.net, args.opt(**settings), frozen(X), as_targets(y, dtype), weights, order,
                           batch_size, dtype.type(1 / 255), codes("softmax_cross_entropy", "softmax"), args.work,
                           n_threads=members, lean=lean)
        results[members, lean] = (args.params.copy(), loss)
    params, loss = results[1, None]
    for key, (other, other_loss) in results.items():
        np.testing.assert_array_equal(other, params, err_msg=str(key))
        assert other_loss == loss, key
    expected, _, _ = naive.train_epoch([theta.astype(np.float64) for theta in start], naive.zeros_like(start),
                                       X[order] / 255, y[order], batch_size, "softmax_cross_entropy", "softmax",
                                       learning_rate=LEARNING_RATE, weights=weights[order].astype(np.float64),
                                       **settings)
    for l, theta in enumerate(args.thetas()):
        assert_close(theta, expected[l], dtype, factor=20, err_msg=f"layer {l}")


def test_the_lean_closes_about_half_a_wide_gap_within_the_parts():
    """balance: when the gap between the members' cycles is over LEAN_MARGIN units' (the mean cycles per
    first-layer row times LEAN_ROWS), as many units go to the faster member as make up half the gap, to the
    nearest, so the gap left is at most a unit's either way and the next window moves nothing; within the
    margin, nothing; never past most_taken; kept_stop cuts the taken units off the part's end."""
    layout, _ = build_layout([784, 100, 10], 4)
    k0, k1 = part_rows(layout, 1)
    most = most_taken(layout, 1)
    assert most == (784 - k0 + LEAN_ROWS - 1) // LEAN_ROWS - 1 > 0 and most_taken(layout, 0) > 0
    unit = 2 * 10**6 * LEAN_ROWS / 784  # a unit's estimated cycles when the two took 10**6 each

    def busy(gap):  # the members' cycles, 2 * 10**6 in all, member 1 slower by ``gap``
        return 10**6 - int(gap / 2), 10**6 + int(gap / 2)

    wide, narrow = (LEAN_MARGIN + 0.01) * unit, (LEAN_MARGIN - 0.01) * unit
    assert balance(layout, 0, *busy(wide)) == 2  # member 1 slower: member 0 takes part 1's last two units
    assert balance(layout, 0, *busy(-wide)) == -2
    assert balance(layout, -3, *busy(wide)) == -1  # member 1 gives back two of part 0's units
    assert balance(layout, 3, *busy(narrow)) == balance(layout, 3, *busy(-narrow)) == 3  # within: kept
    assert balance(layout, 0, *busy(9.4 * unit)) == 5 and balance(layout, 1, *busy(-8.6 * unit)) == -3
    for gap in (LEAN_MARGIN + 0.01, 5.0, 9.4, 20.3):  # what a move leaves of the gap moves nothing more
        moved = balance(layout, 0, *busy(gap * unit))
        assert abs(gap - 2 * moved) <= 1 and balance(layout, moved, *busy((gap - 2 * moved) * unit)) == moved
    assert balance(layout, most, *busy(10**6)) == most
    assert balance(layout, -most_taken(layout, 0), *busy(-(10**6))) == -most_taken(layout, 0)
    assert [taken_units(0, 2), taken_units(1, 2), taken_units(0, -3), taken_units(1, -3)] == [0, 2, 3, 0]
    assert kept_stop(layout, 1, 0) == 784 and kept_stop(layout, 0, 0) == part_rows(layout, 0)[1]
    units = (784 - k0 + LEAN_ROWS - 1) // LEAN_ROWS
    assert kept_stop(layout, 1, 2) == k0 + (units - 2) * LEAN_ROWS
    assert kept_stop(layout, 1, -2) == 784  # a lean toward member 1 takes nothing of its own part

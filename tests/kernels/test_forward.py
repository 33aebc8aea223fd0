"""kernels.forward: predict_chunk (gather, dense layers, output activation) against the NumPy reference."""

from __future__ import annotations

import numpy as np

from fastmlp.kernels.forward import SAMPLE_BLOCK, predict_chunk

import naive
from cases import BATCH_SIZES, DEPTHS, DTYPES, OUTPUTS, assert_close, layer_sizes, random_thetas
from covering import pairwise
from kernel_args import KernelArgs, block_counter, codes, frozen


@pairwise(dtype=DTYPES, output=OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES, ordered=[False, True])
def test_predict_chunk(dtype, output, depth, batch_size, ordered):
    """Rows [start, start + count) of X, in order or through a permutation; nothing outside them is written.
    The outputs are the same bits whether the work buffer has a row a sample (as many parts as blocks,
    which Numba's threads share) or one block's rows (one part, which takes every block), and whether the
    weights are read through their copy in panels (gemm_panels) or in place."""
    dtype, sizes = np.dtype(dtype), layer_sizes(depth)
    rng = np.random.default_rng(1)
    thetas = random_thetas(sizes, dtype, rng)
    n, start = batch_size + 5, 3
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    order = rng.permutation(n) if ordered else np.empty(0, np.int64)
    args = KernelArgs(thetas, dtype, batch_size)
    out = np.full((n, sizes[-1]), np.nan, dtype)
    labels = np.full(n, -1, np.int64)
    predict_chunk(args.net, frozen(X), order, start, batch_size, dtype.type(1.0), codes("mse", output), args.work.acts,
                  out, labels, args.panels(), block_counter(), args.scratch())
    rows = order[start : start + batch_size] if ordered else np.arange(start, start + batch_size)
    assert out.dtype == dtype
    assert_close(out[start : start + batch_size], naive.predict_chunk(thetas, X[rows], output), dtype)
    assert np.isnan(out[:start]).all() and np.isnan(out[start + batch_size :]).all()
    np.testing.assert_array_equal(labels[start : start + batch_size], out[start : start + batch_size].argmax(axis=1))
    assert (labels[:start] == -1).all() and (labels[start + batch_size :] == -1).all()
    one_part = np.full_like(out, np.nan)
    acts = np.full((min(batch_size, SAMPLE_BLOCK), args.work.acts.shape[1]), np.nan, dtype)
    predict_chunk(args.net, frozen(X), order, start, batch_size, dtype.type(1.0), codes("mse", output), acts, one_part,
                  np.empty(0, np.int64), np.empty(0, dtype), block_counter(), args.scratch(acts))
    np.testing.assert_array_equal(one_part, out)


@pairwise(dtype=DTYPES, output=OUTPUTS, batch_size=BATCH_SIZES)
def test_labels_are_the_first_of_equal_largest_outputs(dtype, output, batch_size):
    """Where outputs tie, a sample's label is the first of the largest, as NumPy's argmax picks: units 1, 3 and 4
    of the output layer have the same weights and the largest biases, so each sample's largest outputs are those
    three, equal (units 0 and 2 lie far below them)."""
    dtype, sizes = np.dtype(dtype), [6, 5, 5]
    rng = np.random.default_rng(4)
    thetas = random_thetas(sizes, dtype, rng)
    thetas[-1][[3, 4]] = thetas[-1][1]
    thetas[-1][:, -1] = np.array([-30, 30, -30, 30, 30], dtype)
    X = rng.normal(size=(batch_size, sizes[0])).astype(dtype)
    args = KernelArgs(thetas, dtype, batch_size)
    out = np.empty((batch_size, sizes[-1]), dtype)
    labels = np.full(batch_size, -1, np.int64)
    predict_chunk(args.net, frozen(X), np.empty(0, np.int64), 0, batch_size, dtype.type(1.0), codes("mse", output),
                  args.work.acts, out, labels, args.panels(), block_counter(), args.scratch())
    assert (out[:, 1] == out[:, 3]).all() and (out[:, 1] == out[:, 4]).all()
    np.testing.assert_array_equal(labels, np.ones(batch_size, np.int64))


@pairwise(dtype=DTYPES, batch_size=BATCH_SIZES)
def test_predict_chunk_reads_uint8_as_scaled(dtype, batch_size):
    """uint8 X with scale 1/255 gives the outputs of the float X * dtype(1/255), bit for bit."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(2)
    thetas = random_thetas(layer_sizes(2), dtype, rng)
    X8 = rng.integers(0, 256, (batch_size, thetas[0].shape[1] - 1), dtype=np.uint8)
    scale = dtype.type(1 / 255)
    outs = []
    for X, x_scale in ((X8, scale), (X8.astype(dtype) * scale, dtype.type(1.0))):
        args = KernelArgs(thetas, dtype, batch_size)
        out = np.empty((batch_size, thetas[-1].shape[0]), dtype)
        predict_chunk(args.net, frozen(X), np.empty(0, np.int64), 0, batch_size, x_scale, codes("mse", "softmax"),
                      args.work.acts, out, np.empty(0, np.int64), args.panels(), block_counter(), args.scratch())
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


@pairwise(dtype=DTYPES, output=OUTPUTS, depth=DEPTHS)
def test_a_samples_outputs_do_not_depend_on_its_block(dtype, output, depth):
    """The hidden and output activations run across a block's samples (a sample is a vector lane, or falls in
    the scalar loop after the whole vectors): predicted from row 0 and from row 1, each sample sits at another
    place in its block, in blocks of other sizes, and gets the same bits."""
    dtype, sizes = np.dtype(dtype), layer_sizes(depth)
    rng = np.random.default_rng(3)
    thetas = random_thetas(sizes, dtype, rng)
    n = 2 * SAMPLE_BLOCK + 5
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    outs = []
    for start in (0, 1):
        args = KernelArgs(thetas, dtype, n)
        out = np.full((n, sizes[-1]), np.nan, dtype)
        predict_chunk(args.net, frozen(X), np.empty(0, np.int64), start, n - start, dtype.type(1.0),
                      codes("mse", output), args.work.acts, out, np.empty(0, np.int64), args.panels(), block_counter(),
                      args.scratch())
        outs.append(out)
    assert not np.isnan(outs[0][1:]).any()
    np.testing.assert_array_equal(outs[1][1:], outs[0][1:])

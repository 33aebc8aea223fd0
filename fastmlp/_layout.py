"""Where each layer lives in the flat parameter vector and in a sample's row of activations."""

from __future__ import annotations

import numpy as np

from .kernels import CUT_ROWS, GAP_BYTES, LEAD, PARTS, ROW_BLOCK, SIZE, THETA, UNIT

#: Bytes that parameter-shaped arrays start on: a cache line. A tile loads rows of weights as vectors, and
#: as every row of a stored transpose is a whole number of lines (lead_width), its vectors then cross no line;
#: NumPy's allocator starts large arrays 16 bytes past a page. 784-256-128-10 float32, one-thread epochs,
#: samples/s with the parameters on a line against 16 bytes past one: batch 512 59.4-59.5k / 54.0-55.0k,
#: batch 32 64.9k / 60.6k.
ALIGNMENT = 64


def aligned_empty(size: int, dtype) -> np.ndarray:
    """An uninitialised 1-d array of ``size`` elements whose data starts on an ALIGNMENT-byte boundary."""
    dtype = np.dtype(dtype)
    raw = np.empty(size * dtype.itemsize + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size * dtype.itemsize].view(dtype)


def aligned_zeros(size: int, dtype) -> np.ndarray:
    """A 1-d array of ``size`` zeros whose data starts on an ALIGNMENT-byte boundary."""
    zeros = aligned_empty(size, dtype)
    zeros[:] = 0
    return zeros


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """A writable, aligned (aligned_empty) copy of a 1-d array."""
    copy = aligned_empty(array.size, array.dtype)
    copy[:] = array
    return copy


def build_layout(layer_sizes, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``layout`` (n_layers + 1, 4) and ``row_blocks`` (n_blocks, 3), as kernels.Net expects:
    the n_l + 1 rows of each layer's stored transpose cut into blocks of ROW_BLOCK (the last may be short).

    Layer l's parameters are the lecture's theta (n_{l+1}, n_l + 1), bias in the last column, stored
    transposed: n_l + 1 rows at ``layout[l, THETA]``, ``layout[l, LEAD]`` elements apart (lead_width), whose
    row k holds the weights from input k to every unit, the biases in the last row. The kernels then read
    and write runs of units with vector instructions (kernels.microkernel). Elements between the end of a
    row and the start of the next are never read and stay 0. Layer l's units sit at ``layout[l, UNIT]`` of
    an activation row. ``itemsize``: bytes per parameter.
    """
    sizes = np.asarray(layer_sizes, dtype=np.int64)
    layout = np.zeros((sizes.size, 4), dtype=np.int64)
    layout[:, SIZE] = sizes
    layout[:-1, LEAD] = [lead_width(int(n), itemsize) for n in sizes[1:]]
    place_thetas(layout)
    layout[1:, UNIT] = np.cumsum(sizes[:-1])
    blocks = [
        (l, k, min(ROW_BLOCK, sizes[l] + 1 - k))
        for l in range(sizes.size - 1)
        for k in range(0, sizes[l] + 1, ROW_BLOCK)
    ]
    return layout, np.array(blocks, dtype=np.int64).reshape(-1, 3)


def place_thetas(layout: np.ndarray) -> None:
    """Set ``layout[:, THETA]`` from its SIZE and LEAD columns: each layer's n_in + 1 rows, LEAD apart, right
    after the previous layer's."""
    layout[0, THETA] = 0
    layout[1:, THETA] = np.cumsum(layout[:-1, LEAD] * (layout[:-1, SIZE] + 1))


def n_params(layout: np.ndarray) -> int:
    """Weights and biases in all layers."""
    return int(sum((layout[l, SIZE] + 1) * layout[l + 1, SIZE] for l in range(layout.shape[0] - 1)))


def n_stored(layout: np.ndarray) -> int:
    """Elements of the flat parameter vector: the weights and biases and the gaps after rows (lead_width)."""
    return int(layout[-1, THETA])


def n_units(layout: np.ndarray) -> int:
    """Units in all layers, the input layer included: the width of a sample's activation row."""
    return int(layout[-1, UNIT] + layout[-1, SIZE])


#: Row widths in bytes that row_width and lead_width step off. L1 has 64 sets of 64-byte lines, so rows a
#: multiple of 1 KB apart put the same column of every row in at most 4 sets (a multiple of 4 KB: in one), and a
#: kernel walking down the rows (a panel of weights in the forward pass; the gradient's tiles, with their weights
#: and velocities) evicts its own lines. 784-220-10 float32 (1,014 units) at batch 32, Zen 4, medians of one-thread
#: epochs in three alternating process pairs, rows of 1,024 units (4 KB) against 1,056: 104-120k / 128-132k
#: samples/s, and with the AVX2 code 104k / 123-124k; prediction of 10,000 images on two threads 467-475k /
#: 545-563k. In float64, 8 KB rows trained alike either way, and rows an odd number of lines long fell behind (so
#: two lines more, not one). 1 KB rows (256 float32 units), Zen 3 with AVX2 code, one process alternating a model
#: with rows of 256 and one with 288 units, medians of 11 rounds of 12,000 images, 784-256-10 batch 32: one thread
#: 89.7k / 93.3k samples/s, with momentum 0.9 83.2k / 85.9k; two threads 164.3k / 170.6k and 157.4k / 159.8k;
#: float64 (2 KB rows) one thread 41.6k / 45.1k, with momentum 39.4k / 41.8k; prediction alike (it reads its own
#: copy, gemm_panels). Rows of 512 bytes (784-256-128-10's 128 units) trained alike with and without the gap.
ALIAS_BYTES = 1024


def _off_alias(width: int, itemsize: int) -> int:
    """``width`` elements, or two cache lines more where that makes a multiple of ALIAS_BYTES."""
    return width + 2 * ALIGNMENT // itemsize if width * itemsize % ALIAS_BYTES == 0 else width


def row_width(layout: np.ndarray, itemsize: int) -> int:
    """Elements of a sample's row in the activation and delta buffers: n_units rounded up to whole cache lines
    (ALIGNMENT), and two lines more where that is a multiple of ALIAS_BYTES. In an aligned buffer (aligned_rows)
    every row then starts on a line, so that threads working on different samples, or on columns cut at a line
    (kernels.CUT_ROWS), never write the same line. 784-100-10 float32, one thread, six alternating process
    pairs against rows of 894 units in a buffer 16 bytes past a line: batch 32 median 255k / 242k samples/s,
    ahead in all six."""
    per_line = ALIGNMENT // itemsize
    return _off_alias(-(-n_units(layout) // per_line) * per_line, itemsize)


def lead_width(n_out: int, itemsize: int) -> int:
    """Elements from one row of a stored transpose feeding ``n_out`` units to the next: ``n_out`` rounded up to
    whole cache lines, and two lines more where that is a multiple of ALIAS_BYTES (256 float32 units, 128
    float64), whose same columns would fall in a few L1 sets as a kernel walks down the rows.

    Whole lines: with rows of 100 float32 units (400 bytes) the forward pass's panels of B start 0, 16, 32 and 48
    bytes into a line in turn, and where a t's row of a panel of three vectors (AVX2's 4 x 3 tiles over the last
    20 columns) spans three lines, the tile ran at 0.7 of its pace. 784 x 100 x 512 float32 on one Zen 3
    thread (AVX2), columns 80-100 alone: 306-367 us with rows of 100 or 112 units starting 48 bytes into a line,
    223-231 us on a line or 16 or 32 bytes into one (a 16-column panel: 155-170 us); ``fastmlp bench --kernels``,
    forward share of a one-thread sgemm, three alternating process pairs: 0.83-0.84 / 0.92-0.93. One-thread
    epochs, four alternating process pairs, medians: 784-100-10 batch 32 4.79 / 4.62 us a sample, with momentum
    0.9 5.26 / 4.99, batch 512 4.65 / 4.55, Adam batch 32 5.84 / 5.84; 784-15-10 batch 32 1.07 / 1.03.
    The gaps cost the optimizer's update nothing: microkernel.update_rows masks each row's last vector.

    Two lines more, Zen 4, medians of one-thread epochs (20,000 Fashion-MNIST images, plain SGD) in three
    alternating process pairs, rows back to back / with the gap: 784-1024-10 float32 batch 32 25-28k / 28-29k
    samples/s, with the AVX2 code 24-25k / 27-28k; 784-512-10 float64 batch 32 23-27k / 27-29k, AVX2 26k /
    27-28k. Batch 128 and two threads ran alike or ahead."""
    per_line = ALIGNMENT // itemsize
    return _off_alias(-(-n_out // per_line) * per_line, itemsize)


def aligned_rows(n: int, layout: np.ndarray, dtype) -> np.ndarray:
    """An uninitialised (n, row_width) buffer of activation or delta rows, aligned (aligned_empty); the
    columns past n_units are never read."""
    dtype = np.dtype(dtype)
    width = row_width(layout, dtype.itemsize)
    return aligned_empty(n * width, dtype).reshape(n, width)


def input_rows(batch: int, layout: np.ndarray, dtype) -> np.ndarray:
    """An uninitialised, aligned buffer for Work.inputs: for each of the PARTS parts of the first layer's rows,
    ``batch`` rows wide enough for the most inputs a part has (kernels.parts.cut), in whole cache lines, then
    rows enough for GAP_BYTES. Each part's inputs are written and read by one member of a team; kept apart from
    the others' (not in the activation rows, where each sample's row holds every part's inputs) they share no
    cache line or page with them, and a core's prefetcher does not pull one member's lines into the other's
    cache while it works. 784-100-10 float32, Zen 4, two-thread epochs of 60,000 images in alternating process
    pairs, apart against in the activation rows: batch 32 0.117-0.126 s / 0.121-0.128 s (medians 0.118 / 0.122),
    batch 128 0.110-0.118 / 0.114-0.118, batch 512 0.108-0.111 / 0.110-0.114, one thread alike (0.21-0.22 s);
    while a round trip between the cores took 290-330 ns instead of 75, batch 32 0.156-0.160 s / 0.180-0.185 s,
    and with the AVX2 code batch 32 0.184-0.209 / 0.224-0.233, batch 128 0.162-0.170 / 0.182-0.209."""
    dtype = np.dtype(dtype)
    n_in, line = int(layout[0, SIZE]), ALIGNMENT // dtype.itemsize
    width = _off_alias(-(-min(n_in, n_in // PARTS + CUT_ROWS) // line) * line, dtype.itemsize)
    rows = PARTS * (batch + -(-GAP_BYTES // (width * dtype.itemsize)))
    return aligned_empty(rows * width, dtype).reshape(rows, width)


def theta_views(params: np.ndarray, layout: np.ndarray) -> list[np.ndarray]:
    """Per-layer (n_out, n_in + 1) views into the flat ``params``: the lecture's thetas (strided views of
    the stored transposes)."""
    return [
        params[layout[l, THETA] : layout[l + 1, THETA]]
        .reshape(layout[l, SIZE] + 1, layout[l, LEAD])[:, : layout[l + 1, SIZE]]
        .T
        for l in range(layout.shape[0] - 1)
    ]


def to_lecture_order(params: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """A copy of the flat ``params`` (or anything laid out like them) in the lecture's order: every theta
    row by row, layer after layer. Files and checkpoints hold this order."""
    return np.concatenate([theta.ravel() for theta in theta_views(params, layout)])


def from_lecture_order(flat: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_lecture_order`: a copy of ``flat`` in the stored (transposed) order, 0 in
    the gaps after rows."""
    out = np.zeros(n_stored(layout), flat.dtype)
    at = 0
    for view in theta_views(out, layout):
        view[:] = flat[at : at + view.size].reshape(view.shape)
        at += view.size
    return out

"""Kernel argument bundles (kernels.Net, Work, Optimizer) built straight from the lecture's thetas.

A module of its own, like cases.py, for the kernel tests under tests/ and tests/kernels/.
"""

from __future__ import annotations

import itertools

import numpy as np

from fastmlp._layout import ALIGNMENT, aligned_rows, build_layout, input_rows, n_stored, place_thetas, theta_views
from fastmlp._validation import read_only as frozen
from fastmlp.kernels import (
    ADAM,
    HIDDEN_ACTIVATIONS,
    LEAD,
    LOSSES,
    OUTPUTS,
    PARTS,
    SGD,
    SIZE,
    Net,
    Optimizer,
    Work,
    output_rows,
    part_size,
)
from fastmlp.kernels.backward import forward_backward, gradients
from fastmlp.kernels.forward import panels_at, scratch_shape
from fastmlp.kernels.microkernel import pack_row


def block_counter() -> np.ndarray:
    """predict_chunk's block counter, holding a value the kernel must reset before it counts."""
    return np.full(1, 7, np.int64)


#: Threads with a buffer of their own for gemm_packed: a team of more members takes gemm's path past them
#: (backward.row_gradient), and the team tests check that the weights come out the same.
PACK_ROWS = 2


def nan_rows(n, layout, dtype):
    """Activation or delta rows as the model allocates them (padded to whole cache lines), filled with NaN."""
    return nan_filled(aligned_rows(n, layout, dtype))


def nan_filled(array):
    """``array``, every element set to NaN (a buffer a kernel must write before it reads)."""
    array[:] = np.nan
    return array


def with_gaps(layout, itemsize):
    """``layout`` with two cache lines more after every row of every stored transpose, as the model leaves
    after rows a multiple of 1 KB long (_layout.lead_width), so that the kernel tests of small networks walk
    rows with gaps of more than a line after them."""
    gapped = layout.copy()
    gapped[:-1, LEAD] += 2 * ALIGNMENT // itemsize
    place_thetas(gapped)
    return gapped


def gap_mask(layout, size):
    """True at the elements of a flat parameter vector of ``size`` that lie in the gaps after rows of the stored
    transposes (_layout.lead_width), False at the weights and biases."""
    gaps = np.ones(size, bool)
    for view in theta_views(gaps, layout):
        view[:] = False
    return gaps


class KernelArgs:
    """A network's kernel arguments built from ``thetas``: Net, Work for ``batch`` samples (filled with NaN,
    so a value the kernels should have written and did not shows) and the optimizer's state. The parameters
    have a gap after every row (with_gaps; ``gaps=False``: rows back to back, as the model lays out rows of
    whole lines), filled
    with NaN too, so that a kernel that reads a gap shows."""

    def __init__(self, thetas, dtype, batch, gaps=True):
        sizes = [thetas[0].shape[1] - 1] + [theta.shape[0] for theta in thetas]
        self.dtype = np.dtype(dtype)
        self.layout, row_blocks = build_layout(sizes, self.dtype.itemsize)
        if gaps:
            self.layout = with_gaps(self.layout, self.dtype.itemsize)
        else:
            self.layout[:-1, LEAD] = self.layout[1:, SIZE]
            place_thetas(self.layout)
        self.params = np.full(n_stored(self.layout), np.nan, self.dtype)
        for view, theta in zip(theta_views(self.params, self.layout), thetas):
            view[:] = theta
        self.first = np.zeros_like(self.params)
        self.second = np.zeros_like(self.params)
        self.step = np.zeros(1, np.int64)
        self.net = Net(self.params, self.layout, row_blocks)
        self.work = Work(
            acts=nan_rows(batch, self.layout, self.dtype),
            outputs=np.full(batch * output_rows(sizes[-1]), np.nan, self.dtype),
            deltas=nan_rows(batch, self.layout, self.dtype),
            losses=np.full(batch, np.nan),
            grads=np.full(self.params.size, np.nan, self.dtype),
            lecture=np.full(self.params.size, np.nan, self.dtype),
            parts=np.full(PARTS * part_size(batch, sizes[1], self.dtype.itemsize), np.nan, self.dtype),
            pack=np.full((PACK_ROWS, pack_row(self.dtype.itemsize)), np.nan, self.dtype),
            inputs=nan_filled(input_rows(batch, self.layout, self.dtype)),
            one=np.ones(1, self.dtype),
        )

    def scratch(self, acts=None) -> np.ndarray:
        """A NaN-filled predict_chunk scratch for ``acts`` (default the Work's): a row per part of its rows."""
        rows = (self.work.acts if acts is None else acts).shape[0]
        return np.full(scratch_shape(self.layout, rows), np.nan, self.dtype)

    def panels(self) -> np.ndarray:
        """A NaN-filled buffer for predict_chunk's copy of the weights (forward.pack_panels)."""
        size = panels_at(self.layout, self.layout.shape[0] - 1, self.dtype.itemsize)
        return np.full(size, np.nan, self.dtype)

    def opt(self, kind="sgd", learning_rate=0.3, momentum=0.0, nesterov=False, weight_decay=0.0, beta_1=0.9,
            beta_2=0.999, epsilon=1e-8) -> Optimizer:
        """The Optimizer over this case's state (first, second, step), settings as the model passes them."""
        t = self.dtype.type
        return Optimizer({"sgd": SGD, "adam": ADAM}[kind], self.first, self.second, self.step, t(learning_rate),
                         t(momentum), t(weight_decay), bool(nesterov), t(beta_1), t(beta_2), t(epsilon))

    def loss_and_gradients(self, X, Y, codes, weights=None, order=None, start=0, count=None):
        """forward_backward then gradients on samples [start, start + count) of ``order`` (all of X by
        default); returns the per-sample losses (each times its weight) and the per-layer gradients."""
        count = len(X) if count is None else count
        weights = no_weights(self.dtype) if weights is None else frozen(weights)
        order = np.empty(0, np.int64) if order is None else order
        forward_backward(self.net, frozen(X), as_targets(Y, self.dtype), weights, order, start, count,
                         self.dtype.type(1.0), codes, self.work)
        gradients(self.net, weights, order, start, count, self.work)
        return self.work.losses[:count].copy(), self.thetas(self.work.grads)

    def thetas(self, flat=None) -> list[np.ndarray]:
        """Copies of the per-layer matrices of ``flat`` (the parameters by default)."""
        return [view.copy() for view in theta_views(self.params if flat is None else flat, self.layout)]


def random_thetas(layer_sizes, dtype, rng, scale=0.8) -> list[np.ndarray]:
    return [rng.normal(0, scale, (n_out, n_in + 1)).astype(dtype) for n_in, n_out in itertools.pairwise(layer_sizes)]


def codes(loss, output, hidden="logistic") -> np.ndarray:
    """The kernels' int64 codes (loss, output, hidden activation)."""
    return np.array([LOSSES[loss], OUTPUTS[output], HIDDEN_ACTIVATIONS[hidden]], dtype=np.int64)


def as_targets(Y, dtype) -> np.ndarray:
    """Labels as int64, target matrices in the network's dtype; read-only, as the model passes them."""
    return frozen(Y.astype(np.int64) if Y.ndim == 1 else Y.astype(dtype))


def no_weights(dtype) -> np.ndarray:
    """The empty sample-weight array: every sample weighs 1."""
    return frozen(np.empty(0, dtype))

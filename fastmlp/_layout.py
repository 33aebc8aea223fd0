"""Where each layer lives in the flat parameter vector and in a sample's row of activations."""

from __future__ import annotations

import numpy as np

from .kernels import GRAIN, SIZE, THETA, UNIT


def build_layout(layer_sizes) -> tuple[np.ndarray, np.ndarray]:
    """Return ``layout`` (n_layers + 1, 3) and ``row_blocks`` (n_blocks, 3), as kernels.Net expects:
    each layer's weight rows cut into blocks of GRAIN rows (the last may be short).

    Layer l's parameters are one (n_{l+1}, n_l + 1) matrix, the lecture's theta with the bias in the
    last column, stored row-major at ``layout[l, THETA]``; its units sit at ``layout[l, UNIT]``.
    """
    sizes = np.asarray(layer_sizes, dtype=np.int64)
    layout = np.zeros((sizes.size, 3), dtype=np.int64)
    layout[:, SIZE] = sizes
    layout[1:, THETA] = np.cumsum(sizes[1:] * (sizes[:-1] + 1))
    layout[1:, UNIT] = np.cumsum(sizes[:-1])
    blocks = [
        (l, j, min(GRAIN, sizes[l + 1] - j))
        for l in range(sizes.size - 1)
        for j in range(0, sizes[l + 1], GRAIN)
    ]
    return layout, np.array(blocks, dtype=np.int64).reshape(-1, 3)


def n_params(layout: np.ndarray) -> int:
    """Weights and biases in all layers: the last parameter offset."""
    return int(layout[-1, THETA])


def n_units(layout: np.ndarray) -> int:
    """Units in all layers, the input layer included: the width of a sample's activation row."""
    return int(layout[-1, UNIT] + layout[-1, SIZE])


def theta_views(params: np.ndarray, layout: np.ndarray) -> list[np.ndarray]:
    """Per-layer (n_out, n_in + 1) views into the flat ``params``."""
    return [
        params[layout[l, THETA] : layout[l + 1, THETA]].reshape(layout[l + 1, SIZE], layout[l, SIZE] + 1)
        for l in range(layout.shape[0] - 1)
    ]


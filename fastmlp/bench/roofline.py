"""The practical roofline (large-matmul FLOP/s through NumPy's BLAS) and the FLOPs a training step costs."""

from __future__ import annotations

import importlib.util
import time

import numpy as np


def layer_pairs(layer_sizes) -> list[tuple[int, int]]:
    """(n_in, n_out) of each layer."""
    return list(zip(layer_sizes[:-1], layer_sizes[1:]))


def n_params(layer_sizes) -> int:
    """Weights and biases of the network."""
    return sum(n_out * (n_in + 1) for n_in, n_out in layer_pairs(layer_sizes))


def sample_flops(layer_sizes) -> int:
    """FLOPs one sample costs in a training step: 2 x (forward + weight-gradient + delta-propagation MACs).

    Forward and weight gradient each take n_in x n_out multiply-adds per layer; deltas propagate back
    through every layer but the first (nothing needs the input layer's delta).
    """
    pairs = layer_pairs(layer_sizes)
    forward = sum(n_in * n_out for n_in, n_out in pairs)
    propagate = sum(n_in * n_out for n_in, n_out in pairs[1:])
    return 2 * (forward + forward + propagate)


def predict_flops(layer_sizes) -> int:
    """FLOPs of one sample's forward pass: 2 x forward MACs."""
    return 2 * sum(n_in * n_out for n_in, n_out in layer_pairs(layer_sizes))


def epoch_flops(layer_sizes, n_samples: int, batch_size: int) -> int:
    """FLOPs of one pass of minibatch SGD over ``n_samples``: per-sample work plus 2 x n_params per update."""
    n_updates = -(-n_samples // batch_size)
    return n_samples * sample_flops(layer_sizes) + n_updates * 2 * n_params(layer_sizes)


def one_thread_matmul_flops(dtype="float32", size: int = 2048, repeat: int = 3) -> float | None:
    """matmul_flops with NumPy's BLAS held to one thread (threadpoolctl), the yardstick of a one-thread
    training step; None without threadpoolctl."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    return matmul_flops(dtype, size, repeat, threads=1)


def matmul_flops(dtype="float32", size: int = 2048, repeat: int = 5, threads: int | None = None) -> float:
    """Best FLOP/s of ``repeat`` (size x size) @ (size x size) products through NumPy's BLAS, on all its threads
    or held to ``threads`` (threadpoolctl, which that needs)."""
    if threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            return matmul_flops(dtype, size, repeat)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty((size, size), dtype)
    np.matmul(a, b, out=out)  # first call: BLAS thread start-up and page faults
    best = np.inf
    for _ in range(repeat):
        began = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - began)
    return 2.0 * size**3 / best

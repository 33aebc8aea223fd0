"""The forward pass in plain NumPy: what a model predicts with when Numba is not installed.

Same math as the compiled kernels (fastmlp.kernels.forward and .activations): z = W a + b per layer, the
hidden activation, then the output activation, uint8 inputs read as x * (1/255) in the model's dtype.
"""

from __future__ import annotations

import numpy as np

#: Samples per matrix product: bounds the float copy of the inputs and the activations held at once.
CHUNK = 4096


def sigmoid(z: np.ndarray) -> np.ndarray:
    """In place: z = 1 / (1 + exp(-z)), from exp(-|z|) <= 1, which cannot overflow for any finite z."""
    negative = z < 0
    e = np.exp(-np.abs(z))  # (n, m)
    np.add(e, 1, out=z)
    np.reciprocal(z, out=z)  # 1 / (1 + exp(-|z|)): the sigmoid of |z|
    np.multiply(z, e, out=z, where=negative)  # sigmoid(z) = exp(z) / (1 + exp(z)) for z < 0
    return z


def softmax(z: np.ndarray) -> np.ndarray:
    """In place, per row: z = exp(z - max z) / sum; the shift keeps every exp <= 1."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _relu(z):
    return np.maximum(z, 0, out=z)


ACTIVATIONS = {"logistic": sigmoid, "tanh": lambda z: np.tanh(z, out=z), "relu": _relu, "identity": lambda z: z}
OUTPUTS = {"sigmoid": sigmoid, "softmax": softmax, "identity": lambda z: z}


def forward(thetas, X: np.ndarray, scale: float, *, activation: str = "logistic",
            output: str = "softmax") -> np.ndarray:
    """Output activations (n_samples, n_out) of the network whose layers are ``thetas``.

    thetas: per-layer (n_out, n_in + 1) arrays, bias last, all in the model's dtype; X: (n_samples, n_in),
    uint8 or float, already validated; ``scale`` multiplies the inputs (1/255 for uint8, else 1).

    Examples
    --------
    >>> theta = np.array([[1.0, -1.0, 0.5]])  # one sigmoid unit over two inputs
    >>> forward([theta], np.array([[2.0, 2.0]]), 1.0, output="sigmoid").round(4).tolist()
    [[0.6225]]
    """
    dtype = thetas[0].dtype
    hidden, last = ACTIVATIONS[activation], OUTPUTS[output]
    weights = [np.ascontiguousarray(theta[:, :-1].T) for theta in thetas]  # (n_in, n_out) each
    out = np.empty((X.shape[0], thetas[-1].shape[0]), dtype)
    # Inputs so large that a layer overflows give inf or NaN here, which the model reports as a ValueError.
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, X.shape[0], CHUNK):
            a = X[start : start + CHUNK].astype(dtype)  # (chunk, n_in)
            if scale != 1:
                a *= dtype.type(scale)
            for l, (w, theta) in enumerate(zip(weights, thetas)):
                a = a @ w  # (chunk, n_out)
                a += theta[:, -1]
                a = hidden(a) if l < len(thetas) - 1 else last(a)
            out[start : start + CHUNK] = a
    return out

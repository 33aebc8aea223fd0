"""Sigmoid, softmax and the three per-sample losses with their gradients, computed stably from z."""

import numpy as np

from .._compile import kernel

# Codes for the output activation and the loss, shared with the model.
IDENTITY, SIGMOID, SOFTMAX = 0, 1, 2
MSE, SIGMOID_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY = 0, 1, 2


@kernel
def sigmoid(z, out):
    """out = 1 / (1 + exp(-z)), without overflow for any finite z.  (n,) -> (n,)"""
    one = out.dtype.type(1.0)
    for k in range(z.size):
        # exp only ever sees a non-positive argument, so it cannot overflow, compiled or run as
        # Python under NUMBA_DISABLE_JIT (test_stable_at_large_z).
        if z[k] >= 0:
            out[k] = one / (one + np.exp(-z[k]))
        else:
            e = np.exp(z[k])
            out[k] = e / (one + e)


@kernel
def softmax(z, out):
    """out = exp(z - max z) / sum: the shift keeps exp <= 1.  (n,) -> (n,)"""
    top = z.max()
    total = out.dtype.type(0.0)
    for k in range(z.size):
        out[k] = np.exp(z[k] - top)
        total += out[k]
    for k in range(z.size):
        out[k] /= total


@kernel
def activate(z, output, out):
    """Apply the output activation ``output`` (a code) to one sample's pre-activations."""
    if output == SIGMOID:
        sigmoid(z, out)
    elif output == SOFTMAX:
        softmax(z, out)
    else:
        out[:] = z


@kernel
def loss_and_delta(z, target, loss, output, delta):
    """One sample's loss (float64) and its gradient dL/dz into ``delta``, from the pre-activations z.

    The losses follow the lecture, summed over the n outputs: MSE sum (yhat - y)^2; sigmoid
    cross-entropy sum -y log yhat - (1 - y) log(1 - yhat); softmax cross-entropy sum -y log yhat.
    Cross-entropies are computed from z, not from yhat, so an output that rounds to exactly 0 or 1
    still gives a finite loss (test_stable_at_large_z). ``delta`` holds yhat on the way.
    """
    n = z.size
    activate(z, output, delta)  # delta = yhat for now
    value = 0.0
    if loss == SIGMOID_CROSS_ENTROPY:
        # -y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - y z + log(1 + exp(-|z|))
        for j in range(n):
            zj = np.float64(z[j])
            value += max(zj, 0.0) - target[j] * zj + np.log1p(np.exp(-abs(zj)))
            delta[j] -= target[j]
    elif loss == SOFTMAX_CROSS_ENTROPY:
        # -sum y log softmax(z) = sum y (logsumexp(z) - z); its gradient is yhat sum(y) - y.
        top = np.float64(z.max())
        total = 0.0
        mass = 0.0
        for j in range(n):
            total += np.exp(np.float64(z[j]) - top)
            mass += target[j]
        log_sum = top + np.log(total)
        for j in range(n):
            value += target[j] * (log_sum - z[j])
        scale = delta.dtype.type(mass)
        for j in range(n):
            delta[j] = delta[j] * scale - target[j]
    else:
        two = delta.dtype.type(2.0)
        one = delta.dtype.type(1.0)
        dot = delta.dtype.type(0.0)
        for j in range(n):
            diff = delta[j] - target[j]
            value += np.float64(diff) * diff
            dot += two * diff * delta[j]
        # dL/dyhat = 2 (yhat - y), then through the output activation's Jacobian.
        for j in range(n):
            yhat = delta[j]
            grad = two * (yhat - target[j])
            if output == SIGMOID:
                delta[j] = grad * yhat * (one - yhat)
            elif output == SOFTMAX:
                delta[j] = yhat * (grad - dot)
            else:
                delta[j] = grad
    return value

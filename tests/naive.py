"""A plain-NumPy MLP written like the lecture: the reference every kernel is compared against.

Everything here runs in float64 on the lecture's matrices: ``thetas[l]`` is (n_out, n_in + 1) with the
bias in the last column, and each layer's input gets the bias unit 1 appended before the product.
Hidden layers use the logistic sigmoid unless ``hidden`` names another activation; ``weights`` are
per-sample weights (None: every sample weighs 1). Function names follow the kernels
(forward.predict_chunk, backward.forward_backward, ...).
"""

from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------- activations
def sigmoid(z):
    """The logistic sigmoid 1 / (1 + e^-z). exp(-z) may overflow to inf for z << 0; 1 / inf = 0 is right."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    """e^z_j / sum_k e^z_k for each row, shifted by the row maximum (the ratio is unchanged)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activate(z, output):
    """The output activation by name: "sigmoid", "softmax" or "identity"."""
    return {"sigmoid": sigmoid, "softmax": softmax, "identity": lambda v: v}[output](z)


def hidden_activation(z, hidden):
    """A hidden layer's activation by name: "logistic" (the sigmoid), "tanh", "relu" or "identity"."""
    if hidden == "logistic":
        return sigmoid(z)
    if hidden == "tanh":
        return np.tanh(z)
    if hidden == "relu":
        return np.maximum(z, 0.0)
    if hidden == "identity":
        return z
    raise ValueError(hidden)


def hidden_derivative(a, hidden):
    """f'(z) written with the activation a = f(z): a (1 - a), 1 - a^2, [a > 0] (z > 0 exactly when a > 0), 1."""
    if hidden == "logistic":
        return a * (1 - a)
    if hidden == "tanh":
        return 1 - a**2
    if hidden == "relu":
        return (a > 0).astype(np.float64)
    if hidden == "identity":
        return np.ones_like(a)
    raise ValueError(hidden)


def one_hot(labels, n_out):
    """Integer labels (n,) -> target matrix (n, n_out); a float matrix is passed through."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.float64)
    if n_out == 1:  # a single output unit: the labels are the target column itself
        return labels.astype(np.float64).reshape(-1, 1)
    return np.eye(n_out)[labels]


def with_bias(a):
    """Append the bias unit 1 to every sample's activations: (n, k) -> (n, k + 1)."""
    return np.hstack([a, np.ones((a.shape[0], 1))])


# ---------------------------------------------------------------- forward
def forward(thetas, X, output, hidden="logistic"):
    """Forward propagation. Returns the activations of every layer (input first) and the output z.

    a_1 = x;  z_{l+1} = theta_l [a_l; 1];  a_{l+1} = f(z_{l+1}) on hidden layers (f the ``hidden``
    activation), and the output activation on the last one.
    """
    a = np.asarray(X, dtype=np.float64)
    activations = [a]
    z = None
    for l, theta in enumerate(thetas):
        z = with_bias(a) @ np.asarray(theta, np.float64).T  # (n, n_out_l)
        a = hidden_activation(z, hidden) if l < len(thetas) - 1 else activate(z, output)
        activations.append(a)
    return activations, z


def predict_chunk(thetas, X, output, hidden="logistic"):
    """The network's outputs (n, n_out)."""
    return forward(thetas, X, output, hidden)[0][-1]


# ---------------------------------------------------------------- losses
def losses(yhat, Y, loss):
    """Per-sample loss (n,), summed over the outputs, exactly as the lecture writes it."""
    if loss == "mse":
        return ((yhat - Y) ** 2).sum(axis=1)
    if loss == "sigmoid_cross_entropy":
        return (-Y * np.log(yhat) - (1 - Y) * np.log(1 - yhat)).sum(axis=1)
    if loss == "softmax_cross_entropy":
        return (-Y * np.log(yhat)).sum(axis=1)
    raise ValueError(loss)


def loss_gradient(yhat, Y, loss):
    """dL/dyhat for each sample (n, n_out): the derivative of :func:`losses` term by term."""
    if loss == "mse":
        return 2 * (yhat - Y)
    if loss == "sigmoid_cross_entropy":
        return -Y / yhat + (1 - Y) / (1 - yhat)
    return -Y / yhat


def output_delta(yhat, Y, loss, output):
    """dL/dz at the output by the chain rule: dL/dz_k = sum_j dL/dyhat_j * dyhat_j/dz_k."""
    grad = loss_gradient(yhat, Y, loss)
    if output == "identity":
        return grad
    if output == "sigmoid":  # dyhat_j/dz_j = yhat_j (1 - yhat_j), diagonal
        return grad * yhat * (1 - yhat)
    # softmax: dyhat_j/dz_k = yhat_j (delta_jk - yhat_k), so dL/dz_k = yhat_k (grad_k - sum_j grad_j yhat_j)
    return yhat * (grad - (grad * yhat).sum(axis=1, keepdims=True))


# ---------------------------------------------------------------- backward
def forward_backward(thetas, X, Y, loss, output, hidden="logistic"):
    """Per-sample losses (n,), activations and deltas (dL/dz of each non-input layer, per sample).

    delta_L = dL/dz_L;  delta_l = (W_l^T delta_{l+1}) * f'(z_l), W_l = theta_l without its bias column,
    f'(z_l) from a_l = f(z_l) (hidden_derivative).
    """
    activations, _ = forward(thetas, X, output, hidden)
    yhat = activations[-1]
    Y = one_hot(Y, yhat.shape[1])
    deltas = [output_delta(yhat, Y, loss, output)]
    for l in range(len(thetas) - 1, 0, -1):
        weights = np.asarray(thetas[l], np.float64)[:, :-1]
        deltas.insert(0, (deltas[0] @ weights) * hidden_derivative(activations[l], hidden))
    return losses(yhat, Y, loss), activations, deltas


def sample_weights(weights, n):
    """The per-sample weights as float64 (n,): all ones for None."""
    return np.ones(n) if weights is None else np.asarray(weights, np.float64)


def gradients(activations, deltas, weights=None):
    """Gradient of the (weighted) mean loss for each theta: sum_i w_i delta_{l+1,i} [a_{l,i}; 1]^T / sum_i w_i."""
    w = sample_weights(weights, activations[0].shape[0])
    return [(w[:, None] * delta).T @ with_bias(a) / w.sum() for a, delta in zip(activations[:-1], deltas)]


def loss_and_gradients(thetas, X, Y, loss, output, hidden="logistic", weights=None):
    """The (weighted) mean loss sum_i w_i L_i / sum_i w_i and its gradient, one (n_out, n_in + 1) array per layer."""
    sample_losses, activations, deltas = forward_backward(thetas, X, Y, loss, output, hidden)
    w = sample_weights(weights, len(sample_losses))
    return (w * sample_losses).sum() / w.sum(), gradients(activations, deltas, weights)


# ---------------------------------------------------------------- update
def sgd_step(thetas, velocity, grads, learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
    """One step of torch.optim.SGD (dampening 0); returns new thetas and velocity lists.

    g = grad + weight_decay * theta   (weights only: the bias column gets no decay)
    v = momentum * v + g;   step = g + momentum * v (Nesterov) or v;   step = g when momentum = 0
    theta = theta - learning_rate * step
    """
    new_thetas, new_velocity = [], []
    for theta, v, grad in zip(thetas, velocity, grads):
        theta = np.asarray(theta, np.float64)
        decay = np.full(theta.shape, weight_decay)
        decay[:, -1] = 0.0
        g = grad + decay * theta
        if momentum:
            v = momentum * v + g
            step = g + momentum * v if nesterov else v
        else:
            step = g
        new_thetas.append(theta - learning_rate * step)
        new_velocity.append(v)
    return new_thetas, new_velocity


def adam_state(thetas):
    """Adam's state before its first step: first moments m, second moments v (zeros) and t = 0 steps."""
    return zeros_like(thetas), zeros_like(thetas), 0


def adam_step(thetas, state, grads, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
    """One step of scikit-learn's AdamOptimizer; returns new thetas and state (m, v, t).

    g = grad + weight_decay * theta   (weights only, as for SGD)
    t = t + 1;  m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2
    lr_t = learning_rate sqrt(1 - beta_2^t) / (1 - beta_1^t);  theta = theta - lr_t m / (sqrt(v) + epsilon)
    """
    ms, vs, t = state
    t += 1
    rate = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    new_thetas, new_ms, new_vs = [], [], []
    for theta, m, v, grad in zip(thetas, ms, vs, grads):
        theta = np.asarray(theta, np.float64)
        decay = np.full(theta.shape, weight_decay)
        decay[:, -1] = 0.0
        g = grad + decay * theta
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        new_thetas.append(theta - rate * m / (np.sqrt(v) + epsilon))
        new_ms.append(m)
        new_vs.append(v)
    return new_thetas, (new_ms, new_vs, t)


def train_step(thetas, velocity, X, Y, loss, output, hidden="logistic", weights=None, update=sgd_step, **settings):
    """Forward, backward and one update on one minibatch; returns thetas, optimizer state, per-sample losses
    (each times its weight). ``update`` is sgd_step (state: the velocity) or adam_step (state: adam_state);
    a minibatch whose weights sum to 0 makes no update."""
    sample_losses, activations, deltas = forward_backward(thetas, X, Y, loss, output, hidden)
    w = sample_weights(weights, len(sample_losses))
    if w.sum() > 0:
        thetas, velocity = update(thetas, velocity, gradients(activations, deltas, weights), **settings)
    return thetas, velocity, w * sample_losses


def train_epoch(thetas, velocity, X, Y, batch_size, loss, output, hidden="logistic", weights=None, update=sgd_step,
                **settings):
    """Minibatches X[0:b], X[b:2b], ... in order (the last may be smaller); returns thetas, optimizer state and
    the mean loss.

    The epoch's loss is the (weighted) mean of every sample's loss on the forward pass of its own minibatch.
    """
    w = sample_weights(weights, len(X))
    total = 0.0
    for start in range(0, len(X), batch_size):
        batch = slice(start, start + batch_size)
        thetas, velocity, sample_losses = train_step(thetas, velocity, X[batch], Y[batch], loss, output, hidden,
                                                     None if weights is None else w[batch], update, **settings)
        total += sample_losses.sum()
    return thetas, velocity, total / w.sum()


def zeros_like(thetas):
    """A zero momentum buffer for each theta."""
    return [np.zeros(np.shape(theta)) for theta in thetas]

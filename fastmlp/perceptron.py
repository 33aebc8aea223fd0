"""The lecture's single-layer perceptron: a hard-threshold unit trained by the perceptron learning rule."""

from __future__ import annotations

import warnings

import numpy as np

from . import _validation as check


class NotSeparableWarning(UserWarning):
    """The perceptron rule did not converge: the two classes are not (or not shown to be) linearly separable."""


class Perceptron:
    """A hard-threshold unit ``yhat = 1 if w . x + b > 0 else 0`` trained by the perceptron learning rule.

    For each sample in turn, ``w += learning_rate * (y - yhat) * x`` and ``b += learning_rate * (y - yhat)``;
    an epoch without a mistake means the data are separated and training stops. If the weights come back
    to a state they had at the end of an earlier epoch, the rule would cycle forever, which by the
    perceptron convergence theorem proves the data are not linearly separable (XOR is the classic case).

    Parameters
    ----------
    learning_rate : float > 0
    max_epochs : int >= 1
        Passes over the data before giving up.

    Attributes
    ----------
    coef_ : array (n_features,)
    intercept_ : float
    converged_ : bool
        True when the last epoch made no mistake (the data are separated).
    separable_ : bool or None
        False when a weight cycle proved the data not linearly separable; True when converged; None
        when ``max_epochs`` ran out first.
    errors_ : list of int
        Mistakes (weight updates) in each epoch.
    message_ : str
        One sentence saying how training ended.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> Perceptron().fit(X, [0, 0, 0, 1]).predict(X).tolist()
    [0, 0, 0, 1]
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     xor = Perceptron().fit(X, [0, 1, 1, 0])
    >>> xor.converged_, xor.separable_
    (False, False)
    """

    def __init__(self, *, learning_rate: float = 1.0, max_epochs: int = 100):
        self.learning_rate = check.check_float(learning_rate, "learning_rate", positive=True)
        self.max_epochs = check.check_int(max_epochs, "max_epochs", 1)

    def _check_X(self, X) -> np.ndarray:
        X = check._as_real_array(X, "X").astype(np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be 2-D (n_samples, n_features) and not empty, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        if hasattr(self, "coef_") and X.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but the perceptron was fitted on {self.coef_.shape[0]}")
        return X

    def fit(self, X, y) -> Perceptron:
        """Train from zero weights on binary labels ``y`` in {0, 1}; returns ``self``.

        Warns :class:`NotSeparableWarning` when the rule does not converge.
        """
        if hasattr(self, "coef_"):
            del self.coef_
        X = self._check_X(X)
        y = check._as_real_array(y, "y")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must be 1-D with one label per sample ({X.shape[0]}), got shape {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("a perceptron separates two classes: labels must be 0 or 1")
        y = y.astype(np.float64)
        weights = np.zeros(X.shape[1] + 1)  # bias last, as in MLP.thetas()
        seen = {weights.tobytes()}
        self.errors_ = []
        self.converged_, self.separable_ = False, None
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the ValueError below
            for epoch in range(1, self.max_epochs + 1):
                mistakes = 0
                for x, target in zip(X, y):
                    predicted = 1.0 if x @ weights[:-1] + weights[-1] > 0 else 0.0
                    if predicted != target:
                        step = self.learning_rate * (target - predicted)
                        weights[:-1] += step * x
                        weights[-1] += step
                        mistakes += 1
                self.errors_.append(mistakes)
                if not np.isfinite(weights).all():  # inf - inf = NaN next: a threshold on NaN is always 0
                    raise ValueError(f"the weights overflowed in epoch {epoch}: learning_rate ({self.learning_rate:g}) "
                                     "times the inputs is too large for float64; scale X or lower learning_rate")
                if mistakes == 0:
                    self.converged_, self.separable_ = True, True
                    self.message_ = f"converged after {epoch} epochs: the data are linearly separable"
                    break
                state = weights.tobytes()
                if state in seen:
                    # A deterministic rule in a state it was in before repeats itself forever; on separable
                    # data it would stop after finitely many mistakes, so these data are not separable.
                    self.separable_ = False
                    self.message_ = (f"cannot separate the data: after epoch {epoch} the weights returned to an "
                                     "earlier state, so the rule cycles forever (not linearly separable)")
                    break
                seen.add(state)
            else:
                self.message_ = (f"did not converge in {self.max_epochs} epochs: the data may not be linearly "
                                 "separable")
        self.coef_, self.intercept_ = weights[:-1].copy(), float(weights[-1])
        self.n_epochs_ = len(self.errors_)
        if not self.converged_:
            warnings.warn(f"Perceptron {self.message_}", NotSeparableWarning, stacklevel=2)
        return self

    def decision_function(self, X) -> np.ndarray:
        """``w . x + b`` for each sample, shape (n_samples,)."""
        if not hasattr(self, "coef_"):
            raise ValueError("this Perceptron is not fitted yet: call fit(X, y) first")
        return self._check_X(X) @ self.coef_ + self.intercept_

    def predict(self, X) -> np.ndarray:
        """The hard threshold: 1 where ``w . x + b > 0``, else 0 (int64, shape (n_samples,))."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def score(self, X, y) -> float:
        """Accuracy of :meth:`predict` against the labels ``y`` (one per sample)."""
        predicted = self.predict(X)
        y = np.asarray(y)
        if y.shape != predicted.shape:  # else (n, 1) or (1,) labels broadcast into a wrong accuracy
            raise ValueError(f"y must be 1-D with one label per sample ({predicted.shape[0]}), got shape {y.shape}")
        return float(np.mean(predicted == y))

    def theta(self) -> np.ndarray:
        """The weights as one (1, n_features + 1) row with the bias last: the layout of ``MLP.thetas()``."""
        if not hasattr(self, "coef_"):
            raise ValueError("this Perceptron is not fitted yet: call fit(X, y) first")
        return np.append(self.coef_, self.intercept_)[None, :]

    def __repr__(self) -> str:
        return f"Perceptron(learning_rate={self.learning_rate}, max_epochs={self.max_epochs})"

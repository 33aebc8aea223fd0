"""fastmlp.Perceptron: the hard threshold, the perceptron rule, AND/OR learned, XOR reported."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import MLP, Perceptron
from fastmlp.datasets import truth_table
from fastmlp.perceptron import NotSeparableWarning


@pytest.mark.parametrize("name", ["and", "or"])
def test_learns_and_and_or(name):
    X, y = truth_table(name)
    perceptron = Perceptron().fit(X, y)
    assert perceptron.predict(X).tolist() == y.tolist()
    assert perceptron.converged_ and perceptron.separable_
    assert perceptron.errors_[-1] == 0 and perceptron.n_epochs_ == len(perceptron.errors_)
    assert "linearly separable" in perceptron.message_
    assert perceptron.score(X, y) == 1.0


def test_and_by_hand():
    # Zero start, learning rate 1, the samples in order. Epoch 1: (0,0) -> 0 ok, (0,1) -> 0 ok,
    # (1,0) -> 0 ok, (1,1) -> 0 but y = 1: w = (1, 1), b = 1. Epoch 2: (0,0) -> b = 1 > 0 -> 1, wrong:
    # b = 0; (0,1) -> 1 wrong: w = (1, 0), b = -1; (1,0) -> 0 ok; (1,1) -> 0 wrong: w = (2, 1), b = 0.
    X, y = truth_table("and")
    perceptron = Perceptron(max_epochs=2)
    with pytest.warns(NotSeparableWarning, match="did not converge in 2 epochs"):
        perceptron.fit(X, y)
    assert perceptron.errors_ == [1, 3]
    assert perceptron.coef_.tolist() == [2, 1] and perceptron.intercept_ == 0
    assert perceptron.separable_ is None and not perceptron.converged_


def test_xor_is_reported_not_separable():
    X, y = truth_table("xor")
    with pytest.warns(NotSeparableWarning, match="cannot separate the data") as caught:
        perceptron = Perceptron().fit(X, y)
    assert len(caught) == 1
    assert not perceptron.converged_ and perceptron.separable_ is False
    assert "not linearly separable" in perceptron.message_
    assert perceptron.n_epochs_ < 100  # the weight cycle is found long before max_epochs
    assert perceptron.score(X, y) < 1.0


def test_hard_threshold_is_strict():
    perceptron = Perceptron().fit([[1.0], [-1.0]], [1, 0])
    assert perceptron.decision_function([[0.0]]).tolist() == [perceptron.intercept_]
    boundary = -perceptron.intercept_ / perceptron.coef_[0]
    assert perceptron.predict([[boundary]]).tolist() == [0]  # w.x + b == 0 is class 0


def test_theta_feeds_an_mlp_unit():
    # A perceptron's (1, n + 1) theta, scaled up, is a sigmoid unit with the same decisions.
    X, y = truth_table("or")
    perceptron = Perceptron().fit(X, y)
    assert perceptron.theta().shape == (1, 3)
    net = MLP.from_thetas([perceptron.theta() * 20 - [[0, 0, 1]]], loss="sigmoid_cross_entropy")
    assert net.predict(X).tolist() == perceptron.predict(X).tolist()


def test_separable_data_in_higher_dimensions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X @ [1.0, -2.0, 0.5, 0.0, 1.0] > 0.3).astype(int)
    perceptron = Perceptron(max_epochs=1000).fit(X, y)
    assert perceptron.converged_ and perceptron.score(X, y) == 1.0


@pytest.mark.parametrize("X, y, error, message", [
    ([[0, 0], [1, 1]], [0, 2], ValueError, "labels must be 0 or 1"),
    ([[0, 0], [1, 1]], [0], ValueError, "one label per sample"),
    ([0, 1], [0, 1], ValueError, "2-D"),
    ([[0, np.nan]], [1], ValueError, "NaN"),
    ([["a", "b"]], [1], TypeError, "real numbers"),
])
def test_bad_input(X, y, error, message):
    with pytest.raises(error, match=message):
        Perceptron().fit(X, y)


def test_bad_settings_and_unfitted_use():
    with pytest.raises(ValueError, match="learning_rate"):
        Perceptron(learning_rate=0)
    with pytest.raises(ValueError, match="max_epochs"):
        Perceptron(max_epochs=0)
    with pytest.raises(ValueError, match="not fitted"):
        Perceptron().predict([[0, 1]])
    fitted = Perceptron().fit(*truth_table("or"))
    with pytest.raises(ValueError, match="3 features but the perceptron was fitted on 2"):
        fitted.predict([[0, 1, 1]])


@pytest.mark.parametrize("y", [[[0], [0], [0], [1]], [1], [0, 0, 1]], ids=["column", "one", "short"])
def test_score_needs_one_label_per_sample(y):
    X, labels = truth_table("and")
    fitted = Perceptron().fit(X, labels)
    with pytest.raises(ValueError, match=r"one label per sample \(4\)"):
        fitted.score(X, y)  # a column broadcast to 4 x 4 and scored 0.625 before, [1] 0.25


def test_weights_that_overflow_are_an_error_not_inf():
    X, y = truth_table("and")
    with pytest.raises(ValueError, match="weights overflowed in epoch 1"):  # and no RuntimeWarning (-W error)
        Perceptron(learning_rate=1e308).fit(X * 1e10, y)

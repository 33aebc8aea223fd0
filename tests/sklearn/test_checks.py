"""scikit-learn's own estimator checks, run on both estimators (parametrize_with_checks)."""

from __future__ import annotations

import warnings

import numba
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastmlp.sklearn import MLPClassifier, MLPRegressor

#: Training runs as plain Python under NUMBA_DISABLE_JIT=1 (the coverage run): far too slow for these.
pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: training is too slow")

#: Small and fast, and still accurate enough for check_classifiers_train (accuracy > 0.83) and
#: check_regressors_train (R^2 > 0.5).
ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.05, max_iter=100),
    MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.05, max_iter=100),
]

#: Checks expected to fail, with the reason (also in docs/sklearn.md).
EXPECTED_FAILURES: dict[str, dict[str, str]] = {"MLPClassifier": {}, "MLPRegressor": {}}


def expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES[type(estimator).__name__]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_check(estimator, check):
    # The checks fit with small max_iter on purpose and do not catch the ConvergenceWarning that
    # scikit-learn's MLP (and this one) then gives; scikit-learn's own test_common ignores it the same way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)

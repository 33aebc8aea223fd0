"""scikit-learn estimators trained by fastmlp's kernels: :class:`MLPClassifier` and :class:`MLPRegressor`.

They take scikit-learn's MLP parameters with its names, meanings and defaults (the hidden activation
defaults to the lecture's "logistic"), map them onto :meth:`fastmlp.MLP.fit` and keep the trained
network in ``model_``. docs/sklearn.md lists what maps how and where the results can differ.
"""

# scikit-learn ships no type information: pyproject.toml tells mypy to read its names as Any.

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal, Self, TypeGuard, overload

import numba
import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import Tags, check_array, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from . import io
from ._validation import is_number
from .checkpoint import DivergenceError
from .model import MLP, _threads_context

__all__ = ["MLPClassifier", "MLPRegressor"]

#: scikit-learn's name of each output activation (``out_activation_``).
OUT_ACTIVATIONS = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity"}
#: Dtypes that the estimators take X in as it is (validate_data's ``dtype``); others become the first.
_X_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
#: The n_iter_no_change given to MLP.fit for scikit-learn's np.inf: more epochs than any run has.
NEVER = sys.maxsize
#: Settings of a whole fit that one epoch of partial_fit does not take.
WHOLE_FIT = ("epochs", "early_stopping", "convergence", "tol", "n_iter_no_change", "restore_best_weights")


# ------------------------------------------------------------------------------------ parameters
@overload
def _number(value: object, name: str, *, integer: Literal[True], low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> int: ...
@overload
def _number(value: object, name: str, *, integer: Literal[False] = False, low: float | None = None,
            high: float | None = None, low_open: bool = False, high_open: bool = False) -> float: ...
def _number(value: Any, name: str, *, integer: bool = False, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as int or float, checked against the interval; TypeError/ValueError naming ``name``."""
    if not is_number(value, "int" if integer else "float"):  # bools are flags, not numbers, to the user
        raise TypeError(f"{name} must be {'an integer' if integer else 'a real number'}, got {value!r}")
    number = int(value) if integer else float(value)
    if not integer and not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {'inf' if high is None else high}"
        interval += ")" if high_open or high is None else "]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return number


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _hidden_sizes(value: object) -> list[int]:
    sizes = [value] if isinstance(value, numbers.Integral) else value
    if not isinstance(sizes, (str, bytes)) and isinstance(sizes, Iterable):
        sizes = list(sizes)
        if all(is_number(size, "int") for size in sizes):
            if any(size < 1 for size in sizes):
                raise ValueError(f"hidden_layer_sizes must be > 0, got {value!r}")
            return [int(size) for size in sizes]
    raise TypeError(f"hidden_layer_sizes must be an integer or a sequence of integers, got {value!r}")


def _patience(value: object) -> int:
    """n_iter_no_change as an epoch count; scikit-learn's ``np.inf`` (never stop or adapt) as one never reached."""
    if is_number(value, "float") and value == math.inf:
        return NEVER
    return _number(value, "n_iter_no_change", integer=True, low=1)


def _dtype(value: DTypeLike | None) -> np.dtype | None:
    if value is None:
        return None
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in ("float32", "float64"):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {value!r}")
    return dtype


def _plain_y(y: ArrayLike, n_samples: int) -> TypeGuard[np.ndarray]:
    """Whether validate_data's target checks (``multi_output=True``) would give y back as it is, unchecked: an
    ndarray of numbers or strings, one value or one row of values a sample, float ones finite."""
    return (type(y) is np.ndarray and y.shape[:1] == (n_samples,) and (y.ndim == 1 or y.ndim == 2 and y.shape[1] > 0)
            and y.dtype.kind in "biufU" and (y.dtype.kind != "f" or bool(np.isfinite(y).all())))


# ------------------------------------------------------------------------------------ the estimators
class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, training, prediction, files."""

    #: uint8 X is numbers here, as in scikit-learn (validate_data makes it float64), not pixels read as x / 255 as
    #: MLP reads it: the ONNX converter asks (onnx_export.register_skl2onnx).
    _uint8_pixels = False

    # Set by fitting (annotated here, not assigned: scikit-learn tells a fitted estimator by these attributes).
    model_: MLP
    t_: int
    loss_curve_: list[float]
    best_loss_: float | None

    def __init__(self, hidden_layer_sizes: int | Iterable[int] = (100,), activation: str = "logistic", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, dtype: DTypeLike | None = None, n_threads: int | None = None,
                 restore_best_weights: bool = True) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads
        self.restore_best_weights = restore_best_weights

    # --------------------------------------------------------------------- settings
    def _checked_params(self) -> dict:
        """Every parameter checked, before anything changes; scikit-learn's names in the messages."""
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not available in fastmlp; use 'sgd' or 'adam'")
        batch_size = self.batch_size
        if not (isinstance(batch_size, str) and batch_size == "auto"):
            batch_size = _number(batch_size, "batch_size", integer=True, low=1)
        if self.random_state is not None and not isinstance(self.random_state, np.random.RandomState):
            _number(self.random_state, "random_state", integer=True, low=0, high=2**32 - 1)
        if self.n_threads is not None:
            _number(self.n_threads, "n_threads", integer=True, low=1)
        if not isinstance(self.verbose, (bool, np.bool_)):
            _number(self.verbose, "verbose", integer=True, low=0)
        params = dict(
            hidden=_hidden_sizes(self.hidden_layer_sizes),
            activation=_choice(self.activation, "activation", ("logistic", "tanh", "relu", "identity")),
            solver=_choice(self.solver, "solver", ("sgd", "adam")),
            alpha=_number(self.alpha, "alpha", low=0),
            batch_size=batch_size,
            schedule=_choice(self.learning_rate, "learning_rate", ("constant", "invscaling", "adaptive")),
            learning_rate=_number(self.learning_rate_init, "learning_rate_init", low=0, low_open=True),
            power_t=_number(self.power_t, "power_t", low=0),
            max_iter=_number(self.max_iter, "max_iter", integer=True, low=1),
            shuffle=_flag(self.shuffle, "shuffle"),
            tol=_number(self.tol, "tol", low=0),
            warm_start=_flag(self.warm_start, "warm_start"),
            momentum=_number(self.momentum, "momentum", low=0, high=1),
            nesterov=_flag(self.nesterovs_momentum, "nesterovs_momentum"),
            early_stopping=_flag(self.early_stopping, "early_stopping"),
            validation_fraction=_number(self.validation_fraction, "validation_fraction", low=0, high=1,
                                        high_open=True),
            beta_1=_number(self.beta_1, "beta_1", low=0, high=1, high_open=True),
            beta_2=_number(self.beta_2, "beta_2", low=0, high=1, high_open=True),
            epsilon=_number(self.epsilon, "epsilon", low=0, low_open=True),
            n_iter_no_change=_patience(self.n_iter_no_change),
            max_fun=_number(self.max_fun, "max_fun", integer=True, low=1),  # lbfgs's, which fastmlp has not
            dtype=_dtype(self.dtype),
            restore_best_weights=_flag(self.restore_best_weights, "restore_best_weights"),
        )
        if params["early_stopping"] and params["validation_fraction"] == 0:
            raise ValueError("validation_fraction must be > 0 with early_stopping=True, got "
                             f"{self.validation_fraction!r}")
        return params

    def _training_settings(self, params: dict, n_samples: int, mean_weight: float, n_outputs: int) -> dict:
        """The keywords of MLP.fit that reproduce scikit-learn's training with these parameters."""
        if params["batch_size"] == "auto":
            batch_size = min(200, n_samples)
        else:
            if params["batch_size"] > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              stacklevel=3)
            batch_size = min(params["batch_size"], n_samples)
        # fastmlp's MSE is sum (yhat - y)^2 over the outputs, scikit-learn's half of it (and, as it reports
        # the loss, averaged over the outputs): the same steps take half the rate (SGD) or twice the epsilon
        # (Adam, which does not see the gradient's scale otherwise).
        gradient = self._gradient_scale()
        loss_scale = self._loss_scale(n_outputs)
        sgd = params["solver"] == "sgd"
        settings = dict(
            batch_size=batch_size, optimizer=params["solver"], shuffle=params["shuffle"],
            learning_rate=params["learning_rate"] / (gradient if sgd else 1.0),
            # scikit-learn adds alpha * W to each batch's summed gradient, then divides by the batch's
            # (weighted) size; fastmlp adds weight_decay * W to the batch's mean gradient.
            weight_decay=params["alpha"] * gradient / (batch_size * mean_weight),
            schedule=params["schedule"] if sgd else "constant", power_t=params["power_t"],
            early_stopping=params["early_stopping"], convergence=not params["early_stopping"],
            # Early stopping watches a score, convergence the training loss in fastmlp's scale.
            tol=params["tol"] if params["early_stopping"] else params["tol"] / loss_scale,
            n_iter_no_change=params["n_iter_no_change"], restore_best_weights=params["restore_best_weights"],
        )
        if sgd:
            settings.update(momentum=params["momentum"], nesterov=params["nesterov"] and params["momentum"] > 0)
        else:
            settings.update(beta_1=params["beta_1"], beta_2=params["beta_2"], epsilon=params["epsilon"] * gradient)
        return settings

    def _gradient_scale(self) -> float:
        """fastmlp's loss gradient over scikit-learn's (2 for the squared error, else 1)."""
        return 1.0

    def _loss_scale(self, n_outputs: int) -> float:
        """scikit-learn's loss over fastmlp's."""
        return 1.0

    def _threads(self) -> int | None:
        """The training thread count: n_threads, never more than Numba's pool (joblib's workers shrink it)."""
        if self.n_threads is None:
            return None
        return min(int(self.n_threads), numba.config.NUMBA_NUM_THREADS)

    # --------------------------------------------------------------------- training
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Train the network on ``X`` (n_samples, n_features) and ``y``; returns ``self``.

        Starts from new random weights, or with ``warm_start=True`` from those of the previous fit.
        ``sample_weight`` (n_samples,) makes each minibatch's loss and gradient a weighted mean.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X_given: ArrayLike, y_given: ArrayLike, sample_weight: ArrayLike | None, *, incremental: bool,
             classes: ArrayLike | None = None) -> Self:
        params = self._checked_params()
        if incremental and params["early_stopping"]:
            raise ValueError("partial_fit does not support early_stopping=True")
        fresh = not hasattr(self, "model_") or (not incremental and not params["warm_start"])
        X: np.ndarray
        y: np.ndarray
        X, y = self._checked_X_y(X_given, y_given, fresh)
        if hasattr(y, "toarray"):  # a sparse label indicator matrix
            y = y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        encoded = self._encode(y, fresh=fresh, incremental=incremental, classes=classes)
        weights = self._sample_weight(sample_weight, y, X.shape[0], incremental)
        self._check_enough_classes(encoded, weights, incremental)
        X_train, y_train, w_train, validation = X, encoded.targets, weights, None
        seed = None
        if fresh or params["early_stopping"]:  # seeding costs more than the epoch of a small partial_fit
            rng = check_random_state(self.random_state)
            seed = int(rng.randint(np.iinfo(np.int32).max)) if fresh else None
            if params["early_stopping"]:
                # Stratified as scikit-learn's split is: for binary targets only (by their labels).
                stratify = y if encoded.kind == "binary" else None
                X_train, y_train, w_train, validation = self._hold_out(X, encoded.targets, weights, params, rng,
                                                                       stratify)
        n_outputs = encoded.n_outputs
        mean_weight = 1.0 if w_train is None else float(np.mean(w_train))
        settings = self._training_settings(params, X_train.shape[0], mean_weight, n_outputs)
        if fresh:
            dtype = X.dtype if params["dtype"] is None else params["dtype"]
            net = self._network(X.shape[1], params, encoded, dtype, seed)
        else:
            net = self.model_
            self._check_same_network(net, params, n_outputs)
        threads = self._threads()
        previous = None if fresh or incremental else self._curves(net)
        report = self._reporter(params, n_outputs, incremental) if self.verbose else None
        try:
            if incremental:
                net.partial_fit(X_train, y_train, sample_weight=w_train, n_threads=threads,
                                **{key: value for key, value in settings.items() if key not in WHOLE_FIT})
                if report is not None:
                    report(net, 0.0)
            else:
                net.fit(X_train, y_train, sample_weight=w_train, validation_data=validation, n_threads=threads,
                        callback=report, epochs=params["max_iter"], **settings)
        except DivergenceError as error:
            if not fresh and not incremental:  # a warm start keeps the epochs before it, as MLP.fit does
                self._adopt(net, encoded, fresh, previous, X_train.shape[0])
            epoch = error.epoch + (len(previous[0]) if previous else 0)
            lower = f"alpha (it was {params['alpha']:g}) or learning_rate_init" if error.cause == "weight_decay" \
                else "learning_rate_init"
            raise DivergenceError(f"training diverged in epoch {epoch}: {error.detail}. Try a smaller {lower} "
                                  f"(it was {params['learning_rate']:g}).", epoch, error.detail,
                                  error.cause) from None
        n_iter = self._adopt(net, encoded, fresh, previous, X_train.shape[0], incremental)
        if not incremental and n_iter == params["max_iter"] and not net._progress["stopped"]:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({params['max_iter']}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self

    def _adopt(self, net: MLP, encoded: _Encoded, fresh: bool, previous: tuple | None, n_train: int,
               incremental: bool = False) -> int:
        """Make ``net``, trained by this call, the fitted network: labels, counters and scikit-learn's attributes.
        Returns the epochs the call trained."""
        n_iter = 1 if incremental else len(net.loss_curve_)
        if previous is not None:  # warm start: the curves go on, as scikit-learn's do
            net.loss_curve_ = previous[0] + net.loss_curve_
            net.validation_scores_ = previous[1] + net.validation_scores_
            net.validation_loss_curve_ = previous[2] + net.validation_loss_curve_
        t = (0 if fresh else self.t_) + n_iter * n_train
        self.model_ = net
        encoded.assign(self)
        self._set_fitted(n_iter, t, grown=not fresh)
        return n_iter

    def _reporter(self, params: dict, n_outputs: int, incremental: bool) -> Callable[[MLP, float], None]:
        """A callback printing scikit-learn's verbose lines after each epoch: the loss in its scale, the validation
        score with early stopping, and why a fit stopped."""
        scale = self._loss_scale(n_outputs)

        def report(net: MLP, seconds: float) -> None:  # the epoch: of this fit, or of every partial_fit call
            print(f"Iteration {len(net.loss_curve_)}, loss = {net.loss_curve_[-1] * scale:.8f}")
            if params["early_stopping"]:
                print(f"Validation score: {net.validation_scores_[-1]:f}")
            if net._progress["stopped"] and not incremental:
                watched = "Validation score" if params["early_stopping"] else "Training loss"
                print(f"{watched} did not improve more than tol={params['tol']:f} for {self.n_iter_no_change} "
                      "consecutive epochs. Stopping.")

        return report

    def _network(self, n_features: int, params: dict, encoded: _Encoded, dtype: np.dtype, seed: int | None) -> MLP:
        loss, output = self._loss_output(encoded.kind)
        return MLP([n_features, *params["hidden"], encoded.n_outputs], loss=loss, output=output,
                   activation=params["activation"], dtype=dtype, random_state=seed)

    def _check_same_network(self, net: MLP, params: dict, n_outputs: int) -> None:
        sizes = (*params["hidden"], n_outputs)
        if tuple(net.layer_sizes[1:]) != sizes or net.activation != params["activation"]:
            raise ValueError(
                f"warm_start and partial_fit continue the fitted network {'-'.join(map(str, net.layer_sizes))} "
                f"with {net.activation} units; hidden_layer_sizes={self.hidden_layer_sizes!r}, "
                f"activation={self.activation!r} and {n_outputs} outputs do not fit it")

    def _sample_weight(self, sample_weight: ArrayLike | None, y: np.ndarray, n_samples: int,
                       incremental: bool) -> np.ndarray | None:
        """Sample weights (n_samples,) float64, or None; the classifier multiplies in class weights."""
        if sample_weight is None:
            return None
        if isinstance(sample_weight, numbers.Real):
            weights = np.full(n_samples, float(sample_weight))
        else:
            weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
            if weights.ndim != 1:
                raise ValueError(f"Sample weights must be 1D array or scalar, got shape {weights.shape}")
            if weights.shape[0] != n_samples:
                raise ValueError(f"sample_weight.shape == {weights.shape}, expected ({n_samples},)!")
        if (weights < 0).any():
            raise ValueError("Negative values in data passed to sample_weight")
        if not weights.any():
            raise ValueError("Sample weights must contain at least one non-zero number")
        return weights

    def _check_enough_classes(self, encoded: _Encoded, weights: np.ndarray | None, incremental: bool) -> None:
        pass

    @staticmethod
    def _hold_out(X: np.ndarray, targets: np.ndarray, weights: np.ndarray | None, params: dict,
                  rng: np.random.RandomState, stratify: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray]]:
        """Split off validation_fraction of the data, stratified by ``stratify`` unless it is None."""
        arrays = (X, targets) if weights is None else (X, targets, weights)
        parts = train_test_split(*arrays, random_state=rng, test_size=params["validation_fraction"],
                                 stratify=stratify)
        X_train, X_val, y_train, y_val = parts[:4]
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        w_train = None if weights is None else parts[4]
        return X_train, y_train, w_train, (X_val, y_val)

    @staticmethod
    def _curves(net: MLP) -> tuple[list[float], list[float], list[float]]:
        return list(net.loss_curve_), list(net.validation_scores_), list(net.validation_loss_curve_)

    def _set_fitted(self, n_iter: int, t: int, grown: bool = False) -> None:
        """scikit-learn's fitted attributes, from ``model_`` (coefs_ and intercepts_ are copies). ``grown``: the
        network's loss curve is this estimator's with new epochs after it (partial_fit, warm start), and only
        those are added, so that each of a long run of partial_fit calls takes no longer than the first."""
        net = self.model_
        thetas = net._theta_views()  # (n_out, n_in + 1) each, the bias last: views of rows (n_in + 1, n_out)
        self.coefs_ = [np.ascontiguousarray(theta[:, :-1].T) for theta in thetas]  # (n_in, n_out) copies
        self.intercepts_ = [theta[:, -1].copy() for theta in thetas]  # (n_out,)
        self.n_layers_ = len(net.layer_sizes)
        self.n_outputs_ = net.layer_sizes[-1]
        self.out_activation_ = OUT_ACTIVATIONS[net.output]
        scale = self._loss_scale(self.n_outputs_)
        curve: list[float] = self.loss_curve_ if grown else []  # in place, as scikit-learn's grows
        new = [value * scale for value in net.loss_curve_[len(curve):]]
        before = [self.best_loss_] if grown and self.best_loss_ is not None else curve  # the lowest is in there
        self.best_loss_ = min(before + new, default=None)
        curve.extend(new)
        self.loss_curve_ = curve
        self.loss_ = curve[-1] if curve else None
        validated = bool(net.validation_scores_)
        self.validation_scores_ = list(net.validation_scores_) if validated else None
        self.validation_loss_curve_ = [value * scale for value in net.validation_loss_curve_] if validated else None
        self.best_validation_score_ = max(net.validation_scores_) if validated else None
        if validated:
            self.best_loss_ = None
        self.n_iter_ = n_iter
        self.t_ = t

    # --------------------------------------------------------------------- inputs
    def _checked_X(self, X: ArrayLike) -> np.ndarray:
        """X as ``validate_data(self, X, reset=False, ...)`` returns it for prediction: _plain_X's, where it has
        one, without validate_data's checks (on Zen 3 they took 116 us for one image, fourteen times the
        network's kernel); else validate_data's, with the same conversions, warnings and errors as before."""
        plain = self._plain_X(X)
        if plain is not None:
            return plain
        return validate_data(self, X, reset=False, accept_sparse=False, dtype=_X_DTYPES)

    def _checked_X_y(self, X: ArrayLike, y: ArrayLike, fresh: bool) -> tuple[np.ndarray, np.ndarray]:
        """X and y as ``validate_data(self, X, y, reset=fresh, ...)`` returns them for training. To an estimator
        fitted before (a later partial_fit, a warm start), plain inputs (_plain_X, _plain_y) are taken without
        validate_data's checks (on Zen 3 about a quarter of a later partial_fit of 32 images); anything else, and
        anything at a fresh start, goes through validate_data as before."""
        plain = None if fresh else self._plain_X(X)
        if plain is not None and _plain_y(y, len(plain)):
            return plain, y
        return validate_data(self, X, y, reset=fresh, accept_sparse=False, multi_output=True, dtype=_X_DTYPES,
                             y_numeric=not is_classifier(self))

    def _plain_X(self, X: ArrayLike) -> np.ndarray | None:
        """What validate_data(reset=False) returns for an ndarray (n_samples, n_features_in_) of real numbers,
        to an estimator fitted without feature names: float32 or float64 as it is, if finite; integers and
        bools as float64. None for anything else, which needs validate_data's conversions or errors."""
        if not (type(X) is np.ndarray and X.ndim == 2 and X.shape[0] > 0 and X.shape[1] == self.n_features_in_
                and "feature_names_in_" not in vars(self)):
            return None
        if X.dtype in _X_DTYPES:
            return X if np.isfinite(X).all() else None
        return X.astype(np.float64) if X.dtype.kind in "biu" else None

    # --------------------------------------------------------------------- prediction
    def _check_fitted(self) -> None:
        """check_is_fitted(self), which costs about as long as a one-sample prediction's kernel (9 us), asked only
        when ``model_`` is missing: an estimator that has it passes."""
        if "model_" not in vars(self):
            check_is_fitted(self)

    def _forward(self, X: ArrayLike, predict: bool = False) -> np.ndarray:
        """The network's outputs (n_samples, n_outputs) for checked ``X``; with ``predict``, its MLP.predict.
        _checked_X has found X finite, as scikit-learn's error for NaN needs, so the model does not check again.
        Outputs of a float32 network for float64 ``X`` are float64, as scikit-learn's products of the two are."""
        self._check_fitted()
        X = self._checked_X(X)
        with _threads_context(self._threads()):
            if predict:
                return self.model_._predict(X, finite=True)
            out = self.model_._outputs(X, False, finite=True)[0]
        return out.astype(X.dtype) if X.dtype.itemsize > out.dtype.itemsize else out

    # --------------------------------------------------------------------- files
    def to_onnx(self, path: str | os.PathLike | None = None, **options: Any) -> Any:
        """The fitted network as an ONNX model (``label`` gives this estimator's labels), also written to
        ``path``; see :func:`fastmlp.onnx_export.to_onnx`. Inside a Pipeline, see
        :func:`register_onnx_converters`."""
        from .onnx_export import to_onnx

        check_is_fitted(self)
        if is_classifier(self) and not self.multilabel_:
            options.setdefault("classes", self.classes_)
        options.setdefault("pixels", self._uint8_pixels)
        return to_onnx(self.model_, path, multilabel=bool(getattr(self, "multilabel_", False)), **options)

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted estimator to ``path`` (fastmlp's .npz model file); ``fastmlp.load`` reads it back."""
        record = self._file_record()  # checks that the estimator is fitted
        state = self.model_._get_state()
        metadata = self.model_._metadata("model")
        metadata["estimator"] = record
        io.write(path, metadata, {key: state[key] for key in io.ARRAYS["model"]})

    def _file_record(self) -> dict:
        """The model file's ``estimator`` entry: class, parameters, labels, feature names and counters."""
        check_is_fitted(self)
        classes = getattr(self, "classes_", None)
        names = getattr(self, "feature_names_in_", None)
        return {"class": _public_class(self).__name__, "params": encode_params(self.get_params(deep=False)),
                "classes": None if classes is None else classes.tolist(),
                "feature_names": None if names is None else [str(name) for name in names],
                "n_iter": int(self.n_iter_), "t": int(self.t_)}


class _Encoded:
    """Targets as the network trains on them, and the label attributes to set once training succeeded.

    ``kind``: "binary", "multiclass", "multilabel" or "regression".
    """

    def __init__(self, targets: np.ndarray, n_outputs: int, kind: str, classes: np.ndarray | None = None) -> None:
        self.targets, self.n_outputs, self.kind, self.classes = targets, n_outputs, kind, classes

    def assign(self, estimator: _BaseMLP) -> None:
        if self.classes is not None:
            estimator.classes_ = self.classes


def _comparable(values: np.ndarray, labels: np.ndarray) -> bool:
    """Whether ``values`` and ``labels`` are both numbers (bool included) or both strings."""
    kinds = {values.dtype.kind, labels.dtype.kind}
    return kinds <= set("biuf") or kinds <= set("U")


def _given_labels(classes: ArrayLike) -> np.ndarray:
    """partial_fit's ``classes``, sorted and unique; a set or a mapping (no order, not array-like) is a TypeError."""
    if isinstance(classes, (set, frozenset, dict, str, bytes)) or not isinstance(classes, (Iterable, np.ndarray)):
        raise TypeError(f"classes must be an array-like of labels, got {classes!r}")
    return unique_labels(np.asarray(classes))


def _indices(index: np.ndarray, labels: np.ndarray) -> _Encoded:
    """Single-output targets from each sample's index into the sorted ``labels``."""
    if labels.size == 2:
        return _Encoded((index == 1).astype(np.float64), 1, "binary", labels)
    return _Encoded(index.astype(np.int64), labels.size, "multiclass", labels)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier with scikit-learn's ``MLPClassifier`` parameters, trained by fastmlp.

    Binary problems get one sigmoid output unit, multiclass ones a softmax, multilabel indicator
    targets one sigmoid unit per label (predicted present above 0.5). Labels may be strings or any
    integers; ``classes_`` holds them. Parameters as scikit-learn's ``MLPClassifier`` (solvers "sgd"
    and "adam"; ``max_fun``, which only "lbfgs" uses, is checked and otherwise unused), with
    ``activation="logistic"`` by default, plus:

    Parameters
    ----------
    dtype : None, "float32" or "float64"
        Precision of the network: None follows X (float32 for float32 X, else float64).
    n_threads : int or None
        Training threads, at most Numba's thread count (all of them when None). The weights do not
        depend on it; joblib's process workers lower Numba's count to their share of the cores.
    class_weight : None, "balanced" or dict {label: weight}
        Multiplies each sample's weight by its class's weight; "balanced" uses
        n_samples / (n_classes * count).
    restore_best_weights : bool, default True
        With early stopping, end with the weights of the best validation score.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    coefs_, intercepts_ : list of ndarray
        Copies of each layer's weights (n_in, n_out) and biases (n_out,).
    loss_, best_loss_, loss_curve_ : float, float or None, list of float
        Mean training loss (without the L2 term) of the last epoch, the best epoch, every epoch.
    validation_scores_, validation_loss_curve_, best_validation_score_
        Accuracy and loss on the held-out data per epoch, and the best accuracy (None without
        early stopping).
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_, feature_names_in_
        As scikit-learn's MLP.
    multilabel_ : bool
        Fitted on a label indicator matrix (fastmlp's skl2onnx converter reads it).
    model_ : fastmlp.MLP
        The trained network.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp.sklearn import MLPClassifier
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
    >>> y = np.array(["no", "yes", "yes", "yes"] * 10)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, random_state=0).fit(X, y)
    >>> clf.predict([[0.0, 0.0], [1.0, 1.0]]).tolist()
    ['no', 'yes']
    """

    def __init__(self, hidden_layer_sizes: int | Iterable[int] = (100,), activation: str = "logistic", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, dtype: DTypeLike | None = None, n_threads: int | None = None,
                 class_weight: str | dict[Any, float] | None = None,
                 restore_best_weights: bool = True) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            n_threads=n_threads, restore_best_weights=restore_best_weights)
        self.class_weight = class_weight

    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> Self:
        """Train one epoch on ``X``, ``y``, continuing the network (and the optimizer's state).

        ``classes`` (all labels of every call) is needed on the first call, as in scikit-learn. The arguments
        are in scikit-learn 1.9's order, ``sample_weight`` before ``classes``.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _loss_output(self, kind: str) -> tuple[str, str]:
        if kind == "multiclass":
            return "softmax_cross_entropy", "softmax"
        return "sigmoid_cross_entropy", "sigmoid"

    def _encode(self, y: np.ndarray, *, fresh: bool, incremental: bool, classes: ArrayLike | None) -> _Encoded:
        """Labels to what the network trains on: 0/1 (binary), indices (multiclass), a 0/1 matrix (multilabel)."""
        if incremental and not fresh:
            known = self._known_labels(y, classes)
            if known is not None:
                return known
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multiclass-multioutput":
            raise ValueError("Multioutput target data is not supported with label binarization: MLPClassifier takes "
                             "one label per sample, or a 0/1 label indicator matrix for multilabel targets")
        if kind == "multilabel-indicator":
            labels = np.arange(y.shape[1])
            if not fresh and (self._kind != "multilabel" or labels.size != self.classes_.size):
                raise ValueError(f"y has {labels.size} labels; the fitted classifier has classes {self.classes_}")
            return _Encoded(np.ascontiguousarray(y, dtype=np.float64), labels.size, "multilabel", labels)
        if fresh:
            if incremental and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            labels = unique_labels(y) if classes is None else _given_labels(classes)
            if labels.size < 2:
                raise ValueError(f"MLPClassifier needs at least 2 classes; y has one class: {_plain(labels[0])!r}")
            if incremental and np.setdiff1d(unique_labels(y), labels).size:
                raise ValueError(f"`y` has classes not in `classes`. `classes` has {labels}, "
                                 f"'y' has {unique_labels(y)}.")
        else:
            labels = self.classes_
            if self._kind == "multilabel":
                raise ValueError("the fitted classifier is multilabel; y must be a label indicator matrix")
            if classes is not None and not np.array_equal(_given_labels(classes), labels):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                                 f"was: {labels!r}")
            found = unique_labels(y)
            if incremental and np.setdiff1d(found, labels).size:
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {labels}. "
                                 f"'y' has {found}.")
            if not incremental and set(found.tolist()) != set(labels.tolist()):
                raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                 f"call to fit. Previously got {labels}, `y` has {found}")
        return _indices(np.searchsorted(labels, y), labels)

    def _known_labels(self, y: np.ndarray, classes: ArrayLike | None) -> _Encoded | None:
        """A later partial_fit batch, encoded without scikit-learn's target checks when every label in ``y``
        (1-D, numbers or strings) is one of ``classes_``: such a batch passes them, and they cost more than a
        small batch's epoch. None for anything else, which the full checks then encode or reject.

        As in scikit-learn's own ``partial_fit`` after the first call, the "more than 50% unique labels"
        warning is not given: ``classes_`` already says which values are labels.
        """
        labels = self.classes_
        if y.ndim != 1 or self._kind == "multilabel" or not _comparable(y, labels):
            return None
        if classes is not None:
            given = np.asarray(classes)
            if given.ndim != 1 or not _comparable(given, labels) or not np.array_equal(np.unique(given), labels):
                return None
        index = np.minimum(np.searchsorted(labels, y), labels.size - 1)
        if not np.array_equal(labels[index], y):
            return None
        return _indices(index, labels)

    def _sample_weight(self, sample_weight: ArrayLike | None, y: np.ndarray, n_samples: int,
                       incremental: bool) -> np.ndarray | None:
        weights = super()._sample_weight(sample_weight, y, n_samples, incremental)
        if self.class_weight is None:
            return weights
        balanced = isinstance(self.class_weight, str) and self.class_weight == "balanced"
        if incremental and balanced:
            raise ValueError("class_weight='balanced' is not supported for partial_fit: a batch does not show "
                             "the class frequencies. Pass a dict of class weights instead.")
        if not (isinstance(self.class_weight, dict) or balanced):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}")
        per_sample = compute_sample_weight(self.class_weight, y)
        weights = per_sample if weights is None else weights * per_sample
        if not weights.any():
            raise ValueError("class_weight and sample_weight give every sample weight zero")
        return weights

    def _check_enough_classes(self, encoded: _Encoded, weights: np.ndarray | None, incremental: bool) -> None:
        """A fit needs two classes with weight (else there is nothing to learn); partial_fit batches do not."""
        if incremental or encoded.targets.ndim != 1 or encoded.classes is None:
            return
        present = encoded.targets if weights is None else encoded.targets[weights > 0]
        if np.unique(present).size < 2:
            label = _plain(encoded.classes[int(present[0])])
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes with non-zero weight; only one "
                             f"class has them: {label!r}")

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Labels (n_samples,) from ``classes_``; a 0/1 matrix (n_samples, n_labels) for multilabel."""
        self._check_fitted()  # before out_activation_ is read
        if self.out_activation_ == "softmax":  # the argmax comes out of the prediction kernel (MLP.predict)
            return self.classes_[self._forward(X, predict=True)]
        out = self._forward(X)
        if self.n_outputs_ == 1:
            return self.classes_[(out[:, 0] > 0.5).astype(np.int64)]
        return (out > 0.5).astype(np.int64)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probabilities (n_samples, n_classes) in the order of ``classes_``; per label for multilabel."""
        out = self._forward(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """log of :meth:`predict_proba` (-inf where a probability rounds to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @property
    def _kind(self) -> str:
        """"binary", "multiclass" or "multilabel": what the fitted network was built for."""
        if self.model_.output == "softmax":
            return "multiclass"
        return "binary" if self.model_.layer_sizes[-1] == 1 else "multilabel"

    def _set_fitted(self, n_iter: int, t: int, grown: bool = False) -> None:
        super()._set_fitted(n_iter, t, grown)
        self.multilabel_ = self._kind == "multilabel"  # what fastmlp's ONNX converter asks

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor with scikit-learn's ``MLPRegressor`` parameters, trained by fastmlp.

    Identity output units and the squared error, one per target: ``y`` (n_samples,) gives 1-D
    predictions, ``y`` (n_samples, n_targets) a matrix. Parameters and attributes as
    :class:`MLPClassifier` (without ``class_weight`` and ``classes_``); the validation score is R^2.
    ``loss`` comes first, as in scikit-learn's ``MLPRegressor``; only ``"squared_error"`` is available
    (not ``"poisson"``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp.sklearn import MLPRegressor
    >>> X = np.linspace(0, 1, 50).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(10,), batch_size=10, learning_rate_init=0.02, random_state=0)
    >>> bool(reg.fit(X, 2 * X[:, 0] + 1).score(X, 2 * X[:, 0] + 1) > 0.95)
    True
    """

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: int | Iterable[int] = (100,),
                 activation: str = "logistic", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: int | np.random.RandomState | None = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, dtype: DTypeLike | None = None, n_threads: int | None = None,
                 restore_best_weights: bool = True) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            n_threads=n_threads, restore_best_weights=restore_best_weights)
        self.loss = loss

    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Train one epoch on ``X``, ``y``, continuing the network (and the optimizer's state)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _checked_params(self) -> dict:
        if isinstance(self.loss, str) and self.loss == "poisson":
            raise ValueError("loss='poisson' is not available in fastmlp; use 'squared_error'")
        _choice(self.loss, "loss", ("squared_error",))
        return super()._checked_params()

    def _loss_output(self, kind: str) -> tuple[str, str]:
        return "mse", "identity"

    def _gradient_scale(self) -> float:
        return 2.0

    def _loss_scale(self, n_outputs: int) -> float:
        return 1.0 / (2.0 * n_outputs)

    def _encode(self, y: np.ndarray, *, fresh: bool, incremental: bool, classes: ArrayLike | None) -> _Encoded:
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        return _Encoded(np.asarray(y, dtype=np.float64), n_outputs, "regression")

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions (n_samples,) for a 1-D training ``y``, else (n_samples, n_targets)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# ------------------------------------------------------------------------------------ files
def _public_class(estimator: _BaseMLP) -> type[_BaseMLP]:
    return MLPClassifier if isinstance(estimator, MLPClassifier) else MLPRegressor


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds (JSON knows those)."""
    return value.item() if isinstance(value, np.generic) else value


def encode_params(params: dict) -> dict:
    """get_params() as JSON values: tuples as lists, dtypes by name, class weights as [label, weight] pairs.

    A RandomState instance is stored as null (its state is not kept), an infinite n_iter_no_change as "inf";
    anything else not JSON is a ValueError.
    """
    encoded = {}
    for name, raw in params.items():
        value = _plain(raw)
        if name == "hidden_layer_sizes" and not isinstance(raw, numbers.Integral):
            value = [_plain(size) for size in raw]
        elif name == "dtype" and raw is not None:
            value = np.dtype(raw).name
        elif name == "class_weight" and isinstance(raw, dict):
            value = [[_plain(label), _plain(weight)] for label, weight in raw.items()]
        elif name == "random_state" and isinstance(raw, np.random.RandomState):
            value = None
        elif name == "n_iter_no_change" and value == math.inf:  # scikit-learn's "never"; JSON has no inf
            value = "inf"
        if not _json_value(value):
            raise ValueError(f"cannot save parameter {name}={value!r} in a model file")
        encoded[name] = value
    return encoded


def _json_value(value: object) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return bool(np.isfinite(value))
    return isinstance(value, list) and all(_json_value(item) for item in value)


def decode_params(params: dict) -> dict:
    """The inverse of :func:`encode_params`."""
    decoded = dict(params)
    if decoded.get("n_iter_no_change") == "inf":
        decoded["n_iter_no_change"] = math.inf
    if isinstance(decoded.get("hidden_layer_sizes"), list):
        decoded["hidden_layer_sizes"] = tuple(decoded["hidden_layer_sizes"])
    if isinstance(decoded.get("class_weight"), list):
        pairs = decoded["class_weight"]
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise ValueError("class_weight must be stored as [label, weight] pairs")
        decoded["class_weight"] = {label: weight for label, weight in pairs}
    return decoded


def from_record(record: dict, net: MLP, where: str) -> MLPClassifier | MLPRegressor:
    """The estimator a model file's ``estimator`` entry describes, around the network read from it."""
    cls = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}[record["class"]]
    try:
        params = decode_params(record["params"])
        unknown = sorted(set(params) - set(cls().get_params()))
        if unknown:
            raise ValueError(f"unknown parameters {unknown}")
        estimator = cls(**params)
        estimator._checked_params()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: invalid {record['class']} parameters: {error}") from None
    n_outputs = net.layer_sizes[-1]
    if cls is MLPRegressor:
        if (net.loss, net.output) != ("mse", "identity") or record["classes"] is not None:
            raise ValueError(f"{where}: an MLPRegressor needs an identity output with the mse loss and no classes")
    else:
        classes = record["classes"]
        expected = 2 if n_outputs == 1 else n_outputs
        if net.loss == "mse" or classes is None or len(classes) != expected:
            raise ValueError(f"{where}: an MLPClassifier needs a cross-entropy loss and {expected} classes for "
                             f"{n_outputs} output units; the file has {net.loss} and classes {classes!r}")
        estimator.classes_ = np.array(classes)
    estimator.model_ = net
    estimator.n_features_in_ = net.layer_sizes[0]
    if record["feature_names"] is not None:
        estimator.feature_names_in_ = np.array(record["feature_names"], dtype=object)
    estimator._set_fitted(record["n_iter"], record["t"])
    return estimator


def register_onnx_converters() -> None:
    """Register converters for MLPClassifier and MLPRegressor with skl2onnx, so that ``skl2onnx.to_onnx``
    converts pipelines that hold them. Done on import when skl2onnx is already imported; importing
    skl2onnx takes seconds, so otherwise call this once before converting."""
    from .onnx_export import register_skl2onnx

    register_skl2onnx(MLPClassifier, MLPRegressor)


if "skl2onnx" in sys.modules:
    register_onnx_converters()

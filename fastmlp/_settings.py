"""Training settings, declared once: each field of :class:`TrainingSettings` carries its type, range,
default and help text, and ``fit``, ``partial_fit``, checkpoints, the command line and the
scikit-learn estimators all read them from here."""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import is_number


def setting(default: Any, *, low: float | None = None, high: float | None = None, high_closed: bool = False,
            positive: bool = False, choices: tuple[str, ...] = (), recorded: bool = True, help: str = "") -> Any:
    """One row of the table: ``low`` <= value < ``high`` (<= with ``high_closed``), > 0 when ``positive``, one of
    ``choices``.

    ``recorded`` settings are written into checkpoints and must match to resume one exactly.
    """
    meta = dict(low=low, high=high, high_closed=high_closed, positive=positive, choices=tuple(choices),
                recorded=recorded, help=help)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainingSettings:
    """How a network is trained; every value checked on construction (ValueError/TypeError naming it)."""

    epochs: int = setting(10, low=0, recorded=False, help="passes over the training data")
    batch_size: int = setting(32, low=1, help="samples per step; the last step of an epoch takes the rest")
    learning_rate: float = setting(0.1, positive=True, help="step size (the initial one under a schedule)")
    optimizer: str = setting("sgd", choices=("sgd", "adam"), help="minibatch SGD or Adam (Kingma and Ba)")
    momentum: float = setting(0.0, low=0.0, high=1.0, high_closed=True,
                              help="SGD momentum as torch.optim.SGD (dampening 0)")
    nesterov: bool = setting(False, help="Nesterov momentum (SGD, needs momentum > 0)")
    beta_1: float = setting(0.9, low=0.0, high=1.0, help="Adam: decay of the first-moment estimate")
    beta_2: float = setting(0.999, low=0.0, high=1.0, help="Adam: decay of the second-moment estimate")
    epsilon: float = setting(1e-8, positive=True, help="Adam: added to the root of the second moment")
    weight_decay: float = setting(0.0, low=0.0, help="L2 coefficient added to the gradient of the weights")
    schedule: str = setting("constant", choices=("constant", "invscaling", "adaptive"),
                            help="learning rate: constant; invscaling: rate / (samples seen + 1) ** power_t "
                                 "after each epoch; adaptive: rate / 5 after n_iter_no_change epochs "
                                 "without improvement")
    power_t: float = setting(0.5, low=0.0, help="exponent of the invscaling schedule")
    shuffle: bool = setting(True, help="visit the samples in a new random order each epoch")
    early_stopping: bool = setting(False, help="stop when the validation score has not improved by tol for "
                                               "n_iter_no_change epochs")
    validation_fraction: float = setting(0.1, positive=True, high=1.0,
                                         help="share held out for early stopping when no validation data is given")
    convergence: bool = setting(False, help="stop when the training loss has not improved by tol for "
                                            "n_iter_no_change epochs")
    tol: float = setting(1e-4, low=0.0, help="the improvement that counts, for early stopping, convergence "
                                             "and the adaptive schedule")
    n_iter_no_change: int = setting(10, low=1, help="epochs without improvement that stop or adapt")
    restore_best_weights: bool = setting(True, help="with early stopping, end with the best-scoring weights")

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _checked(field, getattr(self, field.name)))
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov=True needs optimizer='sgd' and momentum > 0")
        if self.optimizer == "adam" and self.momentum != 0:
            raise ValueError("momentum is an SGD setting; Adam uses beta_1 and beta_2")

    @classmethod
    def from_kwargs(cls, where: str, kwargs: dict[str, Any], *, base: TrainingSettings | None = None,
                    exclude: tuple[str, ...] = ()) -> TrainingSettings:
        """Settings from keyword arguments of ``where`` (e.g. "fit"): unknown names are a TypeError."""
        names = [name for name in NAMES if name not in exclude]
        for key in kwargs:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"{where}() got an unexpected keyword argument {key!r}{hint}")
        return cls(**kwargs) if base is None else dataclasses.replace(base, **kwargs)

    def record(self) -> dict[str, Any]:
        """The settings a checkpoint stores (JSON types)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if field.metadata["recorded"]}

    @classmethod
    def from_record(cls, record: object, where: str) -> TrainingSettings:
        """Settings back from a file's record; anything invalid is a ValueError naming ``where``.

        A setting missing from the record takes the table's default, so files written before a setting
        existed stay readable (and resume as they were trained); an unknown one is refused.
        """
        if not isinstance(record, dict) or not set(record) <= set(RECORDED):
            raise ValueError(f"{where}: training settings must be an object with fields from {list(RECORDED)}")
        try:
            return cls(**record)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: invalid training setting: {error}") from None

    def check_dtype(self, dtype: np.dtype) -> None:
        """Refuse rates and coefficients that the parameters' dtype rounds to 0 or infinity."""
        with np.errstate(over="ignore", under="ignore"):  # once: entering it costs more than the checks
            for name in ("learning_rate", "weight_decay", "epsilon"):
                value = getattr(self, name)
                rounded = dtype.type(value)
                if not np.isfinite(rounded) or (value > 0 and rounded == 0):
                    raise ValueError(f"{name}={value} is not representable in {dtype.name}")


def _checked(field: dataclasses.Field, value: Any) -> Any:
    meta = field.metadata
    name = field.name
    kind = field.type
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
        return bool(value)
    if kind == "str":
        if not isinstance(value, str) or value not in meta["choices"]:
            raise ValueError(f"{name} must be one of {list(meta['choices'])}, got {value!r}")
        return value
    if not is_number(value, kind):
        what = "an integer" if kind == "int" else "a real number"
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    value = int(value) if kind == "int" else float(value)
    if kind == "float" and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if meta["positive"] and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if meta["low"] is not None and value < meta["low"]:
        raise ValueError(f"{name} must be >= {meta['low']:g}, got {value:g}")
    high = meta["high"]
    if high is not None and (value > high if meta["high_closed"] else value >= high):
        raise ValueError(f"{name} must be in {_interval(meta)}, got {value:g}")
    return value


def _interval(meta: Any) -> str:
    """A bounded setting's range: "[0, 1)", "(0, 1)", "[0, 1]"."""
    low = "(0" if meta["positive"] else f"[{meta['low']:g}"
    return f"{low}, {meta['high']:g}{']' if meta['high_closed'] else ')'}"


def allowed(field: dataclasses.Field) -> str:
    """The values a setting takes, in words: "one of ...", "True or False", or its range."""
    meta = field.metadata
    if field.type == "bool":
        return "True or False"
    if field.type == "str":
        return "one of " + ", ".join(repr(choice) for choice in meta["choices"])
    what = "an integer" if field.type == "int" else "a real number"
    if meta["high"] is not None:
        return f"{what} in {_interval(meta)}"
    return f"{what} > 0" if meta["positive"] else f"{what} >= {meta['low']:g}" if meta["low"] is not None else what


def _table() -> str:
    """The docstring's list of settings, from the table itself: what help(TrainingSettings) shows."""
    rows = [f"    {field.name} = {field.default!r}\n        {field.metadata['help'][:1].upper()}"
            f"{field.metadata['help'][1:]}; {allowed(field)}." for field in dataclasses.fields(TrainingSettings)]
    return "\n\nSettings\n--------\n" + "\n".join(rows) + "\n"


TrainingSettings.__doc__ = (TrainingSettings.__doc__ or "") + _table()
FIELDS = {field.name: field for field in dataclasses.fields(TrainingSettings)}
NAMES = tuple(FIELDS)
RECORDED = tuple(name for name, field in FIELDS.items() if field.metadata["recorded"])
DEFAULTS = TrainingSettings()

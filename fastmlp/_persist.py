"""``fastmlp.save`` and ``fastmlp.load``: one safe file format for networks and for the scikit-learn estimators.

An estimator's file is its network's model file with the ``estimator`` metadata entry filled in
(class, parameters, labels, feature names); loading rebuilds the estimator from it, never unpickling.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import io
from .model import MLP

if TYPE_CHECKING:  # for the annotations only: importing fastmlp.sklearn imports scikit-learn
    from .sklearn import MLPClassifier, MLPRegressor


def save(model: MLP | MLPClassifier | MLPRegressor, path: str | os.PathLike) -> None:
    """Write an :class:`~fastmlp.MLP` or a fitted ``fastmlp.sklearn`` estimator to ``path`` (atomic .npz).

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmlp
    >>> net = fastmlp.MLP([4, 3, 2], random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> fastmlp.save(net, path)
    >>> bool((fastmlp.load(path).params == net.params).all())
    True
    """
    # The estimators write themselves (fastmlp.sklearn imports scikit-learn; this module must not).
    if not (isinstance(model, MLP) or callable(getattr(model, "_file_record", None))):
        raise TypeError(f"fastmlp.save writes a fastmlp.MLP or a fastmlp.sklearn estimator, got {type(model).__name__}")
    model.save(path)


def load(path: str | os.PathLike) -> MLP | MLPClassifier | MLPRegressor:
    """Read a file written by :func:`save`, ``MLP.save`` or a checkpoint.

    Returns a ``fastmlp.sklearn`` estimator when the file was saved from one (scikit-learn must be
    installed), else an :class:`~fastmlp.MLP`. Raises ValueError naming the problem for a file that
    is not a valid fastmlp file: truncated, corrupted, foreign (a .npy, a pickle, another zip), of a
    newer format version, or with entries whose shapes, dtypes or values do not fit the metadata.
    A checkpoint also restores the optimizer state and the random generator, so training can go on
    exactly where it stopped. Files of format version 1 are read too.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmlp
    >>> net = fastmlp.MLP([4, 3, 2], random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> net.save(path)
    >>> fastmlp.load(path).layer_sizes
    (4, 3, 2)
    """
    metadata, arrays = io.read(path)
    net = MLP._from_file(metadata, arrays)
    record = metadata["estimator"]
    if record is None:
        return net
    try:
        from .sklearn import from_record
    except ImportError as error:
        raise ImportError(f"{os.fspath(path)} holds a scikit-learn estimator ({record['class']}); install "
                          f"scikit-learn to load it as one, or read its network with fastmlp.model.load") from error
    return from_record(record, net, os.fspath(path))

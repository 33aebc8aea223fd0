"""Checkpoints of a fit: written atomically every few epochs, at its end and on Ctrl-C, and checked when
a fit resumes from one, so that the resumed run matches an uninterrupted one bit for bit."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import numpy as np

from . import io
from ._settings import RECORDED, TrainingSettings
from ._validation import check_int


class DivergenceError(ValueError):
    """Training produced a NaN or infinite loss or weights; the model keeps its last finite weights.

    ``epoch`` is the number of the epoch that diverged, counting every epoch in ``loss_curve_``; ``detail`` says
    what was not finite; ``cause`` is the setting to lower: "learning_rate", or "weight_decay" when SGD's decay
    alone makes the weights grow (learning_rate * weight_decay beyond its stable range).
    """

    def __init__(self, message: str, epoch: int, detail: str = "", cause: str = "learning_rate"):
        super().__init__(message)
        self.epoch = epoch
        self.detail = detail
        self.cause = cause

    def __reduce__(self):  # so the error survives pickling, e.g. out of a multiprocessing worker
        return type(self), (str(self), self.epoch, self.detail, self.cause)


def data_record(X: np.ndarray, y: np.ndarray, weights: np.ndarray,
                validation: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """The checkpoint's record of the (validated) training data: its size and a SHA-256 of it, and of the
    validation data when fit was given some (held-out data is drawn from the training data by the recorded
    seed). Without validation data the hash is what it was before validation data counted, so such
    checkpoints written earlier still resume."""
    digest = hashlib.sha256()
    for array in (X, y, weights) if validation is None else (X, y, weights, *validation):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return {"n_samples": int(X.shape[0]), "sha256": digest.hexdigest()}


def check_arguments(checkpoint, checkpoint_every, resume) -> int:
    """Check fit's checkpoint arguments before anything changes; returns ``checkpoint_every``."""
    every = check_int(checkpoint_every, "checkpoint_every", 1)
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a path or None, got {type(value).__name__}")
    if checkpoint is not None:
        # Found out now rather than after the first epoch, when the model would already have changed.
        target = os.path.abspath(os.fspath(checkpoint))
        directory = os.path.dirname(target)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"checkpoint directory {directory} does not exist")
        if os.path.isdir(target):
            raise IsADirectoryError(f"checkpoint {target} is a directory; name a file")
        if not os.access(directory, os.W_OK):
            raise PermissionError(f"checkpoint directory {directory} is not writable")
    return every


class Checkpointer:
    """Writes ``contents()`` (metadata, arrays) to ``path`` after every ``every``-th epoch."""

    def __init__(self, path, every: int, contents: Callable[[], tuple[dict, dict]]):
        self.path = os.fspath(path)
        self.every = every
        self.contents = contents
        self.saved_at: int | None = None

    def after_epoch(self, epochs_done: int) -> None:
        if epochs_done % self.every == 0:
            self.save(epochs_done)

    def finish(self, epochs_done: int) -> None:
        """Bring the file up to the last completed epoch (end of fit, early stop, or Ctrl-C)."""
        if self.saved_at != epochs_done:
            self.save(epochs_done)

    def save(self, epochs_done: int) -> None:
        io.write(self.path, *self.contents())
        self.saved_at = epochs_done


def read_resume(path, network: dict, settings: TrainingSettings, data: dict) -> tuple[dict, dict]:
    """Read a checkpoint and check that resuming from it reproduces the uninterrupted fit; changes nothing.

    ``network``: the metadata fields that define the network; ``data``: :func:`data_record` of this fit.
    """
    name = os.fspath(path)
    metadata, arrays = io.read(name)
    if metadata["kind"] != "checkpoint":
        raise ValueError(f"{name}: is a model file, not a checkpoint: it holds no optimizer state to resume")
    for field, value in network.items():
        if metadata[field] != value:
            raise ValueError(f"{name}: cannot resume: the checkpoint's {field} is {metadata[field]!r}, "
                             f"this network's is {value!r}")
    recorded = TrainingSettings.from_record(metadata["training"], name)
    for field in RECORDED:
        if getattr(recorded, field) != getattr(settings, field):
            raise ValueError(f"{name}: cannot resume: the checkpoint was trained with a different {field} "
                             f"({getattr(recorded, field)!r}, now {getattr(settings, field)!r}); "
                             "the resumed run would not match an uninterrupted one")
    if metadata["data"] != data:
        raise ValueError(f"{name}: cannot resume: the checkpoint was trained on different data "
                         f"({metadata['data']['n_samples']} samples, now {data['n_samples']}, or other values)")
    if metadata["epochs_done"] > settings.epochs:
        raise ValueError(f"{name}: the checkpoint has {metadata['epochs_done']} epochs done, more than "
                         f"epochs={settings.epochs}")
    return metadata, arrays

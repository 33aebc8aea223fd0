"""What keeps a fit's state safe: per-epoch snapshots, divergence checks, checkpoints and exact resume."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from . import io
from ._validation import check_int

#: The settings a checkpoint records; resuming with any of them changed would not reproduce the
#: uninterrupted run, so resume refuses (tests/test_checkpoint.py::test_resume_refuses_other_settings).
TRAINING_FIELDS = ("batch_size", "learning_rate", "momentum", "nesterov", "weight_decay", "shuffle",
                   "n_samples", "data_sha256")
_TRAINING_TYPES = {"batch_size": int, "learning_rate": float, "momentum": float, "nesterov": bool,
                   "weight_decay": float, "shuffle": bool, "n_samples": int, "data_sha256": str}


class DivergenceError(ValueError):
    """Training produced a NaN or infinite loss or weights; the model keeps its last finite weights.

    ``epoch`` is the number of the epoch that diverged, counting every epoch in ``loss_curve_``.
    """

    def __init__(self, message: str, epoch: int):
        super().__init__(message)
        self.epoch = epoch

    def __reduce__(self):  # so the error survives pickling, e.g. out of a multiprocessing worker
        return type(self), (str(self), self.epoch)


class Snapshot:
    """Everything one epoch changes: parameters, momentum buffer, random generator, loss curve length."""

    def __init__(self, net):
        self.params = net.params.copy()
        self.velocity = net._velocity.copy()
        self.rng_state = net._rng.bit_generator.state
        self.n_epochs = len(net.loss_curve_)

    def restore(self, net) -> None:
        net.params[:] = self.params  # in place: the kernels' Net tuples hold this very buffer
        net._velocity[:] = self.velocity
        net._rng.bit_generator.state = self.rng_state
        del net.loss_curve_[self.n_epochs :]


def check_epoch(net, loss: float, learning_rate: float) -> None:
    """Raise DivergenceError when an epoch's mean loss or the weights it produced are not finite."""
    epoch = len(net.loss_curve_) + 1
    if np.isfinite(loss) and np.isfinite(net.params).all():
        return
    what = f"the mean loss was {loss}" if not np.isfinite(loss) else "the weights became NaN or infinite"
    raise DivergenceError(
        f"training diverged in epoch {epoch}: {what}. The model keeps the weights from before that "
        f"epoch. Try a smaller learning_rate (it was {learning_rate:g}).",
        epoch,
    )


def plan(net, run, epochs: int, checkpoint, checkpoint_every, resume):
    """Check fit's checkpoint arguments and read the checkpoint to resume from; changes nothing.

    Returns ``(saver, state)``: a Checkpointer or None, and the checked checkpoint contents or None.
    """
    every = check_int(checkpoint_every, "checkpoint_every", 1)
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a path or None, got {type(value).__name__}")
    if checkpoint is None and resume is None:
        return None, None
    training = training_settings(run)
    state = read_resume(net, resume, training, epochs) if resume is not None else None
    saver = None
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
        saver = Checkpointer(checkpoint, every, training)
    return saver, state


def training_settings(run) -> dict:
    """The checkpoint's record of a fit: its settings and a SHA-256 of the (validated) data."""
    digest = hashlib.sha256()
    for array in (run.X, run.y):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return {"batch_size": run.batch, "learning_rate": run.learning_rate, "momentum": run.momentum,
            "nesterov": run.nesterov, "weight_decay": run.weight_decay, "shuffle": run.shuffle,
            "n_samples": int(run.X.shape[0]), "data_sha256": digest.hexdigest()}


class Checkpointer:
    """Writes a checkpoint to ``path`` after every ``every``-th epoch (counting all of ``loss_curve_``)."""

    def __init__(self, path, every: int, training: dict):
        self.path = os.fspath(path)
        self.every = every
        self.training = training
        self.saved_at = None

    def after_epoch(self, net) -> None:
        if len(net.loss_curve_) % self.every == 0:
            self.save(net)

    def finish(self, net) -> None:
        """Bring the file up to the model's last completed epoch (end of fit, or Ctrl-C)."""
        if self.saved_at != len(net.loss_curve_):
            self.save(net)

    def save(self, net) -> None:
        metadata = io.model_metadata(net, "checkpoint")
        metadata.update(epochs_done=len(net.loss_curve_), rng_state=net._rng.bit_generator.state,
                        training=self.training)
        arrays = {"params": net.params, "velocity": net._velocity,
                  "loss_curve": io.loss_curve_array(net)}
        io.write(self.path, metadata, arrays)
        self.saved_at = len(net.loss_curve_)


def read_resume(net, path, training: dict, epochs: int) -> tuple[dict, dict]:
    """Read and check a checkpoint to resume ``net``'s fit from; changes nothing."""
    name = os.fspath(path)
    metadata, arrays = io.read(name)
    if metadata["kind"] != "checkpoint":
        raise ValueError(f"{name}: is a model file, not a checkpoint: it holds no optimizer state to resume")
    mine = io.model_metadata(net, "checkpoint")
    for field in ("layer_sizes", "loss", "output", "dtype"):
        if metadata[field] != mine[field]:
            raise ValueError(f"{name}: cannot resume: the checkpoint's {field} is {metadata[field]!r}, "
                             f"this network's is {mine[field]!r}")
    for field in TRAINING_FIELDS:
        if metadata["training"][field] != training[field]:
            what = "data" if field in ("n_samples", "data_sha256") else field
            raise ValueError(f"{name}: cannot resume: the checkpoint was trained with a different {what} "
                             f"({metadata['training'][field]!r}, now {training[field]!r}); "
                             "the resumed run would not match an uninterrupted one")
    if metadata["epochs_done"] > epochs:
        raise ValueError(f"{name}: the checkpoint has {metadata['epochs_done']} epochs done, more than "
                         f"epochs={epochs}")
    return metadata, arrays


def apply_resume(net, metadata: dict, arrays: dict) -> None:
    net.params[:] = arrays["params"]
    net._velocity[:] = arrays["velocity"]
    net._rng.bit_generator.state = metadata["rng_state"]
    net.loss_curve_ = [float(value) for value in arrays["loss_curve"]]


def check_checkpoint_fields(metadata: dict, name: str) -> None:
    """Validate the metadata a checkpoint adds to a model file (called by io.read)."""
    done = metadata["epochs_done"]
    if not io._is_int(done) or done < 0:
        raise ValueError(f"{name}: epochs_done must be an integer >= 0, got {done!r}")
    _check_rng_state(metadata["rng_state"], name)
    training = metadata["training"]
    if not isinstance(training, dict) or set(training) != set(TRAINING_FIELDS):
        raise ValueError(f"{name}: training settings must have the fields {list(TRAINING_FIELDS)}")
    for field, kind in _TRAINING_TYPES.items():
        value = training[field]
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, float) and np.isfinite(value) and value >= 0
        if kind is int:
            ok = ok and value >= 1
        if not ok:
            raise ValueError(f"{name}: training setting {field} is invalid: {value!r}")


def _check_rng_state(state, name: str) -> None:
    keys = {"bit_generator", "state", "has_uint32", "uinteger"}
    valid = (
        isinstance(state, dict) and set(state) == keys and state["bit_generator"] == "PCG64"
        and isinstance(state["state"], dict) and set(state["state"]) == {"state", "inc"}
        and all(io._is_int(v) and 0 <= v < 2**128 for v in state["state"].values())
        and state["has_uint32"] in (0, 1) and io._is_int(state["has_uint32"])
        and io._is_int(state["uinteger"]) and 0 <= state["uinteger"] < 2**32
    )
    if not valid:
        raise ValueError(f"{name}: rng_state is not a valid PCG64 state")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name}: rng_state is not a valid PCG64 state ({error})") from None

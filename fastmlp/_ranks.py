"""Data-parallel training over MPI, the part a fit calls: the ranks agree on the checks, take rank 0's
state, train their shards in chunks of ``sync_every`` steps and average parameters and optimizer state after
each chunk (docs/distributed.md). mpi4py is imported only when a fit is given a communicator."""

from __future__ import annotations

import atexit
import json
import math
import os
import pickle
import sys
import time
import zlib
from contextlib import contextmanager
from hashlib import sha256

import numpy as np

from . import _threads
from .kernels import ADAM

#: Seconds a rank waits at a sync for the others before it gives up (a rank died or hangs);
#: the environment variable FASTMLP_SYNC_TIMEOUT overrides it.
DEFAULT_TIMEOUT = 300.0
TIMEOUT_VARIABLE = "FASTMLP_SYNC_TIMEOUT"
#: Seconds the other ranks give rank 0 to write its last checkpoint before they exit on Ctrl-C or a
#: failure, so that a launcher ending the job as soon as one rank exits does not cut the write short.
SAVE_GRACE = 30.0
#: Tags on the side channel: a rank failed (a pickled message follows), rank 0 saved and is leaving.
FAILED, SAVED = 1, 2
#: Bytes of an error message passed to the other ranks when the checks of a fit fail.
MESSAGE_BYTES = 1024


#: Notices sent, never waited on (small messages leave at once); kept so their buffers outlive the fit.
_SENT: list = []


class RankError(RuntimeError):
    """Another rank of a data-parallel fit failed, was stopped or stopped answering, so this one stopped too.

    The communicator cannot be used for more collective calls afterwards: end the program.
    """

    __module__ = "fastmlp.distributed"  # where users import it from, and how tracebacks name it


def _abort_at_exit(comm) -> None:
    """End the whole job when this process exits: MPI_Finalize would wait for a rank that stopped
    answering. Python's exit handlers run before mpi4py finalizes MPI, so the caller can still handle
    the RankError first (tests/distributed/test_failures.py::test_a_rank_that_stops_answering_*)."""

    def abort():
        print("fastmlp: ending the MPI job (MPI_Abort): a rank stopped answering", file=sys.stderr, flush=True)
        comm.Abort(1)

    if not _ABORTING:
        _ABORTING.append(comm)
        atexit.register(abort)


#: The communicator whose job ends at exit, once a rank stopped answering.
_ABORTING: list = []


def timeout() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{TIMEOUT_VARIABLE} must be a number of seconds > 0, got {text!r}")
    return value


class Group:
    """The ranks of ``comm`` in one data-parallel fit. Every method is collective: each rank calls it
    at the same point, and a rank that waits longer than :func:`timeout` for the others raises RankError."""

    #: Steps between averages, and whether rank 0 writes checkpoints (the fit sets both).
    sync_every = 1
    saving = False

    def __init__(self, comm):
        from mpi4py import MPI

        if not isinstance(comm, MPI.Intracomm):
            raise TypeError(f"comm must be an mpi4py intracommunicator such as MPI.COMM_WORLD, "
                            f"got {type(comm).__name__}")
        self.MPI = MPI
        self.job = comm  # what MPI_Abort ends if a rank stops answering
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = timeout()
        self.side = None  # the side channel for failure notices (wait() polls it)
        # A fit's own copy of the communicator: its collectives never meet the caller's messages, and a
        # notice left over from a failed fit cannot reach the next one.
        self.comm, request = comm.Idup()
        self._wait(request, "joining the fit")
        side, request = comm.Idup()
        self._wait(request, "joining the fit")
        self.side = side
        self.steps = None  # steps per epoch, agreed in plan()
        self._flat = None  # parameters and optimizer state packed for one Allreduce
        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        mine = _threads.cpus()
        sharing = sum(1 for cpus in node.allgather(mine) if cpus & mine)  # ranks competing for my cores
        node.Free()
        self.sharing = (sharing, f"{sharing} ranks of this fit on this node")
        # Ranks of the job outside comm (a fit on a sub-communicator) share the node too: the launcher counts them.
        self.sharing = max(self.sharing, _threads.sharers(), key=lambda counted: counted[0])

    # ------------------------------------------------------------------ waiting
    def _wait(self, request, what: str) -> None:
        """Complete a nonblocking call, polling so that Ctrl-C, another rank's failure notice and the
        timeout can end the wait (a blocking MPI call would wait forever for a dead rank)."""
        deadline = time.monotonic() + self.timeout
        polls = 0
        while True:
            if request.Test():
                return
            polls += 1
            if polls % 64:
                continue
            if self.side is not None and self.side.iprobe(source=self.MPI.ANY_SOURCE, tag=FAILED):
                raise RankError(self.side.recv(source=self.MPI.ANY_SOURCE, tag=FAILED))
            if time.monotonic() > deadline:
                _abort_at_exit(self.job)
                raise RankError(f"rank {self.rank} of {self.size}: no answer from the other ranks for "
                                f"{self.timeout:g} s while {what}: a rank died, hangs or was never started "
                                f"(set {TIMEOUT_VARIABLE} to wait longer)")
            if polls > 100_000:
                time.sleep(0.0005)  # a long wait (another rank compiles or validates): free the core

    def _gather(self, values: np.ndarray, what: str) -> np.ndarray:
        """Every rank's ``values`` (float64), rank by rank: shape (size, len(values))."""
        values = np.ascontiguousarray(values, np.float64)
        out = np.empty((self.size, values.size), np.float64)
        self._wait(self.comm.Iallgather(values, out), what)
        return out

    def _bytes_from_root(self, data: bytes | None, what: str) -> bytes:
        size = np.array([len(data) if self.rank == 0 else 0], np.int64)
        self._wait(self.comm.Ibcast(size, root=0), what)
        buffer = bytearray(data) if self.rank == 0 else bytearray(int(size[0]))
        self._wait(self.comm.Ibcast(buffer, root=0), what)
        return bytes(buffer)

    # ------------------------------------------------------------------ before training
    def agree(self, error: BaseException | None) -> None:
        """Every rank says whether its checks passed; returns only if they all did. A rank whose own check
        failed goes on to raise its error; the others raise RankError naming the first that failed."""
        text = "" if error is None else f"{type(error).__name__}: {error}"
        encoded = text.encode()[:MESSAGE_BYTES].ljust(MESSAGE_BYTES, b"\0")
        out = bytearray(MESSAGE_BYTES * self.size)
        self._wait(self.comm.Iallgather(encoded, out), "checking the arguments")
        if error is not None:
            return
        for rank in range(self.size):
            message = bytes(out[rank * MESSAGE_BYTES:(rank + 1) * MESSAGE_BYTES]).rstrip(b"\0")
            if message:
                raise RankError(f"rank {rank} of {self.size} cannot start the fit: "
                                f"{message.decode(errors='replace')}")

    def check_same(self, setup: dict) -> None:
        """That every rank's ``setup`` (JSON values: the network, the settings, the parts the fit has) is rank 0's;
        else every rank raises the same ValueError, naming the first field that differs. A rank fitting another
        network or with other settings would otherwise fail at its first exchange, blaming MPI, or wait for the
        timeout, or train on silently. Called by every rank once each has passed its own checks."""
        names = sorted(setup)
        digests = [sha256(json.dumps(setup[name], sort_keys=True).encode()).digest()[:6] for name in names]
        rows = self._gather(np.array([int.from_bytes(d, "big") for d in digests], np.float64),  # < 2**48: exact
                            "comparing the ranks' networks and settings")
        for column, name in enumerate(names):
            other = np.flatnonzero(rows[:, column] != rows[0, column])
            if other.size:
                raise ValueError(f"every rank must fit the same network with the same settings, but {name} "
                                 f"differs between rank 0 and rank {other[0]}")

    def from_root(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL) if self.rank == 0 else None
        return pickle.loads(self._bytes_from_root(data, "taking rank 0's state"))

    def run_on_root(self, function):
        """``function()`` run by rank 0 only; its result, or the exception it raised, on every rank."""
        outcome = None
        if self.rank == 0:
            try:
                outcome = (True, function())
            except Exception as error:  # noqa: BLE001 - raised on every rank below
                outcome = (False, error)
        ok, value = self.from_root(outcome)
        if not ok:
            raise value
        return value

    def resume(self, read):
        """``read()`` of a checkpoint by rank 0, as run_on_root; a refusal says what a resumed
        data-parallel fit must keep."""
        try:
            return self.run_on_root(read)
        except ValueError as error:
            raise ValueError(f"{error} (a data-parallel checkpoint resumes on the same number of ranks, "
                             f"here {self.size}, each with the same shard)") from None

    def combine_records(self, record: dict) -> dict:
        """A checkpoint's data record for the whole fit: all shards' sizes and hashes, in rank order."""
        digest = np.frombuffer(bytes.fromhex(record["sha256"]), np.uint8).astype(np.float64)
        rows = self._gather(np.concatenate([[record["n_samples"]], digest]), "hashing the data")
        combined = rows[:, 1:].astype(np.uint8).tobytes()
        return {"n_samples": int(rows[:, 0].sum()), "sha256": sha256(combined).hexdigest()}

    def plan(self, n_samples: int, batch_size: int) -> int:
        """Agree on the minibatch size and the steps per epoch; returns the minibatch size.

        Every rank takes the same number of steps per epoch, the fewest any rank's shard fills
        (ceil(n_samples / batch)): no rank waits at a sync for one that has run out of samples. A
        longer shard leaves its last samples out of that epoch; shards from distributed.shard differ
        by at most one sample, so at most one sample per rank is left out, a different one each epoch
        when shuffled."""
        sizes = self._gather(np.array([n_samples]), "agreeing on the steps per epoch")[:, 0]
        batch = int(min(batch_size, sizes.min()))
        self.steps = min(math.ceil(size / batch) for size in sizes)
        return batch

    # ------------------------------------------------------------------ training
    def _state(self, net, opt) -> list[np.ndarray]:
        """The arrays averaged at each sync: the parameters and whatever state the optimizer keeps."""
        arrays = [net.params]
        if opt.kind == ADAM:
            arrays += [opt.first, opt.second]
        elif opt.momentum != 0:
            arrays.append(opt.first)  # SGD's velocity
        return arrays

    def average(self, arrays: list[np.ndarray]) -> None:
        """Replace ``arrays`` on every rank by their mean over the ranks: one Allreduce (MPI_SUM) of them
        packed together, then a multiplication by 1 / size.

        The sum's order is MPI's: with two ranks it is one addition, a0 + a1, the same bits on both; with
        more, the library picks its algorithm from the rank count and message size alone, so a fixed
        rank count repeats its order run to run. train_epoch checks every epoch that all ranks hold the
        same weights."""
        total = sum(array.size for array in arrays)
        if self._flat is None or self._flat.size != total or self._flat.dtype != arrays[0].dtype:
            self._flat = np.empty(total, arrays[0].dtype)
        flat = self._flat
        start = 0
        for array in arrays:
            flat[start:start + array.size] = array
            start += array.size
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM), "averaging the parameters")
        flat *= flat.dtype.type(1.0 / self.size)
        start = 0
        for array in arrays:
            array[:] = flat[start:start + array.size]
            start += array.size

    def train_epoch(self, rng, shuffle: bool, net, opt, X, targets, weights, batch_size, scale, codes,
                    work) -> tuple[float, int]:
        """One epoch on this rank's shard, ``sync_every`` steps between averages and one at the end;
        returns the mean loss over all ranks' samples and the number of samples all ranks trained on.

        The shard's order is a permutation seeded by a draw from ``rng`` (the same draw on every rank, so
        the model's generators stay identical) and the rank."""
        from ._team import train_epoch  # here: the model imports this module also where Numba is missing

        n = X.shape[0]
        seed = int(rng.integers(2**63)) if shuffle else 0
        order = np.random.default_rng([seed, self.rank]).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
        order = order[: min(n, self.steps * batch_size)]
        state = self._state(net, opt)
        span = self.sync_every * batch_size
        loss_sum = weight_sum = 0.0
        for start in range(0, order.size, span):
            chunk = order[start:start + span]
            mean = train_epoch(net, opt, X, targets, weights, chunk, batch_size, scale, codes, work)
            weight = chunk.size if weights.size == 0 else float(np.sum(weights[chunk], dtype=np.float64))
            if weight > 0:  # a chunk of zero weights has no mean loss (NaN) and adds nothing
                loss_sum += mean * weight
                weight_sum += weight
            self.average(state)
        digest = zlib.crc32(net.params.view(np.uint8))
        stats = self._gather(np.array([loss_sum, weight_sum, order.size, digest]), "ending the epoch")
        if np.unique(stats[:, 3]).size != 1:
            raise RankError("the ranks hold different weights after averaging: this MPI library's Allreduce "
                            "did not give every rank the same sum")
        loss = stats[:, 0].sum() / stats[:, 1].sum() if stats[:, 1].sum() > 0 else float("nan")
        return float(loss), int(stats[:, 2].sum())

    def mean(self, values, weight: float) -> list[float]:
        """The ``weight``-weighted mean over the ranks of each of ``values`` (summed in rank order)."""
        rows = self._gather(np.array([*(v * weight for v in values), weight]), "validating")
        return [float(rows[:, i].sum() / rows[:, -1].sum()) for i in range(len(values))]

    # ------------------------------------------------------------------ failures
    def leave(self, error: BaseException, *, agreed: bool) -> None:
        """On the way out of a failed fit: tell the other ranks, unless they failed the same way
        (``agreed``: a divergence every rank saw) or this rank is leaving because another failed. Rank 0
        then says it is done (after writing its checkpoint); with checkpoints the others give it up to
        SAVE_GRACE seconds, so that a launcher ending the job when one rank exits cannot cut the write short."""
        if not agreed and not isinstance(error, RankError):
            message = f"rank {self.rank} of {self.size} stopped the fit: {type(error).__name__}: {error}"
            for rank in range(self.size):
                if rank != self.rank:
                    _SENT.append(self.side.isend(message, dest=rank, tag=FAILED))  # small: sent eagerly
        if self.rank == 0:
            for rank in range(1, self.size):
                _SENT.append(self.side.isend(None, dest=rank, tag=SAVED))
        elif self.saving and not agreed:
            deadline = time.monotonic() + min(SAVE_GRACE, self.timeout)
            while time.monotonic() < deadline and not self.side.iprobe(source=0, tag=SAVED):
                time.sleep(0.01)

    def close(self) -> None:
        """After a fit that ended normally on every rank."""
        self.side.Free()
        self.comm.Free()


@contextmanager
def agreement(group: Group | None):
    """Run checks that may fail on some ranks only: afterwards either every rank goes on or every rank
    raises (its own error, or RankError naming the rank that failed), so none is left waiting."""
    if group is None:
        yield
        return
    try:
        yield
    except BaseException as error:
        group.agree(error)
        raise
    group.agree(None)

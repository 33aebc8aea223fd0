"""A small data-parallel job that tests/distributed/test_failures.py starts with mpiexec: it trains, and on
request one rank fails in a given way. Prints "epoch N" per epoch (rank 0) and a digest of the weights."""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import time

import numpy as np

from fastmlp import MLP


def main() -> None:
    from mpi4py import MPI  # here, not at import: pytest's doctest collection imports this file

    parser = argparse.ArgumentParser()
    parser.add_argument("--fail", choices=("none", "raise", "kill", "stop", "diverge"), default="none")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--epoch-seconds", type=float, default=0.0, help="sleep this long after each epoch")
    parser.add_argument("--checkpoint")
    parser.add_argument("--resume")
    parser.add_argument("--report", help="write each rank's error to REPORT.rankN (a launcher may drop the output "
                                         "of ranks that outlive a killed one)")
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank = comm.rank
    rng = np.random.default_rng(rank)
    X = rng.normal(size=(400, 10))
    y = rng.integers(0, 3, 400)
    if args.fail == "diverge" and rank == 1:
        X *= 1e200

    def after_epoch(net, seconds):
        epoch = len(net.loss_curve_)
        if rank == 0:
            print(f"epoch {epoch}", flush=True)
        if epoch == 2 and rank == 1:
            if args.fail == "raise":
                raise RuntimeError("rank 1 broke on purpose")
            if args.fail == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if args.fail == "stop":  # alive but never answering again, as a hung rank
                os.kill(os.getpid(), signal.SIGSTOP)
        time.sleep(args.epoch_seconds)

    activation = "relu" if args.fail == "diverge" else "logistic"  # relu passes huge inputs on
    net = MLP([10, 8, 3], activation=activation, dtype="float64", random_state=5)
    try:
        net.fit(X, y, comm=comm, sync_every=4, epochs=args.epochs, batch_size=8, learning_rate=0.1, momentum=0.9,
                callback=after_epoch, checkpoint=args.checkpoint, resume=args.resume)
    except BaseException as error:
        if args.report:
            with open(f"{args.report}.rank{rank}", "w") as report:
                report.write(f"{type(error).__name__}: {error}\n")
        raise
    if rank == 0:
        print("weights", hashlib.sha256(net.params.tobytes()).hexdigest(), flush=True)


if __name__ == "__main__":
    main()

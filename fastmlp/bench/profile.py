"""``fastmlp bench --profile``: where a training step's time goes, phase by phase, for each thread of the team.

Each member of the team counts CPU cycles per phase of every step (kernels.team): gathering inputs, the
hidden layers' forward pass, the output layer with loss and output deltas, the hidden deltas, the gradient
with the update, and waiting at the barriers between them. Shares are of the member's whole epoch.

Epochs on one thread alternate with the team's, so that the profile also says what sharing a step costs:
the cycles per sample of each phase on one thread against each member's, what the split adds to each phase
(the members' sum less one thread's), and the speed-up of the team that the cycles allow (one thread's
cycles per sample over the slowest member's, its waiting included).
"""

from __future__ import annotations

import numpy as np

#: Report rows: name and column of kernels.team's timings table.
PHASES = ("gather", "forward", "output and loss", "hidden deltas", "gradient and update", "barrier wait")


def measure(*, layer_sizes=(784, 100, 10), batch_sizes=(32, 128, 512), n_threads=2, n_samples=20000,
            dtype="float32", synthetic=False, repeat=3) -> dict:
    """Per batch size: each member's share of epoch cycles per phase and its cycles per sample and phase, the
    cycles per sample and phase of one thread (medians over ``repeat`` epochs each, one-thread and team epochs
    alternating), the speed-up those cycles allow, samples per second of the team's profiled epochs, and a cache
    line's round trip between two cores timed before each of them (machine.core_round_trip_ns)."""
    import time

    from .. import MLP
    from .._settings import TrainingSettings
    from .._team import train_epoch
    from ..kernels.team import BACKWARD, FORWARD, GATHER, N_PHASES, OUTPUT, UPDATE, WAIT
    from .machine import core_round_trip_ns
    from .suite import load_data

    columns = [GATHER, FORWARD, OUTPUT, BACKWARD, UPDATE, WAIT]
    (X, y), _, source = load_data(synthetic)
    X, y = X[:n_samples], y[:n_samples]
    result = {"layer_sizes": list(layer_sizes), "dtype": dtype, "threads": n_threads, "data": source,
              "samples": int(len(X)), "phases": list(PHASES), "batches": []}
    for batch in batch_sizes:
        net = MLP(layer_sizes, dtype=dtype, random_state=0)
        net.fit(X[: 4 * batch], y[: 4 * batch], epochs=1, batch_size=batch, learning_rate=0.1)  # compiles
        data = net._data(X, y, None, None)
        settings = TrainingSettings.from_kwargs("bench", {"learning_rate": 0.1, "batch_size": batch})
        shares, rates, team, solo, trips = [], [], [], [], []
        for epoch in range(repeat):
            order = np.random.default_rng(epoch).permutation(len(X))
            for threads, cycles in ((1, solo), (n_threads, team)):
                if threads > 1:
                    trips.append(core_round_trip_ns())
                timings = np.zeros((threads, N_PHASES), np.int64)
                opt = net._optimizer(settings, 0.1, np.zeros(1, np.int64))
                began = time.perf_counter()
                train_epoch(net._net(), opt, data.X, data.y, data.weights, order, batch, net.dtype.type(data.scale),
                            net._codes(), net._work(batch), n_threads=threads, timings=timings)
                seconds = time.perf_counter() - began
                counts = timings[:, columns].astype(np.float64)
                cycles.append(counts / len(X))
                if threads == n_threads:
                    rates.append(len(X) / seconds)
                    shares.append(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1))
        members, one = np.median(team, axis=0), np.median(solo, axis=0)[0]
        wait = PHASES.index("barrier wait")
        result["batches"].append({"batch_size": batch, "samples_per_s": float(np.median(rates)),
                                  "shares": np.median(shares, axis=0).tolist(),
                                  "cycles_per_sample": members.tolist(),
                                  "one_thread_cycles_per_sample": one.tolist(),
                                  "cycle_speedup": float((one.sum() - one[wait]) / members.sum(axis=1).max()),
                                  "core_round_trip_ns": trips if None not in trips else None})
    return result


def text(result: dict) -> str:
    """The profile as a table: one row per phase, one column per batch size and member."""
    header = ["phase"] + [f"batch {b['batch_size']} t{m}" for b in result["batches"] for m in range(result["threads"])]
    lines = [f"Profile of a training epoch: {'-'.join(map(str, result['layer_sizes']))} {result['dtype']}, "
             f"{result['threads']} threads, {result['samples']} {result['data']} samples",
             "| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for p, phase in enumerate(result["phases"]):
        cells = [f"{100 * b['shares'][m][p]:.1f}%" for b in result["batches"] for m in range(result["threads"])]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    rates = ", ".join(f"batch {b['batch_size']}: {b['samples_per_s'] / 1e3:.0f}k" for b in result["batches"])
    lines.append(f"samples/s of the profiled epochs: {rates}")
    lines += ["", f"Cycles per sample (CPU cycle counter, medians of the epochs): one thread, each of the "
              f"{result['threads']} threads, and what sharing adds (the threads' sum less one thread's)"]
    header = ["phase"] + [f"batch {b['batch_size']} {who}" for b in result["batches"]
                          for who in ["1 thread", *(f"t{m}" for m in range(result["threads"])), "added"]]
    lines += ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for p, phase in enumerate(result["phases"]):
        cells = []
        for b in result["batches"]:
            one, members = b["one_thread_cycles_per_sample"][p], [m[p] for m in b["cycles_per_sample"]]
            cells += [f"{one:,.0f}", *(f"{m:,.0f}" for m in members), f"{sum(members) - one:+,.0f}"]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    speedups = ", ".join(f"batch {b['batch_size']}: {b['cycle_speedup']:.2f}x" for b in result["batches"])
    lines.append(f"{result['threads']} threads over 1 by these cycles (one thread's, waiting excluded, over the "
                 f"slowest thread's, waiting included): {speedups}")
    trips = [(b["batch_size"], b["core_round_trip_ns"]) for b in result["batches"] if b.get("core_round_trip_ns")]
    if trips:
        lines.append("a cache line's round trip between two cores before each of the team's epochs (slow trips: a "
                     "slow way between the cores, which every step of the team pays for): "
                     + ", ".join(f"batch {b}: " + " / ".join(f"{t:.0f}" for t in times) + " ns" for b, times in trips))
    return "\n".join(lines)

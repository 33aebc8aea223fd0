"""``fastmlp bench --profile``: where a training step's time goes, phase by phase, for each thread of the team.

Each member of the team counts CPU cycles per phase of every step (kernels.team): gathering inputs, the
hidden layers' forward pass, the output layer with loss and output deltas, the hidden deltas, the gradient
with the update, and waiting at the barriers between them. Shares are of the member's whole epoch.

Epochs on one thread alternate with the team's, so that the profile also says what sharing a step costs:
the cycles per sample of each phase on one thread against each member's, what the split adds to each phase
(the members' sum less one thread's), and the speed-up of the team that the cycles allow (one thread's
cycles per sample over the slowest member's, its waiting included).

A team of two also gets what moving a step's data between its cores costs on this machine, timed on its own
(machine.exchange_ns): each member's share of the samples' first-layer sums and deltas, both ways at once, and
its two barriers. Beside one thread's step, that bounds what the team can reach however well it computes. It
also says how the team of two leaned (kernels.team.balance) after each of its epochs.
"""

from __future__ import annotations

import numpy as np

#: Report rows: name and column of kernels.team's timings table.
PHASES = ("gather", "forward", "output and loss", "hidden deltas", "gradient and update", "barrier wait")


def measure(*, layer_sizes=(784, 100, 10), batch_sizes=(32, 128, 512), n_threads=2, n_samples=20000,
            dtype="float32", synthetic=False, repeat=3, momentum=0.0) -> dict:
    """Per batch size: each member's share of epoch cycles per phase and its cycles per sample and phase, the
    cycles per sample and phase of one thread (medians over ``repeat`` epochs each, one-thread and team epochs
    alternating), the speed-up those cycles allow, samples per second of the team's and one thread's profiled
    epochs, a cache line's round trip between two cores timed before each team epoch (machine.core_round_trip_ns),
    and for a team of two the cost of a step's exchange (``exchange``: exchange_bound). The epochs train by SGD
    with ``momentum`` (0: plain SGD), so the update phase includes the velocity's."""
    import time

    from .. import MLP
    from .._settings import TrainingSettings
    from .._team import lean, train_epoch
    from ..kernels.team import BACKWARD, FORWARD, GATHER, LEAN_ROWS, N_PHASES, OUTPUT, UPDATE, WAIT
    from .machine import core_round_trip_ns, exchange_ns
    from .suite import load_data

    columns = [GATHER, FORWARD, OUTPUT, BACKWARD, UPDATE, WAIT]
    (X, y), _, source = load_data(synthetic)
    X, y = X[:n_samples], y[:n_samples]
    result = {"layer_sizes": list(layer_sizes), "dtype": dtype, "momentum": momentum, "threads": n_threads,
              "data": source, "samples": int(len(X)), "phases": list(PHASES), "lean_rows": LEAN_ROWS, "batches": []}
    for batch in batch_sizes:
        net = MLP(layer_sizes, dtype=dtype, random_state=0)
        net.fit(X[: 4 * batch], y[: 4 * batch], epochs=1, batch_size=batch, learning_rate=0.1)  # compiles
        data = net._data(X, y, None, None)
        settings = TrainingSettings.from_kwargs("bench", {"learning_rate": 0.1, "batch_size": batch,
                                                          "momentum": momentum})
        shares, rates, solo_rates, team, solo, trips, leans = [], [], [], [], [], [], []
        moved = exchange_bytes(layer_sizes, batch, net.dtype.itemsize) if n_threads == 2 else 0
        exchange = exchange_ns(moved) if moved else None
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
                    leans.append(lean() if threads == 2 else 0)
                    rates.append(len(X) / seconds)
                    shares.append(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1))
                else:
                    solo_rates.append(len(X) / seconds)
        members, one = np.median(team, axis=0), np.median(solo, axis=0)[0]
        wait = PHASES.index("barrier wait")
        one_rate = float(np.median(solo_rates))
        bound = None if exchange is None or None in trips else \
            exchange_bound(batch / one_rate, 1e-9 * exchange, 1e-9 * float(np.median(trips)))
        result["batches"].append({"batch_size": batch, "samples_per_s": float(np.median(rates)),
                                  "one_thread_samples_per_s": one_rate,
                                  "exchange": bound and {"bytes_each_way": moved, "ns": exchange, **bound},
                                  "shares": np.median(shares, axis=0).tolist(),
                                  "cycles_per_sample": members.tolist(),
                                  "one_thread_cycles_per_sample": one.tolist(),
                                  "cycle_speedup": float((one.sum() - one[wait]) / members.sum(axis=1).max()),
                                  "core_round_trip_ns": trips if None not in trips else None,
                                  "leans": leans})
    return result


def exchange_bytes(layer_sizes, batch, itemsize) -> int:
    """Bytes that each member of a team of two moves to the other in a step of ``batch`` samples (kernels.team):
    its half of the samples' sums over the other's rows of the first layer, and the deltas of every unit past the
    inputs, which the other's rows of weights take their gradient from."""
    share = -(-batch // 2)
    return share * (layer_sizes[1] + sum(layer_sizes[1:])) * itemsize


def exchange_bound(step_seconds, exchange_seconds, barrier_seconds) -> dict:
    """What a step's exchange allows a team of two, given one thread's step (``step_seconds``): half that step,
    plus the exchange and two barrier passes, is the fastest the team's step can be; ``most_speedup`` is one
    thread's step over it."""
    overhead = exchange_seconds + 2 * barrier_seconds
    return {"one_thread_step_us": 1e6 * step_seconds, "overhead_us": 1e6 * overhead,
            "most_speedup": step_seconds / (step_seconds / 2 + overhead)}


def text(result: dict) -> str:
    """The profile as a table: one row per phase, one column per batch size and member."""
    header = ["phase"] + [f"batch {b['batch_size']} t{m}" for b in result["batches"] for m in range(result["threads"])]
    momentum = f"SGD with momentum {result['momentum']:g}" if result.get("momentum") else "plain SGD"
    lines = [f"Profile of a training epoch: {'-'.join(map(str, result['layer_sizes']))} {result['dtype']}, {momentum}, "
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
    if result["threads"] == 2:
        unit = result["lean_rows"]
        lines.append(f"the team's lean after each of its epochs (units of {unit} of the first layer's rows that t0 "
                     "took from the end of t1's part, or t1 from t0's when negative, because the other ran slower; 0: "
                     "the even split): " + ", ".join(f"batch {b['batch_size']}: " + " / ".join(f"{n:+d}" if n else "0"
                                                                                     for n in b["leans"])
                                                 for b in result["batches"]))
    bounds = [(b["batch_size"], b["exchange"]) for b in result["batches"] if b.get("exchange")]
    if bounds:
        lines.append("a step's exchange between the two cores (each member's share of the first-layer sums and "
                     "deltas, both ways at once, timed on its own, and two barrier passes), against one thread's step: "
                     + ", ".join(f"batch {b}: {e['bytes_each_way']:,} bytes each way, {e['overhead_us']:.1f} us "
                                 f"against {e['one_thread_step_us']:.1f} us, so at most {e['most_speedup']:.2f}x"
                                 for b, e in bounds))
    return "\n".join(lines)

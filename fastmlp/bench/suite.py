"""The whole comparison: every network x dtype x batch size, prediction, and the roofline, in one run."""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from .._threads import cpus
from . import machine, roofline
from .peers import (
    TWO_AT_ONCE_LABEL,
    TWO_THREADS_LABEL,
    Fastmlp,
    FirstLayerMatmul,
    OneThreadMatmul,
    available_peers,
    available_prediction_peers,
    not_installed,
    wanted_peers,
)
from .runner import best_peer, measure_prediction, measure_training, timed_runs

#: name -> (layer sizes, loss). The lecture's 784-15-10 has sigmoid outputs and MSE.
NETWORKS = {
    "784-100-10": ((784, 100, 10), "softmax_cross_entropy"),
    "784-15-10": ((784, 15, 10), "mse"),
    "784-256-128-10": ((784, 256, 128, 10), "softmax_cross_entropy"),
}
DTYPES = ("float32", "float64")
BATCH_SIZES = (1, 10, 32, 128, 512)


#: Samples per timed run when not given, by batch size, for 784-100-10: the full 60,000 from batch 32, fewer
#: below, where the peers are slowest (PyTorch ~2k samples/s at batch 1), so that a full run stays near a
#: quarter of an hour. Costlier networks get proportionally fewer (see default_samples). Every contender in
#: a row trains on the same samples; the table states how many.
DEFAULT_SAMPLES = {1: 5000, 10: 20000, 32: 60000, 128: 60000, 512: 60000}
REFERENCE_FLOPS = roofline.sample_flops((784, 100, 10))


def default_samples(batch_size: int, layer_sizes=(784, 100, 10)) -> int:
    """DEFAULT_SAMPLES scaled down by the network's cost relative to 784-100-10, at least 1,000 samples."""
    base = DEFAULT_SAMPLES.get(batch_size, min(60000, max(2000, 250 * batch_size)))
    scaled = base * min(1.0, REFERENCE_FLOPS / roofline.sample_flops(layer_sizes))
    return int(min(60000, max(1000, scaled)))


def warmup_samples(batch_size: int, n_samples: int) -> int:
    return min(n_samples, max(256, 10 * batch_size))


def load_data(synthetic: bool = False, seed: int = 0):
    """Fashion-MNIST as uint8 (train, test), or random images of the same shapes when asked or not installed."""
    if not synthetic:
        try:
            from ..datasets import load_fashion_mnist

            return (*load_fashion_mnist(), "Fashion-MNIST")
        except FileNotFoundError as error:
            print(f"fastmlp bench: {error}; using random synthetic images instead", file=sys.stderr)
    rng = np.random.default_rng(seed)

    def make(n):
        return rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)

    return make(60000), make(10000), "synthetic"


def _log(verbose, *parts):
    if verbose:
        print(*parts, file=sys.stderr, flush=True)


def run_suite(*, networks, dtypes, batch_sizes, peer_names=None, samples=None, repeat=3, learning_rate=0.1,
              matmul_size=2048, synthetic=False, seed=0, verbose=True):
    """Measure everything; returns the JSON-ready dict (without machine and start-up, added by the caller)."""
    (X_train, y_train), (X_test, y_test), source = load_data(synthetic, seed)
    order = np.random.default_rng(seed).permutation(X_train.shape[0])
    fastmlp = Fastmlp()
    peers = available_peers(peer_names)
    predictors = available_prediction_peers(peer_names)  # prediction only, from fastmlp's trained model
    missing = sorted(wanted_peers(peer_names) - {peer.name for peer in peers + predictors})
    if missing:  # else the run goes on without them, and the report reads as if they had been asked for
        raise not_installed(missing)
    yardstick = FirstLayerMatmul()  # timed with prediction's contenders, not one of them (derive_prediction)
    step_yardstick = OneThreadMatmul(matmul_size)  # timed with the one-thread step (derive)
    contenders = [fastmlp, *peers]
    flops = {dtype: [] for dtype in dtypes}
    one_thread = {dtype: [] for dtype in dtypes}
    for dtype in dtypes:
        flops[dtype].append(roofline.matmul_flops(dtype, matmul_size))
    training, prediction, first_calls = [], [], {}
    began = time.perf_counter()
    for name in networks:
        layer_sizes, loss = NETWORKS[name]
        for dtype in dtypes:
            models = {c.name: c.build(layer_sizes, loss, dtype, seed) for c in contenders}
            for batch_size in batch_sizes:
                n = min(samples or default_samples(batch_size, layer_sizes), X_train.shape[0])
                n_warm = warmup_samples(batch_size, n)
                # The roofline is measured between rows, in the row's dtype: on a shared machine a busy
                # neighbour only ever lowers a measurement, so the highest one is the estimate used.
                flops[dtype].append(roofline.matmul_flops(dtype, matmul_size, repeat=3))
                if batch_size >= 32:  # the yardstick of the one-thread step, timed alike
                    one_thread[dtype].append(roofline.one_thread_matmul_flops(dtype, matmul_size))
                    # and of two threads over one: the matmul on all cores, where those are two
                    two_cores = flops[dtype][-1] if len(cpus()) <= 2 or not one_thread[dtype][-1] else \
                        roofline.matmul_flops(dtype, matmul_size, repeat=3, threads=2)
                rows = order[:n]
                data = {c.name: c.prepare(X_train[rows], y_train[rows], dtype, loss) for c in contenders}
                warm = {c.name: c.prepare(X_train[rows[:n_warm]], y_train[rows[:n_warm]], dtype, loss)
                        for c in contenders}
                if batch_size >= 32 and one_thread[dtype][-1]:  # (None without threadpoolctl)
                    pass_flops = roofline.epoch_flops(layer_sizes, n, batch_size)
                    data[step_yardstick.name] = step_yardstick.prepare(pass_flops, dtype)
                    warm[step_yardstick.name] = step_yardstick.prepare(pass_flops * n_warm / n, dtype)
                ticks = machine.cpu_ticks()
                row = measure_training(fastmlp, peers, models, data, warm, (layer_sizes, loss), batch_size,
                                       learning_rate, repeat, step_yardstick)
                row["host_steal"] = machine.steal_share(ticks, machine.cpu_ticks())
                row["dtype"] = dtype
                if batch_size >= 32 and one_thread[dtype][-1] and row["fastmlp_threads"] >= 2:
                    # What the machine gave a BLAS matmul from a second core just before this row: on a
                    # shared host, the ceiling that the row's thread scaling had at that moment.
                    row["matmul_thread_scaling"] = two_cores / one_thread[dtype][-1]
                first_calls.setdefault(dtype, row["results"]["fastmlp"]["variants"]
                                       [row["results"]["fastmlp"]["variant"]]["warmup_seconds"][0])
                training.append(row)
                _log(verbose, f"[{time.perf_counter() - began:6.0f} s] {name} {dtype} batch {batch_size}: "
                     + ", ".join(f"{label} {r['samples_per_s']:,.0f}/s" for label, r in row["results"].items()))
            test = {c.name: c.prepare(X_test, y_test, dtype, loss) for c in contenders + predictors + [yardstick]}
            models.update((p.name, p.from_fastmlp(models["fastmlp"])) for p in predictors)
            models[yardstick.name] = yardstick.build(layer_sizes, loss, dtype, seed)
            result = measure_prediction(fastmlp, peers + predictors + [yardstick], models, test, repeat)
            result.update(network=name, layer_sizes=list(layer_sizes), loss=loss, dtype=dtype)
            prediction.append(result)
            _log(verbose, f"[{time.perf_counter() - began:6.0f} s] {name} {dtype} prediction: "
                 + ", ".join(f"{label} {r['samples_per_s']:,.0f}/s" for label, r in result["results"].items()))
    roof = {dtype: {"flops": max(values), "median_flops": statistics.median(values), "measurements": values,
                    "matmul_size": matmul_size, "estimate": "highest of the measurements"}
            for dtype, values in flops.items()}
    for dtype, values in one_thread.items():
        measured = [value for value in values if value]
        if measured:
            roof[dtype].update(one_thread_flops=max(measured), one_thread_measurements=measured)
    peer_names = [peer.name for peer in peers]
    predictor_names = [peer.name for peer in predictors]
    uncapped = host_isa_peers(predictors, machine.kernel_target(), machine.cpu_flags())
    for row in training:
        derive(row, peer_names, roof[row["dtype"]]["flops"], roof[row["dtype"]].get("one_thread_flops"))
    for row in prediction:
        derive(row, peer_names + [name for name in predictor_names if name not in uncapped], None)
        derive_prediction(row)
    return {
        "data": source,
        "peers": peer_names,
        "prediction_peers": predictor_names,
        "host_isa_peers": uncapped,
        "settings": {"repeat": repeat, "timed_runs": timed_runs(repeat), "learning_rate": learning_rate, "seed": seed,
                     "samples": {name: {str(b): min(samples or default_samples(b, NETWORKS[name][0]), 60000)
                                        for b in batch_sizes} for name in networks},
                     "fastmlp_input": "uint8 (scaled inside the kernels)",
                     "peer_input": "pre-scaled float arrays of the row's dtype (conversion not timed)"},
        "roofline": roof,
        "fastmlp_first_call_seconds": first_calls,
        "training": training,
        "prediction": prediction,
        "seconds": time.perf_counter() - began,
    }


def host_isa_peers(peers, target, flags) -> list[str]:
    """The names of ``peers`` that run wider vector code than fastmlp's kernels were compiled for: in an AVX2 run
    forced on an AVX-512 machine (machine.kernels_below_host), those that pick their code from the CPU's flags
    (``isa_from_host``). They are timed and shown, but a comparison of AVX2 code does not count them as the best
    peer."""
    if not machine.kernels_below_host(target, flags):
        return []
    return [peer.name for peer in peers if getattr(peer, "isa_from_host", False)]


def paired_speedup(runs, baseline_runs):
    """The median over rounds of the baseline's seconds over ``runs``' in the same round (runner's rounds: the i-th
    run of each is round i's; entries timed together have runs in the same rounds), or None without a common round.
    A ratio of the two medians would set runs of different moments against each other where one was timed in
    rounds that the other was not."""
    ratios = [base / seconds for seconds, base in zip(runs, baseline_runs)]
    return statistics.median(ratios) if ratios else None


def derive(row, peer_names, roof_flops, one_thread_flops=None):
    """Add the ratio to the best peer, the roofline share, the thread scaling and the one-thread step's
    share of a one-thread matmul to a measured row: the matmul timed in the row's own rounds
    (``one_thread_matmul``), or in a run saved before that was timed, ``one_thread_flops``, the highest
    measured between the rows."""
    results = row["results"]
    rate = results["fastmlp"]["samples_per_s"]
    name, peer_rate = best_peer(results, peer_names)
    row["fastmlp_samples_per_s"] = rate
    row["best_peer"] = name
    row["best_peer_samples_per_s"] = peer_rate
    row["ratio"] = rate / peer_rate if peer_rate else None
    if roof_flops is not None:
        row["fastmlp_flops"] = rate * row["flops"] / row["samples"]
        row["roofline_flops"] = roof_flops
        row["roofline_share"] = row["fastmlp_flops"] / roof_flops
    if "fastmlp 1 thread" in results:
        one = results["fastmlp 1 thread"]["samples_per_s"]
        ones = _runs(results, "fastmlp 1 thread")
        # Two threads over one: the team of all where that is two (every run before fastmlp_threads was kept),
        # the team of two beside it where all are more; on one core, nothing.
        two = "fastmlp" if row.get("fastmlp_threads", 2) == 2 else TWO_THREADS_LABEL
        row["thread_scaling"] = paired_speedup(_runs(results, two), ones)
        pair = paired_speedup(_runs(results, TWO_AT_ONCE_LABEL), ones)
        if pair:  # two independent one-thread passes at once over one: what the host gave two cores
            row["two_at_once_scaling"] = 2 * pair
        yardstick = row.get("one_thread_matmul", {}).get("flops") or one_thread_flops
        if one and yardstick:
            row["one_thread_share"] = one * row["flops"] / row["samples"] / yardstick
    trips = row.get("core_round_trip_ns")
    if trips:
        row["core_round_trip"] = {"lowest_ns": min(trips), "median_ns": statistics.median(trips),
                                  "highest_ns": max(trips)}
        quick = quick_link_rounds(results, trips, row["samples"])
        if quick is not None:
            row["core_round_trip"].update(quick)


def derive_prediction(row):
    """Add, to a prediction row whose results hold the first-layer matmul (peers.FirstLayerMatmul) and NumPy, what
    that product alone bounds: ``matmul_over_numpy``, NumPy's time over the product's (the ratio to NumPy of a
    prediction exactly as fast as the BLAS product), and ``fastmlp_over_matmul``, fastmlp's samples/s over the
    product's (over 1: fastmlp's whole prediction, its uint8 conversion included, ran faster than BLAS's product
    of its first layer alone)."""
    results = row["results"]
    matmul = results.get(FirstLayerMatmul.name, {}).get("samples_per_s")
    numpy = results.get("numpy", {}).get("samples_per_s")
    if matmul and numpy:
        row["first_layer_matmul_samples_per_s"] = matmul
        row["matmul_over_numpy"] = matmul / numpy
        row["fastmlp_over_matmul"] = results["fastmlp"]["samples_per_s"] / matmul


def _runs(results, label):
    """The seconds of the timed runs of ``label``'s counted thread setting, in round order ([] if none)."""
    record = results.get(label) or {}
    return record.get("variants", {}).get(record.get("variant"), {}).get("seconds", [])


def quick_link_rounds(results, trips, samples):
    """Where some rounds of a row found the way between the cores slow (a round trip over
    machine.SLOW_LINK_FACTOR times the quickest) or the two virtual CPUs on one core (under machine.SHARED_CORE_NS,
    which sets no baseline), every contender's samples/s in the other rounds alone (the median of its runs in them,
    the i-th run of an entry being round i's; contenders timed in none of them left out), with how many rounds those
    are and their upper bound; None when every round was quick or fastmlp ran in no quick round."""
    apart = [trip for trip in trips if trip >= machine.SHARED_CORE_NS]
    if not apart:
        return None
    bound = machine.SLOW_LINK_FACTOR * min(apart)
    quick = [i for i, trip in enumerate(trips) if machine.SHARED_CORE_NS <= trip <= bound]
    if len(quick) == len(trips):
        return None
    rates = {}
    for label in results:
        runs = _runs(results, label)
        runs = [runs[i] for i in quick if i < len(runs)]
        if runs:
            rates[label] = samples / statistics.median(runs)
    if "fastmlp" not in rates:
        return None
    return {"quick_bound_ns": bound, "quick_rounds": len(quick), "quick_samples_per_s": rates}

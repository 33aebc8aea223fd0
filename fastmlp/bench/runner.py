"""Timed runs: warm every contender up, then alternate them (fastmlp, peer A, peer B, fastmlp, ...) and take medians."""

from __future__ import annotations

import statistics
import time

from . import machine, roofline
from .peers import ALL_THREADS, ONE_THREAD, TWO_AT_ONCE, TWO_AT_ONCE_LABEL, TWO_THREADS, TWO_THREADS_LABEL

#: A thread setting is timed only while it stays within this factor of its contender's best setting.
SKIP_FACTOR = 2.0
#: Idle seconds before every run. OpenBLAS's and OpenMP's worker threads spin for a while after a
#: peer's run; measured here, fastmlp's two threads ran at half speed straight after a NumPy matrix
#: multiply and at full speed 0.1 s later. Every contender gets the same pause.
SETTLE_SECONDS = 0.1
#: Then untimed runs on the warm-up data for at least this long, so that a timed run does not start on
#: cores just woken from idle. Measured on a 2-core VM, 784-100-10 batch 32, a pause of 0.5 s then one
#: short run: fastmlp's epoch at 426-456k samples/s (median of 9); warmed 0.1 s first: 607-618k.
#: A short timed run (fastmlp's) loses the most, so every contender gets the same warm-up time.
WARM_SECONDS = 0.1
#: Every entry is timed at least ``repeat`` times, and more (in later rounds, up to MAX_ROUNDS times ``repeat``)
#: while its timed runs add up to less than this. A run of tens of milliseconds (fastmlp's) falls wholly inside
#: a moment when the host slows a core, which a peer's second-long run only averages in: in a full run on a
#: 2-core VM, fastmlp's three batch 128 epochs on two threads took 0.289 / 0.125 / 0.133 s and its three
#: batch 32 epochs 0.153 / 0.152 / 0.129 s, so one or two slow moments decided a median of three.
MIN_TIMED_SECONDS = 1.0
#: The most rounds, as a multiple of ``repeat``, that an entry's short runs are timed in.
MAX_ROUNDS = 3
#: The ``together`` key (Entry) of the entries that training's ratios of fastmlp to itself pair round by round.
SCALING = "thread scaling"


def timed_runs(repeat: int) -> str:
    """How many runs each contender's median is of, in words, for reports."""
    return (f"{repeat} or more runs, up to {MAX_ROUNDS * repeat} where a contender's runs take under "
            f"{MIN_TIMED_SECONDS:g} s in all, fastmlp's thread settings in the same rounds")


def warm_up(run) -> None:
    """Call ``run()`` again and again, untimed, until WARM_SECONDS have passed (at least once)."""
    began = time.perf_counter()
    while True:
        run()
        if time.perf_counter() - began >= WARM_SECONDS:
            return


class Entry:
    """One contender in one thread setting, with its model and its prepared data; entries that share a
    ``together`` key are timed in the same rounds (_alternate)."""

    def __init__(self, contender, variant, model, data, label=None):
        self.contender = contender
        self.variant = variant
        self.model = model
        self.data = data
        self.label = label or contender.name
        self.together = None
        self.seconds: list[float] = []
        self.warmup: list[float] = []
        self.losses: list[float] = []
        self.timed = 0.0  # seconds that the timed runs took (_alternate)

    def call(self, job, before=None, probe=None):
        """Seconds that ``job(self)`` takes, and its result; ``before(self)`` runs first, untimed, again
        and again for WARM_SECONDS, then ``probe()`` if given, just before the clock starts."""
        time.sleep(SETTLE_SECONDS)
        with self.contender.threads(self.variant):
            if before is not None:
                warm_up(lambda: before(self))
            if probe is not None:
                probe()
            began = time.perf_counter()
            result = job(self)
            seconds = time.perf_counter() - began
        return seconds, result


def _groups(fastmlp, peers, models, data, extra=()):
    """One list of entries per contender: fastmlp on all threads, ``extra`` fastmlp entries, each peer's settings."""
    groups = [[Entry(fastmlp, ALL_THREADS, models["fastmlp"], data["fastmlp"])], *([e] for e in extra)]
    for peer in peers:
        groups.append([Entry(peer, variant, models[peer.name], data[peer.name]) for variant in peer.variants])
    return groups


def _warm(groups, job, n_warm):
    """Run each entry's job twice on the warm-up data; the second run's rate decides which settings are timed."""
    rates = {}
    for entries in groups:
        for entry in entries:
            for _ in range(2):
                seconds, _ = entry.call(job)
                entry.warmup.append(seconds)
            rates[id(entry)] = n_warm / entry.warmup[-1]
    return rates


def _pick(groups, warm_rates):
    """Keep, per contender, the thread settings whose warm-up rate is within SKIP_FACTOR of its best."""
    kept, skipped = [], []
    for entries in groups:
        best = max(warm_rates[id(entry)] for entry in entries)
        kept.append([entry for entry in entries if warm_rates[id(entry)] * SKIP_FACTOR >= best])
        skipped += [entry for entry in entries if warm_rates[id(entry)] * SKIP_FACTOR < best]
    return kept, skipped


def _wants_more(entry, repeat):
    """Whether ``entry`` is timed again: fewer than ``repeat`` runs, or less than MIN_TIMED_SECONDS timed
    in fewer than MAX_ROUNDS * repeat runs."""
    runs = len(entry.seconds)
    return runs < repeat or (entry.timed < MIN_TIMED_SECONDS and runs < MAX_ROUNDS * repeat)


def _alternate(groups, run_once, repeat):
    """Time the kept entries in rounds, each entry once a round, alternating, so machine drift hits all of
    them alike: ``repeat`` rounds, then more for entries whose runs are short (MIN_TIMED_SECONDS).

    ``run_once(entry)`` times one run and returns the seconds to record and the seconds the timing took
    (more where one timing holds several short calls). A thread setting more than SKIP_FACTOR slower than
    its contender's best one in the same round is dropped from later rounds: on a busy machine a
    multi-threaded peer can collapse (OpenMP spin-waits), and repeating such runs would take minutes
    without changing which setting counts.

    Entries that share a ``together`` key are timed in a round whenever one of them is, so that the ratios
    between them (two threads over one) pair runs of the same moments: on a shared host, fastmlp's extra
    runs on two threads came after its one-thread runs had stopped, when the host ran both cores slower.
    """
    active = [list(entries) for entries in groups]
    while True:
        wanted = {entry.together for entries in active for entry in entries
                  if entry.together is not None and _wants_more(entry, repeat)}
        timed = [[entry for entry in entries if _wants_more(entry, repeat) or entry.together in wanted]
                 for entries in active]
        if not any(timed):
            return
        for entries in timed:
            for entry in entries:
                seconds, spent = run_once(entry)
                entry.seconds.append(seconds)
                entry.timed += spent
        for entries, now in zip(active, timed):
            if now:
                best = min(entry.seconds[-1] for entry in now)
                entries[:] = [entry for entry in entries
                              if entry not in now or entry.seconds[-1] <= SKIP_FACTOR * best]


def _summary(groups, skipped, warm_rates, n_samples, repeat):
    """Per contender: the best timed setting's median samples/s, and every setting's runs."""
    out = {}
    for entry in [entry for entries in groups for entry in entries] + skipped:
        record = out.setdefault(entry.label, {"samples_per_s": 0.0, "variant": None, "variants": {}})
        info = {"warmup_samples_per_s": warm_rates[id(entry)], "warmup_seconds": entry.warmup}
        if entry.seconds:
            rate = n_samples / statistics.median(entry.seconds)
            info.update(samples_per_s=rate, seconds=entry.seconds, samples=n_samples)
            if entry.losses:
                info["epoch_losses"] = entry.losses
            if len(entry.seconds) < repeat:
                info["dropped"] = f"more than {SKIP_FACTOR:g}x slower than its best thread setting in a timed run"
            if rate > record["samples_per_s"]:
                record.update(samples_per_s=rate, variant=entry.variant)
        else:
            info["skipped"] = f"warm-up more than {SKIP_FACTOR:g}x slower than its best thread setting"
        record["variants"][entry.variant] = info
    return out


#: Idle seconds between prediction's warm-up and the round-trip probe. Numba's TBB workers spin for a moment
#: after a parallel call, and a probe started straight after one read 460-830 ns where one a millisecond later
#: read 70-80 (784-100-10 float32 prediction, Zen 4, five rounds); fastmlp's training team waits on an event
#: instead, so its probe needs no pause.
TBB_SPIN_SECONDS = 0.002


def _round_trip_probe(groups, pause=0.0):
    """fastmlp's all-threads entry (the first of ``groups``), the list its probe fills, and the probe: the cores'
    round trip (machine.core_round_trip_ns) after ``pause`` seconds idle, which Entry.call times just before each
    of that entry's timed runs."""
    round_trips = []

    def probe():
        if pause:
            time.sleep(pause)
        round_trips.append(machine.core_round_trip_ns())

    return groups[0][0], round_trips, probe


def _keep_round_trips(row, round_trips):
    """Put the probe's round trips in ``row`` (none on one CPU)."""
    if round_trips and None not in round_trips:
        row["core_round_trip_ns"] = round_trips


def measure_training(fastmlp, peers, models, data, warm_data, spec, batch_size, learning_rate, repeat,
                     yardstick=None):
    """Samples/s of one pass of SGD over ``data`` for fastmlp (all threads, ``fastmlp_threads`` of them; at
    batch >= 32 also 1 thread, and given two or more threads, two 1-thread passes at once, whose samples/s is
    that of each, and given more than two, a team of two) and peers; and the cores' round trip
    (machine.core_round_trip_ns) just before each of fastmlp's timed runs on all threads, in
    ``core_round_trip_ns``: the i-th belongs to the i-th run, in the i-th round.

    ``models`` and ``data`` map a contender's name to its model and its prepared (X, targets); ``warm_data``
    likewise holds the few samples each entry trains on twice before the timed runs (compilation, caches).
    With a ``yardstick`` (peers.OneThreadMatmul) whose prepared products ``data`` holds, it is timed in the same
    rounds, at batch >= 32, and its FLOP/s and runs go in ``one_thread_matmul``, not among the results.
    """
    layer_sizes, loss = spec
    n_samples = len(data["fastmlp"][1])
    n_warm = len(warm_data["fastmlp"][1])
    extra, team_threads = [], fastmlp.team_threads()
    if batch_size >= 32:  # fastmlp's thread settings and the matmul its one thread is held to, in the same rounds
        extra.append(Entry(fastmlp, ONE_THREAD, models["fastmlp"], data["fastmlp"], label="fastmlp 1 thread"))
        if team_threads >= 2:  # on one core there is no second to scale to
            extra.append(Entry(fastmlp, TWO_AT_ONCE, fastmlp.pair_of(models["fastmlp"]), data["fastmlp"],
                               label=TWO_AT_ONCE_LABEL))
        if team_threads > 2:  # the thread-scaling targets' two threads, beside the team of all
            extra.append(Entry(fastmlp, TWO_THREADS, models["fastmlp"], data["fastmlp"], label=TWO_THREADS_LABEL))
        if yardstick is not None and yardstick.name in data:
            extra.append(Entry(yardstick, ONE_THREAD, None, data[yardstick.name]))
    groups = _groups(fastmlp, peers, models, data, extra)
    if extra:  # and the team of all threads beside them
        for entry in (groups[0][0], *extra):
            entry.together = SCALING

    def warm_job(entry):
        return entry.contender.train_epoch(entry.model, warm_data[entry.contender.name], batch_size,
                                           learning_rate, entry.variant)

    team, round_trips, probe = _round_trip_probe(groups)

    def run_once(entry):
        seconds, loss = entry.call(
            lambda e: e.contender.train_epoch(e.model, e.data, batch_size, learning_rate, e.variant), warm_job,
            probe if entry is team else None)
        entry.losses.append(float(loss))
        return seconds, seconds

    warm_rates = _warm(groups, warm_job, n_warm)
    kept, skipped = _pick(groups, warm_rates)
    _alternate(kept, run_once, repeat)
    row = {
        "network": "-".join(map(str, layer_sizes)),
        "layer_sizes": list(layer_sizes),
        "loss": loss,
        "batch_size": batch_size,
        "samples": n_samples,
        "warmup_samples": n_warm,
        "flops_per_sample": roofline.sample_flops(layer_sizes),
        "flops": roofline.epoch_flops(layer_sizes, n_samples, batch_size),
        "results": _summary(kept, skipped, warm_rates, n_samples, repeat),
        "fastmlp_threads": team_threads,
    }
    stick = row["results"].pop(yardstick.name, None) if yardstick is not None else None
    if stick and stick["variant"]:
        runs = stick["variants"][stick["variant"]]["seconds"]
        products = data[yardstick.name][-1]
        row["one_thread_matmul"] = {"flops": yardstick.flops(products) / statistics.median(runs), "seconds": runs,
                                    "products": products, "size": yardstick.size}
    _keep_round_trips(row, round_trips)
    return row


def measure_prediction(fastmlp, peers, models, data, repeat, min_seconds=0.1):
    """Samples/s of predicting the labels of ``data`` (forward only), alternating contenders like training, with
    the cores' round trip just before each of fastmlp's timed runs (``core_round_trip_ns``, as in training)."""
    n_samples = len(data["fastmlp"][1])
    groups = _groups(fastmlp, peers, models, data)
    team, round_trips, probe = _round_trip_probe(groups, TBB_SPIN_SECONDS)

    def once(entry):
        entry.contender.predict(entry.model, entry.data, entry.variant)

    warm_rates = _warm(groups, once, n_samples)
    kept, skipped = _pick(groups, warm_rates)
    # Short calls are repeated inside one timing so that timer and scheduler noise stay small.
    calls = {id(entry): int(min_seconds * warm_rates[id(entry)] / n_samples) + 1
             for entries in kept for entry in entries}

    def run_once(entry):
        def job(entry):
            for _ in range(calls[id(entry)]):
                once(entry)

        seconds, _ = entry.call(job, once, probe if entry is team else None)
        return seconds / calls[id(entry)], seconds

    _alternate(kept, run_once, repeat)
    row = {"samples": n_samples, "results": _summary(kept, skipped, warm_rates, n_samples, repeat)}
    _keep_round_trips(row, round_trips)
    return row


def best_peer(results, peer_names):
    """(name, samples/s) of the fastest peer in ``results``, or (None, 0) without peers."""
    timed = [(results[name]["samples_per_s"], name) for name in peer_names if name in results]
    if not timed:
        return None, 0.0
    rate, name = max(timed)
    return name, rate

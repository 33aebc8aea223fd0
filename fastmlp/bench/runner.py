"""Timed runs: warm every contender up, then alternate them (fastmlp, peer A, peer B, fastmlp, ...) and take medians."""

from __future__ import annotations

import statistics
import time

from . import roofline
from .peers import ALL_THREADS, ONE_THREAD

#: A thread setting is timed only if its warm-up rate is within this factor of the contender's best setting.
SKIP_FACTOR = 2.0


class Entry:
    """One contender in one thread setting, with its model and its prepared data."""

    def __init__(self, contender, variant, model, data, label=None):
        self.contender = contender
        self.variant = variant
        self.model = model
        self.data = data
        self.label = label or contender.name
        self.seconds: list[float] = []
        self.warmup: list[float] = []
        self.losses: list[float] = []

    def call(self, job):
        with self.contender.threads(self.variant):
            began = time.perf_counter()
            result = job(self)
            seconds = time.perf_counter() - began
        return seconds, result


def _time_all(entries, job, n_samples, repeat):
    """Run ``job`` on every entry ``repeat`` times, alternating entries; returns samples/s medians by entry."""
    for _ in range(repeat):
        for entry in entries:
            seconds, result = entry.call(job)
            entry.seconds.append(seconds)
            if isinstance(result, float):
                entry.losses.append(result)
    return {id(entry): n_samples / statistics.median(entry.seconds) for entry in entries}


def _pick(groups, warm_rates):
    """Keep, per contender, the thread settings whose warm-up rate is within SKIP_FACTOR of its best."""
    kept, skipped = [], []
    for entries in groups:
        best = max(warm_rates[id(entry)] for entry in entries)
        for entry in entries:
            (kept if warm_rates[id(entry)] * SKIP_FACTOR >= best else skipped).append(entry)
    return kept, skipped


def _summary(entries, rates, skipped, warm_rates, n_samples):
    """Per contender: the best timed setting's median samples/s, and every setting's runs."""
    out = {}
    for entry in entries + skipped:
        record = out.setdefault(entry.label, {"samples_per_s": 0.0, "variant": None, "variants": {}})
        info = {"warmup_samples_per_s": warm_rates[id(entry)], "warmup_seconds": entry.warmup}
        if id(entry) in rates:
            info.update(samples_per_s=rates[id(entry)], seconds=entry.seconds, samples=n_samples)
            if entry.losses:
                info["epoch_losses"] = entry.losses
            if rates[id(entry)] > record["samples_per_s"]:
                record.update(samples_per_s=rates[id(entry)], variant=entry.variant)
        else:
            info["skipped"] = f"warm-up more than {SKIP_FACTOR:g}x slower than its best thread setting"
        record["variants"][entry.variant] = info
    return out


def _warm(groups, job, n_warm, n_samples):
    """Run each entry's job twice on the warm-up data; the second run's rate decides which settings are timed."""
    rates = {}
    for entries in groups:
        for entry in entries:
            for _ in range(2):
                seconds, _ = entry.call(job)
                entry.warmup.append(seconds)
            rates[id(entry)] = n_warm / entry.warmup[-1]
    return rates


def measure_training(fastmlp, peers, models, data, warm_data, spec, batch_size, learning_rate, repeat):
    """Samples/s of one pass of SGD over ``data`` for fastmlp (all threads, and 1 thread at batch >= 32) and peers.

    ``models`` and ``data`` map a contender's name to its model and its prepared (X, targets); ``warm_data``
    likewise holds the few samples each entry trains on twice before the timed runs (compilation, caches).
    """
    layer_sizes, loss = spec
    n_samples = len(data["fastmlp"][1])
    n_warm = len(warm_data["fastmlp"][1])
    groups = [[Entry(fastmlp, ALL_THREADS, models["fastmlp"], data["fastmlp"])]]
    if batch_size >= 32:
        groups.append([Entry(fastmlp, ONE_THREAD, models["fastmlp"], data["fastmlp"], label="fastmlp 1 thread")])
    for peer in peers:
        groups.append([Entry(peer, variant, models[peer.name], data[peer.name]) for variant in peer.variants])

    def warm_job(entry):
        return entry.contender.train_epoch(entry.model, warm_data[entry.contender.name], batch_size,
                                           learning_rate, entry.variant)

    def job(entry):
        return entry.contender.train_epoch(entry.model, entry.data, batch_size, learning_rate, entry.variant)

    warm_rates = _warm(groups, warm_job, n_warm, n_samples)
    kept, skipped = _pick(groups, warm_rates)
    rates = _time_all(kept, job, n_samples, repeat)
    results = _summary(kept, rates, skipped, warm_rates, n_samples)
    row = {
        "network": "-".join(map(str, layer_sizes)),
        "layer_sizes": list(layer_sizes),
        "loss": loss,
        "batch_size": batch_size,
        "samples": n_samples,
        "warmup_samples": n_warm,
        "flops_per_sample": roofline.sample_flops(layer_sizes),
        "flops": roofline.epoch_flops(layer_sizes, n_samples, batch_size),
        "results": results,
    }
    return row


def measure_prediction(fastmlp, peers, models, data, repeat, min_seconds=0.1):
    """Samples/s of predicting the labels of ``data`` (forward only), alternating contenders like training."""
    n_samples = len(data["fastmlp"][1])
    groups = [[Entry(fastmlp, ALL_THREADS, models["fastmlp"], data["fastmlp"])]]
    for peer in peers:
        groups.append([Entry(peer, variant, models[peer.name], data[peer.name]) for variant in peer.variants])

    def once(entry):
        entry.contender.predict(entry.model, entry.data, entry.variant)

    warm_rates = _warm(groups, once, n_samples, n_samples)
    kept, skipped = _pick(groups, warm_rates)
    # Short calls are repeated inside one timing so that timer and scheduler noise stay small.
    calls = {id(entry): max(1, int(min_seconds * warm_rates[id(entry)] / n_samples) + 1) for entry in kept}

    def job(entry):
        for _ in range(calls[id(entry)]):
            once(entry)

    for _ in range(repeat):
        for entry in kept:
            seconds, _ = entry.call(job)
            entry.seconds.append(seconds / calls[id(entry)])
    rates = {id(entry): n_samples / statistics.median(entry.seconds) for entry in kept}
    return {"samples": n_samples, "results": _summary(kept, rates, skipped, warm_rates, n_samples)}


def best_peer(results, peer_names):
    """(name, samples/s) of the fastest peer in ``results``, or (None, 0) without peers."""
    timed = [(results[name]["samples_per_s"], name) for name in peer_names if name in results]
    if not timed:
        return None, 0.0
    rate, name = max(timed)
    return name, rate

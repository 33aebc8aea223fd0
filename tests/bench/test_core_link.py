"""The way between the cores, measured beside the bench's rows: a cache line's round trip through the team's
barrier (machine.core_round_trip_ns), timed just before each of fastmlp's runs on all threads, in training and in
prediction, and what fastmlp reached in the rounds that found it quick (suite.quick_link_rounds)."""

from __future__ import annotations

import contextlib
import os
import statistics
from types import SimpleNamespace

import numpy as np
import pytest

from fastmlp.bench import machine, report, runner, suite
from fastmlp.bench.peers import ALL_THREADS, OneThreadMatmul


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_round_trip_between_two_cores_takes_tens_to_hundreds_of_nanoseconds():
    trip = machine.core_round_trip_ns(2000)
    # a line cannot cross and come back in under a nanosecond; a stuck barrier would never return
    assert 1 < trip < 100_000


def test_no_round_trip_on_one_cpu(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert machine.core_round_trip_ns() is None and machine.exchange_ns(6400) is None


def test_the_probe_runs_after_the_warm_up_just_before_the_clock(monkeypatch):
    log = []
    contender = SimpleNamespace(name="fastmlp", threads=lambda variant: contextlib.nullcontext())
    entry = runner.Entry(contender, "all threads", None, None)
    monkeypatch.setattr(runner, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(runner, "WARM_SECONDS", 0.0)
    seconds, result = entry.call(lambda e: log.append("timed") or "done", lambda e: log.append("warm"),
                                 lambda: log.append("probe"))
    assert log == ["warm", "probe", "timed"] and result == "done" and seconds >= 0


def _results(team, one):
    record = {"fastmlp": team, "fastmlp 1 thread": one}
    return {label: {"variant": "v", "variants": {"v": {"seconds": seconds}}} for label, seconds in record.items()}


def test_the_speed_of_the_rounds_with_a_quick_link():
    # round 2 found the link slow (300 ns against 80): the team's 0.2 s run is left out, and so is the one-thread
    # run of round 2; the one-thread entry was timed in four rounds only
    results = _results([0.10, 0.11, 0.20, 0.10, 0.12], [0.18, 0.19, 0.20, 0.20])
    quick = suite.quick_link_rounds(results, [80, 90, 300, 100, 85], 1000)
    assert quick["quick_rounds"] == 4 and quick["quick_bound_ns"] == pytest.approx(120)
    assert quick["quick_samples_per_s"] == pytest.approx({"fastmlp": 1000 / 0.105, "fastmlp 1 thread": 1000 / 0.19})
    # no slow round: nothing to add to the row's own speeds
    assert suite.quick_link_rounds(results, [80, 90, 100, 100, 85], 1000) is None
    # a round under SHARED_CORE_NS (both virtual CPUs on one core, round 0) is no quick round and sets no baseline:
    # the quick ones are rounds 1 and 4, within 1.5x of round 4's 85 ns
    quick = suite.quick_link_rounds(results, [40, 90, 300, 130, 85], 1000)
    assert quick["quick_rounds"] == 2 and quick["quick_bound_ns"] == pytest.approx(127.5)
    assert quick["quick_samples_per_s"]["fastmlp"] == pytest.approx(1000 / 0.115)
    assert suite.quick_link_rounds(results, [40, 42, 45, 41, 40], 1000) is None
    # fastmlp ran in no quick round: nothing to compare
    assert suite.quick_link_rounds(_results([0.2], [0.18]), [300, 90], 1000) is None


def test_the_report_shows_the_round_trips():
    row = {"network": "784-100-10", "dtype": "float32", "batch_size": 32, "samples": 1000,
           "results": _results([0.10, 0.12, 0.30], [0.18, 0.19, 0.30]), "core_round_trip_ns": [80.0, 90.0, 300.0]}
    for record in row["results"].values():
        record["samples_per_s"] = 1000 / statistics.median(record["variants"]["v"]["seconds"])
    suite.derive(row, [], None)
    assert row["core_round_trip"]["median_ns"] == 90 and row["core_round_trip"]["quick_rounds"] == 2
    (entry,) = [t for t in report.targets({"training": [row]}) if t["target"].endswith(f"32: {report.THREAD_SCALING}")]
    # all rounds: 0.19 s / 0.12 s; the two quick ones: 0.185 s / 0.11 s
    assert report._measured(entry) == "1.58x (core round trip 80-300 ns, 1.68x in the 2 rounds at 60-120 ns)"


def _prediction_result(numpy_seconds, trips):
    """A bench result with one prediction row of 10,000 samples: fastmlp's runs of 5 ms, but 10 ms in the
    rounds with a round trip over 100 ns, and NumPy's ``numpy_seconds`` in its rounds (as many as given)."""
    team = [0.010 if trip > 100 else 0.005 for trip in trips]
    row = {"network": "784-100-10", "dtype": "float32", "samples": 10_000, "core_round_trip_ns": trips,
           "results": {"fastmlp": {"variant": "v", "variants": {"v": {"seconds": team}}},
                       "numpy": {"variant": "v", "variants": {"v": {"seconds": numpy_seconds}}}}}
    for record in row["results"].values():
        seconds = record["variants"]["v"]["seconds"]
        record["samples_per_s"] = 10_000 / sorted(seconds)[len(seconds) // 2]
    suite.derive(row, ["numpy"], None)
    return {"training": [], "prediction": [row], "peers": ["numpy"]}


def _prediction_target(result):
    return next(t for t in report.targets(result) if "prediction" in t["target"])


def test_prediction_rows_show_their_round_trips():
    # three of five rounds slow: the median run is a slow one (1.0x NumPy), the quick rounds' 2.0x is noted
    result = _prediction_result([0.010] * 5, [80.0, 300.0, 310.0, 90.0, 320.0])
    assert report.prediction_table(result)[1][-1] == "80-320 ns"
    target = _prediction_target(result)
    assert target["met"] is False
    assert report._measured(target) == "1.00x (core round trip 80-320 ns, 2.00x in the 2 rounds at 60-120 ns)"
    # the quick rounds are compared with NumPy's runs in the same rounds (8 ms in rounds 0 and 3), and with all
    # of NumPy's runs where it ran in none of them (one run, in a row whose round 0 was slow)
    result = _prediction_result([0.008, 0.012, 0.012, 0.008, 0.012], [80.0, 300.0, 310.0, 90.0, 320.0])
    assert report._measured(_prediction_target(result)).endswith(", 1.60x in the 2 rounds at 60-120 ns)")
    result = _prediction_result([0.012], [300.0, 80.0, 90.0])
    assert report._measured(_prediction_target(result)).endswith(", 2.40x in the 2 rounds at 60-120 ns)")
    # every round quick: the range alone
    assert report._measured(_prediction_target(_prediction_result([0.010] * 3, [80.0, 85.0, 90.0]))) == (
        "2.00x (core round trip 80-90 ns)")


class Fake:
    """A contender that trains and predicts in no time, with a team of ``team`` threads."""

    variants = (ALL_THREADS,)

    def __init__(self, name, team=2):
        self.name, self.team = name, team

    def threads(self, variant):
        return contextlib.nullcontext()

    def team_threads(self):
        return self.team

    @staticmethod
    def pair_of(model):
        return model, model

    def train_epoch(self, model, data, batch_size, learning_rate, variant):
        return 0.5

    def predict(self, model, data, variant):
        return None


def test_every_timed_run_of_fastmlp_on_all_threads_gets_a_probe(monkeypatch):
    """Training at every batch size and prediction: one round trip per timed run of fastmlp on all threads, none
    for the other entries (the probe is the same kernel either way, so a fake one counts the calls)."""
    monkeypatch.setattr(runner, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(runner, "WARM_SECONDS", 0.0)
    log = []
    monkeypatch.setattr(machine, "core_round_trip_ns", lambda: log.append("probe") or 75.0)
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: log.append(seconds))

    fastmlp, peer = Fake("fastmlp"), Fake("numpy")
    models, data = {"fastmlp": None, "numpy": None}, {"fastmlp": ([0] * 8, [0] * 8), "numpy": ([0] * 8, [0] * 8)}
    row = runner.measure_training(fastmlp, [peer], models, data, data, ((4, 2), "mse"), 4, 0.1, repeat=2)
    runs = len(row["results"]["fastmlp"]["variants"][ALL_THREADS]["seconds"])
    assert runs >= 2 and row["core_round_trip_ns"] == [75.0] * runs
    # training's probe follows the warm-up at once (the team's threads wait on an event, they do not spin)
    assert all(log[i - 1] != runner.TBB_SPIN_SECONDS for i, item in enumerate(log) if item == "probe")
    log.clear()
    row = runner.measure_prediction(fastmlp, [peer], models, data, repeat=2, min_seconds=0.0)
    runs = len(row["results"]["fastmlp"]["variants"][ALL_THREADS]["seconds"])
    assert runs >= 2 and row["core_round_trip_ns"] == [75.0] * runs
    # prediction's waits for Numba's TBB workers to stop spinning first
    assert [log[i - 1] for i, item in enumerate(log) if item == "probe"] == [runner.TBB_SPIN_SECONDS] * runs


@pytest.mark.parametrize("team", [1, 2, 4])
def test_thread_scaling_is_two_threads_over_one_on_any_machine(monkeypatch, team):
    """The targets compare two threads with one: on two cores the team of all, on more a team of two timed
    beside it (the team of four was reported as two threads), on one core nothing (it reported the one thread
    over itself as a missed target)."""
    monkeypatch.setattr(runner, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(runner, "WARM_SECONDS", 0.0)
    monkeypatch.setattr(machine, "core_round_trip_ns", lambda: None)
    fastmlp, peer = Fake("fastmlp", team), Fake("numpy")
    models, data = {"fastmlp": None, "numpy": None}, {"fastmlp": ([0] * 64, [0] * 64), "numpy": ([0] * 64, [0] * 64)}
    row = runner.measure_training(fastmlp, [peer], models, data, data, ((4, 2), "mse"), 32, 0.1, repeat=1)
    expected = {"fastmlp", "fastmlp 1 thread", "numpy", *(["fastmlp 2 x 1 thread at once"] if team >= 2 else []),
                *(["fastmlp team of 2"] if team > 2 else [])}
    assert set(row["results"]) == expected and row["fastmlp_threads"] == team

    rates = {"fastmlp": 400.0, "fastmlp team of 2": 190.0, "fastmlp 1 thread": 100.0, "numpy": 50.0}

    def timed(rate, drift=(1.0, 1.0, 1.0)):  # a result timed in rounds that each took ``drift`` times as long
        seconds = [d * 64 / rate for d in drift]
        return {"samples_per_s": 64 / statistics.median(seconds), "variant": "v",
                "variants": {"v": {"seconds": seconds}}}

    row = {"network": "784-100-10", "dtype": "float32", "batch_size": 32, "samples": 64, "flops": 1.0,
           "fastmlp_threads": team, "results": {name: timed(rates[name]) for name in expected - {
               "fastmlp 2 x 1 thread at once"}}}
    suite.derive(row, ["numpy"], None)
    assert row["thread_scaling"] == pytest.approx({1: None, 2: 4.0, 4: 1.9}[team])
    # round by round: the team's runs in rounds that its one thread was not timed in (a run saved before the two
    # were timed together, runner.SCALING), which the host ran slower, do not count
    if team >= 2:
        two = "fastmlp" if team == 2 else "fastmlp team of 2"
        drifted = dict(row, results={**row["results"], two: timed(rates[two], (1.0, 1.0, 2.0, 2.0, 2.0))})
        suite.derive(drifted, ["numpy"], None)
        assert drifted["thread_scaling"] == pytest.approx(row["thread_scaling"])
    (target,) = [t for t in report.targets({"training": [row]})
                 if t["target"].endswith(f"batch 32: {report.THREAD_SCALING}")]
    assert target["met"] is {1: None, 2: True, 4: True}[team]
    # in the rounds that found the way between the cores quick, likewise
    row["core_round_trip"] = {"quick_samples_per_s": {"fastmlp": 360.0, "fastmlp team of 2": 180.0,
                                                      "fastmlp 1 thread": 100.0}}
    (target,) = [t for t in report.targets({"training": [row]})
                 if t["target"].endswith(f"batch 32: {report.THREAD_SCALING}")]
    assert target.get("quick_measured") == {1: None, 2: 3.6, 4: 1.8}[team]
    if team == 2:  # a run saved before fastmlp_threads was kept: two cores, as every such run had
        del row["fastmlp_threads"], row["thread_scaling"]
        suite.derive(row, ["numpy"], None)
        assert row["thread_scaling"] == pytest.approx(4.0)


def test_one_thread_share_is_of_a_matmul_timed_in_the_same_rounds(monkeypatch):
    """The one-thread step's yardstick is a one-thread matmul timed as an entry of the row's rounds, kept out of the
    results (it is not a way to train), and the share divides by its FLOP/s; the run's highest matmul between
    the rows counted a slow stretch during the row against fastmlp alone, and is used only for runs saved before."""
    monkeypatch.setattr(runner, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(runner, "WARM_SECONDS", 0.0)
    monkeypatch.setattr(machine, "core_round_trip_ns", lambda: None)
    stick = OneThreadMatmul(16)
    fastmlp, peer = Fake("fastmlp"), Fake("numpy")
    models = {"fastmlp": None, "numpy": None}
    data = {"fastmlp": ([0] * 64, [0] * 64), "numpy": ([0] * 64, [0] * 64),
            stick.name: stick.prepare(3.5 * stick.flops(1), "float32")}
    row = runner.measure_training(fastmlp, [peer], models, data, data, ((4, 2), "mse"), 32, 0.1, repeat=2,
                                  yardstick=stick)
    assert stick.name not in row["results"] and "fastmlp 1 thread" in row["results"]
    timed = row["one_thread_matmul"]
    assert timed["products"] == 4 and len(timed["seconds"]) >= 2
    assert timed["flops"] == pytest.approx(4 * 2 * 16**3 / statistics.median(timed["seconds"]))
    a, b, out, _ = data[stick.name]
    np.testing.assert_allclose(out, a @ b, rtol=1e-5)  # it multiplied
    # below batch 32 there is no one-thread step, so no yardstick either
    row = runner.measure_training(fastmlp, [peer], models, data, data, ((4, 2), "mse"), 10, 0.1, repeat=1,
                                  yardstick=stick)
    assert "one_thread_matmul" not in row

    row = {"network": "784-100-10", "dtype": "float32", "batch_size": 32, "samples": 64, "flops": 6.4e6,
           "results": {"fastmlp": {"samples_per_s": 3e4}, "fastmlp 1 thread": {"samples_per_s": 2e4}},
           "one_thread_matmul": {"flops": 4e9}}
    suite.derive(row, [], None, one_thread_flops=8e9)
    assert row["one_thread_share"] == pytest.approx(2e4 * 1e5 / 4e9)
    (target,) = [t for t in report.targets({"training": [row]}) if t["target"].endswith("batch 32: one-thread step "
                                                                                      "vs one-thread matmul")]
    assert report._measured(target) == "50% (of 4 GFLOP/s, the matmul's in the same rounds)"
    del row["one_thread_matmul"]  # a run saved before the matmul was timed in the rounds
    suite.derive(row, [], None, one_thread_flops=8e9)
    assert row["one_thread_share"] == pytest.approx(2e4 * 1e5 / 8e9)

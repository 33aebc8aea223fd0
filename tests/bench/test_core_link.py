"""The way between the cores, measured beside the bench's rows: a cache line's round trip through the team's
barrier (machine.core_round_trip_ns), timed just before each of fastmlp's two-thread runs, and the team's
speed-up in the rounds that found it quick (suite.quick_link_scaling)."""

from __future__ import annotations

import contextlib
import os
from types import SimpleNamespace

import pytest

from fastmlp.bench import machine, report, runner, suite


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_round_trip_between_two_cores_takes_tens_to_hundreds_of_nanoseconds():
    trip = machine.core_round_trip_ns(2000)
    # a line cannot cross and come back in under a nanosecond; a stuck barrier would never return
    assert 1 < trip < 100_000


def test_no_round_trip_on_one_cpu(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert machine.core_round_trip_ns() is None


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


def test_the_speed_up_of_the_rounds_with_a_quick_link():
    # round 2 found the link slow (300 ns against 80): the team's 0.2 s run is left out, and so is the one-thread
    # run of round 2; the one-thread entry was timed in four rounds only
    results = _results([0.10, 0.11, 0.20, 0.10, 0.12], [0.18, 0.19, 0.20, 0.20])
    quick = suite.quick_link_scaling(results, [80, 90, 300, 100, 85])
    assert quick["quick_rounds"] == 4 and quick["quick_bound_ns"] == pytest.approx(120)
    assert quick["quick_thread_scaling"] == pytest.approx(0.19 / 0.105)
    # no slow round: nothing to add to the row's own speed-up
    assert suite.quick_link_scaling(results, [80, 90, 100, 100, 85]) is None


def test_the_report_shows_the_round_trips():
    row = {"results": _results([0.10, 0.10, 0.20], [0.18, 0.18, 0.20]), "core_round_trip_ns": [80.0, 90.0, 300.0]}
    for label in row["results"]:
        row["results"][label]["samples_per_s"] = 1000.0
    suite.derive(row, [], None)
    assert row["core_round_trip"]["median_ns"] == 90 and row["core_round_trip"]["quick_rounds"] == 2
    entry = report._target("2 threads vs 1 thread", 1.7, 1.8, core_round_trip=row["core_round_trip"])
    assert report._measured(entry) == "1.70x (core round trip 80-300 ns, 1.80x in the 2 rounds under 120 ns)"

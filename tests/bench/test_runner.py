"""fastmlp.bench.runner's rounds: every entry at least ``repeat`` times, short runs more often (up to a
bound), alternating, and a collapsed thread setting dropped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fastmlp.bench import runner


def _entries(**seconds):
    """One group per name, each a single entry whose runs take seconds[name] (a number or a list by round)."""
    groups = []
    for name in seconds:
        groups.append([runner.Entry(SimpleNamespace(name=name), "1 thread", None, None)])
    return groups


def _runner(seconds, log, spent_factor=1):
    def run_once(entry):
        name = entry.contender.name
        value = seconds[name]
        value = value[len(entry.seconds)] if isinstance(value, list) else value
        log.append(name)
        return value, spent_factor * value

    return run_once


def test_short_runs_are_timed_until_the_minimum_or_the_bound():
    log = []
    seconds = {"long": 2.0, "short": 0.15, "tiny": 0.01}
    groups = _entries(**seconds)
    runner._alternate(groups, _runner(seconds, log), repeat=3)
    runs = {entries[0].contender.name: len(entries[0].seconds) for entries in groups}
    needed = -(-runner.MIN_TIMED_SECONDS // seconds["short"])
    assert runs == {"long": 3, "short": max(3, min(needed, runner.MAX_ROUNDS * 3)), "tiny": runner.MAX_ROUNDS * 3}
    # alternating: the first three rounds time every entry once each, in order
    assert log[:9] == ["long", "short", "tiny"] * 3
    assert log[9:11] == ["short", "tiny"]


def test_entries_timed_together_share_their_rounds():
    """fastmlp's thread settings are timed together: each in every round that one of them is timed in, so that the
    ratios between them pair runs of the same moments; an entry outside the set stops at its own count."""
    log = []
    seconds = {"team": 0.01, "one": 0.2, "alone": 0.2}
    groups = _entries(**seconds)
    groups[0][0].together = groups[1][0].together = runner.SCALING
    runner._alternate(groups, _runner(seconds, log), repeat=3)
    runs = {entries[0].contender.name: len(entries[0].seconds) for entries in groups}
    assert runs == {"team": runner.MAX_ROUNDS * 3, "one": runner.MAX_ROUNDS * 3,
                    "alone": -(-runner.MIN_TIMED_SECONDS // seconds["alone"])}
    assert runs["alone"] < runs["one"]  # "one" alone would have stopped there too
    rounds = [name for name in log if name != "alone"]
    assert rounds == ["team", "one"] * runs["team"]


def test_a_timing_of_several_calls_counts_whole():
    """Prediction records seconds per call but its timing took all the calls: that decides the rounds."""
    log = []
    seconds = {"predict": 0.02}
    groups = _entries(**seconds)
    runner._alternate(groups, _runner(seconds, log, spent_factor=50), repeat=3)
    assert len(groups[0][0].seconds) == 3
    assert groups[0][0].timed == pytest.approx(3.0)


def test_a_collapsed_thread_setting_is_dropped_and_marked():
    fast = runner.Entry(SimpleNamespace(name="peer"), "1 thread", None, None)
    slow = runner.Entry(SimpleNamespace(name="peer"), "2 threads", None, None)
    times = {id(fast): [0.5] * 9, id(slow): [0.6, 1.5, 0.6, 0.6]}

    def run_once(entry):
        value = times[id(entry)][len(entry.seconds)]
        return value, value

    runner._alternate([[fast, slow]], run_once, repeat=3)
    assert fast.seconds == [0.5] * 3  # 1.5 s timed: no more rounds
    assert slow.seconds == [0.6, 1.5]  # more than SKIP_FACTOR times the fast setting's 0.5 s in round 2
    summary = runner._summary([[fast, slow]], [], {id(fast): 1.0, id(slow): 1.0}, 100, 3)
    assert summary["peer"]["variant"] == "1 thread"
    assert "dropped" in summary["peer"]["variants"]["2 threads"]

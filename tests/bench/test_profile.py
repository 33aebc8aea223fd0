"""fastmlp bench --profile: each thread's share of an epoch's cycles per phase of a step, and its cycles per
sample beside one thread's."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastmlp._team
from fastmlp.bench import main, profile
from fastmlp.bench.peers import Fastmlp

from markers import needs_compiled_kernels


@needs_compiled_kernels
def test_profile_shares_add_up_for_every_member(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(Fastmlp, "team_threads", staticmethod(lambda: 2))  # the team training would use
    path = tmp_path / "profile.json"
    assert main(["--profile", "--quick", "--synthetic", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["phases"] == list(profile.PHASES) and result["threads"] == 2
    (batch,) = result["batches"]
    shares = np.array(batch["shares"])
    assert shares.shape == (2, len(profile.PHASES))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-9)
    assert (shares[:, profile.PHASES.index("forward")] > 0).all() and batch["samples_per_s"] > 0
    members = np.array(batch["cycles_per_sample"])
    one = np.array(batch["one_thread_cycles_per_sample"])
    assert members.shape == (2, len(profile.PHASES)) and one.shape == (len(profile.PHASES),)
    work = [profile.PHASES.index(phase) for phase in ("gather", "forward", "gradient and update")]
    assert (members[:, work] > 0).all() and (one[work] > 0).all()
    wait = profile.PHASES.index("barrier wait")
    assert one[wait] < 0.01 * one.sum()  # one thread's barriers return at once
    assert batch["cycle_speedup"] == (one.sum() - one[wait]) / members.sum(axis=1).max()
    out = capsys.readouterr().out
    assert "| barrier wait |" in out and "batch 32 t1" in out and "batch 32 added" in out
    gather = [line for line in out.splitlines() if line.startswith("| gather |")][-1]  # the cycles table's
    assert f"{members[0, 0]:,.0f}" in gather and f"{members.sum(axis=0)[0] - one[0]:+,.0f}" in gather
    assert f"batch 32: {batch['cycle_speedup']:.2f}x" in out
    # a core round trip timed before each of the team's epochs (the quick run has one)
    (trip,) = batch["core_round_trip_ns"]
    assert 1 < trip < 100_000 and f"batch 32: {trip:.0f} ns" in out
    # the step's exchange, timed on its own, against one thread's step: what it leaves a team of two
    exchange = batch["exchange"]
    assert exchange["bytes_each_way"] == profile.exchange_bytes((784, 100, 10), 32, 4) == 16 * (100 + 110) * 4
    assert exchange["ns"] > 0 and batch["one_thread_samples_per_s"] > 0
    assert exchange == {**exchange, **profile.exchange_bound(32 / batch["one_thread_samples_per_s"],
                                                             1e-9 * exchange["ns"], 1e-9 * trip)}
    # the lean the team of two ended each epoch with, as fastmlp._team keeps it for the next call
    (lean,) = batch["leans"]
    assert lean == fastmlp._team.lean() and isinstance(lean, int)
    assert f"even split): batch 32: {f'{lean:+d}' if lean else '0'}" in out
    assert 1 < exchange["most_speedup"] < 2
    assert f"batch 32: 13,440 bytes each way, {exchange['overhead_us']:.1f} us" in out
    assert f"so at most {exchange['most_speedup']:.2f}x" in out


@needs_compiled_kernels
def test_profile_trains_with_the_momentum_it_is_given(capsys, monkeypatch):
    """--momentum reaches the profiled epochs' settings (the time-to-accuracy race's step: SGD with momentum 0.9)
    and the report's first line says so."""
    from fastmlp._settings import TrainingSettings

    monkeypatch.setattr(Fastmlp, "team_threads", staticmethod(lambda: 2))
    seen = []
    original = TrainingSettings.from_kwargs

    def recording(where, *args, **kwargs):
        settings = original(where, *args, **kwargs)
        if where == "bench":  # the profiled epochs' (the warm-up fit makes its own)
            seen.append(settings.momentum)
        return settings

    monkeypatch.setattr(TrainingSettings, "from_kwargs", staticmethod(recording))
    assert main(["--profile", "--quick", "--synthetic", "--momentum", "0.9"]) == 0
    assert seen == [0.9]
    assert "784-100-10 float32, SGD with momentum 0.9, 2 threads" in capsys.readouterr().out
    assert main(["--profile", "--quick", "--synthetic"]) == 0
    assert seen[1:] == [0.0] and "784-100-10 float32, plain SGD, 2 threads" in capsys.readouterr().out


def test_exchange_bound_is_half_a_step_plus_what_the_team_moves_and_waits():
    bound = profile.exchange_bound(100e-6, 3e-6, 0.5e-6)
    assert bound["overhead_us"] == pytest.approx(4.0) and bound["one_thread_step_us"] == pytest.approx(100.0)
    assert bound["most_speedup"] == pytest.approx(100 / 54)
    assert profile.exchange_bound(100e-6, 0.0, 0.0)["most_speedup"] == pytest.approx(2.0)


def test_profile_on_one_thread_says_there_is_no_team(capsys, monkeypatch):
    """On one CPU (or NUMBA_NUM_THREADS=1) there is no team to profile: one line, exit 1 (it ran a team of two on
    the one CPU and reported 92% of the epoch as barrier waits and a speed-up of 0.12x)."""
    monkeypatch.setattr(Fastmlp, "team_threads", staticmethod(lambda: 1))
    assert main(["--profile", "--quick", "--synthetic"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "--profile compares a team of threads with one thread" in captured.err

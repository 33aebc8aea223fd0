"""fastmlp bench --profile: each thread's share of an epoch's cycles per phase of a step, and its cycles per
sample beside one thread's."""

from __future__ import annotations

import json

import numpy as np

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


def test_profile_on_one_thread_says_there_is_no_team(capsys, monkeypatch):
    """On one CPU (or NUMBA_NUM_THREADS=1) there is no team to profile: one line, exit 1 (it ran a team of two on
    the one CPU and reported 92% of the epoch as barrier waits and a speed-up of 0.12x)."""
    monkeypatch.setattr(Fastmlp, "team_threads", staticmethod(lambda: 1))
    assert main(["--profile", "--quick", "--synthetic"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "--profile compares a team of threads with one thread" in captured.err

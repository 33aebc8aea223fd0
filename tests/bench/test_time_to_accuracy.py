"""fastmlp bench --time-to-accuracy: the contenders do the same maths from the same start, and a quick run's
JSON and report hold what they claim."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fastmlp.bench import main as bench_main
from fastmlp.bench import time_to_accuracy as tta

from child_env import child_env


def test_contenders_do_the_same_maths():
    """One unshuffled epoch with momentum from the shared start ends at the same weights for every contender."""
    train, test = tta.learnable_synthetic(96, 50, seed=3)
    settings = tta.settings_for(layer_sizes=(784, 16, 10), learning_rate=0.3)
    check = tta.same_maths(tta.available(), train, test, settings, n_samples=96)
    assert check["samples"] == 96 and "fastmlp" in check["contenders"]
    for name, result in check["contenders"].items():
        assert result["start_max_abs_diff"] == 0.0, name
        assert result["max_abs_weight_change"] > 1e-2, name  # the epoch moved the weights far ...
        assert result["max_abs_diff_to_fastmlp"] < 1e-5, name  # ... and every contender moved them alike
        assert result["accuracy"] == check["contenders"]["fastmlp"]["accuracy"], name


def test_momentum_is_not_nesterov():
    """The check can fail: scikit-learn with Nesterov momentum ends elsewhere than fastmlp's plain momentum."""
    pytest.importorskip("sklearn")
    train, test = tta.learnable_synthetic(96, 50, seed=3)
    settings = tta.settings_for(layer_sizes=(784, 16, 10), learning_rate=0.3)
    nesterov = type("Nesterov", (tta.SklearnTrainer,), {})
    original = tta.SklearnTrainer.__init__

    def init(self, *args):
        original(self, *args)
        self.model.set_params(nesterovs_momentum=True)

    nesterov.__init__ = init
    check = tta.same_maths([tta.FastmlpTrainer, nesterov], train, test, settings, n_samples=96)
    assert check["contenders"]["scikit-learn"]["max_abs_diff_to_fastmlp"] > 1e-4


def test_summarise_picks_the_fastest_peer_that_reached():
    runs = {"fastmlp": {"seconds_to_target": 2.0, "median_epoch_seconds": 0.5},
            "pytorch": {"seconds_to_target": 9.0, "median_epoch_seconds": 1.0},
            "scikit-learn": {"seconds_to_target": 6.0, "median_epoch_seconds": 1.5},
            "other": {"seconds_to_target": None, "median_epoch_seconds": 2.0}}
    assert tta.summarise(runs) == {"best_peer": "scikit-learn", "best_peer_seconds": 6.0, "speedup": 3.0,
                                   "epoch_speedup": 2.0}
    runs["fastmlp"]["seconds_to_target"] = None
    assert tta.summarise(runs)["speedup"] is None
    assert tta.summarise({"fastmlp": {"seconds_to_target": 1.0}})["best_peer"] is None


def test_quick_run_json_and_report(tmp_path):
    path = tmp_path / "tta.json"
    done = subprocess.run([sys.executable, "-m", "fastmlp", "bench", "--time-to-accuracy", "--quick", "--epochs", "2",
                           "--repeat", "2", "--json", str(path)],
                          capture_output=True, text=True, timeout=600, env=child_env())
    assert done.returncode == 0, done.stderr
    result = json.loads(path.read_text())
    names = [trainer.name for trainer in tta.available()]
    assert list(result["runs"]) == names and result["n_train"] == tta.QUICK["n_train"]
    assert result["settings"]["layer_sizes"] == [784, 256, 10] and result["settings"]["learning_rate"] == 0.05
    for name, run in result["runs"].items():
        assert len(run["accuracy"]) == len(run["seconds"]) == 2, name
        assert 0 < run["seconds"][0] < run["seconds"][1], name
        assert run["seconds"][1] == pytest.approx(sum(run["epoch_seconds"])), name
        reached = next((i for i, a in enumerate(run["accuracy"]) if a >= 0.88), None)
        assert run["epochs_to_target"] == (None if reached is None else reached + 1), name
        if reached is not None:
            assert run["seconds_to_target"] == run["seconds"][reached], name
        assert result["same_maths"]["contenders"][name]["start_max_abs_diff"] == 0.0
    peers = {n: r["seconds_to_target"] for n, r in result["runs"].items() if n != "fastmlp" and r["seconds_to_target"]}
    if peers and result["runs"]["fastmlp"]["seconds_to_target"]:
        assert result["speedup"] == pytest.approx(min(peers.values()) / result["runs"]["fastmlp"]["seconds_to_target"])
    fastest_epoch = min(r["median_epoch_seconds"] for n, r in result["runs"].items() if n != "fastmlp")
    assert result["epoch_speedup"] == pytest.approx(fastest_epoch / result["runs"]["fastmlp"]["median_epoch_seconds"])
    assert "time to 0.88" in done.stdout and "same weights" in done.stdout
    fastmlp = result["runs"]["fastmlp"]
    assert ("bound" in result) == bool(fastmlp["epochs_to_target"]), "the FLOP bound comes with fastmlp's epochs"
    if "bound" in result:  # the arithmetic of 784-256-10, batch 32: n_train samples and n_test evaluated per epoch
        bound, epochs = result["bound"], fastmlp["epochs_to_target"]
        macs = 784 * 256 + 256 * 10
        train = result["n_train"] * 2 * (2 * macs + 256 * 10) + -(-result["n_train"] // 32) * 2 * (785 * 256 + 257 * 10)
        assert bound["flops"] == epochs * (train + result["n_test"] * 2 * macs)
        assert bound["floor_seconds"] == pytest.approx(bound["flops"] / bound["matmul_flops_per_s"])
        assert bound["share"] == pytest.approx(bound["floor_seconds"] / fastmlp["seconds_to_target"])
        if result["best_peer_seconds"]:
            assert bound["aimed_share"] == pytest.approx(5 * bound["floor_seconds"] / result["best_peer_seconds"])
        assert f"fastmlp ran at {bound['share']:.0%}" in done.stdout
    assert result["machine"]["kernel_target"]["cpu_name"] in done.stdout
    races = result["races"]  # two races; the table and the headline are the median one's (the slower of the two)
    assert len(races) == 2 and races[result["median_race"] - 1]["speedup"] == result["speedup"]
    assert races[result["median_race"] - 1]["seconds_to_target"] == {n: r["seconds_to_target"]
                                                                      for n, r in result["runs"].items()}
    if all(race["speedup"] for race in races):
        assert result["speedup"] == min(race["speedup"] for race in races)
    assert f"The table is race {result['median_race']} of 2" in done.stdout


def test_the_median_race_is_reported():
    assert tta.median_race([{"speedup": s} for s in (3.0, 5.0, 4.0)]) == 2
    assert tta.median_race([{"speedup": s} for s in (None, 2.0, 1.0)]) == 2  # no speed-up: the slowest
    assert tta.median_race([{"speedup": s} for s in (2.0, 1.0)]) == 1  # even: the lower of the middle two
    assert tta.median_race([{"speedup": None}]) == 0


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--repeat", "0"], ["--target-accuracy", "1.5"],
                                  ["--plot", "x.png"]])
def test_bad_options_exit_2(argv, capsys):
    assert bench_main(["--time-to-accuracy", "--quick", *argv]) == 2
    assert "fastmlp bench:" in capsys.readouterr().err


def test_learnable_synthetic_is_uint8_and_seeded():
    (X, y), (X_test, y_test) = tta.learnable_synthetic(30, 10, seed=1)
    assert X.dtype == np.uint8 and X.shape == (30, 784) and y.dtype == np.int64 and X_test.shape == (10, 784)
    np.testing.assert_array_equal(tta.learnable_synthetic(30, 10, seed=1)[0][0], X)


def test_fastmlp_reports_the_threads_it_trains_on(monkeypatch):
    """The race's record names the team fastmlp trains on by default: Numba's pool capped by this process's
    share of the cores (it named Numba's pool, two threads also where the process may run on one CPU)."""
    from fastmlp.bench.peers import Fastmlp

    monkeypatch.setattr(Fastmlp, "team_threads", staticmethod(lambda: 1))
    train, test = tta.learnable_synthetic(32, 8, seed=0)
    trainer = tta.FastmlpTrainer(tta.glorot((784, 4, 10), "float32", 0), train, test,
                                 tta.settings_for(layer_sizes=(784, 4, 10)))
    assert trainer.threads() == 1
    with trainer.limit(2):
        assert trainer.threads() == 2

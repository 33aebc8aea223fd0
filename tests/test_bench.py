"""fastmlp bench: a quick run's JSON, the NumPy peer's correctness, FLOP counting and the README table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.bench import main as bench_main
from fastmlp.bench import report, roofline
from fastmlp.bench.peers import Numpy, NumpyMLP
from fastmlp.bench.startup import spawn

from conftest import assert_close

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import readme_table  # noqa: E402

LOSSES = ["softmax_cross_entropy", "mse", "sigmoid_cross_entropy"]


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    assert bench_main(["--quick", "--json", str(path)]) == 0
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------ the quick run
def test_quick_run_json_structure(quick_result):
    result = quick_result
    assert {"machine", "settings", "roofline", "training", "prediction", "targets", "peers"} <= set(result)
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert "numpy" in result["peers"]
    assert result["roofline"]["float32"]["flops"] > 1e8
    (row,) = result["training"]
    assert (row["network"], row["dtype"], row["batch_size"], row["samples"]) == ("784-100-10", "float32", 32, 512)
    for name in ["fastmlp", "fastmlp 1 thread", *result["peers"]]:
        record = row["results"][name]
        assert record["samples_per_s"] > 0 and record["variant"] is not None
        timed = record["variants"][record["variant"]]
        assert len(timed["seconds"]) == 1 and timed["samples"] == 512
    assert row["best_peer"] in result["peers"]
    assert row["ratio"] == pytest.approx(row["fastmlp_samples_per_s"] / row["best_peer_samples_per_s"])
    assert row["roofline_share"] == pytest.approx(
        row["fastmlp_samples_per_s"] * row["flops"] / row["samples"] / row["roofline_flops"])
    assert row["thread_scaling"] > 0
    (predicted,) = result["prediction"]
    assert predicted["samples"] == 10000 and predicted["ratio"] > 0
    measured = {t["target"]: t for t in result["targets"]}
    assert measured["784-100-10 float32 batch 32: vs best peer"]["met"] == (row["ratio"] >= 2.5)
    assert measured["784-100-10 float32 batch 1: vs best peer"]["met"] is None  # not in a quick run
    assert "fastmlp bench on" in report.text_report(result)


def test_bench_rejects_unknown_network(capsys):
    assert bench_main(["--quick", "--networks", "784-7-10"]) == 2
    assert "unknown networks" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the NumPy peer
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", LOSSES)
def test_numpy_peer_matches_fastmlp_step(loss, dtype):
    """One SGD step on the same minibatch from the same weights gives the same weights: a fair peer."""
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (13, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, 13)
    net = MLP([784, 9, 7, 10], loss=loss, dtype=dtype, random_state=2)
    peer = NumpyMLP(net.thetas(), loss)
    X_peer, targets = Numpy().prepare(X, labels, dtype, loss)
    summed = peer.step(X_peer, targets, 0.7)
    net.fit(X, labels, epochs=1, batch_size=13, learning_rate=0.7, shuffle=False)
    assert summed / 13 == pytest.approx(net.loss_curve_[0], rel=1e-5)
    for theta_peer, theta in zip(peer.thetas(), net.thetas()):
        assert theta_peer.dtype == np.dtype(dtype)
        assert_close(theta_peer, theta, dtype)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_numpy_peer_learns(loss):
    rng = np.random.default_rng(0)
    prototypes = rng.integers(0, 256, (10, 784))
    labels = rng.integers(0, 10, 600)
    X = np.clip(prototypes[labels] + rng.normal(0, 40, (600, 784)), 0, 255).astype(np.uint8)
    peer = Numpy()
    model = peer.build([784, 15, 10], loss, "float32", 0)
    data = peer.prepare(X, labels, "float32", loss)
    losses = [peer.train_epoch(model, data, 10, 0.5) for _ in range(5)]
    assert losses[-1] < 0.5 * losses[0]
    assert np.mean(peer.predict(model, data) == labels) > 0.9


def test_sigmoid_does_not_warn_at_large_inputs():
    z = np.array([[-1000.0, 0.0, 1000.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        out = NumpyMLP([np.zeros((3, 4), np.float32)], "mse").output(z)
    np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])


# ------------------------------------------------------------------------------------ FLOP counting
def test_flops_by_hand():
    # 784-100-10: forward 784*100 + 100*10 = 79,400 MACs; weight gradient the same; deltas propagate
    # through the second layer only: 100*10 = 1,000. 2 x 159,800 = 319,600 FLOPs per sample.
    assert roofline.sample_flops([784, 100, 10]) == 319_600
    assert roofline.n_params([784, 100, 10]) == 79_510
    # 784-256-128-10: forward 200,704 + 32,768 + 1,280 = 234,752; deltas 32,768 + 1,280 = 34,048.
    assert roofline.sample_flops([784, 256, 128, 10]) == 2 * (2 * 234_752 + 34_048)
    # 60,000 samples at batch 128: 469 updates (the last one of 96 samples), each 2 x 79,510 FLOPs.
    assert roofline.epoch_flops([784, 100, 10], 60_000, 128) == 60_000 * 319_600 + 469 * 2 * 79_510
    assert roofline.predict_flops([784, 15, 10]) == 2 * (784 * 15 + 15 * 10)


# ------------------------------------------------------------------------------------ the README table
def test_readme_table_renders_and_replaces_only_its_block(quick_result, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Benchmarks\n\nIntro.\n\n## Next\n\nkept\n")
    argv = [str(tmp_path / "bench.json"), "--readme", str(readme)]
    (tmp_path / "bench.json").write_text(json.dumps(quick_result))
    assert readme_table.main(argv) == 0
    first = readme.read_text()
    assert first.index("Intro.") < first.index(readme_table.START) < first.index("## Next")
    assert first.endswith("## Next\n\nkept\n")
    block = first.split(readme_table.START)[1].split(readme_table.END)[0]
    assert "| 784-100-10 | float32 | 32 | 512 |" in block
    assert quick_result["machine"]["cpu"] in block
    assert "| 784-100-10 float32 batch 32: vs best peer | >= 2.5x |" in block
    readme.write_text(first.replace("How the kernels", "How our kernels"))  # a later hand edit survives
    assert readme_table.main(argv) == 0
    assert readme.read_text() == first.replace("How the kernels", "How our kernels")


# ------------------------------------------------------------------------------------ memory and start-up
def test_startup_child_reports_memory_and_cache():
    run = spawn(None, 128, 0.1, synthetic=True)
    assert run["data"] == "synthetic" and run["data_mb"] == pytest.approx(60000 * 784 / 2**20)
    assert run["first_fit_seconds"] > 0 and run["second_fit_seconds"] > 0
    assert run["peak_rss_above_loaded_mb"] > 0
    assert run["cache_misses"] >= 0 and isinstance(run["kernels_compiled"], list)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_torch_peer_trains_same_network():
    from fastmlp.bench.peers import Torch

    peer = Torch()
    model = peer.build([784, 15, 10], "mse", "float64", 0)
    assert [tuple(p.shape) for p in model.parameters()] == [(15, 784), (15,), (10, 15), (10,)]
    assert next(model.parameters()).dtype == peer.torch.float64

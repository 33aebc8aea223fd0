"""fastmlp.bench.peers: the NumPy peer does fastmlp's arithmetic and learns; the PyTorch peer builds the same
network."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.bench import peers, trainers
from fastmlp.bench.peers import Numpy, NumpyMLP

from cases import assert_close
from child_env import child_env

LOSSES = ["softmax_cross_entropy", "mse", "sigmoid_cross_entropy"]


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


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_torch_peer_trains_same_network():
    from fastmlp.bench.peers import Torch

    peer = Torch()
    model = peer.build([784, 15, 10], "mse", "float64", 0)
    assert [tuple(p.shape) for p in model.parameters()] == [(15, 784), (15,), (10, 15), (10,)]
    assert next(model.parameters()).dtype == peer.torch.float64


def test_peers_asked_for_must_be_known_installed_and_racing(monkeypatch):
    from fastmlp.bench import suite, trainers

    with pytest.raises(ValueError, match="unknown peers \\['foo'\\]"):  # --time-to-accuracy ignored it before
        trainers.available(["foo"])
    with pytest.raises(ValueError, match="not numpy"):  # raced fastmlp alone before
        trainers.available(["numpy"])
    find_spec = importlib.util.find_spec
    absent = {"torch", "onnx"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in absent else find_spec(name, *a))
    with pytest.raises(ValueError, match="--peers pytorch: not installed \\(pip install torch\\)"):
        trainers.available(["pytorch"])
    with pytest.raises(ValueError, match="--peers pytorch: not installed"):  # measured without it before
        suite.run_suite(networks=["784-15-10"], dtypes=["float32"], batch_sizes=[32], peer_names=["torch"],
                        synthetic=True, verbose=False)
    # ONNX Runtime's peer exports the graph with the onnx package: it names that one, even with onnxruntime there.
    message = "--peers onnxruntime, pytorch: not installed \\(pip install onnx torch\\)"
    with pytest.raises(ValueError, match=message if find_spec("onnxruntime") else "pip install onnxruntime onnx torch"):
        suite.run_suite(networks=["784-15-10"], dtypes=["float32"], batch_sizes=[32], peer_names=["ort", "torch"],
                        synthetic=True, verbose=False)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity and two CPUs to restrict it to one")
def test_peers_try_the_cpus_the_process_may_run_on():
    """Held to one CPU (a cpuset, taskset), every contender's "all threads" is that one: no "2 threads" setting
    timed on one CPU, no duplicate runs of one setting, and the time-to-accuracy trials alike."""
    code = ("import os, json; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from fastmlp.bench import peers, trainers; "
            "print(json.dumps([peers.ALL_THREADS, peers.Numpy.variants, peers.OnnxRuntime.variants, "
            "trainers.FastmlpTrainer.thread_options, trainers.TorchTrainer.thread_options, "
            "trainers.SklearnTrainer.thread_options]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=child_env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["1 thread", ["1 thread"], ["1 thread"], [1], [1], [1]]
    all_cpus = len(os.sched_getaffinity(0))
    assert f"{all_cpus} threads" == peers.ALL_THREADS and peers.Numpy.variants == ("1 thread", peers.ALL_THREADS)
    assert trainers.TorchTrainer.thread_options == (1, all_cpus)

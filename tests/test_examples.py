"""Every script in examples/ runs and prints what its lecture step promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from child_env import child_env
from idx_data import fashion_slice
from markers import needs_compiled_kernels

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args):
    done = subprocess.run([sys.executable, "-W", "error", str(EXAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=child_env())
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_is_tested():
    tested = {"01_perceptron.py", "02_xor_two_layers.py", "03_mnist_forward.py", "04_costs.py",
              "05_computational_graph.py", "06_training_loop.py",
              "07_sklearn_pipeline.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_perceptron(tmp_path):
    out = run_example("01_perceptron.py", "--plot-dir", tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("AND: targets [0, 0, 0, 1]  predictions [0, 0, 0, 1]")
    assert "OR: targets [0, 1, 1, 1]  predictions [0, 1, 1, 1]" in out
    xor = out[out.index("XOR:"):]
    assert "cannot separate the data" in xor and "NotSeparableWarning issued" in xor
    assert out.count("converged after") == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"perceptron_{n}.png" for n in ("and", "or", "xor")]


def test_xor_two_layers():
    out = run_example("02_xor_two_layers.py")
    outputs = [float(v) for v in re.findall(r"network output (\S+)", out)]
    assert len(outputs) == 4 and [round(v) for v in outputs] == [0, 1, 1, 0]
    assert out.count("accuracy 1.00") == 2
    assert "predictions [0, 1, 1, 0]" in out


@needs_compiled_kernels
def test_mnist_forward_shapes_then_training(tmp_path):
    data = fashion_slice(tmp_path / "idx", 1000, 200)
    out = run_example("03_mnist_forward.py", data, "--epochs", 2)
    shapes = re.findall(r"^  a\d = .*?(\d+x1)", out, re.M)
    assert shapes == ["785x1", "16x1", "10x1"]
    assert "(w1: 15x785)" in out and "(w2: 10x16)" in out
    difference = float(re.search(r"max difference to the lecture's (\S+)", out).group(1))
    assert difference < 1e-12
    assert "training 784-15-10 by SGD on 1,000 images (2 epochs" in out
    assert float(re.search(r"test accuracy (\S+) on 200 images", out).group(1)) > 0.3


def test_the_three_costs():
    out = run_example("04_costs.py")
    values = re.findall(r"formula (\S+)\s+fastmlp (\S+)", out)
    assert len(values) == 3
    expected = [0.14, 0.685179, 0.356675]  # 0.09 + 0.04 + 0.01; -ln .7 - ln .8 - ln .9; -ln .7
    for (formula, ours), value in zip(values, expected):
        assert float(formula) == pytest.approx(value, abs=1e-6) and float(ours) == pytest.approx(value, abs=1e-6)
    out = run_example("04_costs.py", "--prediction", "0.25,0.75", "--target", "0,1")
    formula, ours = re.findall(r"softmax cross-entropy.*formula (\S+)\s+fastmlp (\S+)", out)[0]
    assert float(formula) == float(ours) == pytest.approx(0.287682, abs=1e-6)  # -ln 0.75


def test_computational_graph():
    out = run_example("05_computational_graph.py")
    assert "q = x + y = 3,  f = q * z = -12" in out
    assert "df/dx = -4 " in out and "df/dy = -4 " in out and "df/dz = 3 " in out
    assert "chain rule confirmed" in out


@needs_compiled_kernels
def test_training_loop_by_hand_equals_fit():
    out = run_example("06_training_loop.py", "--epochs", 2)
    difference = float(re.search(r"largest weight difference, by hand vs MLP.fit: (\S+)", out).group(1))
    assert difference < 1e-8
    assert len(re.findall(r"by hand, epoch \d: mean loss", out)) == 2


@needs_compiled_kernels
def test_sklearn_pipeline(tmp_path):
    out = run_example("07_sklearn_pipeline.py", "--max-iter", 30, "--save", tmp_path / "digits.npz")
    assert "grid search: 4 settings x 3 folds on 2 workers" in out
    assert len(re.findall(r"mean validation accuracy (\S+)", out)) == 4
    assert float(re.search(r"test accuracy of the best pipeline: (\S+)", out).group(1)) > 0.9
    assert "loaded back as MLPClassifier, same probabilities: True" in out
    assert (tmp_path / "digits.npz").is_file()

"""The fastmlp command: train, evaluate, predict, info, bench; progress output; errors as one line."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from idx_data import fashion_slice, needs_compiled_kernels

import fastmlp
from fastmlp.cli import main
from fastmlp.progress import Progress

COMMANDS = ["train", "evaluate", "predict", "info", "bench"]


def run_cli(*args, timeout=300):
    """``python -m fastmlp ARGS`` in a child process; returns (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "100"})
    return done.returncode, done.stdout, done.stderr


def call(capsys, *args):
    """``main(ARGS)`` in this process (the kernels are compiled once); returns (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return fashion_slice(tmp_path_factory.mktemp("fashion"), 3000, 500)


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    assert main(["train", "digits", "--epochs", "15", "--save", str(path), "--quiet"]) == 0
    return path


# ------------------------------------------------------------------------------------------------ help
@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help_with_examples(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert f"usage: fastmlp {command}" in out
    assert "examples:" in out and f"fastmlp {command}" in out.split("examples:")[1]


def test_top_level_help_and_version(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"fastmlp {fastmlp.__version__}"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "fastmlp"
    assert script.exists(), "pip install -e . declares the fastmlp console script"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "train" in done.stdout


# ------------------------------------------------------------------------------------------------ train
@needs_compiled_kernels
def test_train_on_an_idx_directory(capsys, idx_dir):
    code, out, err = call(capsys, "train", idx_dir, "--epochs", 3, "--progress", "lines")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{idx_dir}: 2,700 train, 300 validation, 500 test samples, 10 classes"
    assert lines[1].startswith("network 784-100-10 (79,510 parameters), softmax_cross_entropy, float32")
    epochs = [line for line in lines if line.startswith("epoch")]
    assert len(epochs) == 3
    for k, line in enumerate(epochs, 1):
        assert re.fullmatch(rf"epoch {k}/3  loss \d\.\d{{4}}  val_accuracy \d\.\d{{4}}  [\d.]+k? samples/s", line), line
    final = re.fullmatch(r"test accuracy (\d\.\d{4}) on 500 samples; ([\d,]+) samples/s \(3 epochs in [\d.]+ s\)",
                         lines[-1])
    assert final, lines[-1]
    assert float(final.group(1)) > 0.6  # 3 epochs on 2,700 images
    assert int(final.group(2).replace(",", "")) > 0


def test_train_xor_with_every_plot(capsys, tmp_path):
    curves, regions = tmp_path / "curves.png", tmp_path / "regions.png"
    code, out, err = call(capsys, "train", "xor", "--hidden", "3", "--plot", curves, "--plot-regions", regions)
    assert code == 0, err
    assert "network 2-3-2" in out and "500 epochs" in out
    assert "test accuracy 1.0000 on 4 samples" in out
    assert len([line for line in out.splitlines() if line.startswith("epoch")]) == 26  # 1, 20, 40, ..., 500
    image = pytest.importorskip("matplotlib.image")
    for path in (curves, regions):
        pixels = image.imread(path)
        assert pixels.ndim == 3 and pixels[..., :3].var() > 1e-4


@needs_compiled_kernels
def test_train_images_plots_and_options(capsys, tmp_path, idx_dir):
    weights, grid = tmp_path / "weights.png", tmp_path / "grid.png"
    code, out, err = call(capsys, "train", "mnist", "--data-dir", idx_dir, "--hidden", "16,12", "--epochs", 2,
                          "--batch-size", 64, "--lr", 0.5, "--momentum", 0.5, "--nesterov", "--weight-decay", 1e-4,
                          "--threads", 1, "--seed", 3, "--validation", 0.2,
                          "--plot-weights", weights, "--plot-predictions", grid)
    assert code == 0, err
    assert "mnist: 2,400 train, 600 validation, 500 test samples" in out
    assert "network 784-16-12-10" in out and "batch 64" in out and "1 threads" in out
    image = pytest.importorskip("matplotlib.image")
    assert image.imread(weights).shape[:2] == (450, 450)  # 16 units: a 4x4 grid
    assert image.imread(grid).shape[:2] == (900, 800)  # 25 images: a 5x5 grid


def test_quiet_prints_only_the_result(capsys):
    code, out, _ = call(capsys, "train", "or", "--quiet")
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("test accuracy 1.0000")
    code, out, _ = call(capsys, "train", "or", "--log-every", 100)
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == [
        "1/500", "100/500", "200/500", "300/500", "400/500", "500/500"]


@needs_compiled_kernels
def test_same_seed_same_result_in_float64(capsys):
    first = call(capsys, "train", "digits", "--epochs", 3, "--dtype", "float64")[1]
    second = call(capsys, "train", "digits", "--epochs", 3, "--dtype", "float64", "--quiet")[1]
    assert "float64" in first
    assert first.splitlines()[-1].split(";")[0] == second.split(";")[0]


@pytest.mark.slow
@needs_compiled_kernels
def test_default_train_is_the_main_job():
    """`fastmlp train` with no options: 784-100-10 on Fashion-MNIST, >= 0.85 test accuracy, samples/s."""
    code, out, err = run_cli("train", "--progress", "lines")
    assert code == 0, err
    assert out.startswith("fashion-mnist: 54,000 train, 6,000 validation, 10,000 test samples, 10 classes")
    assert "network 784-100-10" in out
    assert len(re.findall(r"^epoch +\d+/10 ", out, re.M)) == 10
    accuracy, rate = re.search(r"test accuracy (\S+) on 10,000 samples; ([\d,]+) samples/s", out).groups()
    assert float(accuracy) >= 0.85
    assert int(rate.replace(",", "")) > 1000


# ----------------------------------------------------------------------------------- evaluate, predict
@needs_compiled_kernels
def test_evaluate_a_saved_model(capsys, digits_model):
    code, out, err = call(capsys, "evaluate", digits_model, "digits")
    assert code == 0, err
    accuracy = float(re.search(r"accuracy (\S+),", out).group(1))
    net = fastmlp.load(digits_model)
    (_, _), (X_test, y_test) = fastmlp.datasets.load("digits")
    assert accuracy == pytest.approx(net.score(X_test, y_test), abs=1e-4)
    assert accuracy > 0.9 and "359 samples" in out and "64-64-10" in out
    code, out, _ = call(capsys, "evaluate", digits_model, "digits", "--split", "train")
    assert code == 0 and "1,438 samples" in out


@needs_compiled_kernels
def test_predict_to_csv_npy_and_stdout(capsys, tmp_path, digits_model):
    net = fastmlp.load(digits_model)
    X = fastmlp.datasets.load("digits").test[0]
    np.save(tmp_path / "samples.npy", X[:20])
    expected = net.predict(X[:20])
    code, _, err = call(capsys, "predict", digits_model, tmp_path / "samples.npy", "-o", tmp_path / "labels.csv")
    assert code == 0 and "wrote labels of 20 samples" in err
    table = np.loadtxt(tmp_path / "labels.csv", delimiter=",", skiprows=1, dtype=np.int64)
    assert (tmp_path / "labels.csv").read_text().startswith("label\n")
    np.testing.assert_array_equal(table, expected)

    code, _, _ = call(capsys, "predict", digits_model, tmp_path / "samples.npy", "--proba", "-o", tmp_path / "p.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), net.predict_proba(X[:20]))

    code, out, _ = call(capsys, "predict", digits_model, "digits", "--proba")
    rows = out.splitlines()
    assert code == 0 and rows[0] == "label," + ",".join(f"p{j}" for j in range(10)) and len(rows) == 360
    proba = np.array([row.split(",") for row in rows[1:]], dtype=float)
    np.testing.assert_array_equal(proba[:, 0], net.predict(X))
    np.testing.assert_allclose(proba[:, 1:].sum(axis=1), 1, atol=1e-4)


@needs_compiled_kernels
def test_predict_idx_images(capsys, tmp_path, idx_dir):
    model = tmp_path / "fashion.npz"
    assert call(capsys, "train", idx_dir, "--epochs", 1, "--hidden", 8, "--save", model, "-q")[0] == 0
    code, out, err = call(capsys, "evaluate", model, "fashion-mnist", "--data-dir", idx_dir,
                          "--plot-weights", tmp_path / "w.png", "--plot-predictions", tmp_path / "p.png")
    assert code == 0, err
    assert "on fashion-mnist test split" in out and "(500 samples)" in out and out.count("wrote ") == 2
    image = pytest.importorskip("matplotlib.image")
    assert image.imread(tmp_path / "w.png").shape[:2] == (350, 350)  # 8 units: a 3x3 grid
    assert image.imread(tmp_path / "p.png")[..., :3].var() > 1e-4
    images = idx_dir / "t10k-images-idx3-ubyte.gz"
    code, out, _ = call(capsys, "predict", model, images)
    labels = np.array(out.split()[1:], dtype=np.int64)
    assert code == 0 and labels.shape == (500,)
    np.testing.assert_array_equal(labels, fastmlp.load(model).predict(fastmlp.datasets.read_features(images)))

    # A reader that stops early (| head): no traceback, no error message.
    child = subprocess.Popen([sys.executable, "-m", "fastmlp", "predict", str(model), "fashion-mnist", "--proba"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().startswith("label,p0")
    child.stdout.close()
    errors = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=120) == 1 and errors == ""


# ------------------------------------------------------------------------------------------------ info, bench
def test_info(capsys):
    code, out, _ = call(capsys, "info")
    import numba

    assert code == 0
    facts = dict(line.split(":", 1) for line in out.splitlines())
    assert facts["fastmlp"].strip() == fastmlp.__version__ and facts["numba"].strip() == numba.__version__
    assert facts["threading layer"].split()[0] in ("tbb", "omp", "workqueue")
    assert facts["cores"].strip().startswith(str(os.cpu_count()))
    assert facts["kernel cache"].strip()


def test_bench_says_when_its_module_is_missing(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastmlp.bench", None)
    monkeypatch.delattr(fastmlp, "bench", raising=False)
    code, _, err = call(capsys, "bench")
    assert code == 1 and "fastmlp bench: not available" in err


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("args, message", [
    (["train", "cifar"], "unknown dataset 'cifar'"),
    (["train", "/no/such/dir/"], "not a dataset directory"),
    (["train", "xor", "--lr", "-1"], "learning_rate must be > 0"),
    (["train", "xor", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "xor", "--batch-size", "0"], "batch_size must be >= 1"),
    (["train", "xor", "--momentum", "1"], "momentum must be in [0, 1)"),
    (["train", "xor", "--hidden", "ten"], "--hidden takes layer sizes"),
    (["train", "xor", "--validation", "1.5"], "--validation must be in [0, 1)"),
    (["train", "xor", "--threads", "999"], "n_threads must be <="),
    (["train", "xor", "--plot-weights", "w.png"], "need image data"),
    (["train", "digits", "--plot-regions", "r.png"], "needs 2 input features"),
    (["train", "xor", "--plot", "curves.pdf"], "must end in .png"),
    (["train", "xor", "--save", "/no/such/dir/model.npz"], "its directory does not exist"),
    (["evaluate", "/no/such/model.npz", "xor"], "No such file"),
    (["predict", "/no/such/model.npz", "xor"], "No such file"),
])
def test_user_errors_are_one_line(capsys, args, message):
    code, out, err = call(capsys, *args)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"fastmlp {args[0]}: error: ") and message in err, err
    assert "Traceback" not in err and out == ""


@needs_compiled_kernels
def test_model_and_data_errors(capsys, tmp_path, digits_model):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    code, _, err = call(capsys, "evaluate", bad, "digits")
    assert code == 1 and err.startswith("fastmlp evaluate: error: ") and err.count("\n") == 1
    code, _, err = call(capsys, "evaluate", digits_model, "xor")  # 2 features for a 64-input model
    assert code == 1 and "2 features" in err and "64" in err
    code, _, err = call(capsys, "predict", digits_model, "digits", "-o", tmp_path / "out.txt")
    assert code == 1 and "must end in .csv or .npy" in err


def test_errors_in_a_real_process_have_no_traceback():
    code, out, err = run_cli("train", "no-such-dataset")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [err.strip()] and "unknown dataset" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--epochs", "many")  # argparse: usage and the error, exit 2
    assert code == 2 and "invalid int value: 'many'" in err


# ------------------------------------------------------------------------------------------------ progress
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(3, stream=stream)
    for epoch in (1, 2, 3):
        progress.update(epoch, loss=1.0 / epoch, seconds=0.5, n_samples=1000, val_accuracy=0.5)
    progress.close()
    assert progress.mode == "lines"
    assert stream.getvalue().splitlines() == [
        f"epoch {k}/3  loss {1 / k:.4f}  val_accuracy 0.5000  2.0k samples/s" for k in (1, 2, 3)]
    assert progress.samples_per_second == pytest.approx(2000)


def test_progress_bar_on_a_terminal():
    stream = FakeTerminal()
    progress = Progress(4, stream=stream)
    assert progress.mode == "bar"
    progress.update(1, loss=0.5, seconds=0.01, n_samples=50_000)
    assert "\r" not in stream.getvalue() and "[######------------------] 1/4  loss 0.5000  5.00M samples/s" in \
        stream.getvalue()
    progress.update(2, loss=0.25, seconds=0.01, n_samples=50_000)
    progress.close()
    text = stream.getvalue()
    assert text.count("\r\033[K") == 2  # the bar is erased before each new line and at the end
    permanent = re.sub(r"\[[#-]+\][^\n]*?(\r\033\[K|$)", "", text)
    assert permanent.splitlines() == ["epoch 1/4  loss 0.5000  5.00M samples/s",
                                      "epoch 2/4  loss 0.2500  5.00M samples/s"]


def test_progress_quiet_and_thinned():
    stream = io.StringIO()
    quiet = Progress(5, stream=stream, mode="quiet")
    quiet.update(1, loss=1.0, seconds=1.0, n_samples=10)
    assert stream.getvalue() == "" and quiet.samples_per_second == 10
    thinned = Progress(1000, stream=stream, mode="lines")
    for epoch in range(1, 1001):
        thinned.update(epoch, loss=1.0, seconds=1.0, n_samples=10)
    epochs = [int(line.split()[1].split("/")[0]) for line in stream.getvalue().splitlines()]
    assert epochs == [1] + list(range(40, 1001, 40))
    assert Progress(100, mode="lines").every == 1 and Progress(7, mode="lines", every=3).every == 3
    with pytest.raises(ValueError, match="every must be >= 1"):
        Progress(1, every=0)
    with pytest.raises(ValueError, match="progress mode"):
        Progress(1, mode="fancy")


def test_progress_bar_on_a_real_terminal():
    """Under a pseudo-terminal the bar is drawn and erased; the per-epoch lines and the result stay."""
    pty = pytest.importorskip("pty")
    controller, terminal = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "fastmlp", "train", "and", "--epochs", "40"],
                             stdout=terminal, stderr=subprocess.PIPE, text=True, env={**os.environ})
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    errors = child.communicate(timeout=300)[1]
    os.close(controller)
    assert child.returncode == 0, errors
    text = b"".join(chunks).decode()
    assert "[####" in text and "ETA" in text and "\r\x1b[K" in text
    assert re.search(r"(^|\x1b\[K)epoch 40/40  loss \S+  \S+ samples/s\r\n", text, re.M)
    assert "test accuracy 1.0000 on 4 samples" in text

"""fastmlp.cli.train: training on every kind of dataset, its options, plots and output."""

from __future__ import annotations

import re

import pytest

from cli_calls import call, run_cli
from markers import needs_compiled_kernels


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


def test_stop_message_names_what_stopped_the_run(capsys):
    """--convergence stops on the training loss and restores nothing; early stopping on the validation score."""
    code, out, err = call(capsys, "train", "xor", "--convergence")
    assert code == 0, err
    assert out.splitlines()[-1].endswith("stopped improving (--convergence)")
    assert "the training loss" in out and "validation score" not in out and "restored" not in out
    code, out, err = call(capsys, "train", "or", "--early-stopping", "--validation", "0.5", "--epochs", 300)
    assert code == 0, err
    assert "the validation score stopped improving; restored the best weights" in out
    code, out, err = call(capsys, "train", "or", "--early-stopping", "--validation", "0.5", "--epochs", 300,
                          "--no-restore-best-weights")
    assert code == 0, err
    assert out.splitlines()[-1].endswith("the validation score stopped improving")


@pytest.mark.parametrize("options, message", [
    (["--lr", "-1"], "--learning-rate must be > 0, got -1.0"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--tol=-1"], "--tol must be >= 0, got -1"),
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum is an SGD setting; Adam uses --beta-1 and --beta-2"),
    (["--momentum", "0", "--nesterov"], "--nesterov needs --optimizer sgd and --momentum > 0"),
])
def test_bad_settings_are_named_by_their_options(capsys, options, message):
    code, out, err = call(capsys, "train", "xor", "--epochs", 1, *options)
    assert code == 1 and out == ""
    assert err == f"fastmlp train: error: {message}\n"


def test_divergence_names_the_options_to_lower(capsys):
    code, _, err = call(capsys, "train", "xor", "--weight-decay", 5, "--lr", 1, "--momentum", 0, "-q")
    assert code == 1
    assert "lower --weight-decay (it was 5) or --learning-rate (it was 1)" in err and "weight_decay" not in err


def test_help_gives_the_preset_as_the_default_of_preset_options(capsys):
    """--epochs, --batch-size, --lr and --momentum differ by dataset (digits: 30 epochs; xor: 500): their help
    says preset, not Fashion-MNIST's values, which `fastmlp train digits` would not use."""
    with pytest.raises(SystemExit):
        call(capsys, "train", "--help")
    text = " ".join(capsys.readouterr().out.split())
    for option, help_text in [("--epochs N", "passes over the training data"),
                              ("--momentum X", "SGD momentum as torch.optim.SGD (dampening 0)")]:
        assert f"{option} {help_text} (default: preset)" in text
    assert "--weight-decay X L2 coefficient added to the gradient of the weights (default: 0.0)" in text
    assert "digits: --hidden 64 --epochs 30" in text


def test_the_settings_line_names_adam_and_switches_as_words(capsys):
    code, out, err = call(capsys, "train", "xor", "--optimizer", "adam", "--lr", 0.01, "--epochs", 3,
                          "--early-stopping", "--validation", 0.5, "--no-shuffle")
    assert code == 0, err
    assert "; Adam: 3 epochs, batch 4, learning rate 0.01, no shuffle, early stopping; " in out, out


def test_validation_fraction_is_the_validation_split(capsys):
    """The command always gives fit its --validation split, so --validation-fraction (fit's share when it has
    no validation data) sets that split: it was ignored but shown as a setting of the run."""
    code, out, err = call(capsys, "train", "xor", "--validation-fraction", 0.5, "--epochs", 1)
    assert code == 0, err
    assert out.startswith("xor: 2 train, 2 validation, 4 test samples") and "validation fraction" not in out
    code, _, err = call(capsys, "train", "xor", "--validation-fraction", 0.5, "--validation", 0.25)
    assert code == 1 and "--validation and --validation-fraction both set the share held out" in err


def test_early_stopping_without_a_validation_split_is_refused(capsys):
    """The truth tables hold out nothing by default; early stopping there monitored a split nobody was told of."""
    code, out, err = call(capsys, "train", "xor", "--early-stopping")
    assert code == 1 and out == ""
    assert err == "fastmlp train: error: --early-stopping needs a validation split: --validation above 0 " \
                  "(xor has none by default)\n"
    code, _, err = call(capsys, "train", "xor", "--early-stopping", "--validation", 0)
    assert code == 1 and err.endswith("--validation above 0\n")


def test_one_epoch_is_one_epoch(capsys):
    code, out, err = call(capsys, "train", "or", "--epochs", 1)
    assert code == 0, err
    assert "SGD: 1 epoch, batch 4" in out and "(1 epoch in " in out and "1 epochs" not in out

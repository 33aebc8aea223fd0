"""fastmlp.cli: the command's help, version and console script, and user errors as one line without a traceback."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp.cli import main

from cli_calls import call, run_cli

COMMANDS = ["train", "evaluate", "predict", "info", "bench"]


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


def test_bench_says_when_its_module_is_missing(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastmlp.bench", None)
    monkeypatch.delattr(fastmlp, "bench", raising=False)
    code, _, err = call(capsys, "bench")
    assert code == 1 and "fastmlp bench: not available" in err


USER_ERRORS = [
    (["train", "cifar"], "unknown dataset 'cifar'"),
    (["train", "/no/such/dir/"], "not a dataset directory"),
    (["train", "xor", "--lr", "-1"], "--learning-rate must be > 0"),
    (["train", "xor", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "xor", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["train", "xor", "--momentum", "1.5"], "--momentum must be in [0, 1]"),
    (["train", "xor", "--hidden", "ten"], "--hidden takes layer sizes"),
    (["train", "xor", "--validation", "1.5"], "--validation must be in [0, 1)"),
    (["train", "xor", "--threads", "999"], "--threads must be <="),
    (["train", "xor", "--plot-weights", "w.png"], "need image data"),
    (["train", "digits", "--plot-regions", "r.png"], "needs 2 input features"),
    (["train", "xor", "--plot", "curves.pdf"], "must end in .png"),
    (["train", "xor", "--save", "/no/such/dir/model.npz"], "its directory does not exist"),
    (["evaluate", "/no/such/model.npz", "xor"], "No such file"),
    (["predict", "/no/such/model.npz", "xor"], "No such file"),
]


def test_user_errors_are_one_line(capsys, subtests):
    for args, message in USER_ERRORS:
        with subtests.test(args=" ".join(args)):
            code, out, err = call(capsys, *args)
            assert code == 1
            assert err.count("\n") == 1 and err.startswith(f"fastmlp {args[0]}: error: ") and message in err, err
            assert "Traceback" not in err and out == ""


def test_bad_data_files_and_outputs_are_one_line_before_training(capsys, tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "sparse.npz", X=np.zeros((40, 3)), y=np.arange(40) % 2 * 10**9)
    np.save(tmp_path / "none.npy", np.zeros((0, 3)))
    (tmp_path / "header.csv").write_text("a,b,label\n")
    (tmp_path / "one.csv").write_text("a,label\n1,cat\n2,cat\n3,cat\n")
    for args, message in [
        (["train", tmp_path / "one.csv", "--loss", "sigmoid_cross_entropy"], "every label is 'cat'; a classifier "
                                                                             "needs at least two classes"),
        (["train", tmp_path / "empty.npz"], "empty.npz: not a readable .npz file"),
        (["train", tmp_path / "sparse.npz"], "found 2 distinct labels up to 1e+09, which would need 1e+09 output"),
        (["train", tmp_path / "header.csv"], "header.csv: no data rows"),
        (["train", "xor", "--seed", "-1"], "--seed must be >= 0, got -1"),
        (["train", "xor", "--log-every", "0"], "--log-every must be >= 1, got 0"),
        (["train", "xor", "--save", "/proc/model.npz"], "/proc/model.npz: cannot create a file in its directory"),
    ]:
        code, out, err = call(capsys, *args)
        assert code == 1 and out == "" and err.count("\n") == 1 and message in err, (args, err)
    model = tmp_path / "m.npz"
    fastmlp.MLP([3, 2, 2]).save(model)
    code, _, err = call(capsys, "predict", model, tmp_path / "missing.npy")
    assert code == 1 and "missing.npy: no such file" in err
    code, _, err = call(capsys, "predict", model, tmp_path / "none.npy")
    assert code == 1 and "none.npy: holds no samples" in err
    code, _, err = call(capsys, "predict", model, tmp_path / "empty.npz")
    assert code == 1 and "empty.npz: not a readable .npz file" in err


def test_errors_in_a_real_process_have_no_traceback():
    code, out, err = run_cli("train", "no-such-dataset")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [err.strip()] and "unknown dataset" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--epochs", "many")  # argparse: usage and the error, exit 2
    assert code == 2 and "invalid int value: 'many'" in err


@pytest.mark.parametrize("module", ["fastmlp", "fastmlp.bench"])
def test_python_dash_m(capsys, monkeypatch, module):
    """``python -m fastmlp`` and ``python -m fastmlp.bench`` are the command and its bench subcommand."""
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_an_unknown_option_gets_its_commands_usage(capsys):
    """README: argparse's usage errors print the usage and exit 2; for a command's option, the command's usage
    (which lists its options), not the top-level one."""
    with pytest.raises(SystemExit) as exit_:
        main(["train", "xor", "--rate", "0.1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("usage: fastmlp train ") and "--learning-rate X" in err
    assert err.endswith("fastmlp train: error: unrecognized arguments: --rate 0.1\n")

"""fastmlp bench --kernels: the microkernels' GFLOP/s beside a one-thread BLAS gemm, on tiny sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastmlp._layout import lead_width
from fastmlp.bench import kernels, main


def test_measure_reports_both_uses_with_positive_rates():
    result = kernels.measure(dtypes=("float32",), repeat=1, min_time=0.0, n_samples=7, n_in=9, n_out=5)
    assert result["sizes"] == dict(n_samples=7, n_in=9, n_out=5)
    assert [(r["dtype"], r["use"]) for r in result["results"]] == [("float32", "forward"), ("float32", "gradient")]
    for r in result["results"]:
        assert r["kernel_gflops"] > 0 and r["blas_gflops"] > 0 and r["share"] > 0
    assert result["target"]["isa"] in ("avx512", "avx2", "portable")
    assert "float32" in kernels.text(result) and "gradient" in kernels.text(result)


def test_bench_kernels_quick_prints_the_target_and_writes_json(capsys, tmp_path):
    path = tmp_path / "kernels.json"
    assert main(["--kernels", "--quick", "--dtypes", "float64", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("target: ") and "float64  forward" in out and "float64  gradient" in out
    assert [r["dtype"] for r in json.loads(path.read_text())["results"]] == ["float64", "float64"]


# rows of the stored transpose: 16 units, whole lines back to back; 100, rounded up to whole lines; 256, 1 or 2 KB,
# two lines more
@pytest.mark.parametrize("n_out", [16, 100, 256])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_timed_calls_compute_the_products_blas_is_timed_on(dtype, n_out):
    """Each timed call computes what its BLAS twin does, on the model's layout (rows ``lead`` apart)."""
    assert (lead_width(n_out, np.dtype(dtype).itemsize) > n_out) == (n_out != 16)
    for use, (_, _, product) in kernels.problems(dtype, n_samples=13, n_in=40, n_out=n_out).items():
        ours, numpy = product()
        assert ours.shape == numpy.shape, use
        np.testing.assert_allclose(ours, numpy, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4, err_msg=use)


@pytest.mark.parametrize("argv, message", [
    (["--kernels", "--dtypes", "float16"], "unknown dtypes ['float16']"),  # Numba's NotImplementedError before
    (["--kernels", "--plot", "k.png"], "not --kernels"),  # ignored before
    (["--profile", "--networks", "abc"], "expected a network of 784 inputs such as 784-100-10, got 'abc'"),
    (["--profile", "--networks", "10-5-3"], "784 inputs"),
    (["--profile", "--networks", "784-100-10,784-15-10"], "one network and one dtype"),  # only the first before
    (["--profile", "--dtypes", "float32,float64"], "one network and one dtype"),
    (["--profile", "--batch-sizes", "0"], "batch sizes must be >= 1"),
    (["--profile", "--momentum", "1.5"], "--momentum must be >= 0 and <= 1, got 1.5"),
    (["--profile", "--momentum", "-0.5"], "--momentum must be >= 0 and <= 1, got -0.5"),
    (["--profile", "--momentum", "nan"], "--momentum must be >= 0 and <= 1, got nan"),
    (["--sklearn", "--sklearn-epochs", "0"], "--sklearn-epochs must be >= 1, got 0"),  # failed after the rest
    (["--sklearn", "--plot", "s.png"], "not --sklearn"),  # ignored before
])
def test_sklearn_kernels_and_profile_options_are_checked_first(argv, message, capsys):
    assert main([*argv, "--quick"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--time-to-accuracy", "--dtypes", "float64"], "--time-to-accuracy does not use --dtypes"),  # raced float32
    (["--time-to-accuracy", "--networks", "784-15-10", "--startup"],
     "--time-to-accuracy does not use --networks, --startup"),
    (["--kernels", "--batch-sizes", "32", "--peers", "numpy"], "--kernels does not use --batch-sizes, --peers"),
    (["--profile", "--learning-rate", "0.5"], "--profile does not use --learning-rate"),
    (["--sklearn", "--dtypes", "float32"], "--sklearn does not use --dtypes"),
    (["--sklearn", "--kernels"], "choose one of --sklearn, --kernels"),  # --sklearn alone ran
    (["--epochs", "5"], "--epochs goes with --time-to-accuracy"),  # the speed suite ran, without a word
    (["--momentum", "0.9"], "--momentum goes with --profile"),
    (["--kernels", "--momentum", "0.9"], "--kernels does not use --momentum"),
    (["--target-accuracy", "0.9", "--sklearn-epochs", "3"],
     "--sklearn-epochs goes with --sklearn; --target-accuracy goes with --time-to-accuracy"),
    (["--from-json", "run.json", "--plot", "s.png", "--dtypes", "float32"], "--from-json does not use --dtypes"),
    (["--startup", "--networks", "784-15-10"], "--startup does not use --networks"),
    (["--time-to-accuracy", "--from-json", "run.json"], "--time-to-accuracy does not use --from-json"),
    (["--from-json", "run.json", "--plot", "s.png", "--json", "out.json"], "--from-json does not use --json"),
])
def test_options_a_mode_would_ignore_are_errors(argv, message, capsys):
    assert main([*argv, "--quick"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["-1", "0", "nan", "inf"])
def test_learning_rate_is_checked_before_the_start_up_children(rate, capsys, monkeypatch):
    import fastmlp.bench.startup as startup

    def spawn(*args):  # each child failed, and the report said "not measured" with the child's traceback, exit 0
        raise AssertionError("a start-up child was spawned")

    monkeypatch.setattr(startup, "spawn", spawn)
    assert main(["--startup", "--learning-rate", rate]) == 2
    assert f"--learning-rate must be > 0 and finite, got {float(rate)}" in capsys.readouterr().err


def test_kernels_without_threadpoolctl_says_what_to_install(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import now raises ImportError
    assert main(["--kernels", "--quick"]) == 1  # "No module named 'threadpoolctl'" before
    assert "--kernels needs threadpoolctl: pip install threadpoolctl" in capsys.readouterr().err

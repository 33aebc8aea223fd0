"""fastmlp bench (fastmlp.bench, .suite, .runner, .report): a quick run's JSON and report, and the README table
that scripts/readme_table.py writes from it.

The quick run trains 784-100-10 networks, so it runs compiled in a child process, also in the coverage run;
the report is made from its JSON here.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from fastmlp.bench import machine, report, runner
from fastmlp.bench import main as bench_main

from child_env import child_env

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import readme_table  # noqa: E402


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run([sys.executable, "-m", "fastmlp", "bench", "--quick", "--json", str(path)],
                          capture_output=True, text=True, timeout=600, env=child_env())
    assert done.returncode == 0, done.stderr
    assert "fastmlp bench on" in done.stdout
    return json.loads(path.read_text())


def test_quick_run_json_structure(quick_result, tmp_path):
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
        # --quick's one repeat of runs of milliseconds: timed in the most rounds short runs get
        assert len(timed["seconds"]) == runner.MAX_ROUNDS and timed["samples"] == 512
    assert row["best_peer"] in result["peers"]
    assert row["ratio"] == pytest.approx(row["fastmlp_samples_per_s"] / row["best_peer_samples_per_s"])
    assert row["roofline_share"] == pytest.approx(
        row["fastmlp_samples_per_s"] * row["flops"] / row["samples"] / row["roofline_flops"])
    # fastmlp's thread settings and the matmul its one thread is held to are timed in the same rounds, and two
    # threads over one is the median of the rounds' ratios
    def runs(label):
        record = row["results"][label]
        return record["variants"][record["variant"]]["seconds"]

    one_runs, team_runs = runs("fastmlp 1 thread"), runs("fastmlp")
    pair_runs, stick_runs = runs("fastmlp 2 x 1 thread at once"), row["one_thread_matmul"]["seconds"]
    assert len(one_runs) == len(team_runs) == len(pair_runs) == len(stick_runs)
    assert row["thread_scaling"] == pytest.approx(statistics.median(o / t for o, t in zip(one_runs, team_runs)))
    assert row["two_at_once_scaling"] == pytest.approx(
        2 * statistics.median(o / p for o, p in zip(one_runs, pair_runs)))
    roof = result["roofline"]["float32"]
    assert row["matmul_thread_scaling"] == pytest.approx(roof["measurements"][-1] / roof["one_thread_measurements"][-1])
    # the one-thread step against a one-thread matmul timed in its rounds (threadpoolctl: in the bench extra)
    one_thread = row["one_thread_matmul"]["flops"]
    assert "one-thread matmul" not in row["results"] and len(row["one_thread_matmul"]["seconds"]) >= 1
    assert row["one_thread_share"] == pytest.approx(
        row["results"]["fastmlp 1 thread"]["samples_per_s"] * row["flops"] / row["samples"] / one_thread)
    (predicted,) = result["prediction"]
    assert predicted["samples"] == 10000 and predicted["ratio"] > 0
    # on its own code path no peer runs wider code than fastmlp's kernels: every one counts
    assert result["host_isa_peers"] == []
    # the first layer's product alone, timed in prediction's rounds: a yardstick, never the best peer
    matmul = predicted["results"]["first-layer matmul"]["samples_per_s"]
    assert matmul > 0 and predicted["best_peer"] != "first-layer matmul"
    assert predicted["first_layer_matmul_samples_per_s"] == matmul
    assert predicted["matmul_over_numpy"] == pytest.approx(matmul / predicted["results"]["numpy"]["samples_per_s"])
    assert predicted["fastmlp_over_matmul"] == pytest.approx(predicted["fastmlp_samples_per_s"] / matmul)
    measured = {t["target"]: t for t in result["targets"]}
    assert measured["784-100-10 float32 batch 32: vs best peer"]["met"] == (row["ratio"] >= 2.5)
    assert measured["784-100-10 float32 batch 1: vs best peer"]["met"] is None  # not in a quick run
    step_share = measured["784-100-10 float32 batch 32: one-thread step vs one-thread matmul"]
    assert step_share["met"] == (row["one_thread_share"] >= 0.65)
    scaling = measured["784-100-10 float32 batch 32: 2 threads vs 1 thread"]
    assert scaling["matmul_thread_scaling"] == row["matmul_thread_scaling"]
    targets_text = report.format_table(report.targets_table(result["targets"]))
    # the host's steal time over the row, from /proc/stat where there is one (read as the fake file below)
    assert (row["host_steal"] is None) == (machine.cpu_ticks() is None)
    steal = f", host steal {100 * row['host_steal']:.0f}%" if row["host_steal"] is not None else ""
    # beside it, two independent one-thread passes at once over one (above): what the host gave two busy cores
    assert scaling["two_at_once_scaling"] == row["two_at_once_scaling"]
    # and a cache line's round trip between the two cores, timed at the start of each of the row's rounds
    trips = row["core_round_trip_ns"]
    assert len(trips) == runner.MAX_ROUNDS and all(0 < trip < 1e6 for trip in trips)
    trip = row["core_round_trip"]
    assert (trip["lowest_ns"], trip["highest_ns"]) == (min(trips), max(trips))
    assert (f"(two 1-thread runs at once {row['two_at_once_scaling']:.2f}x, "
            f"matmul {row['matmul_thread_scaling']:.2f}x{steal}, "
            f"core round trip {min(trips):.0f}-{max(trips):.0f} ns") in targets_text
    assert f"{min(trips):.0f}-{max(trips):.0f} ns" in report.format_table(report.training_table(result))
    assert f"core round trip over the rows: quickest {min(trips):.0f} ns" in report.text_report(result)
    stat = tmp_path / "stat"
    stat.write_text("cpu  600 0 200 2000 100 0 50 50 40 0\ncpu0 300 0 100 1000 50 0 25 25 20 0\n")
    assert machine.cpu_ticks(str(stat)) == (50, 3000)  # guest time (40) is inside user already
    assert machine.steal_share((10, 1000), (50, 3000)) == pytest.approx(0.02)
    assert machine.steal_share(None, (50, 3000)) is None and machine.cpu_ticks(str(tmp_path / "none")) is None
    # PyTorch's MKL names its instruction set (MKL_VERBOSE), in the machine line
    assert machine.mkl_isa("MKL_VERBOSE oneMKL 2024.0 Update 2 Product build 20240605 for Intel(R) 64 architecture "
                           "Intel(R) Advanced Vector Extensions 2 (Intel(R) AVX2) enabled processors, Lnx") == "AVX2"
    assert machine.mkl_isa("MKL_VERBOSE oneMKL 2024.0 for Intel(R) 64 architecture Intel(R) Advanced Vector "
                           "Extensions 512 (Intel(R) AVX-512) with support of Intel(R) DL Boost") == "AVX-512"
    assert machine.mkl_isa("MKL_VERBOSE SGEMM(N,N,8,8,8,...) 8.04ms") is None
    if result["machine"].get("torch_mkl"):
        assert f"its MKL: {result['machine']['torch_mkl']}" in report.machine_line(result["machine"])
    text = report.text_report(result)
    assert "fastmlp bench on" in text
    assert result["settings"]["quick"] and "targets (a --quick smoke run: too short to judge them)" in text
    assert "targets (measured in this run)" in report.text_report({**result, "settings": {"repeat": 5}})
    assert ("fastmlp bench --profile" in text) == (scaling["met"] is False)  # where to look when it falls short
    measured_met = scaling["met"]
    for met in (True, False):
        scaling["met"] = met
        assert ("fastmlp bench --profile" in report.text_report(result)) == (not met)
    scaling["met"] = measured_met


def test_bench_rejects_unknown_network(capsys):
    assert bench_main(["--quick", "--networks", "784-7-10"]) == 2
    assert "unknown networks" in capsys.readouterr().err


def test_readme_table_renders_a_real_run(quick_result):
    """The generated speed tables from a real (quick) run name the machine and the runs."""
    summary, tables = readme_table.summary(quick_result), readme_table.tables(quick_result)
    assert quick_result["machine"]["cpu"] in summary and quick_result["machine"]["cpu"] in tables
    assert "| training, batch 32 |" in summary and "| 784-100-10 | float32 | 32 | 512 |" in tables


def test_a_near_miss_is_never_shown_at_the_line():
    """A miss that two decimals would round up to the requirement gets more decimals; a hit keeps two."""
    miss = report._target("prediction: vs NumPy", 1.1462, 1.15)
    hit = report._target("prediction: vs NumPy", 1.1512, 1.15)
    share = report._target("one-thread step", 0.6496, 0.65, unit="%")
    rows = report.targets_table([miss, hit, share])
    assert rows[1][2:] == ["1.146x", "NOT met"]
    assert rows[2][2:] == ["1.15x", "met"]
    assert rows[3][2:] == ["64.96%", "NOT met"]


def test_prediction_names_what_the_first_layer_matmul_bounds():
    """NumPy's prediction is its first layer's BLAS product and more: the product's samples/s, timed in the same
    rounds, goes into prediction's table and its target, as the ratio to NumPy of a prediction exactly that fast
    and fastmlp's speed against it."""
    from fastmlp.bench import suite

    rates = {"fastmlp": 900.0, "numpy": 600.0, "first-layer matmul": 750.0}
    row = {"network": "784-100-10", "dtype": "float32", "samples": 10_000,
           "results": {name: {"samples_per_s": rate} for name, rate in rates.items()}}
    suite.derive(row, ["numpy"], None)
    suite.derive_prediction(row)
    assert row["best_peer"] == "numpy" and row["ratio"] == pytest.approx(1.5)
    assert row["matmul_over_numpy"] == pytest.approx(1.25) and row["fastmlp_over_matmul"] == pytest.approx(1.2)
    result = {"training": [], "prediction": [row], "peers": ["numpy"]}
    header, values = report.prediction_table(result)
    assert values[header.index("first-layer matmul")] == "750"
    (target,) = [t for t in report.targets(result) if t["target"].endswith("vs NumPy")]
    assert target["met"] is True
    assert ("a prediction as fast as BLAS's first-layer matmul alone: 1.25x, fastmlp's at 1.20x that matmul's "
            "samples/s") in report.targets_table([target])[1][2]
    # a run without the yardstick (an older JSON) shows neither the column nor the note
    del row["results"]["first-layer matmul"]
    for key in ("first_layer_matmul_samples_per_s", "matmul_over_numpy", "fastmlp_over_matmul"):
        del row[key]
    suite.derive_prediction(row)
    assert "first-layer matmul" not in report.prediction_table(result)[0]
    (target,) = [t for t in report.targets(result) if t["target"].endswith("vs NumPy")]
    assert "first-layer matmul" not in report.targets_table([target])[1][2]


def test_a_peer_on_the_hosts_wider_code_is_shown_but_not_counted_in_a_forced_avx2_run(quick_result):
    """ONNX Runtime picks its kernels by CPUID: in an AVX2 run on an AVX-512 host it runs AVX-512 code, so the
    prediction row's best peer is taken among the others, and the table and report say why."""
    from fastmlp.bench import suite
    from fastmlp.bench.peers import Numpy, OnnxRuntime

    avx2 = {"emitted": {"avx512f": False, "avx2": True, "fma": True, "vector_bits": 256}}
    avx512 = {"emitted": {"avx512f": True, "avx2": True, "fma": True, "vector_bits": 512}}
    host = ["avx2", "fma", "avx512f"]
    peers = [Numpy(), OnnxRuntime()]
    assert suite.host_isa_peers(peers, avx2, host) == ["onnxruntime"]
    assert suite.host_isa_peers(peers, avx512, host) == []
    assert suite.host_isa_peers(peers, avx2, ["avx2", "fma"]) == []  # an AVX2 host: everyone runs AVX2
    rates = {"fastmlp": 900.0, "numpy": 600.0, "onnxruntime": 1000.0}
    row = {"network": "784-100-10", "dtype": "float32", "samples": 10_000,
           "results": {name: {"samples_per_s": rate} for name, rate in rates.items()}}
    suite.derive(row, ["numpy"], None)
    assert row["best_peer"] == "numpy" and row["ratio"] == pytest.approx(1.5)
    result = {**quick_result, "training": [], "prediction": [row], "peers": ["numpy"],
              "prediction_peers": ["onnxruntime"], "host_isa_peers": ["onnxruntime"]}
    header, values = report.prediction_table(result)
    assert header[header.index("numpy") + 1] == f"onnxruntime ({report.HOST_ISA})" and "1.0k" in values
    note = report.host_isa_note(result)
    assert note.startswith("onnxruntime (") and "host's wider code" in note
    assert note in report.text_report(result) and note in readme_table.tables(result)
    assert report.host_isa_note({**result, "host_isa_peers": []}) == ""


@pytest.mark.parametrize("argv, message", [
    (["--networks", ","], "--networks: expected a comma-separated list, got ','"),
    (["--batch-sizes", " "], "--batch-sizes: expected a comma-separated list"),
    (["--batch-sizes", "32,abc"], "--batch-sizes: expected comma-separated whole numbers, got '32,abc'"),
])
def test_bench_list_options_say_what_is_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's usage error
        bench_main(["--quick", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_bench_rejects_zero_samples(capsys):
    # 0 was taken as "not given": a run of the default samples, up to 60,000 per row
    assert bench_main(["--quick", "--samples", "0"]) == 2
    assert "--samples must be >= 1" in capsys.readouterr().err

"""fastmlp bench --plot: the speed picture from a suite result, with the roofline turned into samples/s."""

from __future__ import annotations

import json
import sys

import pytest

from fastmlp.bench import main as bench_main
from fastmlp.bench import roofline
from fastmlp.bench.speed_plot import panels, plot_speed, series

PNG = b"\x89PNG\r\n\x1a\n"


def fake_result(dtypes=("float32",)) -> dict:
    """A suite result of the shape run_suite returns, with made-up rates for 784-100-10."""
    rows = []
    for dtype in dtypes:
        for batch in (512, 1, 32):  # out of order: the plot sorts by batch size
            samples = 1000
            rows.append({"network": "784-100-10", "dtype": dtype, "batch_size": batch, "samples": samples,
                         "flops": roofline.epoch_flops((784, 100, 10), samples, batch),
                         "results": {"fastmlp": {"samples_per_s": 1e5 + batch}, "numpy": {"samples_per_s": 50 * batch},
                                     "pytorch": {"samples_per_s": 0.0},
                                     "fastmlp 2 x 1 thread at once": {"samples_per_s": 9e4}}})
    return {"training": rows, "roofline": {d: {"flops": 1e11} for d in dtypes}, "machine": {"cpu": "Test CPU"}}


def test_series_sorted_with_the_roofline_in_samples_per_second():
    result = fake_result()
    ((key, rows),) = panels(result).items()
    assert key == ("784-100-10", "float32") and [row["batch_size"] for row in rows] == [1, 32, 512]
    lines = series(rows, 1e11)
    assert lines["fastmlp"] == ([1, 32, 512], [1e5 + 1, 1e5 + 32, 1e5 + 512])
    assert "pytorch" not in lines  # no measurement: no line
    assert "fastmlp 2 x 1 thread at once" not in lines  # the host's yardstick, not a way to train
    batches, rates = lines["roofline"]
    assert batches == [1, 32, 512]
    # At batch 1 every sample also pays a whole SGD update (2 x parameters), so the roofline is lower there.
    assert rates[0] == pytest.approx(1e11 / (roofline.sample_flops((784, 100, 10)) + 2 * 79_510))
    assert rates[0] < rates[1] < rates[2] < 1e11 / roofline.sample_flops((784, 100, 10))
    assert "roofline" not in series(rows, None)


@pytest.mark.parametrize("dtypes", [("float32",), ("float32", "float64")])
def test_plot_writes_a_png(tmp_path, dtypes):
    pytest.importorskip("matplotlib")
    path = plot_speed(fake_result(dtypes), tmp_path / "speed.png")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_plot_rejects_other_formats_and_empty_results(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        plot_speed(fake_result(), tmp_path / "speed.svg")
    with pytest.raises(ValueError, match="no training measurements"):
        plot_speed({"training": []}, tmp_path / "speed.png")


def test_cli_draws_from_saved_json(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    saved, png = tmp_path / "run.json", tmp_path / "speed.png"
    saved.write_text(json.dumps(fake_result()))
    assert bench_main(["--plot", str(png), "--from-json", str(saved)]) == 0
    assert png.read_bytes()[:8] == PNG and str(png) in capsys.readouterr().out
    assert bench_main(["--from-json", str(saved)]) == 2
    assert "--from-json needs --plot" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (None, "bad.json: No such file or directory"),  # a traceback from python -m fastmlp.bench before
    ("not json", "bad.json: not a JSON file"),  # JSONDecodeError's message alone before, no file named
    ("[1, 2]", "bad.json: not the --json of a speed run (a JSON list)"),  # AttributeError traceback before
    ('{"training": [{"network": "784-100-10"}]}', "bad.json: not the --json of a speed run"),  # KeyError
])
def test_from_json_of_something_else_is_one_line_naming_the_file(tmp_path, content, message, capsys):
    pytest.importorskip("matplotlib")
    saved = tmp_path / "bad.json"
    if content is not None:
        saved.write_text(content)
    assert bench_main(["--plot", str(tmp_path / "speed.png"), "--from-json", str(saved)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastmlp bench: error: ") and message in err and err.count("\n") == 1


def test_plot_and_json_paths_are_checked_before_measuring(tmp_path, capsys, monkeypatch):
    import fastmlp.bench.suite as suite

    def no_run(**kwargs):
        raise AssertionError("measured before finding that the output cannot be written")

    monkeypatch.setattr(suite, "run_suite", no_run)
    quick = ["--quick", "--peers", "numpy"]
    (tmp_path / "speed.jpg").write_bytes(b"")
    for argv, message in ((["--plot", str(tmp_path / "speed.jpg")], "must end in .png"),
                          (["--plot", str(tmp_path / "nowhere" / "speed.png")], "its directory does not exist"),
                          (["--json", str(tmp_path)], "is a directory"),
                          # under a file, where no directory can be made
                          (["--json", str(tmp_path / "speed.jpg" / "run.json")], "cannot make its directory")):
        assert bench_main([*quick, *argv]) == 2
        assert message in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    assert bench_main([*quick, "--plot", str(tmp_path / "speed.png")]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_a_run_of_one_batch_size_shows_its_roofline(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    result = fake_result()
    result["training"] = [row for row in result["training"] if row["batch_size"] == 32]
    drawn, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: (
        drawn.extend(figure.axes[0].get_lines()), save(figure, *args, **kwargs))[1])
    plot_speed(result, tmp_path / "speed.png")
    (roof,) = [line for line in drawn if line.get_label().startswith("roofline")]
    assert len(roof.get_xdata()) == 1 and roof.get_marker() not in ("None", "", " ", None)  # a dashed line alone

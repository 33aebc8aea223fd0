"""benchmarks/bench_rates.py: the asv track_ benchmarks return samples/s of real fits and predictions."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import bench_rates, common  # noqa: E402


@pytest.fixture
def small_synthetic(monkeypatch):
    """A few synthetic samples (as on a machine without Fashion-MNIST), one timed round."""

    def unavailable():
        raise common.Unavailable("not installed in this test")

    monkeypatch.setattr(common, "fashion_mnist", unavailable)
    monkeypatch.setattr(bench_rates, "TRAIN_SAMPLES", 64)
    monkeypatch.setattr(bench_rates, "TEST_SAMPLES", 50)
    monkeypatch.setattr(bench_rates, "ROUNDS", 1)


def test_units_and_grid():
    assert bench_rates.TrainingRate.params == [[1, 10, 32, 128, 512]]
    assert bench_rates.TrainingRate.track_training_samples_per_s.unit == "samples/s"
    assert bench_rates.PredictionRate.track_prediction_samples_per_s.unit == "samples/s"


@pytest.mark.parametrize("batch_size", [1, 512])
def test_training_rate_is_samples_over_seconds(small_synthetic, monkeypatch, batch_size):
    bench = bench_rates.TrainingRate()
    bench.setup(batch_size)
    assert bench.X.shape == (64, 784) and bench.X.dtype.name == "uint8"
    fits = []
    real_fit = common.fit_epoch
    monkeypatch.setattr(common, "fit_epoch", lambda X, y, b: fits.append((X.shape[0], b)) or real_fit(X, y, b))
    clock = iter([10.0, 10.5])  # one round: 64 samples in 0.5 s
    monkeypatch.setattr(bench_rates, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    assert bench.track_training_samples_per_s(batch_size) == pytest.approx(128.0)
    assert fits == [(64, batch_size)]


def test_prediction_rate_predicts_the_test_images(small_synthetic):
    bench = bench_rates.PredictionRate()
    bench.setup()
    assert bench.X.shape == (50, 784)
    assert bench.track_prediction_samples_per_s() > 0


def test_quality_is_skipped_not_failed_without_fashion_mnist(monkeypatch):
    """asv fails a benchmark whose setup_cache raises (asv_runner calls it outside the NotImplementedError guard
    of setup), so without Fashion-MNIST Quality's cache must hold the reason and its setup raise it."""
    from benchmarks import bench_fit

    def unavailable():
        raise common.Unavailable("not installed in this test")

    monkeypatch.setattr(common, "fashion_mnist", unavailable)
    monkeypatch.setattr(common, "trained_quality", lambda dtype: common.fashion_mnist())
    quality = bench_fit.Quality()
    cache = quality.setup_cache()  # raised Unavailable before
    with pytest.raises(NotImplementedError, match="not installed in this test"):
        quality.setup(cache, "float32")

"""Fixtures only; the shared factors, problems and helpers are modules of their own (cases.py, covering.py, ...)."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp._team
from fastmlp._layout import build_layout

from cases import HIDDEN, LOSS_OUTPUTS, N_IN, N_OUT, OPTIMIZERS, make_problem

# conftest.py files outside packages (this one, cli/ and benchmarks/conftest.py) share the module name
# "conftest"; --doctest-modules would import them as modules and find the name taken. Neither has doctests.
collect_ignore = ["conftest.py", "benchmarks/conftest.py", "cli/conftest.py"]


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=LOSS_OUTPUTS, ids=[f"{loss}-{output}" for loss, output in LOSS_OUTPUTS])
def loss_output(request):
    return request.param


@pytest.fixture(params=sorted(HIDDEN), ids=[f"hidden{n}" for n in sorted(HIDDEN)])
def layer_sizes(request):
    return (N_IN, *HIDDEN[request.param], N_OUT)


@pytest.fixture(params=[1, 7, 64], ids=lambda b: f"batch{b}")
def batch_size(request):
    return request.param


@pytest.fixture(params=list(OPTIMIZERS))
def optimizer(request):
    """torch.optim.SGD settings: plain, momentum, Nesterov, weight decay, and all of them."""
    return OPTIMIZERS[request.param]


@pytest.fixture
def problem():
    """make_problem as a fixture: problem(layer_sizes, loss, output, dtype, n, seed=0)."""
    return make_problem


@pytest.fixture
def teams(monkeypatch):
    """Every fit trains on a team of all its threads (fastmlp._team), however small the network and the epoch."""
    monkeypatch.setattr(fastmlp._team, "TEAM_MIN_MACS", 0)
    monkeypatch.setattr(fastmlp._team, "TEAM_MIN_EPOCH_MACS", 0)
    assert fastmlp._team.team_size(build_layout((2, 1, 1), 4)[0], 1, 1, 2) == 2

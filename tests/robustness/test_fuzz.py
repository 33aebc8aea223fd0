"""Property-based fuzzing of the public API: every call succeeds with finite results or raises ValueError/TypeError.

A call that raises leaves the model exactly as it was (parameters, momentum, random generator, loss curve);
DivergenceError is the one failure that may keep completed epochs, and then the weights stay finite.
Each call is counted by outcome and input category; a run of the whole file writes the counts to
artifacts/fuzz.json, from which scripts/robustness_table.py writes the docs table.

    FASTMLP_FUZZ_CALLS=10000 python -m pytest -W error tests/robustness/test_fuzz.py   # the long mode CI runs
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import hypothesis
import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmlp

COUNTS_FILE = Path(__file__).resolve().parents[2] / "artifacts" / "fuzz.json"
#: (function, dimension, category) -> outcome -> calls
COUNTS: dict[tuple[str, str, str], Counter] = {}


def faults(dimensions):
    """The faults a test is parametrized over: "nothing broken" and each dimension it breaks."""
    return ["nothing broken", *dimensions]


MUTATIONS = ["random bytes", "bit flips", "truncated", "inserted bytes", "deleted bytes", "spliced",
             "metadata field replaced", "entry replaced"]
#: Each test is parametrized over the one input dimension it breaks ("nothing broken" = every input of a
#: valid type and shape, values possibly extreme), so every category gets its share of calls.
CASES = {
    "fit": faults(["X shape", "X dtype", "X values", "y", "hyperparameters"]),
    "partial_fit": faults(["X shape", "X dtype", "X values", "y", "hyperparameters"]),
    "predict": faults(["X shape", "X dtype", "X values"]),
    "loss_and_gradients": faults(["X shape", "X dtype", "X values", "y"]),
    "from_thetas": faults(["thetas shape", "thetas dtype", "thetas values", "loss/output", "dtype argument"]),
    "load": MUTATIONS,
}
#: Calls over the whole file: a few hundred by default, FASTMLP_FUZZ_CALLS=10000 for the long mode.
CALLS = int(os.environ.get("FASTMLP_FUZZ_CALLS", "350"))
EXAMPLES = -(-CALLS // sum(map(len, CASES.values())))  # per (function, fault) case, rounded up
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LOSS_OUTPUTS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "softmax"),
                ("sigmoid_cross_entropy", "sigmoid"), ("softmax_cross_entropy", "softmax")]
#: Each dimension of an input has categories that should work and categories that must be refused.
#: A case breaks at most one dimension (see ``faults``), so the table shows what each category causes.
X_DTYPES = (["float64", "float32", "float16", "uint8", "int64", "int8", "bool"], ["complex128", "object"])
X_VALUES = (["ordinary", "tiny", "negative zero", "huge"], ["nan", "inf"])
X_SHAPES = (["ok"], ["wrong features", "1-D", "3-D", "empty"])
ORDERS = ["C", "F", "strided", "reversed"]
Y_KINDS = (["labels or targets", "float matrix"],
           ["labels out of range", "fractional labels", "wrong length", "nan matrix", "bool labels",
            "2-D wrong width", "object", "complex"])
VALUES = X_VALUES[0] + X_VALUES[1]
ARRAY_DTYPES = X_DTYPES[0] + X_DTYPES[1]


OUTCOMES = ["ok", "ValueError", "TypeError", "DivergenceError"]


def _ran_whole_file(session, module) -> bool:
    fuzz_items = [item for item in session.items
                  if getattr(item, "module", None) is module and item.name.startswith("test_fuzz_")]
    return len(fuzz_items) == sum(map(len, CASES.values()))


@pytest.fixture(scope="module", autouse=True)
def _write_counts(request):
    """Report the outcomes; after a run of the whole file, write them to artifacts/fuzz.json."""
    began, failed = time.perf_counter(), request.session.testsfailed
    yield
    seconds = time.perf_counter() - began
    outcomes = sum((counter for (_, dimension, _), counter in COUNTS.items() if dimension == "all"), Counter())
    calls = sum(outcomes.values())
    summary = ", ".join(f"{outcome} {outcomes.get(outcome, 0)}" for outcome in OUTCOMES)
    line = f"fuzz: {calls} calls ({EXAMPLES} per case) in {seconds:.0f} s: {summary}"
    if request.session.testsfailed > failed:
        line += "; not written to artifacts/fuzz.json (a test failed)"
    elif _ran_whole_file(request.session, request.module):
        COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        COUNTS_FILE.write_text(json.dumps({
            "calls": calls,
            "requested_calls": CALLS,
            "calls_per_case": EXAMPLES,
            "seconds": round(seconds, 1),
            "versions": {"fastmlp": fastmlp.__version__, "numpy": np.__version__, "numba": numba.__version__,
                         "hypothesis": hypothesis.__version__},
            "outcomes": {outcome: outcomes.get(outcome, 0) for outcome in OUTCOMES},
            "counts": {"|".join(key): dict(counter) for key, counter in sorted(COUNTS.items())},
        }, indent=1) + "\n")
        line += f"; written to {COUNTS_FILE}"
    request.config.pluginmanager.register(_Summary(line))  # printed in pytest's closing summary


class _Summary:
    """A plugin that adds one line to pytest's terminal summary (output here would be captured)."""

    def __init__(self, line: str):
        self.line = line

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(self.line)


def _record(function: str, categories: dict, outcome: str) -> None:
    """Count one case under each of its categories (the "broken" one says which input was made invalid)."""
    for dimension, category in categories.items():
        COUNTS.setdefault((function, dimension, str(category)), Counter())[outcome] += 1
    COUNTS.setdefault((function, "all", "all"), Counter())[outcome] += 1


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, fastmlp.DivergenceError):
        return "DivergenceError"
    return type(error).__name__


def _call(call):
    """Run ``call``; return (result, error) where error is a ValueError/TypeError or None. Anything else fails.

    Compiled kernels overflow silently; run as Python (NUMBA_DISABLE_JIT=1, for coverage) NumPy would warn.
    """
    quiet = np.errstate(over="ignore", invalid="ignore") if numba.config.DISABLE_JIT else contextlib.nullcontext()
    try:
        with quiet:
            return call(), None
    except (ValueError, TypeError) as error:
        return None, error


# ------------------------------------------------------------------------------------------- strategies
@st.composite
def models(draw):
    """A small network, sometimes already trained (so it has momentum and a loss curve to protect)."""
    n_in = draw(st.integers(1, 5))
    hidden = draw(st.lists(st.integers(1, 5), max_size=2))
    loss, output = draw(st.sampled_from(LOSS_OUTPUTS))
    n_out = draw(st.integers(2 if output == "softmax" else 1, 4))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    net = fastmlp.MLP([n_in, *hidden, n_out], loss=loss, output=output, dtype=dtype,
                      random_state=draw(st.integers(0, 2**16)))
    trained = draw(st.booleans())
    if trained:
        rng = np.random.default_rng(0)
        X = rng.random((6, n_in))
        net.fit(X, _valid_targets(net, rng, 6), epochs=1, batch_size=4, momentum=0.5)
    return net, {"model dtype": dtype, "loss/output": f"{loss}/{output}", "model": "trained" if trained else "new"}


def _valid_targets(net, rng, n):
    n_out = net.layer_sizes[-1]
    if net.loss == "mse" and net.output == "identity":
        return rng.normal(size=(n, n_out))
    if n_out == 1:
        return rng.integers(0, 2, n).astype(np.float64)
    return rng.integers(0, n_out, n)


def _apply_values(base: np.ndarray, values: str, dtype: str, rng) -> np.ndarray:
    """``base`` (entries within +-3) with special values that ``dtype`` can hold: "huge" stays finite in it."""
    array = base.astype(np.float64)
    if array.size == 0:
        return array
    info = np.finfo(dtype if dtype in ("float16", "float32") else "float64")
    spot = tuple(rng.integers(0, s) for s in array.shape)
    if values == "nan":
        array[spot] = np.nan
    elif values == "inf":
        array[spot] = -np.inf if rng.random() < 0.5 else np.inf
    elif values == "huge":
        array *= float(rng.choice([float(info.max) / 4, float(info.max) ** 0.5]))
    elif values == "tiny":
        array *= float(rng.choice([float(info.tiny), float(info.smallest_subnormal) * 3]))
    elif values == "negative zero":
        array[spot] = -0.0
        array[array == 0] = -0.0
    return array


def _cast(array: np.ndarray, dtype: str, rng) -> np.ndarray:
    with np.errstate(all="ignore"):
        if dtype == "uint8":
            return np.clip(np.abs(array) * 60, 0, 255).astype(np.uint8) if np.isfinite(array).all() else \
                array.astype(np.uint8)
        if dtype == "complex128":
            return array + 1j * rng.random(array.shape)
        if dtype == "object":
            return array.astype(object)
        if dtype in ("int64", "int8"):
            return np.nan_to_num(array * 2).astype(dtype)
        return array.astype(dtype)


def _layout(array: np.ndarray, order: str) -> np.ndarray:
    if order == "F":
        return np.asfortranarray(array)
    if order == "strided" and array.ndim >= 1:
        wide = np.repeat(array, 2, axis=-1)
        return wide[..., ::2]
    if order == "reversed" and array.ndim >= 1:
        return array[::-1].copy()[::-1]
    return np.ascontiguousarray(array)


def _pick(draw, choices, bad: bool):
    return draw(st.sampled_from(choices[1] if bad else choices[0]))


def _dtype_and_values(draw, fault: str, name: str) -> tuple[str, str]:
    """Special values only where the dtype can hold them: integer and bool arrays are "ordinary"."""
    if fault == f"{name} values":
        return draw(st.sampled_from(["float64", "float32", "float16"])), _pick(draw, X_VALUES, True)
    dtype = _pick(draw, X_DTYPES, fault == f"{name} dtype")
    values = _pick(draw, X_VALUES, False) if dtype.startswith(("float", "complex", "object")) else "ordinary"
    return dtype, values


@st.composite
def inputs(draw, n_features, fault="nothing broken"):
    """An input matrix X with its categories: shape, dtype, memory order, special values."""
    shape_kind = _pick(draw, X_SHAPES, fault == "X shape")
    n = 0 if shape_kind == "empty" else draw(st.integers(1, 9))
    shape = {"ok": (n, n_features), "wrong features": (n, n_features + draw(st.integers(1, 3))),
             "1-D": (n,), "3-D": (n, n_features, 2), "empty": (0, n_features)}[shape_kind]
    dtype, values = _dtype_and_values(draw, fault, "X")
    order = draw(st.sampled_from(ORDERS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = _layout(_cast(_apply_values(rng.uniform(-3, 3, shape), values, dtype, rng), dtype, rng), order)
    return X, {"X shape": shape_kind, "X dtype": dtype, "X values": values, "X order": order}


@st.composite
def targets(draw, net, n_samples, fault="nothing broken"):
    """Labels or target matrices, valid or not, with their category."""
    n_out = net.layer_sizes[-1]
    kind = _pick(draw, Y_KINDS, fault == "y")
    if n_out == 1 and kind in ("labels out of range", "fractional labels", "bool labels"):
        kind = "wrong length"  # with one output a 1-D y is the target column, and these may be valid targets
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = {
        "labels or targets": lambda: _valid_targets(net, rng, n_samples),
        "labels out of range": lambda: rng.integers(n_out, n_out + 3, n_samples),
        "fractional labels": lambda: rng.random(n_samples) + 0.5,
        "wrong length": lambda: rng.integers(0, n_out, n_samples + 1),
        "float matrix": lambda: rng.random((n_samples, n_out)),
        "nan matrix": lambda: np.where(np.arange(n_samples * n_out).reshape(n_samples, n_out) % 3 == 0, np.nan, 0.5),
        "bool labels": lambda: rng.random(n_samples) < 0.5,
        "2-D wrong width": lambda: rng.random((n_samples, n_out + 1)),
        "object": lambda: np.array(list(rng.integers(0, n_out, n_samples)), dtype=object),
        "complex": lambda: rng.random((n_samples, n_out)) + 0j,
    }[kind]()
    if draw(st.booleans()):
        y = _layout(np.asarray(y), draw(st.sampled_from(ORDERS)))
    return y, {"y": kind}


#: Hyperparameters: values that should work, then values that must be refused.
NUMBERS = {
    "batch_size": ([1, 2, 3, 4, 7, 64], [0, -1, 2.0, True, "8", None]),
    # 1e300 and 1e-320 are valid for float64 but not representable in float32 (refused there).
    "learning_rate": ([0.01, 0.1, 1.0, 10.0, 1e30, 1e300, 1e-320], [0.0, -0.1, float("nan"), float("inf"), "0.1"]),
    "momentum": ([0.0, 0.5, 0.9, 0.999], [1.0, -0.1, float("nan"), 2]),
    "weight_decay": ([0.0, 1e-4, 0.1, 1e40], [-1e-3, float("inf"), "0"]),
    "nesterov": ([False, True], [1, "yes"]),
    "shuffle": ([True, False], [0, None]),
    "n_threads": ([None, 1, 2], [0, 1000, 1.5]),
    "epochs": ([0, 1, 2, 3], [-1, 2.5, None]),
}


@st.composite
def hyperparameters(draw, fault="nothing broken", epochs=True):
    names = [name for name in NUMBERS if epochs or name != "epochs"]
    broken = draw(st.sampled_from(names)) if fault == "hyperparameters" else None
    chosen = {name: draw(st.sampled_from(NUMBERS[name][name == broken])) for name in names}
    if chosen["nesterov"] and chosen["momentum"] == 0:
        chosen["momentum"] = 0.9  # nesterov without momentum is refused; keep "valid" cases valid
    if broken is None:
        extreme = chosen["learning_rate"] >= 1e30 or chosen["learning_rate"] < 1e-300 or chosen["weight_decay"] > 1
        category = "valid, extreme learning_rate or weight_decay" if extreme else "valid"
    else:
        category = f"{broken}={chosen[broken]!r}"
    return chosen, {"hyperparameters": category}


# ------------------------------------------------------------------------------------------- checks
def _state(net) -> dict:
    return dict(params=net.params.copy(), velocity=net._first.copy(), rng=net._rng.bit_generator.state,
                curve=list(net.loss_curve_))


def _assert_unchanged(net, state) -> None:
    np.testing.assert_array_equal(net.params, state["params"])
    np.testing.assert_array_equal(net._first, state["velocity"])
    assert net._rng.bit_generator.state == state["rng"]
    assert net.loss_curve_ == state["curve"]


def _assert_healthy(net) -> None:
    assert np.isfinite(net.params).all() and np.isfinite(net._first).all()
    assert all(np.isfinite(net.loss_curve_))


# ------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("fault", CASES["fit"])
@FUZZ
@given(data=st.data())
def test_fuzz_fit(fault, data):
    net, categories = data.draw(models())
    X, x_categories = data.draw(inputs(net.layer_sizes[0], fault))
    y, y_categories = data.draw(targets(net, max(len(X), 1), fault))
    hyper, h_categories = data.draw(hyperparameters(fault))
    before = _state(net)
    _, error = _call(lambda: net.fit(X, y, **hyper))
    categories = {"broken": fault, **categories, **x_categories, **y_categories, **h_categories}
    _record("fit", categories, _outcome(error))
    if error is None:
        _assert_healthy(net)
        assert len(net.loss_curve_) == hyper["epochs"]
    elif isinstance(error, fastmlp.DivergenceError):
        _assert_healthy(net)
        assert len(net.loss_curve_) == error.epoch - 1
    else:
        _assert_unchanged(net, before)


@pytest.mark.parametrize("fault", CASES["partial_fit"])
@FUZZ
@given(data=st.data())
def test_fuzz_partial_fit(fault, data):
    net, categories = data.draw(models())
    X, x_categories = data.draw(inputs(net.layer_sizes[0], fault))
    y, y_categories = data.draw(targets(net, max(len(X), 1), fault))
    hyper, h_categories = data.draw(hyperparameters(fault, epochs=False))
    before = _state(net)
    _, error = _call(lambda: net.partial_fit(X, y, **hyper))
    categories = {"broken": fault, **categories, **x_categories, **y_categories, **h_categories}
    _record("partial_fit", categories, _outcome(error))
    if error is None:
        _assert_healthy(net)
        assert len(net.loss_curve_) == len(before["curve"]) + 1
    else:
        # partial_fit runs one epoch, so even a divergence leaves the model as it was
        _assert_unchanged(net, before)


# ------------------------------------------------------------------------------------------- inference
@pytest.mark.parametrize("fault", CASES["predict"])
@FUZZ
@given(data=st.data())
def test_fuzz_predict(fault, data):
    net, categories = data.draw(models())
    X, x_categories = data.draw(inputs(net.layer_sizes[0], fault))
    method = data.draw(st.sampled_from(["forward", "predict", "predict_proba"]))
    before = _state(net)
    result, error = _call(lambda: getattr(net, method)(X))
    _record("predict", {"broken": fault, **categories, **x_categories, "method": method}, _outcome(error))
    _assert_unchanged(net, before)  # inference never changes the model, whatever happens
    if error is None:
        assert len(result) == len(X)
        assert np.isfinite(result).all()


@pytest.mark.parametrize("fault", CASES["loss_and_gradients"])
@FUZZ
@given(data=st.data())
def test_fuzz_loss_and_gradients(fault, data):
    net, categories = data.draw(models())
    X, x_categories = data.draw(inputs(net.layer_sizes[0], fault))
    y, y_categories = data.draw(targets(net, max(len(X), 1), fault))
    before = _state(net)
    result, error = _call(lambda: net.loss_and_gradients(X, y))
    _record("loss_and_gradients", {"broken": fault, **categories, **x_categories, **y_categories}, _outcome(error))
    _assert_unchanged(net, before)
    if error is None:
        loss, grads = result
        assert np.isfinite(loss)
        assert [g.shape for g in grads] == [t.shape for t in net.thetas()]
        assert all(np.isfinite(g).all() for g in grads)


THETA_SHAPES = (["ok"], ["mismatched", "1-D", "no bias column", "empty list"])
LOSS_OUTPUT_ARGS = (LOSS_OUTPUTS + [("mse", None), ("sigmoid_cross_entropy", None), ("softmax_cross_entropy", None)],
                    [("mse", "relu"), ("hinge", None), ("softmax_cross_entropy", "sigmoid"), (None, None)])
DTYPE_ARGS = ([None, "float32", "float64", np.float32], ["float16", "int32", 3, "double precision"])


@st.composite
def theta_lists(draw, fault):
    shape_kind = _pick(draw, THETA_SHAPES, fault == "thetas shape")
    # a mismatch needs two layers: the first layer's column count alone just sets the input size
    n_layers = 0 if shape_kind == "empty list" else draw(st.integers(2 if shape_kind == "mismatched" else 1, 3))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_layers + 1, max_size=n_layers + 1))
    shapes = [(sizes[l + 1], sizes[l] + 1) for l in range(n_layers)]
    if shape_kind == "mismatched":
        l = draw(st.integers(1, len(shapes) - 1))
        shapes[l] = (shapes[l][0], shapes[l][1] + 1)
    elif shape_kind == "no bias column":
        shapes[0] = (shapes[0][0], 1)
    dtype, values = _dtype_and_values(draw, fault, "thetas")
    order = draw(st.sampled_from(ORDERS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    thetas = [_layout(_cast(_apply_values(rng.uniform(-2, 2, shape), values, dtype, rng), dtype, rng), order)
              for shape in shapes]
    if shape_kind == "1-D":
        thetas[-1] = thetas[-1].ravel()
    container = draw(st.sampled_from(["list", "tuple"] if fault != "thetas shape" else ["list", "array"]))
    if container == "tuple":
        thetas = tuple(thetas)
    elif container == "array" and thetas:
        thetas = thetas[0]
    categories = {"thetas shape": shape_kind, "thetas dtype": dtype, "thetas values": values,
                  "thetas order": order, "container": container}
    return thetas, categories


@pytest.mark.parametrize("fault", CASES["from_thetas"])
@FUZZ
@given(data=st.data())
def test_fuzz_from_thetas(fault, data):
    thetas, categories = data.draw(theta_lists(fault))
    loss, output = _pick(data.draw, LOSS_OUTPUT_ARGS, fault == "loss/output")
    dtype = _pick(data.draw, DTYPE_ARGS, fault == "dtype argument")
    dtype_name = getattr(dtype, "__name__", repr(dtype))
    categories.update({"loss/output": f"{loss}/{output}", "dtype argument": dtype_name})
    net, error = _call(lambda: fastmlp.MLP.from_thetas(thetas, loss=loss, output=output, dtype=dtype))
    _record("from_thetas", {"broken": fault, **categories}, _outcome(error))
    if error is None:
        assert np.isfinite(net.params).all()
        for theta, copy in zip(thetas, net.thetas()):
            with np.errstate(under="ignore"):
                np.testing.assert_array_equal(copy, np.asarray(theta).astype(net.dtype))
        out, forward_error = _call(lambda: net.forward(np.zeros((2, net.layer_sizes[0]))))
        assert forward_error is not None or np.isfinite(out).all()


# ------------------------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-files")
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 4)), rng.integers(0, 3, 20)
    net = fastmlp.MLP([4, 5, 3], random_state=0).fit(X, y, epochs=2, batch_size=8)
    net.save(folder / "model.npz")
    fastmlp.MLP([4, 5, 3], dtype="float64", random_state=1).fit(
        X, y, epochs=3, batch_size=8, momentum=0.9, checkpoint=folder / "checkpoint.npz")
    return _Files({kind: (folder / f"{kind}.npz").read_bytes() for kind in ("model", "checkpoint")}, folder)


class _Files(tuple):
    """The valid files' bytes and a scratch folder; a short repr keeps failure reports readable."""

    def __new__(cls, files, folder):
        return super().__new__(cls, (files, folder))

    def __repr__(self) -> str:
        return "<valid model and checkpoint files>"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**130), 2**130) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def _mutate(data, original: bytes, kind: str) -> tuple[bytes, str]:
    content = bytearray(original)
    if kind == "random bytes":
        return data.draw(st.binary(max_size=2000)), kind
    if kind == "bit flips":
        for _ in range(data.draw(st.integers(1, 4))):
            position = data.draw(st.integers(0, len(content) - 1))
            content[position] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncated":
        del content[data.draw(st.integers(0, len(content) - 1)):]
    elif kind == "inserted bytes":
        position = data.draw(st.integers(0, len(content)))
        content[position:position] = data.draw(st.binary(min_size=1, max_size=16))
    elif kind == "deleted bytes":
        position = data.draw(st.integers(0, len(content) - 1))
        del content[position : position + data.draw(st.integers(1, 16))]
    elif kind == "spliced":
        position = data.draw(st.integers(0, len(content) - 1))
        content[position : position + 32] = data.draw(st.binary(min_size=32, max_size=32))
    return bytes(content), kind


def _rewrite(data, original: bytes, folder: Path, kind: str) -> bytes:
    """A well-formed archive with one metadata field or one entry replaced by something random."""
    source = folder / "source.npz"
    source.write_bytes(original)
    with np.load(source, allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    metadata = json.loads(entries["metadata"].tobytes())
    if kind == "metadata field replaced":
        field = data.draw(st.sampled_from(sorted(metadata) + ["unknown"]))
        metadata[field] = data.draw(JSON_VALUES)
        entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    else:
        key = data.draw(st.sampled_from(sorted(entries)))
        dtype = data.draw(st.sampled_from(["float32", "float64", "uint8", "int64", "bool", "complex64"]))
        size = entries[key].size + data.draw(st.sampled_from([0, 0, 0, -1, 1]))
        values = data.draw(st.sampled_from(VALUES))
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        entries[key] = _cast(_apply_values(rng.uniform(-1, 1, max(size, 0)), values, "float64", rng), dtype, rng)
    target = folder / "rewritten.npz"
    np.savez(target, **entries)
    return target.read_bytes()


@pytest.mark.parametrize("mutation", CASES["load"])
@FUZZ
@given(data=st.data())
def test_fuzz_load(mutation, data, model_files):
    files, folder = model_files
    source = data.draw(st.sampled_from(sorted(files)))
    content, kind = _mutate(data, files[source], mutation)
    if kind in ("metadata field replaced", "entry replaced"):
        content = _rewrite(data, files[source], folder, kind)
    path = folder / "fuzzed.npz"
    path.write_bytes(content)
    net, error = _call(lambda: fastmlp.load(path))
    _record("load", {"broken": kind, "file": source}, _outcome(error))
    if error is None:
        assert np.isfinite(net.params).all() and np.isfinite(net._first).all()
        assert all(np.isfinite(net.loss_curve_))
        if content != files[source] and kind not in ("metadata field replaced", "entry replaced"):
            # A byte-level change the format let through (e.g. in a zip timestamp) changed nothing that matters.
            (folder / "pristine.npz").write_bytes(files[source])
            pristine = fastmlp.load(folder / "pristine.npz")
            np.testing.assert_array_equal(net.params, pristine.params)
            assert (net.layer_sizes, net.loss, net.output, net.dtype) == (
                pristine.layer_sizes, pristine.loss, pristine.output, pristine.dtype)
    else:
        assert isinstance(error, ValueError), error  # a file problem is always a ValueError


def test_loss_mean_that_overflows_is_a_clear_error():
    """Found by test_fuzz_loss_and_gradients: each sample's loss finite (1e308), their mean's sum not.
    It used to escape as numpy's overflow RuntimeWarning (an error under -W error) or an inf loss."""
    net = fastmlp.MLP.from_thetas([np.array([[1.0, 0.0], [1.0, 0.0]])], loss="sigmoid_cross_entropy", output="sigmoid")
    X = np.full((8, 1), 5e307)  # z = x for both outputs; loss 2x per sample with targets 0
    with pytest.raises(ValueError, match="overflows float64"):
        net.loss_and_gradients(X, np.zeros((8, 2)))


def test_every_case_made_its_calls(request):
    """Each (function, fault) case was called EXAMPLES times, so the long mode makes the calls it promises."""
    if not _ran_whole_file(request.session, request.module):
        pytest.skip("only meaningful after a run of the whole file")
    made = {(function, fault): sum(COUNTS.get((function, "broken", fault), Counter()).values())
            for function, function_faults in CASES.items() for fault in function_faults}
    assert {case: calls for case, calls in made.items() if calls != EXAMPLES} == {}
    assert sum(made.values()) >= CALLS

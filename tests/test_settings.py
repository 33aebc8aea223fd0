"""fastmlp._settings: the one table of training settings, and everything that reads it."""

from __future__ import annotations

import dataclasses
import inspect
import pydoc
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import fastmlp
from fastmlp._settings import FIELDS, NAMES, RECORDED, TrainingSettings
from fastmlp.cli import train as cli_train


def bad_values(field) -> list:
    """Values the table itself says are out of range or of the wrong type for ``field``."""
    meta = field.metadata
    if field.type == "bool":
        return ["yes", 1]
    if field.type == "str":
        return ["nope", 3]
    values = ["1", True, float("nan")]
    if meta["low"] is not None:
        values.append(meta["low"] - 1)
    if meta["positive"]:
        values.append(0)
    if meta["high"] is not None:
        values.append(meta["high"] + 0.5 if meta["high_closed"] else meta["high"])
    if field.type == "int":
        values.append(2.0)
    return values


def test_every_bad_value_is_refused_with_its_name(subtests):
    for name in NAMES:
        for value in bad_values(FIELDS[name]):
            with subtests.test(setting=name, value=value), pytest.raises((TypeError, ValueError), match=name):
                TrainingSettings(**{name: value})


def test_numbers_of_every_real_type_become_python_numbers():
    settings = TrainingSettings(batch_size=np.int64(7), epochs=np.uint8(3), learning_rate=np.float32(0.5),
                                momentum=Fraction(1, 4), tol=1, power_t=np.int32(2))
    taken = {name: getattr(settings, name) for name in ("batch_size", "epochs", "learning_rate", "momentum", "tol",
                                                         "power_t")}
    assert taken == dict(batch_size=7, epochs=3, learning_rate=0.5, momentum=0.25, tol=1.0, power_t=2.0)
    assert [type(value) for value in taken.values()] == [int, int, float, float, float, float]
    refused = [dict(batch_size=np.float64(2.0)), dict(batch_size=np.bool_(True)), dict(learning_rate=np.bool_(True)),
               dict(learning_rate=Decimal("0.1")), dict(epochs=Fraction(3, 1)), dict(learning_rate=float("inf")),
               dict(momentum=np.float32("nan"))]
    for kwargs in refused:
        name = next(iter(kwargs))
        with pytest.raises((TypeError, ValueError), match=name):
            TrainingSettings(**kwargs)


def test_upper_ends_are_open_or_closed_as_declared():
    assert TrainingSettings(momentum=1.0).momentum == 1.0  # undamped, as torch.optim.SGD and scikit-learn take it
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got 1.5"):
        TrainingSettings(momentum=1.5)
    for name, low in (("beta_1", r"\[0"), ("beta_2", r"\[0"), ("validation_fraction", r"\(0")):
        with pytest.raises(ValueError, match=rf"{name} must be in {low}, 1\), got 1$"):
            TrainingSettings(**{name: 1.0})


def test_defaults_are_valid_and_frozen():
    settings = TrainingSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 3  # type: ignore[misc]
    assert settings.optimizer == "sgd" and settings.schedule == "constant"


@pytest.mark.parametrize("settings, message", [
    (dict(nesterov=True), "nesterov=True needs optimizer='sgd' and momentum > 0"),
    (dict(optimizer="adam", momentum=0.9), "momentum is an SGD setting"),
    (dict(optimizer="adam", nesterov=True, momentum=0.5), "nesterov=True needs"),
])
def test_settings_that_contradict_each_other(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainingSettings(**settings)


def test_unknown_keyword_names_the_method_and_a_close_match():
    with pytest.raises(TypeError, match=r"fit\(\) got an unexpected keyword argument 'learning_rte'; "
                                        r"did you mean 'learning_rate'\?"):
        TrainingSettings.from_kwargs("fit", {"learning_rte": 0.1})
    with pytest.raises(TypeError, match=r"partial_fit\(\) got an unexpected keyword argument 'epochs'"):
        TrainingSettings.from_kwargs("partial_fit", {"epochs": 3}, exclude=("epochs",))


def test_record_round_trip_and_bad_records():
    settings = TrainingSettings(batch_size=7, optimizer="adam", schedule="adaptive", early_stopping=True)
    record = settings.record()
    assert set(record) == set(RECORDED) and "epochs" not in record
    assert TrainingSettings.from_record(record, "f") == dataclasses.replace(settings, epochs=TrainingSettings().epochs)
    with pytest.raises(ValueError, match="f: invalid training setting: batch_size must be >= 1"):
        TrainingSettings.from_record(dict(record, batch_size=0), "f")
    with pytest.raises(ValueError, match="f: training settings must be an object"):
        TrainingSettings.from_record(dict(record, unknown=1), "f")


def test_rates_the_dtype_cannot_hold():
    TrainingSettings(learning_rate=1e-50).check_dtype(np.dtype(np.float64))
    with pytest.raises(ValueError, match="learning_rate=1e-50 is not representable in float32"):
        TrainingSettings(learning_rate=1e-50).check_dtype(np.dtype(np.float32))


def test_fit_signature_lists_every_setting_with_the_table_default():
    parameters = inspect.signature(fastmlp.MLP.fit).parameters
    for name, field in FIELDS.items():
        assert parameters[name].default == field.default, name


def test_command_line_has_an_option_for_every_setting():
    import argparse

    parser = argparse.ArgumentParser()
    cli_train.add_arguments(parser)
    options = {action.dest for action in parser._actions}
    assert set(NAMES) <= options
    args = parser.parse_args(["xor", "--optimizer", "adam", "--no-shuffle", "--n-iter-no-change", "4", "--lr", "0.5"])
    own, training = cli_train._settings(args)
    assert training["optimizer"] == "adam" and training["shuffle"] is False
    assert training["n_iter_no_change"] == 4 and training["learning_rate"] == 0.5
    assert "momentum" not in training  # the truth tables' SGD momentum preset does not carry over to Adam
    TrainingSettings(**training)


def test_command_line_trains_with_the_new_settings(capsys):
    from fastmlp.cli import main

    code = main(["train", "digits", "--optimizer", "adam", "--lr", "0.01", "--activation", "tanh", "--early-stopping",
                 "--n-iter-no-change", "2", "--class-weight", "balanced", "--epochs", "40", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.8, out


def test_help_lists_every_setting_with_its_help_and_range():
    text = re.sub(r"\n \|", "\n", pydoc.render_doc(TrainingSettings, renderer=pydoc.plaintext))  # the class's margin
    for name in NAMES:
        field = FIELDS[name]
        row = re.search(rf"\n +{name} = {re.escape(repr(field.default))}\n +(.+)", text)
        assert row is not None, name
        assert row[1].lower().startswith(field.metadata["help"][:20].lower()), (name, row[1])
    assert re.search(r"momentum = 0.0\n.*a real number in \[0, 1\]\.", text)
    assert re.search(r"beta_1 = 0.9\n.*a real number in \[0, 1\)\.", text)
    assert re.search(r"optimizer = 'sgd'\n.*one of 'sgd', 'adam'\.", text)

"""The shared input checks (sigxfer._checks): parameter constraint tables."""

import doctest
import os
from pathlib import Path

import numpy as np
import pytest

from sigxfer import _checks
from sigxfer._checks import Interval, Options, check_params
from sigxfer.errors import ParameterError


@pytest.mark.parametrize("interval, inside, outside", [
    (Interval(int, 0, None), [0, 3, np.int64(7)], [-1, 1.5, True, "3", None, np.float32(2)]),
    (Interval(int, 1, 10), [1, 10], [0, 11]),
    (Interval(float, 0, None, closed="neither"), [1e-9, 3, 2.5, np.float32(0.1)], [0, -1.0, float("inf"), float("nan"), False]),
    (Interval(float, 0, 1, closed="left"), [0, 0.999], [1, 1.0, -0.1]),
    (Interval(float, 0, 1, closed="right"), [1, 0.5], [0]),
    (Interval(float, None, None), [-1e9, 0.0, 5], [float("inf"), float("nan"), "1"]),
])
def test_interval_bounds_and_kinds(interval, inside, outside):
    assert all(interval.accepts(v) for v in inside)
    assert not any(interval.accepts(v) for v in outside)


@pytest.mark.parametrize("interval, words", [
    (Interval(int, 0, None), "an integer >= 0"),
    (Interval(int, 1, 10), "an integer in [1, 10]"),
    (Interval(float, 0, None, closed="neither"), "a number > 0"),
    (Interval(float, 0, 1, closed="left"), "a number in [0, 1)"),
    (Interval(float, None, 5, closed="left"), "a number < 5"),
    (Interval(float, None, None), "a finite number"),
])
def test_interval_words(interval, words):
    assert str(interval) == words


def test_interval_refuses_a_bad_definition():
    with pytest.raises(TypeError, match="int or float"):
        Interval(str, 0, None)
    with pytest.raises(ValueError, match="closed"):
        Interval(int, 0, 1, closed="open")
    with pytest.raises(ValueError, match="above"):
        Interval(int, 2, 1)


def test_options_compare_by_value_never_bool_for_number():
    options = Options("mse", "huber", 1)
    assert options.accepts("mse") and options.accepts(1) and options.accepts(np.int64(1))
    assert not options.accepts("hinge") and not options.accepts(True) and not options.accepts(np.array([1, 1]))
    assert str(Options("circular", "zeros")) == "one of 'circular', 'zeros'"


def test_check_params_words_every_message_alike():
    table = {"epochs": Interval(int, 0, None), "unfreeze": [Interval(int, 1, None), "all"],
             "patience": [Interval(int, 1, None), None], "class_weight": [None, "balanced", list],
             "resume": bool, "cache_dir": [None, str, os.PathLike]}
    good = {"epochs": 3, "unfreeze": "all", "patience": None, "class_weight": [1.0, 2.0], "resume": False,
            "cache_dir": Path("x")}
    check_params("strategy 'finetune'", good, table)
    for name, value, words in [
        ("epochs", -1, "an integer >= 0"),
        ("unfreeze", 0, "an integer >= 1 or 'all'"),
        ("patience", 0, "an integer >= 1 or None"),
        ("class_weight", "equal", "None, 'balanced' or a list"),
        ("resume", "yes", "True or False"),
        ("cache_dir", 3, "None, a string or a path"),
    ]:
        message = f"strategy 'finetune': {name}={value!r} must be {words}"
        with pytest.raises(ParameterError) as err:
            check_params("strategy 'finetune'", {**good, name: value}, table)
        assert str(err.value) == message


def test_check_params_reports_the_first_bad_parameter_in_table_order():
    table = {"a": Interval(int, 0, None), "b": Interval(int, 0, None)}
    with pytest.raises(ParameterError, match="a=-1"):
        check_params("x", {"b": -2, "a": -1}, table)


def test_docstring_examples_hold():
    result = doctest.testmod(_checks)
    assert result.attempted > 0 and result.failed == 0

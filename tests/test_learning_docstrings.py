"""The docstring examples of the learning package run as written (they are its reference)."""

import doctest
import importlib
import pkgutil

import pytest

import sigxfer.learning

_MODULES = sorted(info.name for info in pkgutil.walk_packages(sigxfer.learning.__path__, "sigxfer.learning."))


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples_run(name, one_thread):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_cover_the_package():
    assert {"sigxfer.learning.costs", "sigxfer.learning.prefix", "sigxfer.learning.strategies.lpft"} <= set(_MODULES)

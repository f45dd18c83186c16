"""The import allow-list: generous for teaching code, clear about the rest."""

import pytest

from tests.conftest import run

ALLOWED = ["math", "cmath", "random", "collections", "itertools", "functools", "heapq", "bisect",
           "string", "re", "json", "dataclasses", "typing", "enum", "fractions", "decimal",
           "statistics", "datetime", "time", "copy", "operator", "abc", "array", "textwrap", "sys"]


@pytest.mark.parametrize("module", ALLOWED)
def test_allowed_module_imports(module):
    record = run(f"import {module}\nname = {module}.__name__")
    assert record["outcome"]["status"] == "ok"
    assert record["steps"][-1]["stack"][0]["locals"]["name"] == module


def test_from_import_and_submodule():
    record = run("from collections.abc import Sequence\nfrom math import pi as PI\nimport collections.abc")
    assert record["outcome"]["status"] == "ok"


@pytest.mark.parametrize("statement", ["import os", "import subprocess", "from os import path",
                                       "import socket", "import ctypes", "__import__('os')",
                                       "from . import x", "import importlib"])
def test_other_imports_raise_import_error_naming_the_allowed_modules(statement):
    record = run(statement)
    exception = record["outcome"]["exception"]
    assert exception["type"] == "ImportError"
    assert "math" in exception["message"] or "relative" in exception["message"]


def test_sys_facade_has_no_settrace():
    record = run("import sys\nsys.settrace(None)")
    assert record["outcome"]["exception"]["type"] == "AttributeError"

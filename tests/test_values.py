"""Values: which Python values are JSON scalars, typed scalars or heap refs."""

import pytest

import tracer
from tests.conftest import run


def final_locals(source, input=""):
    record = run(source, input)
    return record["steps"][-1]["stack"][0]["locals"], record["steps"][-1]["heap"]


@pytest.mark.parametrize("expression, expected", [
    ("None", None), ("True", True), ("False", False), ("'3'", "3"), ("3", 3),
    ("0.5", 0.5), ("-2.25", -2.25), ("2 ** 53 - 1", 2**53 - 1), ("-(2 ** 53 - 1)", -(2**53 - 1)),
])
def test_plain_json_values(expression, expected):
    names, _ = final_locals(f"v = {expression}")
    assert names["v"] == expected and type(names["v"]) is type(expected)


@pytest.mark.parametrize("expression, type_name, text", [
    ("2 ** 53", "int", "9007199254740992"),
    ("-2 ** 53", "int", "-9007199254740992"),
    ("3.0", "float", "3.0"),
    ("float('inf')", "float", "inf"),
    ("float('-inf')", "float", "-inf"),
    ("float('nan')", "float", "nan"),
    ("1e300", "float", "1e+300"),
    ("1+2j", "complex", "(1+2j)"),
    ("b'a\\x00'", "bytes", "b'a\\x00'"),
    ("...", "ellipsis", "Ellipsis"),
    ("NotImplemented", "NotImplementedType", "NotImplemented"),
])
def test_typed_scalars_keep_type_and_repr(expression, type_name, text):
    names, heap = final_locals(f"v = {expression}")
    assert names["v"] == {"type": type_name, "repr": text}
    assert heap == {}


def test_three_forms_of_three_are_told_apart():
    names, _ = final_locals("a = 3\nb = 3.0\nc = '3'\nd = 9007199254740993")
    assert [names[k] for k in "abcd"] == [
        3, {"type": "float", "repr": "3.0"}, "3", {"type": "int", "repr": "9007199254740993"}]


def test_int_past_cpython_digit_limit_has_a_short_repr_saying_so():
    names, _ = final_locals("v = 10 ** 5000 + 7")
    value = names["v"]
    assert value["type"] == "int"
    assert value["repr"].startswith("10000000000000000000...")
    assert value["repr"].endswith("00000000000000000007 (5001 digits)")


def test_gigantic_int_gives_approximate_digit_count():
    names, _ = final_locals("v = 3 ** 200000")
    assert names["v"]["type"] == "int" and "about 95425 digits" in names["v"]["repr"]


def test_long_string_is_cut_and_says_how_much():
    record = run("s = 'ab' * 1000")
    value = record["steps"][-1]["stack"][0]["locals"]["s"]
    cap = record["limits"]["string_length"]
    assert value == {"type": "str", "value": ("ab" * 1000)[:cap], "truncated": 2000 - cap}


def test_lone_surrogate_string_still_gives_valid_json():
    names, _ = final_locals("s = '\\ud800x'")
    assert names["s"] == "\ud800x"


def test_subclass_of_scalar_is_a_heap_object():
    names, heap = final_locals("class S(str):\n    pass\nv = S('x')\nfrom enum import IntEnum\n"
                               "class N(IntEnum):\n    ONE = 1\nn = N.ONE")
    assert heap[str(names["v"]["ref"])]["kind"] == "instance"
    assert heap[str(names["n"]["ref"])]["type"] == "N"


def test_decimal_fraction_and_dates_are_typed_scalars():
    names, _ = final_locals("from fractions import Fraction\nfrom decimal import Decimal\nimport datetime\n"
                            "f = Fraction(1, 3)\nd = Decimal('1.5')\nt = datetime.timedelta(days=1)")
    assert names["f"] == {"type": "Fraction", "repr": "Fraction(1, 3)"}
    assert names["d"] == {"type": "Decimal", "repr": "Decimal('1.5')"}
    assert names["t"] == {"type": "timedelta", "repr": "datetime.timedelta(days=1)"}


def test_a_metaclass_eq_is_never_called_while_snapshotting():
    """Types are compared by identity: a class whose metaclass defines __eq__ (and lives,
    by its __module__, outside the program) is shown without that __eq__ running."""
    source = ("calls = []\nclass Meta(type):\n    def __eq__(cls, other):\n        calls.append('eq')\n"
              "        return False\n    __hash__ = type.__hash__\n"
              "Outside = Meta('Outside', (), {'__module__': 'elsewhere'})\nthing = Outside()\n"
              "try:\n    raise ValueError(thing)\nexcept ValueError as error:\n    caught = error\n"
              "print(calls)\n")
    record = run(source)
    assert record["outcome"]["status"] == "ok" and record["stdout"] == "[]\n"
    assert tracer.trace(source, format="pythontutor")["trace"][-1]["stdout"] == "[]\n"


def test_a_class_without_a_module_is_shown_without_an_error():
    """A class made where globals have no __name__ has no __module__ (reading it raises
    AttributeError); the snapshot must not raise that into the program."""
    source = ("namespace = {}\nexec(\"Made = type('Made', (), {})\", namespace)\n"
              "Made = namespace.pop('Made')\nthing = Made()\ndone = True\n")
    record = run(source)
    assert record["outcome"]["status"] == "ok", record["outcome"]
    assert record["steps"][-1]["stack"][0]["locals"]["done"] is True

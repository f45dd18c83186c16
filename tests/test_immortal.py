"""The fork server's objects made immortal before it forks (tracer/_immortal.c).

Each check runs in a fresh interpreter: an object made immortal is never
freed, and the test process's own objects must stay as they are.
"""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig

import pytest

from tracer import speedups

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What counting a reference to each object changes: 0 where it is immortal.
_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
from tracer import speedups

class Shape:
    def area(self):
        return ('a constant tuple', 1.5)

def counted(value):
    before = sys.getrefcount(value)
    kept = [value] * 5
    return sys.getrefcount(value) - before

text = ''.join(['not', ' interned'])
shape = Shape()
nested = {{'key': [shape, {{'deeper': text}}]}}
area_constant = Shape.area.__code__.co_consts[1]
split = str.__dict__['split']
reached = {{'dict': nested, 'instance': shape, 'string inside': text, 'method': Shape.area,
           'code': Shape.area.__code__, "code's constant": area_constant,
           "a static type's method": split}}
roots = [nested, Shape, str]
before = {{name: counted(value) for name, value in reached.items()}}
# (in one statement: the first count, once a global, would be one more object to mark)
first, again = speedups.immortalize(roots), speedups.immortalize(roots)
after = {{name: counted(value) for name, value in reached.items()}}
left = counted(''.join(['not', ' reached']))
print(json.dumps({{'immortalizes': speedups.IMMORTALIZES, 'first': first, 'again': again,
                  'before': before, 'after': after, 'left': left}}))
"""


def _probe():
    result = subprocess.run([sys.executable, "-c", _PROBE.format(root=ROOT)], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def test_everything_reachable_from_the_roots_is_counted_no_more():
    result = _probe()
    assert result["immortalizes"] == speedups.IMMORTALIZES
    assert set(result["before"].values()) == {5}  # all counted before
    assert result["left"] == 5  # an object not reached stays counted
    if not result["immortalizes"]:
        assert result["first"] == result["again"] == 0
        assert set(result["after"].values()) == {5}
        return
    assert result["after"] == {name: 0 for name in result["before"]}
    # the dict, list, instance, string, class and its dict, function, code, constants, ...
    assert result["first"] >= len(result["before"])
    assert result["again"] == 0  # nothing left to mark: each is marked once


def test_immortal_objects_are_known_on_the_runtimes_that_have_them():
    """CPython 3.12 and 3.13 (with the GIL) mark an immortal object as _immortal.c does;
    3.11 has none, and the free-threaded build marks them otherwise: nothing is marked there."""
    built = importlib.util.find_spec("tracer._speedups") is not None
    expected = (built and (3, 12) <= sys.version_info[:2] <= (3, 13)
                and not sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert speedups.IMMORTALIZES is expected


def test_roots_must_be_a_list():
    native = pytest.importorskip("tracer._speedups")
    with pytest.raises(TypeError):
        native.immortalize((1, 2))

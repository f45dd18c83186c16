"""Nothing a program does survives into the host process or the next run."""

import builtins
import math
import random
import sys

import tracer
from tests.conftest import run

MEDDLER = """
import math, random, sys, json
math.pi = 3
math.extra = 'added'
random.seed(1)
json.dumps = None
__builtins__.len = None  # a module in __main__, as untraced
sys.stdout = None
sys.setrecursionlimit(50)
value = random.random()
"""


def test_two_runs_of_one_request_give_equal_records():
    source = "import random\nrandom.seed(5)\nx = [random.random() for _ in range(3)]\nprint(x)"
    assert tracer.trace_json(source) == tracer.trace_json(source)
    assert tracer.trace_json(MEDDLER) == tracer.trace_json(MEDDLER)


def test_host_modules_builtins_and_streams_are_unchanged():
    random_state = random.getstate()
    modules = set(sys.modules)
    stdout, trace, limit = sys.stdout, sys.gettrace(), sys.getrecursionlimit()
    record = run(MEDDLER)
    assert record["outcome"]["status"] == "ok"
    assert math.pi == 3.141592653589793 and not hasattr(math, "extra")
    assert builtins.len is len and len("ab") == 2
    import json
    assert json.dumps([1]) == "[1]"
    assert random.getstate() == random_state
    assert set(sys.modules) == modules
    assert sys.stdout is stdout and sys.gettrace() is trace and sys.getrecursionlimit() == limit


def test_unseeded_random_does_not_change_the_hosts_generator():
    state = random.getstate()
    run("import random\nx = random.random()")
    assert random.getstate() == state


def test_after_a_stopped_run_the_next_run_is_normal():
    run("while True:\n    try:\n        pass\n    except BaseException:\n        pass", steps=100)
    record = run("x = 1\ny = x + 1")
    assert record["outcome"]["status"] == "ok" and len(record["steps"]) == 3


def test_the_builtins_made_ahead_go_to_one_program_only(monkeypatch):
    """The fork server makes a program's builtins module before it forks; the first
    program a process runs takes it, as it would have made it (its own __import__,
    the same names), and the next makes its own, whatever the first did to its own."""
    from tracer import runtime
    looks = "import math\nprint(math.floor(2.5), len('ab'), hasattr(__builtins__, 'extra'), sorted(vars(__builtins__)))\n"
    made_here = run(looks)["stdout"]
    monkeypatch.setattr(runtime, "_builtins_ahead", None)
    runtime.make_builtins_ahead()
    assert run(looks)["stdout"] == made_here  # it took them
    assert runtime._builtins_ahead is None
    runtime.make_builtins_ahead()
    ahead = runtime._builtins_ahead
    assert run("__builtins__.len = None\n__builtins__.extra = 1\n")["outcome"]["status"] == "ok"
    assert ahead.len is None and ahead.extra == 1  # the module that program had
    assert run(looks)["stdout"] == made_here
    assert "2 2 False" in made_here

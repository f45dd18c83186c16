"""Tracing never changes what a program does: each program here prints (or raises)
the same traced, in-process and in the sandbox, as CPython running it as a script."""

import concurrent.futures
import json
import subprocess
import sys
import textwrap
import time

import pytest

import main
import tracer
from tests import test_speedups

INPUT = "3 4\n5\n"
FINALIZED = ("class A:\n    def __init__(self, n):\n        self.n = n\n"
             "    def __del__(self):\n        print('del', self.n)\n")
PROGRAMS = {
    # locals() in a function is the locals as they were at the call, not refreshed at every step
    "locals_is_a_snapshot": "def f(a, b):\n    args = locals()\n    return sorted(args)\nprint(f(1, 2))\n",
    "locals_key_deleted_stays_deleted": ("def f(axis):\n    v = locals()\n    del v['axis']\n    x = 1\n"
                                         "    return sorted(v)\nprint(f(3))\n"),
    "vars_in_function_and_class": ("def f(a):\n    v = vars()\n    b = 2\n    return sorted(v)\nprint(f(1))\n"
                                   "class C:\n    x = 1\n    print(sorted(k for k in vars() if k[0] != '_'))\n"
                                   "print(sorted(vars(C))[-1])\n"),
    "module_locals_is_globals": "x = 1\nlocals()['y'] = 2\nprint(y, locals() is globals())\n",
    # a module that exists nowhere is ModuleNotFoundError
    "missing_module": ("try:\n    import no_such_module\nexcept ModuleNotFoundError as error:\n"
                       "    print(type(error).__name__, error, error.name)\n"),
    "missing_module_uncaught": "from no_such_module import x\n",
    # sys.modules['__main__'] is the program
    "main_module": "import sys\nx = 5\nprint(sys.modules[__name__].x, sys.modules['__main__'].x)\n",
    "dataclass_string_annotations": ("from __future__ import annotations\nfrom dataclasses import dataclass\n"
                                     "from typing import ClassVar\n@dataclass\nclass C:\n    x: int\n"
                                     "    y: ClassVar[int] = 3\nprint(C(x=5))\n"),
    "enum_functional_api": "from enum import Enum\nColor = Enum('Color', 'RED GREEN')\nprint(Color.RED, Color.__module__)\n",
    "type_hints": ("from typing import get_type_hints\nclass Point:\n    x: 'int'\n    y: 'Point'\n"
                   "print(get_type_hints(Point))\n"),
    # output: stdout is UTF-8, strict
    "lone_surrogate_printed": "print('before')\nprint('\\ud800')\n",
    # the environment of a script
    "stdin_buffer": "import sys\ndata = sys.stdin.buffer.read()\nprint(data.split(), type(data).__name__)\n",
    "stdin_lines": "import sys\nprint([line for line in sys.stdin])\n",
    "builtins_is_a_module": "print(type(__builtins__).__name__, __builtins__.len('abc'))\n",
    "builtins_item_assignment": "__builtins__['len'] = None\n",
    "main_dunders": "print(__name__, __spec__, __package__, sorted(__annotations__))\n",
    "int_max_str_digits": "import sys\nsys.set_int_max_str_digits(5000)\nprint(len(str(10 ** 4500)))\n",
    # a RecursionError is raised as the frame past the limit starts, and tracing goes on after it
    "recursion_caught_in_every_frame": ("import sys\nsys.setrecursionlimit(30)\ndef probe(n):\n"
                                        "    try:\n        return probe(n + 1)\n    except RecursionError:\n"
                                        "        return n\nprint(probe(1), probe(1))\n"),
    # the library's frames count against the limit as the program's do
    "library_frames_count_against_the_limit": ("import copy, sys\nsys.setrecursionlimit(100)\n"
                                               "for depth in range(44, 56):\n"
                                               "    x = eval('[' * depth + ']' * depth)\n    try:\n"
                                               "        copy.deepcopy(x)\n        print(depth, 'copied')\n"
                                               "    except RecursionError:\n        print(depth, 'too deep')\n"),
    # a finalizer runs as the program lets go of the object (the tracer holds none past a step)
    "finalizer_when_dropped": (FINALIZED + "for i in range(3):\n    a = A(i)\n    print('made', i)\n"
                               "    a = None\n    print('dropped', i)\n"),
    "finalizers_of_a_chain_in_order": (FINALIZED + "class Node(A):\n    def __init__(self, n, next=None):\n"
                                       "        self.n, self.next = n, next\n"
                                       "head = Node(1, Node(2, Node(3)))\nhead = None\nprint('after')\n"),
    "finalizers_of_two_dropped_at_once": FINALIZED + "a = A(1)\nb = A(2)\ndel a, b\nprint('after')\n",
    "finalizer_of_a_cycle_at_exit": FINALIZED + "a = A(1)\na.me = a\na = None\nprint('end')\n",
    # and at exit, as the interpreter's finalization does
    "finalizers_at_exit": FINALIZED + "y = A(2)\nz = [A(3), A(4)]\nprint('end')\n",
}


def untraced(source, tmp_path):
    """(stdout, the exception's last traceback line or "") of CPython running it as a script."""
    script = tmp_path / "program.py"
    script.write_text(source)
    result = subprocess.run([sys.executable, str(script)], input=INPUT, capture_output=True, text=True,
                            env={"PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8"})
    error = result.stderr.strip().splitlines()[-1] if result.returncode else ""
    return result.stdout, error


def outcome_of(record):
    exception = record["outcome"].get("exception")
    return record["stdout"], f"{exception['type']}: {exception['message']}" if exception else ""


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_program_does_the_same_traced_as_untraced(name, tmp_path):
    source = PROGRAMS[name]
    expected = untraced(source, tmp_path)
    assert outcome_of(tracer.trace(source, INPUT, 1000)) == expected
    assert outcome_of(json.loads(main._sandbox().run(source, INPUT, 1000))) == expected


def test_the_program_setting_int_max_str_digits_does_not_change_the_next_run():
    before = sys.get_int_max_str_digits()
    tracer.trace("import sys\nsys.set_int_max_str_digits(100000)\n")
    assert sys.get_int_max_str_digits() == before
    assert sys.modules["__main__"].__name__ != "<source>" and "__main__" in sys.modules


WARNINGS = {
    "syntax_warning": "x = 1\nprint(x is 1)\n",
    # (a pattern of its own: re caches what it compiled, and warns only the first time)
    "runtime_warning_shows_its_line": "import re\nprint('before')\np = re.compile('[[faithful]')\nprint('after')\n",
}


@pytest.mark.parametrize("name", WARNINGS)
def test_warnings_are_output_with_their_line_as_on_a_terminal(name, tmp_path):
    """Warnings go to stderr, which the record's output holds with stdout as a terminal
    shows both: those of compiling first, each with the program's line under it."""
    source = WARNINGS[name]
    script = tmp_path / "program.py"
    script.write_text(source)
    result = subprocess.run([sys.executable, "-u", str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={"PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8"})
    expected = result.stdout.replace(str(script), "<source>")
    assert "Warning: " in expected
    assert tracer.trace(source)["stdout"] == expected
    assert json.loads(main._sandbox().run(source, "", 1000))["stdout"] == expected


def test_objects_the_program_lets_go_of_are_not_held():
    """Memory stays what the program holds: 2000 lists of 20,000 ints built and dropped
    (about 1.4 GB if every list the record showed were held) run to the end."""
    source = "for i in range(2000):\n    x = list(range(20000))\nprint('done')\n"
    record = json.loads(main._sandbox().run(source, "", 10000))
    assert record["outcome"]["status"] == "ok" and record["stdout"] == "done\n"
    ids = {step["stack"][0]["locals"]["x"]["ref"] for step in record["steps"] if "x" in step["stack"][0]["locals"]}
    assert len(ids) == 2000  # a new list each time: a new id, never one a dead list had


def _rendered_outcome(format, body):
    """(output, the ids the variable x had, the last step) of a willow or Python Tutor body."""
    if format == "willow":
        steps = [step for step in body["steps"] if "snapshot" in step]
        output = "".join(step["print"] for step in body["steps"])
        ids = {member["value"][0] for step in steps for member in step["snapshot"]["stack"][0]["members"]
               if member["key"] == "x" and isinstance(member["value"], list)}
        return output, ids, body["steps"][-1]
    steps = body["trace"]
    ids = {step["globals"]["x"][1] for step in steps if "x" in step.get("globals", {})}
    return steps[-1].get("stdout"), ids, steps[-1]


@pytest.mark.parametrize("format", ["willow", "pythontutor"])
def test_the_rendered_formats_hold_no_object_the_program_let_go_of(format, tmp_path):
    """Python Tutor's and willow's heap ids, as the record's: 40 boxes of 8 MB built and
    dropped (320 MB if each one shown were held: memory_limit) run to the end, each with an
    id of its own; a finalizer's output comes as the program lets go, as untraced; what
    something else held when no step showed it any more is let go once that goes."""
    source = ("class Box:\n    __slots__ = ('data',)\nfor i in range(40):\n    x = Box()\n"
              "    x.data = bytes(8_000_000)\n    y = [x]\nprint('done')\n")
    output, ids, last = _rendered_outcome(format, json.loads(main._sandbox().run(source, "", 1000, "full", format)))
    assert output == "done\n", last
    assert len(ids) == 40
    source = PROGRAMS["finalizers_of_a_chain_in_order"]
    output, _, last = _rendered_outcome(format, json.loads(main._sandbox().run(source, "", 1000, "full", format)))
    assert output == untraced(source, tmp_path)[0], last
    # held on while an object no step shows (a partial) holds them, then let go by a sweep: 100 boxes of
    # 2 MB (200 MB if every one were held to the end: memory_limit)
    source = ("import functools\nclass Box:\n    __slots__ = ('data',)\nfor i in range(100):\n    x = Box()\n"
              "    x.data = bytes(2_000_000)\n    f = functools.partial(len, [x])\nprint('done')\n")
    output, ids, last = _rendered_outcome(format, json.loads(main._sandbox().run(source, "", 2000, "full", format)))
    assert output == "done\n", last
    assert len(ids) == 100


def test_a_list_hidden_while_one_object_holds_it_keeps_its_id():
    """A list cannot be weakly referenced: the tracer holds it while anything else does."""
    record = tracer.trace("import functools\ndata = [1, 2]\np = functools.partial(len, data)\ndel data\n"
                          "x = 1\nback = p.args[0]\n")
    names = [step["stack"][0]["locals"] for step in record["steps"]]
    assert names[3]["data"]["ref"] == names[-1]["back"]["ref"]
    assert all(str(names[3]["data"]["ref"]) not in step["heap"] for step in record["steps"][4:-1])


def test_an_object_hidden_for_a_while_keeps_its_id():
    """Shown, then in no step's heap while it lives, then shown again: the same id."""
    record = tracer.trace("def make():\n    box = [1]\n    def get():\n        return box\n    return get\n"
                          "get = make()\nx = 1\nagain = get()\n")
    inside = next(step["stack"][1]["locals"]["box"]["ref"] for step in record["steps"]
                  if len(step["stack"]) == 2 and "box" in step["stack"][1]["locals"])
    hidden = [step for step in record["steps"] if str(inside) not in step["heap"]]
    assert hidden  # the list is in a closure only, which no step draws
    assert record["steps"][-1]["stack"][0]["locals"]["again"]["ref"] == inside


SUGGESTED = {
    "name": "lenght = 3\nprint(length)\n",
    "name_in_a_function": "def f(count):\n    return cout + 1\nf(1)\n",
    "name_on_self": "class C:\n    def __init__(self):\n        self.size = 1\n    def f(self):\n        return size\nC().f()\n",
    "module_not_imported": "print(math.pi)\n",
    "attribute": "class P:\n    def __init__(self):\n        self.width = 2\np = P()\nprint(p.widht)\n",
    "method_of_a_list": "x = [1]\nx.apend(2)\n",
    "module_attribute": "import math\nmath.sqr(4)\n",
    "import_from": "from math import sqr\n",
    "class_attribute": "class K:\n    value = 1\nK.valeu\n",
    "nothing_close": "print(zzzzzz)\n",
    "own_variable_before_a_global": "def f():\n    countr = 1\n    return county\ncounty_x = 1\nf()\n",
    "another_case": "Value = 1\nprint(value)\n",
    "builtin": "prnt(1)\n",
    "underscored_attribute": "class P:\n    _hidden = 1\nP()._hiden\n",
}


@pytest.mark.parametrize("name", SUGGESTED)
def test_an_uncaught_errors_last_line_suggests_as_cpython_does(name, tmp_path):
    """"Did you mean" and "Did you forget to import", as CPython prints them."""
    source = SUGGESTED[name]
    _, expected = untraced(source, tmp_path)
    for record in (tracer.trace(source), json.loads(main._sandbox().run(source, "", 1000))):
        assert record["outcome"]["exception"]["traceback"].splitlines()[-1] == expected


def test_a_suggestion_never_runs_the_programs_code():
    source = ("class Sneaky:\n    def __dir__(self):\n        print('dir ran')\n        return ['value']\n"
              "    def __getattr__(self, name):\n        print('getattr ran')\n        raise AttributeError(name)\n"
              "    def f(self):\n        return valeu\ns = Sneaky()\ns.f()\n")
    record = tracer.trace(source)
    assert "ran" not in record["stdout"]
    assert record["outcome"]["exception"]["type"] == "NameError"


def test_a_suggestion_imports_nothing_the_program_names():
    """3.12's traceback module imports the module an ImportError names, to list its names:
    here only a module imported already is read."""
    assert "this" not in sys.modules  # (importing it prints the Zen of Python)
    record = tracer.trace("error = ImportError('no', name='this')\nerror.name_from = 'zen'\nraise error\n")
    assert record["outcome"]["exception"]["traceback"].endswith("ImportError: no")
    assert "this" not in sys.modules


def test_a_suspended_generators_finally_runs_at_exit(tmp_path):
    """As the interpreter's exit closes it: its `finally` prints after the program's last line."""
    source = "def gen():\n    try:\n        yield 1\n    finally:\n        print('closed')\ng = gen()\nnext(g)\nprint('end')\n"
    expected = untraced(source, tmp_path)
    assert expected[0] == "end\nclosed\n"
    assert outcome_of(tracer.trace(source)) == expected
    assert outcome_of(json.loads(main._sandbox().run(source, "", 1000))) == expected


def test_a_finalizer_that_never_returns_at_exit_meets_the_time_limit(monkeypatch):
    monkeypatch.setenv("TRACER_TIME_SECONDS", "1")
    source = ("class A:\n    def __del__(self):\n        while True:\n            pass\n"
              "a = A()\nb = [A(), A()]\nprint('end')\n")
    for record in (tracer.trace(source), json.loads(main._sandbox().run(source, "", 1000))):
        assert record["outcome"]["status"] == "time_limit" and record["stdout"] == "end\n"
    # and no StopProgram is left to fire into the host: a few of the watchdog's intervals of Python
    until = time.monotonic() + 0.3
    while time.monotonic() < until:
        sum(range(100))


def test_garbage_cycles_die_at_the_same_steps_in_the_services_children():
    # a child is forked from a server whose objects are frozen and has warmed up: the program's
    # collections still come where its own allocations make them due, as in process
    source = textwrap.dedent(test_speedups.MUTATING_PROGRAMS["garbage_cycles_with_finalizers"])
    record = main._sandbox().run(source, "", 5000)
    assert record == tracer.trace_json(source, "", 5000)
    printed = json.loads(record)["stdout"].splitlines()
    assert printed[:printed.index("end")].count("del") >= 150  # collected while it ran, not at its exit


def test_a_finalizer_runs_traced_in_the_services_child_where_cpython_runs_it():
    # the engine is the one traced in process, but the child is forked from a frozen server and
    # sends its steps in batches: its finalizers' steps still come as CPython runs them
    source = test_speedups.FINALIZED_AS_LET_GO
    record = json.loads(main._sandbox().run(source, "", 1000))
    assert record == tracer.trace(source, "", 1000)
    steps = [(step["event"], step["line"], step["stack"][-1]["name"]) for step in record["steps"]]
    assert steps == test_speedups._events_as_cpython_traces_them(source)
    assert ("line", 5, "__del__") in steps and ("line", 12, "numbers") in steps


def test_children_that_did_not_warm_up_trace_as_those_that_did():
    # requests at once: spares forked while children run skip the warm-up
    # (forkserver._Spares.refill); each record is still the one traced in process
    source = textwrap.dedent(test_speedups.MUTATING_PROGRAMS["garbage_cycles_with_finalizers"])
    expected = tracer.trace_json(source, "", 5000)
    sandbox = main._sandbox()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        records = list(pool.map(lambda _: sandbox.run(source, "", 5000), range(12)))
    assert records == [expected] * 12

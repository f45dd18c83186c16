"""Steps and frames: which events are steps, activation ids, locals, limits."""

import sys

import pytest

import tracer
from tests.conftest import run


def events(record):
    return [(step["event"], step["line"]) for step in record["steps"]]


def test_module_initial_call_is_not_a_step_and_return_is():
    assert events(run("x = 1\ny = 2")) == [("line", 1), ("line", 2), ("return", 2)]


def test_empty_program_has_no_steps():
    record = run("")
    assert record["steps"] == [] and record["outcome"]["status"] == "ok"
    assert run("# only a comment\n")["steps"] == []


def test_call_line_return_in_a_function():
    record = run("def f(a):\n    return a + 1\nf(1)")
    assert events(record) == [("line", 1), ("line", 3), ("call", 1), ("line", 2), ("return", 2),
                              ("return", 3)]
    assert record["steps"][4]["return"] == 2


def test_library_and_generated_code_is_neither_step_nor_frame():
    record = run("import heapq\nfrom dataclasses import dataclass\nfrom collections import namedtuple\n"
                 "@dataclass\nclass P:\n    x: int\nT = namedtuple('T', 'a')\n"
                 "h = []\nheapq.heappush(h, 3)\np = P(1)\nt = T(2)\ns = sorted(range(10000))\n")
    assert {frame["name"] for step in record["steps"] for frame in step["stack"]} == {"<module>", "P"}
    assert len(record["steps"]) == 18


def test_user_function_called_from_library_is_traced_with_only_user_frames():
    record = run("def key(x):\n    return -x\nr = sorted([1, 2], key=key)")
    stacks = [[frame["name"] for frame in step["stack"]] for step in record["steps"]]
    assert ["<module>", "key"] in stacks
    assert sum(step["event"] == "call" for step in record["steps"]) == 2


def test_activation_ids_are_distinct_per_call_and_stable_within_one():
    record = run("def f(n):\n    if n:\n        f(n - 1)\n    return n\nf(2)\nf(0)")
    ids_by_depth = {}
    for step in record["steps"]:
        for depth, frame in enumerate(step["stack"]):
            ids_by_depth.setdefault(frame["id"], set()).add((depth, frame["name"]))
    assert all(len(places) == 1 for places in ids_by_depth.values())
    assert len(ids_by_depth) == 1 + 4  # the module, three nested calls, one more call


def test_generator_keeps_its_activation_id_across_yields():
    record = run("def g():\n    yield 1\n    yield 2\nfor v in g():\n    pass")
    generator_ids = {frame["id"] for step in record["steps"] for frame in step["stack"] if frame["name"] == "g"}
    assert len(generator_ids) == 1
    yields = [step for step in record["steps"] if step.get("yield")]
    assert [step["return"] for step in yields] == [1, 2]
    final = [step for step in record["steps"] if step["event"] == "return" and step["stack"][-1]["name"] == "g"][-1]
    assert "yield" not in final and final["return"] is None


def test_locals_keep_binding_order_not_code_order():
    record = run("def f(flag):\n    if flag:\n        b = 1\n    a = 2\n    b = 3\n    return a\nf(False)")
    last_f = [step for step in record["steps"] if step["stack"][-1]["name"] == "f"][-1]
    assert list(last_f["stack"][-1]["locals"]) == ["flag", "a", "b"]


def test_module_dunders_are_hidden():
    record = run("__secret__ = 1\nx = __name__")
    names = record["steps"][-1]["stack"][0]["locals"]
    assert names == {"x": "__main__"}


def test_frame_lines_are_one_based_and_outer_frames_show_the_call_line():
    record = run("def f():\n    return 1\n\nf()")
    inner = [step for step in record["steps"] if len(step["stack"]) == 2][0]
    assert inner["stack"][0]["line"] == 4 and inner["stack"][1]["line"] == 1


def test_exception_step_in_each_frame_then_return_without_value():
    record = run("def f():\n    1 / 0\ntry:\n    f()\nexcept ZeroDivisionError:\n    pass")
    tail = [(s["event"], s["stack"][-1]["name"], "return" in s) for s in record["steps"]]
    assert ("exception", "f", False) in tail
    assert ("return", "f", False) in tail
    assert ("exception", "<module>", False) in tail
    exception_step = [s for s in record["steps"] if s["event"] == "exception"][0]
    assert exception_step["exception"] == {"type": "ZeroDivisionError", "message": "division by zero"}


def test_step_limit_stops_the_program():
    record = run("while True:\n    pass", steps=50)
    assert len(record["steps"]) == 50
    assert record["outcome"] == {"status": "step_limit", "message": "Stopped after 50 steps, the step limit"}


@pytest.mark.parametrize("catcher", [
    "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n",
    "try:\n    while True:\n        pass\nfinally:\n    while True:\n        pass\n",
    "while True:\n    try:\n        try:\n            while True:\n                pass\n        except:\n            pass\n"
    "        while True:\n            pass\n    except BaseException:\n        pass\n    finally:\n"
    "        while True:\n            pass\n",
    "def f():\n    try:\n        f()\n    except BaseException:\n        f()\nf()\n",
])
def test_step_limit_holds_when_the_program_catches_everything(catcher):
    record = run(catcher, steps=200)
    assert record["outcome"]["status"] == "step_limit"
    assert len(record["steps"]) == 200
    assert sys.gettrace() is None


def test_loop_on_one_line_follows_the_running_cpython(monkeypatch):
    """3.11 reports no line event when a one-line loop jumps back; 3.12 does."""
    monkeypatch.setenv("TRACER_TIME_SECONDS", "1")
    record = run("while True: pass", steps=10000)
    expected = "time_limit" if sys.version_info[:2] == (3, 11) else "step_limit"
    assert record["outcome"]["status"] == expected


def test_output_after_the_limit_is_not_in_the_record():
    record = run("i = 0\nwhile True:\n    print(i)\n    i += 1", steps=20)
    assert record["stdout"] == "".join(f"{i}\n" for i in range(6))


def test_steps_are_clamped_to_the_service_maximum(monkeypatch):
    monkeypatch.setenv("TRACER_MAX_STEPS", "30")
    record = run("while True:\n    pass", steps=10**9)
    assert record["limits"]["steps"] == 30 and len(record["steps"]) == 30


def test_recursion_error_is_the_programs_and_tracing_survives_it(monkeypatch):
    monkeypatch.setenv("TRACER_RECURSION_DEPTH", "60")
    record = run("def f(n):\n    return f(n + 1)\ntry:\n    f(0)\nexcept RecursionError as e:\n    m = str(e)\n"
                 "done = True")
    assert record["outcome"]["status"] == "ok"
    assert record["steps"][-1]["stack"][0]["locals"]["done"] is True
    assert max(len(step["stack"]) for step in record["steps"]) == 60


def test_recursion_limit_set_by_the_program_is_enforced():
    record = run("import sys\nsys.setrecursionlimit(30)\ndef f(n):\n    return f(n + 1)\n"
                 "try:\n    f(0)\nexcept RecursionError as e:\n    m = str(e)\ndone = sys.getrecursionlimit()")
    names = record["steps"][-1]["stack"][0]["locals"]
    assert names["m"] == "maximum recursion depth exceeded" and names["done"] == 30
    depth = max(len(step["stack"]) for step in record["steps"])
    assert 25 <= depth <= 30


def test_uncaught_recursion_error_traceback_collapses_repeats():
    record = run("import sys\nsys.setrecursionlimit(40)\ndef f(n):\n    return f(n + 1)\nf(0)")
    exception = record["outcome"]["exception"]
    assert exception["type"] == "RecursionError" and exception["line"] == 4
    assert "[Previous line repeated" in exception["traceback"]


@pytest.mark.parametrize("source", [
    "exec('while True: pass')",
    "try:\n    exec('while True: pass')\nexcept BaseException:\n    exec('while True: pass')",
    "import time\nwhile True:\n    time.sleep(0.2)",
])
def test_time_limit_stops_loops_that_give_no_events(monkeypatch, source):
    """Code that is not the program's (here exec'd) gives no events; the deadline still holds."""
    monkeypatch.setenv("TRACER_TIME_SECONDS", "1")
    record = run(source, steps=10000)
    assert record["outcome"]["status"] == "time_limit"
    assert sys.gettrace() is None
    assert run("x = 1")["outcome"]["status"] == "ok"


def test_record_size_cap_gives_output_limit_with_the_steps_that_fit(monkeypatch):
    monkeypatch.setenv("TRACER_RECORD_BYTES", str(200 * 1024))
    record = run("x = list(range(100))\nwhile True:\n    x.append(1)", steps=10000)
    assert record["outcome"]["status"] == "output_limit"
    assert 0 < len(record["steps"]) < 10000
    assert len(tracer.trace_json("x = list(range(100))\nwhile True:\n    x.append(1)", "", 10000)) <= 200 * 1024


def test_nested_module_comprehensions_run_as_untraced():
    """On 3.12 reading the module's f_locals inside an inlined comprehension made CPython
    write None into the outer comprehension's variable; the module frame shows globals."""
    source = "N = 3\ngrid = [[(i + j) % 5 for j in range(N)] for i in range(N)]\nprint(grid)\nprint('i' in globals())\n"
    record = run(source, steps=1000)
    assert record["outcome"]["status"] == "ok"
    assert record["stdout"] == "[[0, 1, 2], [1, 2, 3], [2, 3, 4]]\nFalse\n"

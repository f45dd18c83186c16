"""willow's format, held against willow's own tracer.

tests/willow/expected/ holds what willow's tracer (github.com/pedro00dk/willow,
MIT licensed: tests/willow/LICENSE) returned for every res/ fixture, Python
Tutor's test programs and the bench programs at 400 steps, made by
tests/willow/make_fixtures.py under CPython 3.11 (py311/), 3.12 and 3.13
(py312/, py313/: only where willow's answer differs from the version before). Each program is traced here and both are compared
after the normalizations below; every program whose trace still differs is
listed with the reason, and the list is exact.
"""

import ast
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import tracer
from tests.conftest import SCHEMA_DIR, check_error
from tests.test_pythontutor import ANY_PATH
from tests.test_service import app, post
from tests.test_speedups import FINALIZED_AS_LET_GO, ROOT, _events_as_cpython_traces_them
from tests.willow.programs import PROGRAMS, STEPS

EXPECTED = Path(__file__).resolve().parent / "willow" / "expected"
WILLOW = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "willow.json").read_text()))
VERSION = "py%d%d" % sys.version_info[:2]
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

# Every program whose trace differs from willow's after normalizing, and why (the README's table).
DIFFERENCES = {
    # willow allows 10 modules and refuses the rest with "Access to 'x' is halted"
    "our import allow-list": {
        "res__containers", "res__dataclasses_namedtuple", "res__enums", "res__import_error", "res__output_streams",
        "res__scalars", "res__stdin_lines", "res__sys_exit", "pythontutor__backend__callback-test",
        "pythontutor__backend__exec_test", "pythontutor__backend__import_error",
        "pythontutor__backend__john-import-test", "pythontutor__backend__namedtuple",
        "pythontutor__backend__pie-test", "pythontutor__backend__restaurants", "pythontutor__backend__ttt_min"},
    # willow draws an instance as a map only once it has met its class earlier in the same snapshot
    "every instance of the program's classes drawn": {
        "res__class_in_function", "pythontutor__backend__nested-class-test"},
    # willow shows an empty program as two steps on line -1
    "an empty program has no steps": {"res__empty"},
    # sys.exit() ends willow's whole process (the service with it)
    "sys.exit ends the program, not the service": {"res__exit_code"},
    # willow's vars() fails on __slots__ and its tracer's own traceback becomes the answer
    "__slots__ drawn": {"res__slots"},
    # willow calls the program's __repr__, __eq__, __getattr__ ... and fails inside its tracer
    "the program's code never runs": {"res__snapshot_never_runs_user_code"},
    # willow's open() raises FileNotFoundError; ours is refused as in every format
    "open() refused with our message": {"pythontutor__backend__open_error"},
}
DIFFERENCES_312 = {
    # 3.12 inlines comprehensions; willow reads the module frame's f_locals, which then
    # holds the comprehension's variables too (and writes None back into them: willow's
    # matrix bench stops after 9 steps); ours shows the module's globals
    "comprehension variables in 3.12": {
        "res__comprehensions", "res__match_walrus", "res__lambdas", "res__truncated",
        "pythontutor__backend__unicode-py3-ultimate", "bench__bubble_sort", "bench__matrix"},
}
DIFFERENCES_311 = {
    # our last traceback line is what CPython shows, "Did you mean" and all; willow's is the
    # traceback module's, which on 3.11 has none (3.11 computes them in C, for its own display)
    "suggestions in tracebacks": {"pythontutor__backend__bytearray", "pythontutor__backend__dict_error"},
}


def willow_trace(name):
    """willow's response on the running CPython: its version's file, else the nearest earlier one's."""
    for minor in range(sys.version_info[1], 10, -1):
        path = EXPECTED / f"py3{minor}" / f"{name}.json.gz"
        if path.exists():
            return json.loads(gzip.decompress(path.read_bytes()))
    raise FileNotFoundError(name)


def _plain_string(value):
    """Our str values are their repr (willow loses 'True' vs True): the str itself, to compare with willow's."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        try:
            plain = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        if isinstance(plain, str):
            return plain
    return value


def _traceback(text):
    """A traceback's frame lines and last line: ours also shows each line's source, and names the file <source>."""
    lines = [line.replace('"<source>"', '"<script>"') for line in text.splitlines()
             if not line.startswith("    ") and line != "Traceback (most recent call last):"]
    return "\n".join(lines)


def normalized(steps, ours):
    """Steps with heap ids numbered by first appearance from the stack, set members sorted, addresses masked."""
    out = []
    for step in steps:
        step = dict(step)
        if "print" in step:
            step["print"] = ADDRESS.sub(" at 0x?", step["print"])
        error = step.get("error", {}).get("exception")
        if error:
            step["error"] = {"exception": {"type": error["type"], "traceback": _traceback(error["traceback"])}}
        snapshot = step.get("snapshot")
        if snapshot:
            heap, numbers, new_heap = snapshot["heap"], {}, {}

            def value(item):
                if isinstance(item, list):
                    old = str(item[0])
                    if old not in numbers:
                        numbers[old] = len(numbers)
                        obj = heap[old]
                        members = [(value(m["key"]), value(m["value"])) for m in obj["members"]]
                        if obj["category"] == "set":  # hash order: str hashes differ per process
                            members = [(index, v) for index, (_, v) in
                                       enumerate(sorted(members, key=lambda m: json.dumps(m[1])))]
                        new_heap[numbers[old]] = (obj["category"], obj["type"], members)
                    return ("ref", numbers[old])
                return _plain_string(item) if ours else item

            stack = [(frame["line"], frame["name"],
                      [(member["key"], value(member["value"])) for member in frame["members"]])
                     for frame in snapshot["stack"]]
            step["snapshot"] = (snapshot["event"], stack, new_heap)
        out.append(step)
    return out


@pytest.fixture(scope="module")
def traces():
    """Every program traced in willow's format, in process, each checked against the schema."""
    result = {}
    for name, (source, input_text) in PROGRAMS.items():
        body = json.loads(tracer.trace_json(source, input_text, STEPS, format="willow"))
        WILLOW.validate(body)
        result[name] = body
    return result


def test_identical_to_willow_but_the_listed_differences(traces):
    differences = dict(DIFFERENCES, **(DIFFERENCES_312 if VERSION >= "py312" else DIFFERENCES_311))
    listed = set().union(*differences.values())
    assert listed <= set(PROGRAMS)
    differing = set()
    for name in PROGRAMS:
        theirs = willow_trace(name)
        if "steps" not in theirs or normalized(theirs["steps"], False) != normalized(traces[name]["steps"], True):
            differing.add(name)
    assert differing == listed
    assert len(PROGRAMS) - len(differing) >= 75


def test_the_differences_are_willows_failures_or_our_policy():
    """Where willow itself failed, its fixture says so: the process died or its tracer's traceback is the answer."""
    assert "failed" in willow_trace("res__exit_code")
    for name in ("res__slots", "res__snapshot_never_runs_user_code"):
        error = willow_trace(name)["steps"][-1]["error"]["exception"]
        assert "tracer/inspector.py" in error["traceback"]


def test_through_the_service_as_in_process(traces):
    client = app.test_client()
    for name in ("res__seed", "res__uncaught_exception", "bench__bst", "pythontutor__backend__list_sum"):
        source, input_text = PROGRAMS[name]
        response = post(client, {"source": source, "input": input_text, "steps": STEPS, "format": "willow"})
        assert response.status_code == 200
        WILLOW.validate(response.get_json())
        assert response.get_json() == traces[name]


def test_willows_client_pointed_at_willow_path_gets_willows_format():
    """willow's client sends {source, input, steps} and no format."""
    response = ANY_PATH.test_client().post("/willow", json={"source": "x = [1]\nprint(x)\n", "input": "", "steps": 400})
    assert response.status_code == 200
    body = response.get_json()
    WILLOW.validate(body)
    assert body["steps"][-1]["print"] == "[1]\n"
    assert ANY_PATH.test_client().post("/", json={"source": "x = 1"}).get_json().keys() >= {"steps", "outcome"}


def trace(source, steps=400, input_text=""):
    body = tracer.trace(source, input_text, steps, format="willow")
    WILLOW.validate(body)
    return body["steps"]


def _snapshot_events(steps):
    return [(step["snapshot"]["event"], step["snapshot"]["stack"][-1]["line"] + 1,
             step["snapshot"]["stack"][-1]["name"]) for step in steps if "snapshot" in step]


def test_a_finalizer_runs_traced_where_cpython_runs_it():
    """willow's tracer holds none of the program's objects: a `__del__` (a dropped generator's
    `finally`) runs traced as the line lets go of it. The renderer holds what the last step
    showed, and lets go as it renders the next: traced, the finalizer's steps come first, then
    that step, rendered again; through the service and without the C loops alike."""
    source = FINALIZED_AS_LET_GO
    body = tracer.trace(source, "", 1000, format="willow")
    WILLOW.validate(body)
    assert _snapshot_events(body["steps"]) == _events_as_cpython_traces_them(source)
    printed = {event: step.get("print", "") for event, step in zip(_snapshot_events(body["steps"]), body["steps"])}
    assert printed[("line", 6, "__del__")] == "closing a\n"  # what line 5 printed, inside the finalizer
    assert printed[("line", 13, "numbers")] == "numbers closed\n"
    response = post(app.test_client(), {"source": source, "steps": 1000, "format": "willow"})
    assert response.get_json() == body
    script = ("import sys, tracer; from tracer import speedups; assert not speedups.NATIVE; "
              "sys.stdout.buffer.write(tracer.trace_json(sys.stdin.read(), '', 1000, format='willow'))")
    fallback = subprocess.run([sys.executable, "-c", script], input=source.encode(), capture_output=True,
                              check=True, env=dict(os.environ, TRACER_SPEEDUPS="0"), cwd=ROOT)
    assert json.loads(fallback.stdout) == body


@pytest.mark.parametrize("steps", [4, 12, 13, 20])
def test_a_step_limit_inside_a_traced_finalizer_ends_the_trace_there(steps):
    source = ("class A:\n    def __init__(self, n):\n        self.n = n\n    def __del__(self):\n"
              "        total = 0\n        for i in range(3):\n            total += i\n"
              "        print('del', self.n, total)\n"
              "for i in range(40):\n    a = A(i)\n    a = None\nprint('end')\n")
    body = tracer.trace(source, "", steps, format="willow")
    assert len(body["steps"]) == steps + 1 and "error" in body["steps"][-1]
    names = [name for _, _, name in _snapshot_events(body["steps"])]
    assert ("__del__" in names) == (steps >= 13)  # the first finalizer is called at step 13
    response = post(app.test_client(), {"source": source, "steps": steps, "format": "willow"})
    assert response.get_json() == body


def test_a_step_limit_inside_except_exception_ends_the_trace():
    """willow stops a program by raising an Exception into it, which `except Exception` catches: it hangs."""
    steps = trace("while True:\n    try:\n        x = 1\n    except Exception:\n        pass\n", steps=50)
    assert len(steps) == 51
    assert steps[-1] == {"error": {"cause": "Program too long, maximum steps allowed: 50"}, "print": ""}


def test_a_long_linked_list_is_drawn_whole():
    """willow walks the heap recursively and fails near 490 nodes."""
    source = "import json\nhead = json.loads('{\"next\": ' * 1000 + 'null' + '}' * 1000)\n"
    last = trace(source)[-1]["snapshot"]
    assert last["event"] == "return" and len(last["heap"]) == 1000


def test_true_and_the_string_true_differ():
    members = trace("a = True\nb = 'True'\nc = None\nd = 'None'\ne = 2**60\nf = '1152921504606846976'\n")[-1]
    values = {m["key"]: m["value"] for m in members["snapshot"]["stack"][0]["members"]}
    assert values == {"a": "True", "b": "'True'", "c": "None", "d": "'None'", "e": "1152921504606846976",
                      "f": "'1152921504606846976'"}


def test_a_dead_objects_id_is_never_given_to_another():
    """willow keys ids by address: a new list at a dead one's address takes its id."""
    steps = trace("for i in range(5):\n    x = [i]\n    del x\n")
    ids = {}
    for step in steps:
        for member in step["snapshot"]["stack"][0]["members"]:
            if member["key"] == "x":
                contents = step["snapshot"]["heap"][str(member["value"][0])]["members"][0]["value"]
                ids.setdefault(member["value"][0], set()).add(contents)
    assert len(ids) == 5 and all(len(values) == 1 for values in ids.values())


def test_output_and_errors_in_willows_shape():
    steps = trace("print('a')\nimport sys\nprint('b', file=sys.stderr)\nx = input('n? ')\n1 / 0\n", input_text="7\n")
    assert "".join(step["print"] for step in steps) == "a\nb\nn? "
    error = steps[-1]["error"]["exception"]
    assert error["type"] == "ZeroDivisionError" and error["traceback"].endswith("ZeroDivisionError: division by zero\n")
    raised = [step["snapshot"] for step in steps[:-1] if step["snapshot"]["event"] == "exception"]
    assert [m for m in raised[0]["stack"][0]["members"] if m["key"] == "#exception#"] == [
        {"key": "#exception#", "value": "ZeroDivisionError('division by zero')"}]


def test_a_return_shows_its_value_on_the_top_frame():
    steps = trace("def f():\n    return [1]\ny = f()\n")
    returned = [step["snapshot"] for step in steps if step["snapshot"]["event"] == "return"][0]
    top = returned["stack"][-1]
    assert top["name"] == "f" and top["line"] == 1
    assert top["members"][-1]["key"] == "#return#"
    assert returned["heap"][str(top["members"][-1]["value"][0])]["members"] == [{"key": 0, "value": 1}]


def test_sys_exit_with_a_message_prints_it_last():
    steps = trace("import sys\nsys.exit('bye')\n")
    assert steps[-1] == {"print": "bye\n"}


def test_willow_takes_no_options_and_no_delta():
    client = app.test_client()
    for body, fragment in (({"format": "willow", "options": {"heap_primitives": True}}, "unknown option"),
                           ({"format": "willow", "encoding": "delta"}, "delta")):
        response = post(client, body)
        assert response.status_code == 400
        assert fragment in check_error(response.get_json())["error"]["message"]


def test_an_exceptions_repr_runs_none_of_the_programs_code():
    source = ("calls = []\nclass Meta(type):\n    def __eq__(cls, other):\n        calls.append('eq')\n"
              "        return False\n    __hash__ = type.__hash__\n"
              "class Arg(metaclass=Meta):\n    def __repr__(self):\n        calls.append('repr')\n        return 'arg'\n"
              "try:\n    raise ValueError(Arg(), 2**20000)\nexcept ValueError:\n    pass\nprint(calls)\n")
    steps = trace(source)
    assert "".join(step["print"] for step in steps) == "[]\n"
    raised = [member["value"] for step in steps if step.get("snapshot", {}).get("event") == "exception"
              for member in step["snapshot"]["stack"][-1]["members"] if member["key"] == "#exception#"]
    assert raised and raised[0].startswith("ValueError(<Arg>, ")

"""Python Tutor's format, held against the traces of Python Tutor's own generator.

tests/pythontutor/ holds 70 programs from Python Tutor's back-end test suite
and the traces its generator made of them under CPython 3.11 (MIT licensed:
tests/pythontutor/LICENSE.txt). Each program is traced through the service
(HTTP layer and sandbox) and compared after heap ids are renumbered.
"""

import json
import re
import sys
from pathlib import Path

import flask
import jsonschema
import pytest

import main
import tracer
from tests import fixtures
from tests.conftest import SCHEMA_DIR, check_error
from tests.test_service import app, post

CORPUS = Path(__file__).resolve().parent / "pythontutor"
PROGRAMS = sorted(path.stem for path in (CORPUS / "programs").glob("*.txt"))
ADDRESS = re.compile(r" 0x[0-9A-Fa-f]+>")
PYTHONTUTOR = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "pythontutor.json").read_text()))

# The corpus README's list: where Python Tutor's policy, not Python, decides the trace.
POLICY = {"backend__callback-test", "backend__ttt_min", "backend__import_error", "backend__exec_test",
          "backend__open_error", "backend__raw_input_with_weird_params", "backend__bytearray",
          "backend__unicode-py2", "backend__parse_error", "backend__parse_error_2", "backend__parse_error_3",
          "backend__data_test"}
# Every program whose trace is not identical, the fields where it differs, and why (the README's table).
DIFFERENCES = {
    "backend__callback-test": ({"exception_msg"}, "our import allow-list and its message"),
    "backend__ttt_min": ({"exception_msg"}, "our import allow-list and its message"),
    "backend__import_error": ({"exception_msg"}, "our import allow-list and its message"),
    "backend__exec_test": ({"exception_msg"}, "exec is allowed here; the program's import of os is not"),
    "backend__open_error": ({"exception_msg"}, "open() is refused with our PermissionError, not Exception"),
    "backend__class_test": ({"heap"}, "a class's own __str__ is never called: INSTANCE with attributes"),
}
# CPython 3.12 inlines comprehensions: no <listcomp> frames, so these trace differently there.
INLINED_COMPREHENSIONS = {"backend__restaurants", "backend__unicode-py3-ultimate"}
ON_312 = sys.version_info[:2] >= (3, 12)
# CPython 3.13's namedtuple classes have __replace__ too, which the class's box shows.
NAMEDTUPLE_REPLACE = {"backend__namedtuple"} if sys.version_info[:2] >= (3, 13) else set()


def renumbered(trace):
    """The trace with heap ids numbered by first appearance, walking each step's globals, frames and heap."""
    numbers = {}

    def visit(value, heap, out_heap):
        if isinstance(value, list) and len(value) == 2 and value[0] == "REF":
            old = value[1]
            if old not in numbers:
                numbers[old] = len(numbers) + 1
            new = numbers[old]
            if str(old) in heap and str(new) not in out_heap:
                out_heap[str(new)] = None  # entered once per step, depth first
                out_heap[str(new)] = [visit(item, heap, out_heap) for item in heap[str(old)]]
            return ["REF", new]
        if isinstance(value, list):
            return [visit(item, heap, out_heap) for item in value]
        return value

    steps = []
    for step in trace:
        if "heap" not in step:
            steps.append(step)
            continue
        heap, out_heap = step["heap"], {}
        out = dict(step)
        out["globals"] = {name: visit(step["globals"][name], heap, out_heap) for name in step["ordered_globals"]}
        out["stack_to_render"] = [
            dict(frame, encoded_locals={name: visit(frame["encoded_locals"][name], heap, out_heap)
                                        for name in frame["ordered_varnames"]})
            for frame in step["stack_to_render"]]
        for old in step["heap"]:
            visit(["REF", int(old)], heap, out_heap)
        out["heap"] = out_heap
        steps.append(out)
    return steps


def canonical(value):
    """Text that tells true from 1 and 1 from 1.0, with object keys in a fixed order.

    Memory addresses in printed reprs are masked, as they were in the corpus.
    """
    return ADDRESS.sub(" 0xADDR>", json.dumps(value, sort_keys=True))


def differing_fields(expected, actual):
    fields = set()
    if len(expected) != len(actual):
        fields.add("step count")
    for want, got in zip(renumbered(expected), renumbered(actual)):
        for field in set(want) | set(got):
            if canonical(want.get(field)) != canonical(got.get(field)):
                fields.add(field)
    return fields


def weak(trace):
    return [(step.get("event"), step.get("line"), step.get("func_name"), ADDRESS.sub(" 0xADDR>", step.get("stdout", "")))
            for step in trace]


@pytest.fixture(scope="module")
def traces():
    """Every corpus program traced through the service in Python Tutor's format, checked against the schema."""
    client = app.test_client()
    result = {}
    for name in PROGRAMS:
        source = (CORPUS / "programs" / f"{name}.txt").read_text(encoding="utf-8")
        response = post(client, {"source": source, "steps": 1000, "format": "pythontutor"})
        assert response.status_code == 200, name
        body = response.get_json()
        PYTHONTUTOR.validate(body)
        assert body["code"] == source
        result[name] = body["trace"]
    return result


def expected(name):
    return json.loads((CORPUS / "expected" / f"{name}.json").read_text(encoding="utf-8"))["trace"]


def test_identical_traces_but_the_differences_the_readme_lists(traces):
    found = {}
    for name in PROGRAMS:
        fields = differing_fields(expected(name), traces[name])
        if fields:
            found[name] = fields
    if ON_312:  # the corpus was made on 3.11
        assert {name for name in INLINED_COMPREHENSIONS if name in found} == INLINED_COMPREHENSIONS
        found = {name: fields for name, fields in found.items() if name not in INLINED_COMPREHENSIONS}
    for name in NAMEDTUPLE_REPLACE:
        assert found.pop(name) == {"heap"}
    assert found == {name: fields for name, (fields, _why) in DIFFERENCES.items()}
    assert len(PROGRAMS) == 70 and len(PROGRAMS) - len(found) >= 60


@pytest.mark.parametrize("name", PROGRAMS)
def test_events_lines_and_output_match_wherever_policy_does_not_decide(traces, name):
    if name in POLICY:
        assert traces[name][-1]["event"] in ("exception", "uncaught_exception", "return")
        return
    if ON_312 and name in INLINED_COMPREHENSIONS:
        assert not any(step["func_name"].endswith("comp>") for step in traces[name])
        assert weak(traces[name])[-1][3] == weak(expected(name))[-1][3]  # the same output in the end
        return
    assert weak(traces[name]) == weak(expected(name))


def test_a_step_limit_ends_as_python_tutor_ends_it():
    client = app.test_client()
    body = post(client, {"source": "while True:\n    pass\n", "steps": 10, "format": "pythontutor"}).get_json()
    PYTHONTUTOR.validate(body)
    assert [step["event"] for step in body["trace"]] == ["step_line"] * 10 + ["instruction_limit_reached"]
    assert body["trace"][-1]["exception_msg"].startswith("Stopped after running 10 steps.")


def test_snapshots_never_call_the_programs_str_or_eq():
    source = ("calls = []\nclass Meta(type):\n    def __eq__(cls, other):\n        calls.append('meta eq')\n"
              "        return True\n    __hash__ = None\n"
              "class Loud(metaclass=Meta):\n    def __str__(self):\n        calls.append('str')\n        return 'loud'\n"
              "    def __eq__(self, other):\n        calls.append('eq')\n        return True\n"
              "    def method(self):\n        return 1\n"
              "bound = Loud().method\n"
              "def outer(x):\n    def inner():\n        return x\n    return inner()\n"
              "item = Loud()\nitem.size = 3\nouter(item)\nprint(calls)\n")
    body = post(app.test_client(), {"source": source, "steps": 200, "format": "pythontutor"}).get_json()
    PYTHONTUTOR.validate(body)
    last = body["trace"][-1]
    assert last["stdout"] == "[]\n"
    shown = last["heap"][str(last["globals"]["item"][1])]
    assert shown[:2] == ["INSTANCE", "Loud"] and ["size", 3] in shown


@pytest.mark.parametrize("body, fragment", [
    ({"format": "tutor"}, "format"),
    ({"format": 1}, "format"),
    ({"format": "pythontutor", "encoding": "delta"}, "delta"),
])
def test_bad_format_fields_are_400(body, fragment):
    response = post(app.test_client(), body)
    assert response.status_code == 400
    assert fragment in check_error(response.get_json())["error"]["message"]


@pytest.mark.parametrize("name", fixtures.names())
def test_every_fixture_runs_the_same_in_both_formats(name):
    """The renderer never changes what the program does: the same output and ending as the record."""
    record = fixtures.record(name)
    trace = json.loads(tracer.trace_json(fixtures.source(name), fixtures.input_text(name), fixtures.steps(name),
                                         format="pythontutor"))
    PYTHONTUTOR.validate(trace)
    full_steps = [step for step in trace["trace"] if "stdout" in step]
    if record["outcome"]["status"] == "syntax_error":
        assert [step["event"] for step in trace["trace"]] == ["uncaught_exception"]
        return
    # Python Tutor shows no step inside class bodies, __repr__ or __new__: never more steps.
    assert len(full_steps) <= len(record["steps"])
    if full_steps and not fixtures.input_text(name):  # input is echoed in this format only
        # output after the last step (sys.exit's message) has no step to show it
        assert record["stdout"].startswith(full_steps[-1]["stdout"])
    if record["outcome"]["status"] == "exception":
        assert trace["trace"][-1]["event"] in ("exception", "uncaught_exception")


def test_deep_structures_do_not_break_the_renderer():
    """Encoding keeps its own stack: a list nested 9000 deep is shown, and the program runs on."""
    source = 'exec("x = []\\nfor _ in range(9000):\\n    x = [x]")\nprint("done")\n'
    trace = json.loads(tracer.trace_json(source, steps=100, format="pythontutor"))["trace"]
    assert [step["event"] for step in trace] == ["step_line", "step_line", "return"]
    assert trace[-1]["stdout"] == "done\n" and len(trace[-1]["heap"]) == 9001


def test_input_is_echoed_as_python_tutor_shows_it():
    """Python Tutor writes the prompt and the line read to stdout; the record format does not echo."""
    source = "name = input('name? ')\nprint('hi', name)\n"
    body = post(app.test_client(), {"source": source, "input": "Ada\n", "format": "pythontutor"}).get_json()
    PYTHONTUTOR.validate(body)
    assert body["trace"][-1]["stdout"] == "name? Ada\nhi Ada\n"
    assert tracer.trace(source, "Ada\n")["stdout"] == "name? hi Ada\n"


# -- Python Tutor's options, held against its generator's traces with each one on

OPTION_TRACES = CORPUS / "options"  # made by make_option_traces.py
# Beyond DIFFERENCES, where an option's trace differs, and why (the README's table).
OPTION_DIFFERENCES = {
    "heap_primitives": {},
    # pg_logger adds a generator's frame to its zombies at every resumption, so it shows twice
    "cumulative_mode": {"backend__generator_use_test": {"stack_to_render"}},
}


@pytest.mark.parametrize("option", sorted(OPTION_DIFFERENCES))
def test_each_option_traces_as_python_tutor_does(option):
    import gzip
    golden = json.loads(gzip.decompress((OPTION_TRACES / f"{option}.json.gz").read_bytes()))
    assert sorted(golden) == PROGRAMS
    client = app.test_client()
    found = {}
    for name in PROGRAMS:
        source = (CORPUS / "programs" / f"{name}.txt").read_text(encoding="utf-8")
        response = post(client, {"source": source, "steps": 1000, "format": "pythontutor", "options": {option: True}})
        assert response.status_code == 200, name
        body = response.get_json()
        PYTHONTUTOR.validate(body)
        fields = differing_fields(golden[name], body["trace"])
        if fields and not (ON_312 and name in INLINED_COMPREHENSIONS) and name not in NAMEDTUPLE_REPLACE:
            found[name] = fields
    allowed = {name: fields for name, (fields, _why) in DIFFERENCES.items()}
    allowed.update(OPTION_DIFFERENCES[option])
    # a class's own __str__ never being called changes which ids the rest of its steps get
    assert set(found) == set(allowed)
    assert all(found[name] <= allowed[name] | {"globals", "stack_to_render"} for name in found)


def test_heap_primitives_draws_every_value_as_an_object():
    trace = tracer.trace("x = 5\nname = 'a'\n", format="pythontutor", options={"heap_primitives": True})["trace"]
    last = trace[-1]
    assert last["globals"]["x"][0] == "REF" and last["heap"][str(last["globals"]["x"][1])] == ["HEAP_PRIMITIVE", "int", 5]
    plain = tracer.trace("x = 5\n", format="pythontutor")["trace"][-1]
    assert plain["globals"]["x"] == 5


def test_cumulative_mode_keeps_returned_frames_shown():
    source = "def f(n):\n    return n + 1\nf(1)\nx = 2\n"
    last = tracer.trace(source, format="pythontutor", options={"cumulative_mode": True})["trace"][-1]
    assert [(frame["func_name"], frame["is_zombie"]) for frame in last["stack_to_render"]] == [("f", True)]
    assert tracer.trace(source, format="pythontutor")["trace"][-1]["stack_to_render"] == []


@pytest.mark.parametrize("options, fragment", [
    ({"heap_primitives": 1}, "heap_primitives must be a bool"),
    ({"show_only_outputs": True}, "unknown option"),
    ([], "options must be a JSON object"),
])
def test_bad_options_are_400(options, fragment):
    response = post(app.test_client(), {"format": "pythontutor", "options": options})
    assert response.status_code == 400
    assert fragment in check_error(response.get_json())["error"]["message"]


# -- the GET endpoint Python Tutor's front end calls

ANY_PATH = flask.Flask("any_path")
ANY_PATH.add_url_rule("/", "root", lambda: main.service(flask.request), methods=["GET", "POST", "OPTIONS"])
ANY_PATH.add_url_rule("/<path:path>", "service", lambda path: main.service(flask.request),
                      methods=["GET", "HEAD", "POST", "OPTIONS"])


def pythontutor_get(path="/web_exec_py3.py", **query):
    return ANY_PATH.test_client().get(path, query_string=query)


@pytest.mark.parametrize("path", ["/web_exec_py3.py", "/LIVE_exec_py3.py", "/tutor/web_exec_py3.py"])
def test_the_front_ends_get_is_answered_with_code_and_trace(path):
    source = "name = input('who? ')\nprint('hi', name)\n"
    response = pythontutor_get(path, user_script=source, raw_input_json='["Ada"]',
                               options_json='{"cumulative_mode": false, "heap_primitives": false, '
                                            '"show_only_outputs": false, "origin": "opt-frontend.js"}')
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    PYTHONTUTOR.validate(body)
    assert body["code"] == source
    assert body["trace"][-1]["stdout"] == "who? Ada\nhi Ada\n"
    direct = json.loads(tracer.trace_json(source, "Ada\n", 1000, format="pythontutor"))
    assert body == direct


def test_the_front_ends_options_are_honoured():
    response = pythontutor_get(user_script="x = 5\n", options_json='{"heap_primitives": true}')
    last = response.get_json()["trace"][-1]
    assert last["heap"][str(last["globals"]["x"][1])] == ["HEAP_PRIMITIVE", "int", 5]


@pytest.mark.parametrize("query, status, fragment", [
    ({"user_script": "x = 1", "raw_input_json": "{"}, 400, "raw_input_json is not valid JSON"),
    ({"user_script": "x = 1", "raw_input_json": '[1]'}, 400, "list of strings"),
    ({"user_script": "x = 1", "options_json": "[]"}, 400, "options_json must be a JSON object"),
    ({"user_script": "x = 1", "options_json": '{"heap_primitives": "yes"}'}, 400, "must be a bool"),
    ({"user_script": "x" * (64 * 1024 + 1)}, 413, "user_script is larger"),
])
def test_a_bad_query_is_a_json_error_with_cors(query, status, fragment):
    response = pythontutor_get(**query)
    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert fragment in check_error(response.get_json())["error"]["message"]


def test_other_get_paths_still_serve_the_viewer():
    response = ANY_PATH.test_client().get("/")
    assert response.status_code == 200 and response.content_type.startswith("text/html")

"""The delta encoding: what it holds, that it decodes to exactly the full record, and its size."""

import json
from pathlib import Path

import pytest

import tracer
from tests import fixtures
from tests.conftest import RECORD, check_record

BENCH_PROGRAMS = Path(__file__).resolve().parent.parent / "bench" / "programs"


def _texts(name, encoding):
    return tracer.trace_json(fixtures.source(name), fixtures.input_text(name), fixtures.steps(name), encoding)


def delta_record(source, input="", steps=tracer.DEFAULT_STEPS):
    record = json.loads(tracer.trace_json(source, input, steps, "delta"))
    RECORD.validate(record)
    assert record["encoding"] == "delta"
    return record


@pytest.mark.parametrize("name", fixtures.names())
def test_decoding_gives_exactly_the_full_record(name):
    full = _texts(name, "full")
    delta = json.loads(_texts(name, "delta"))
    RECORD.validate(delta)
    decoded = tracer.decode(delta)
    check_record(decoded)
    # Byte for byte, so key order (locals, heap) is rebuilt too.
    assert json.dumps(decoded, ensure_ascii=False, separators=(",", ":")).encode() == full


def test_a_step_carries_only_what_changed():
    record = delta_record("xs = [1, 2]\nys = {'a': xs}\nxs.append(3)\ndel ys\nprint(len(xs))\n")
    first, second, third, fourth, fifth, last = record["steps"]
    assert first == {"event": "line", "line": 1, "keep": 0, "heap": {},
                     "frames": [{"id": 1, "name": "<module>", "line": 1, "locals": {}}]}
    assert second["heap"] == {"1": {"kind": "list", "type": "list", "items": [1, 2]}}
    # The dict is new; the list did not change, so it is not sent again.
    assert list(third["heap"]) == ["2"]
    assert list(fourth["heap"]) == ["1"] and fourth["heap"]["1"]["items"] == [1, 2, 3]
    assert fifth["gone"] == [2] and fifth["heap"] == {}
    assert last["stdout"] == "3\n" and last["return"] is None


def test_frames_below_a_call_are_kept():
    record = delta_record("def f(n):\n    return n * 2\n\nresult = f(1) + f(2)\n")
    call = next(step for step in record["steps"] if step["event"] == "call")
    assert call["keep"] == 1 and [frame["name"] for frame in call["frames"]] == ["f"]
    returned = record["steps"][record["steps"].index(call) + 2]  # after f's line, at the same line
    assert returned["event"] == "return" and returned["keep"] == 2 and returned["frames"] == []


def test_a_changed_heap_order_is_spelled_out():
    # b's object is first in the heap while b is first bound; after the swap, a's is.
    record = delta_record("a = [1]\nb = [2]\na, b = b, a\nx = 0\n")
    decoded = tracer.decode(record)
    orders = [list(step["heap"]) for step in decoded["steps"]]
    assert orders[-1] == ["2", "1"]
    assert any("order" in step for step in record["steps"])


@pytest.mark.parametrize("name", sorted(path.stem for path in BENCH_PROGRAMS.glob("*.py")))
def test_every_bench_shape_at_10000_steps_fits_in_8_mb(name):
    source = (BENCH_PROGRAMS / f"{name}.py").read_text()
    delta = tracer.trace_json(source, "", 10000, "delta")
    record = json.loads(delta)
    assert record["outcome"]["status"] == "step_limit" and len(record["steps"]) == 10000
    assert len(delta) < 8 * 1024 * 1024


def test_the_record_cap_holds_in_delta_encoding(monkeypatch):
    monkeypatch.setenv("TRACER_RECORD_BYTES", str(100 * 1024))
    source = "x = []\nwhile True:\n    x.append('y' * 50)\n"
    delta = tracer.trace_json(source, "", 10000, "delta")
    assert len(delta) <= 100 * 1024
    record = json.loads(delta)
    assert record["outcome"]["status"] == "output_limit" and 0 < len(record["steps"]) < 10000
    check_record(tracer.decode(record))


def test_library_code_adds_no_steps():
    """sorted and heapq over 10000 items run in library code: one step per line of the program."""
    source = ("import heapq\nxs = list(range(10000, 0, -1))\nys = sorted(xs)\nheapq.heapify(xs)\n"
              "heapq.heappush(xs, 5)\nsmallest = heapq.nsmallest(3, xs)\n")
    record = tracer.trace(source, steps=10000)
    check_record(record)
    assert [(step["event"], step["line"]) for step in record["steps"]] == [
        ("line", 1), ("line", 2), ("line", 3), ("line", 4), ("line", 5), ("line", 6), ("return", 6)]
    # The program's key function is the program's: each call of it is a step.
    keyed = tracer.trace("ys = sorted(range(50), key=lambda v: -v)\n", steps=10000)
    assert sum(step["event"] == "call" for step in keyed["steps"]) == 50

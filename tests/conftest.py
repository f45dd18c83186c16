import json
import os
from pathlib import Path

import jsonschema
import pytest

import tracer

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "tracer" / "schema"


def _validator(name):
    schema = json.loads((SCHEMA_DIR / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


RECORD = _validator("record.json")
ERROR = _validator("error.json")
REQUEST = _validator("request.json")
_record_schema = json.loads((SCHEMA_DIR / "record.json").read_text())
HEAP_OBJECT = jsonschema.Draft202012Validator(
    {"$defs": _record_schema["$defs"], "$ref": "#/$defs/HeapObject"})
_BIG_HEAP = 2000


def check_record(record):
    """Fail unless the record holds the schema and the contract's invariants.

    A record whose heaps are huge (a 100000-node list) is validated in parts:
    the record with those heaps emptied, then each distinct shape of heap
    object (numbers made 1; _refs checks every ref names a heap object)
    against the schema's HeapObject.
    """
    big_heaps = [step["heap"] for step in record["steps"] if len(step["heap"]) > _BIG_HEAP]
    if big_heaps:
        light = dict(record, steps=[dict(step, heap={}) if len(step["heap"]) > _BIG_HEAP else step
                                    for step in record["steps"]])
        RECORD.validate(light)
        shapes = {}
        for heap in big_heaps:
            for obj in heap.values():
                shape = _shape(obj)
                shapes.setdefault(json.dumps(shape, sort_keys=True), shape)
        for shape in shapes.values():
            HEAP_OBJECT.validate(shape)
        assert all(key.isdigit() for heap in big_heaps for key in heap)
    else:
        RECORD.validate(record)
    return _check_invariants(record)


def check_delta_record(body):
    """The full record a delta-encoded body stands for, the body checked against the schema as it came
    (far faster than the decoded steps of a long trace) and the decoded record against the invariants."""
    assert body["encoding"] == "delta"
    RECORD.validate(body)
    return _check_invariants(tracer.decode(body))


def _check_invariants(record):
    assert "".join(step.get("stdout", "") for step in record["steps"]) == record["stdout"]
    for step in record["steps"]:
        for value in _refs(step):
            assert str(value) in step["heap"], f"ref {value} missing from the heap"
    return record


def _shape(value):
    """The value with every number made 1: what the schema checks of it is unchanged."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 1
    return value


def check_error(body):
    ERROR.validate(body)
    return body


def _refs(step):
    pending = [step["stack"], step.get("return"), step["heap"]]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if set(item) == {"ref"}:
                yield item["ref"]
            else:
                pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def processes():
    """(pid, the fields of /proc/<pid>/stat after the name: state, ppid, pgrp, session, ...)
    for each process there is; one that ends meanwhile is left out."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as file:
                yield int(name), file.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue


def run(source, input="", steps=tracer.DEFAULT_STEPS):
    """tracer.trace, with the record checked against the schema."""
    return check_record(tracer.trace(source, input, steps))


@pytest.fixture
def traced():
    return run


@pytest.fixture(scope="module")
def sandbox():
    """A fork server started for the module's tests, checked by its canary."""
    from tracer.sandbox import Sandbox
    sandbox = Sandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()

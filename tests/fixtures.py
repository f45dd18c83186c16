"""The programs in res/ and their expected records.

res/NAME.py is a program, res/NAME.in its input (optional) and res/NAME.json
the record CPython 3.11 gives. Where a later CPython traces differently (3.12
inlines comprehensions, 3.13 adds __firstlineno__ to a class body's names),
res/NAME.py3XX.json holds its record, which the versions after it inherit
until one differs again. A first line
`# steps: N` sets the step limit.

`python -m tests.fixtures` (make fixtures) rewrites the expected files with
the running interpreter; review the diff before committing.
"""

import json
import re
import sys
from pathlib import Path

import tracer

RES = Path(__file__).resolve().parent.parent / "res"
BASE_VERSION = (3, 11)
_STEPS = re.compile(r"#\s*steps:\s*(\d+)")


def names():
    return sorted(path.stem for path in RES.glob("*.py"))


def source(name):
    return (RES / f"{name}.py").read_text(encoding="utf-8")


def input_text(name):
    path = RES / f"{name}.in"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def steps(name):
    match = _STEPS.match(source(name))
    return int(match.group(1)) if match else tracer.DEFAULT_STEPS


def record(name):
    return tracer.trace(source(name), input_text(name), steps(name))


def _version_path(name, version):
    return RES / f"{name}.py{version[0]}{version[1]}.json"


def expected_path(name, version=None):
    """The expected record's file for the running (or given) CPython: its own, else the nearest earlier one's."""
    version = tuple(version or sys.version_info[:2])
    if version != BASE_VERSION and _version_path(name, version).exists():
        return _version_path(name, version)
    return _inherited_path(name, version)


def _inherited_path(name, version):
    """What a version that traces no differently gets: the newest earlier version's file, else the base."""
    for minor in range(version[1] - 1, BASE_VERSION[1], -1):
        path = _version_path(name, (version[0], minor))
        if path.exists():
            return path
    return RES / f"{name}.json"


def _write(path, data):
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def regenerate():
    version = sys.version_info[:2]
    for name in names():
        data = record(name)
        if version == BASE_VERSION:
            _write(RES / f"{name}.json", data)
            continue
        inherited = json.loads(_inherited_path(name, version).read_text(encoding="utf-8"))
        path = _version_path(name, version)
        if data == inherited:
            path.unlink(missing_ok=True)
        else:
            _write(path, data)
        print(f"{name}: {'differs on' if data != inherited else 'same as before'} {version[0]}.{version[1]}")


if __name__ == "__main__":
    regenerate()

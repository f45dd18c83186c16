"""The programs in res/ and their expected records.

res/NAME.py is a program, res/NAME.in its input (optional) and res/NAME.json
the record CPython 3.11 gives. Where another CPython traces differently (3.12
inlines comprehensions), res/NAME.py3XX.json holds its record. A first line
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
    """The expected record's file for the running (or given) CPython."""
    version = tuple(version or sys.version_info[:2])
    if version != BASE_VERSION and _version_path(name, version).exists():
        return _version_path(name, version)
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
        base = json.loads((RES / f"{name}.json").read_text(encoding="utf-8"))
        path = _version_path(name, version)
        if data == base:
            path.unlink(missing_ok=True)
        else:
            _write(path, data)
        print(f"{name}: {'differs on' if data != base else 'same on'} {version[0]}.{version[1]}")


if __name__ == "__main__":
    regenerate()

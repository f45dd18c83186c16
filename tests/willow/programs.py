"""The differential test's programs: every res/ fixture, Python Tutor's test programs, the bench programs."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STEPS = 400


def _programs():
    programs = {}
    for path in sorted((ROOT / "res").glob("*.py")):
        stdin = path.with_suffix(".in")
        programs["res__" + path.stem] = (path.read_text(), stdin.read_text() if stdin.exists() else "")
    manifest = json.loads((ROOT / "tests" / "pythontutor" / "manifest.json").read_text())
    for name in sorted(manifest["programs"]):
        programs["pythontutor__" + name] = ((ROOT / "tests" / "pythontutor" / "programs" / f"{name}.txt").read_text(), "")
    for path in sorted((ROOT / "bench" / "programs").glob("*.py")):
        programs["bench__" + path.stem] = (path.read_text(), "")
    return programs


PROGRAMS = _programs()

"""Regenerate tests/willow/expected/: willow's tracer run on the differential test's programs.

    python tests/willow/make_fixtures.py ../shared/peers/willow/tracers/python

Run once per CPython version the suite runs on (the fixtures are named by
version where the two differ). Each program is traced by willow's own
Tracer in a process of its own (willow traces in the calling process, with
no isolation, and hangs where a step limit falls inside `except Exception`:
such a run is cut after TIMEOUT seconds and recorded as hung). What it
returns is written, gzip-compressed, with nothing changed.
"""

import gzip
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from tests.willow.programs import PROGRAMS, STEPS  # noqa: E402

TIMEOUT = 20
_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
sys.setrecursionlimit(1000)
from tracer import tracer
request = json.loads(sys.stdin.read())
response = tracer.Tracer(request).run()
sys.__stdout__.write(json.dumps(response))
"""


def willow_trace(willow, source, input_text):
    request = json.dumps({"source": source, "input": input_text, "steps": STEPS})
    try:
        done = subprocess.run([sys.executable, "-c", _RUN, str(willow)], input=request, capture_output=True,
                              text=True, timeout=TIMEOUT, env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        return {"hung": True}
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}
    return json.loads(done.stdout)


def main():
    willow = Path(sys.argv[1]).resolve()
    version = "py%d%d" % sys.version_info[:2]
    out = Path(__file__).resolve().parent / "expected" / version
    out.mkdir(parents=True, exist_ok=True)
    for name, (source, input_text) in PROGRAMS.items():
        response = willow_trace(willow, source, input_text)
        path = out / f"{name}.json.gz"
        if version != "py311" and response == _inherited(out.parent, version, name):
            path.unlink(missing_ok=True)  # as on the version before: that file serves this one
            continue
        data = json.dumps(response, sort_keys=True, separators=(",", ":")).encode()
        path.write_bytes(gzip.compress(data, 9, mtime=0))
        print(name, len(response.get("steps", ())), "steps" if "steps" in response else response)


def _inherited(expected, version, name):
    for minor in range(int(version[3:]) - 1, 10, -1):
        path = expected / f"py3{minor}" / f"{name}.json.gz"
        if path.exists():
            return json.loads(gzip.decompress(path.read_bytes()))
    return None


if __name__ == "__main__":
    main()

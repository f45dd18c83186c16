"""Regenerate tests/pythontutor/options/: Python Tutor's traces of the corpus with its options on.

    python tests/pythontutor/make_option_traces.py ../shared/peers/pythontutor

As the corpus's expected/ traces were made (README.md), but with
`heap_primitives` on, then with `cumulative_mode` on: each program in a
fresh process of CPython 3.11, PYTHONHASHSEED=0, addresses masked. One
gzip-compressed JSON object per option, program name -> trace.
"""

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pg_logger
out = {}
def finalizer(code, trace):
    out["trace"] = trace
    return out
pg_logger.exec_script_str_local(sys.stdin.read(), "[]", sys.argv[2] == "cumulative_mode",
                                sys.argv[2] == "heap_primitives", finalizer)
sys.__stdout__.write(json.dumps(out["trace"]))
"""


def main():
    generator = Path(sys.argv[1]).resolve()
    for option in ("heap_primitives", "cumulative_mode"):
        traces = {}
        for path in sorted((HERE / "programs").glob("*.txt")):
            done = subprocess.run([sys.executable, "-c", _RUN, str(generator), option], capture_output=True,
                                  input=path.read_text(encoding="utf-8"), text=True, timeout=60,
                                  env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"})
            traces[path.stem] = json.loads(re.sub(r" 0x[0-9A-Fa-f]+>", " 0xADDR>", done.stdout))
        data = json.dumps(traces, sort_keys=True, separators=(",", ":")).encode()
        (HERE / "options" / f"{option}.json.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        print(option, len(traces), len(data))


if __name__ == "__main__":
    main()

"""Traces the programs sent on stdin, one JSON request a line, and writes each record on a line of stdout.

    TRACER_SPEEDUPS=0 python -m tests.fuzz.worker     (the Python fallback; without it, the C loops)

The fuzz test keeps one worker with the C loops and one without, and sends
both the same programs in the same order: each record must be the same,
byte for byte. Tracing in process, as tracer.trace_json does.
"""

import json
import sys

import tracer
from tracer import speedups


def main():
    sys.stdout.buffer.write(json.dumps({"native": speedups.NATIVE}).encode() + b"\n")
    sys.stdout.buffer.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        record = tracer.trace_json(request["source"], "", request["steps"], request.get("encoding", "full"))
        sys.stdout.buffer.write(record + b"\n")  # compact JSON holds no raw newline
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()

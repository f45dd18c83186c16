"""What a sandboxed child and its parent say to each other, written once for both sides.

The parent sends one request: its length (4 bytes, big-endian), then the
request as UTF-8 JSON. The child answers with one JSON object per line, over the socket the service handed the child:

    {"pid": N, "cpu": C}                        first, so the parent can kill its group
                                                (and check its lines on another CPU than C)
    {"canary": {layer: ...}, "speedups": bool}  the canary child's only other line
    {"step": STEP}                              one per step, as it is taken
    {"end": {"outcome", "stdout", "limits"}}    last

The child writes them with the functions here; the parent (sandbox.py)
recognises them with the same prefixes and checks every line it is sent:
a step line's step must be exactly one JSON value between STEP_OPENER and
the closing brace (the record is made of those bytes as they came; see
speedups.step_lines), the other lines are parsed whole.
"""

import json
import struct

_REQUEST_LENGTH = struct.Struct("!I")
REQUEST_LENGTH_BYTES = _REQUEST_LENGTH.size
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def request_frame(request):
    """The bytes the parent sends for `request` (a dict)."""
    payload = json.dumps(request).encode("utf-8", "surrogatepass")
    return _REQUEST_LENGTH.pack(len(payload)) + payload


def request_length(header):
    """The length of the request that follows `header` (REQUEST_LENGTH_BYTES bytes)."""
    (length,) = _REQUEST_LENGTH.unpack(header)
    if length > MAX_REQUEST_BYTES:
        raise ValueError("request too large")
    return length


STEP_OPENER = b'{"step":'
LINE_CLOSER = b"}\n"
_PID_OPENER = b'{"pid":'
_END_OPENER = b'{"end":'


def pid_line(pid, cpu):
    """The child's first line: its pid, and the CPU it runs on (None if unknown)."""
    return _PID_OPENER + b"%d" % pid + (b',"cpu":%d' % cpu if cpu is not None else b"") + LINE_CLOSER


def canary_line(layers, speedups):
    return json.dumps({"canary": layers, "speedups": speedups}).encode() + b"\n"


def end_line(tail_json):
    """The end line around the tail's JSON bytes."""
    return _END_OPENER + tail_json + LINE_CLOSER


def step_line(step_json):
    return STEP_OPENER + step_json + LINE_CLOSER


def is_pid_line(line):
    return line.startswith(_PID_OPENER)


def is_step_line(line):
    return line.startswith(STEP_OPENER)


"""python -m tracer PROGRAM [--input FILE] [--steps N] [--encoding full|delta] [--format record|pythontutor] [--pretty]: print the record."""

import argparse
import json
import sys

from . import DEFAULT_STEPS, trace_json
from .record import ENCODINGS
from .request import FORMATS


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tracer", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("program", help="the program's file, or - for standard input")
    parser.add_argument("--input", metavar="FILE", help="a file whose text the program reads as stdin")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"the most steps to record (default {DEFAULT_STEPS}; clamped to TRACER_MAX_STEPS)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="full",
                        help="full steps (default) or only what changed at each step")
    parser.add_argument("--format", choices=FORMATS, default="record",
                        help="this service's record (default) or Python Tutor's trace")
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    try:
        source = sys.stdin.read() if args.program == "-" else _read(args.program)
        input_text = _read(args.input) if args.input else ""
    except OSError as error:
        parser.error(str(error))
    if args.format == "pythontutor" and args.encoding != "full":
        parser.error("--encoding delta is for the record format")
    record = trace_json(source, input_text, args.steps, args.encoding, args.format)
    if args.pretty:
        record = json.dumps(json.loads(record), indent=2, ensure_ascii=False).encode("utf-8")
    sys.stdout.buffer.write(record + b"\n")
    return 0


def _read(path):
    with open(path, encoding="utf-8", newline="") as file:
        return file.read()


if __name__ == "__main__":
    sys.exit(main())

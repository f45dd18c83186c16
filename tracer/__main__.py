"""python -m tracer PROGRAM [--input FILE] [--steps N] [--encoding full|delta] [--format record|pythontutor|willow] [--options JSON] [--pretty]: print the record."""

import argparse
import json
import sys

from . import DEFAULT_STEPS, trace_json
from .record import ENCODINGS
from .formats import FORMATS, check_options


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tracer", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("program", help="the program's file, or - for standard input")
    parser.add_argument("--input", metavar="FILE", help="a file whose text the program reads as stdin")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"the most steps to record (default {DEFAULT_STEPS}; clamped to TRACER_MAX_STEPS)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="full",
                        help="full steps (default) or only what changed at each step")
    parser.add_argument("--format", choices=list(FORMATS), default="record",
                        help="; ".join(f"{name}: {entry.summary}" for name, entry in FORMATS.items()))
    parser.add_argument("--options", type=json.loads, default={},
                        help='the format\'s options as a JSON object, e.g. \'{"heap_primitives": true}\'')
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    try:
        source = sys.stdin.read() if args.program == "-" else _read(args.program)
        input_text = _read(args.input) if args.input else ""
    except OSError as error:
        parser.error(str(error))
    if args.encoding not in FORMATS[args.format].encodings:
        parser.error(f"--encoding {args.encoding} is for the record format")
    problem = check_options(args.format, args.options) if isinstance(args.options, dict) else "--options takes an object"
    if problem:
        parser.error(problem)
    record = trace_json(source, input_text, args.steps, args.encoding, args.format, args.options)
    if args.pretty:
        record = json.dumps(json.loads(record), indent=2, ensure_ascii=False).encode("utf-8")
    sys.stdout.buffer.write(record + b"\n")
    return 0


def _read(path):
    with open(path, encoding="utf-8", newline="") as file:
        return file.read()


if __name__ == "__main__":
    sys.exit(main())

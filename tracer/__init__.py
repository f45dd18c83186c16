"""Trace a Python program: a record of its steps, frames, heap and output.

    >>> record = trace("x = [1, 2]\\nprint(x)")
    >>> record["outcome"]["status"], record["stdout"]
    ('ok', '[1, 2]\\n')
"""

import json

from .delta import decode
from .limits import DEFAULT_STEPS, limits_for

__all__ = ["trace", "trace_json", "decode", "DEFAULT_STEPS"]


def trace_json(source, input="", steps=DEFAULT_STEPS, encoding="full", format="record", options=None):
    """The record as UTF-8 JSON bytes: exactly the service's response body.

    `steps` above the configured maximum (TRACER_MAX_STEPS) is clamped to it;
    `encoding` is "full" or "delta" (see tracer.delta); `format` one of
    tracer.formats.FORMATS: "record" (this service's contract),
    "pythontutor" (Python Tutor's trace, see tracer.pythontutor) or "willow"
    (willow's, see tracer.willow); `options` the format's own (see there).
    """
    # imported here, not with the package: the service's process imports the package
    # (for the sandbox's side) but never traces, and its cold start waits for its imports
    from .engine import Engine
    return Engine(source, input, limits_for(steps), encoding=encoding, format=format, options=options).run()


def trace(source, input="", steps=DEFAULT_STEPS, encoding="full", format="record", options=None):
    """The record as a dict; see trace_json."""
    return json.loads(trace_json(source, input, steps, encoding, format, options))

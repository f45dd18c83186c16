"""The output formats, each described once: what every layer looks up by name.

The engine decides what a step is; a format decides how a step is written
and how the response ends. One entry names everything a format needs: its
renderer (the engine's step as the format's step; the record's own is the
engine's snapshot path, in C where built), its writer in process, its
streamed writer in the sandbox's child, the parent's check of that child's
reply, its JSON Schema, the encodings and options it takes, whether
input() echoes what it reads (as Python Tutor shows it) and whether output
after the last step is shown when a limit stops the program. A new format
is a module of its own and one entry here.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

from . import pythontutor, willow
from .record import RecordWriter, StreamedRecord
from .reply import RecordReply


@dataclass(frozen=True)
class Format:
    name: str
    summary: str  # what a client gets, for errors and --help
    schema: str  # the response's JSON Schema, in tracer/schema/
    writer: Callable  # (limits, source, encoding, options) -> the writer, in process
    streamed: Callable  # (limits, send, source, encoding, options) -> the writer in the child
    reply: Callable  # (limits, source, encoding, options) -> the parent's check of the child's lines
    # (module code, names the environment defines, source, options) -> render(frame, event, arg,
    # chain, yielded), which gives the step's dict or None; None for the record
    renderer: Optional[Callable] = None
    encodings: tuple = ("full",)
    options: dict = field(default_factory=dict)  # option name -> its type
    echo_input: bool = False
    # whether the response shows what the program printed after its last step when a limit stopped it
    prints_at_limit: bool = False
    # whether a finalizer of what the program let go of (a __del__, a dropped generator's
    # `finally`) runs traced, its steps the format's before the step where the program let go,
    # as CPython runs it there; the renderer is then given finalizers_traced and must render
    # a step again after them. The record's are always traced (snapshot.HeapEncoder.release).
    traces_finalizers: bool = False


RECORD = Format(
    name="record", summary="this service's record", schema="record.json",
    writer=lambda limits, source, encoding, options: RecordWriter(limits, encoding),
    streamed=lambda limits, send, source, encoding, options: StreamedRecord(limits, send, encoding),
    reply=lambda limits, source, encoding, options: RecordReply(limits, encoding),
    encodings=("full", "delta"))

PYTHONTUTOR = Format(
    name="pythontutor", summary="Python Tutor's trace", schema="pythontutor.json",
    writer=lambda limits, source, encoding, options: pythontutor.PythonTutorWriter(limits, source),
    streamed=lambda limits, send, source, encoding, options: pythontutor.StreamedPythonTutor(limits, send, source),
    reply=pythontutor.PythonTutorReply,
    renderer=pythontutor.PythonTutorRenderer,
    options={"heap_primitives": bool, "cumulative_mode": bool},
    echo_input=True)
# (Python Tutor's own generator holds every object it showed until the program ends, so it never
# shows a finalizer's steps; here their output comes where the program let go, untraced)

WILLOW = Format(
    name="willow", summary="willow's trace (the original Python Tracer)", schema="willow.json",
    writer=lambda limits, source, encoding, options: willow.WillowWriter(limits),
    streamed=lambda limits, send, source, encoding, options: willow.StreamedWillow(limits, send),
    reply=willow.WillowReply,
    renderer=willow.WillowRenderer,
    prints_at_limit=True,
    traces_finalizers=True)  # as willow's tracer, which never held the program's objects

FORMATS = {entry.name: entry for entry in (RECORD, PYTHONTUTOR, WILLOW)}


def check_options(format_name, options):
    """None if `options` suit the format, else what is wrong, in one sentence."""
    allowed = FORMATS[format_name].options
    for name, value in options.items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            return f"unknown option {name!r} for the {format_name} format (its options: {known})"
        if type(value) is not allowed[name]:
            return f"option {name} must be a {allowed[name].__name__}"
    return None

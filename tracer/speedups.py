"""The tracer's per-step work in C (tracer/_speedups.c) where built, else Python.

`Tracer` is the engine's per-step state; in C it is also the trace
function, which takes the common events (a line, a call or a return of a
shown frame of the program, in the record's format, while no limit
is near) without running Python, and hands every other event to
Engine._on_event, which is the same logic in Python. `EncoderCore` is
HeapEncoder's base: heap ids, the texts of scalars and references, and a
step's snapshot (its frames' texts and its heap) in one call;
`RecordBuffer` holds the record's bytes and the count of its steps, and
`full_step` and `delta_step` write a step into it in either encoding.

`dict_version(d)` is CPython's version tag of an exact dict (it changes
whenever the dict does), or None where it cannot be read: the caller then
fingerprints the dict's keys and values instead. `same_items` and
`same_objects` compare by identity, exact ints and strs by value (their
text is the same), and never call `__eq__`.
EncoderCore.settle_pending is HeapEncoder.heap's loop as far as C takes it.
`run_traced(function, *args)` calls it with the program's code it runs
traced, from inside the trace function (the finalizers that letting go of
what a step showed runs).

`step_lines(buffer, offset, opener, shape)` is the service's check of a
child's step lines (tracer/_json_check.c): it takes the whole step lines
from `offset` on, each step strict JSON (UTF-8, no NaN, nothing after the
value, at most 512 levels deep in C) and of the reply's `shape`
(`step_shape`), and stops at the first line that is not one: (the offset
after them, their steps' JSON bytes, a tuple of each step's collected
members). C checks the steps without building them; Python parses them.

Where C is not built, EncoderCore, full_step and delta_step are None (their
callers run their own Python: snapshot._PythonCore, ...), and the classes
below stand in. Both give the same record, byte for byte
(tests/test_speedups.py).
"""

import json
import os
import time

# a member's kind, as tracer/_json_check.c numbers them: a JSON integer, string, object or
# array, or one of some strings (a tuple of them)
_KINDS = {int: 1, str: 2, dict: 3, list: 4}
_KIND_ENUM = 5
_MAX_MEMBERS = 16  # _json_check.c's MAX_MEMBERS


def step_shape(required, optional=None, exact=False, collect=()):
    """What a reply takes as a step, for step_lines: a JSON object with the `required`
    members and maybe the `optional` ones ({name: kind}, a kind being int, str, dict, list,
    or a tuple of the strings allowed), each at most once, and no other where `exact`;
    step_lines hands back the values of the `collect` members (ints and strings) in a
    tuple per step, None for one that is absent."""
    kinds = {**required, **(optional or {})}
    members = tuple((name.encode(), _KIND_ENUM if isinstance(kind, tuple) else _KINDS[kind],
                     kind if isinstance(kind, tuple) else None, name in required) for name, kind in kinds.items())
    if len(members) > _MAX_MEMBERS or any(kinds[name] in (dict, list) for name in collect):
        raise ValueError(f"a step shape has at most {_MAX_MEMBERS} members and collects only ints and strings")
    return exact, members, tuple(list(kinds).index(name) for name in collect)


try:
    # Not a speedup but when the program's garbage cycles die (tracer/_collector.c), so
    # TRACER_SPEEDUPS=0 keeps it: C and Python collect at the same points.
    from tracer._speedups import GcNeutral
except ImportError:
    GcNeutral = None  # not built: the tracer's own allocations move the program's collections

try:
    # Not a speedup either: kept with TRACER_SPEEDUPS=0 so that C and Python trace the same
    # finalizers (with no Python frame of its own between the tracer's and theirs).
    from tracer._speedups import run_traced
except ImportError:
    import ctypes

    _thread_state = ctypes.pythonapi.PyThreadState_Get
    _thread_state.restype = ctypes.c_void_p
    _leave_tracing = ctypes.pythonapi.PyThreadState_LeaveTracing
    _enter_tracing = ctypes.pythonapi.PyThreadState_EnterTracing
    _leave_tracing.argtypes = _enter_tracing.argtypes = [ctypes.c_void_p]

    def run_traced(function, *args):
        """function(*args), with the program's code it runs traced: called from inside the
        trace function (always, here: HeapEncoder.release), where CPython traces nothing."""
        state = _thread_state()
        _leave_tracing(state)
        try:
            return function(*args)
        finally:
            _enter_tracing(state)

try:
    # Not a speedup of the trace but of the children's start (tracer/_immortal.c), and
    # no change to any record: kept with TRACER_SPEEDUPS=0.
    from tracer._speedups import IMMORTALIZES, immortalize
except ImportError:
    IMMORTALIZES = False  # whether immortalize marks anything here

    def immortalize(roots):
        """Where C is not built: nothing is made immortal (0 objects); the children copy
        the pages of the server's objects whose reference counts they change."""
        return 0

try:
    if os.environ.get("TRACER_SPEEDUPS") == "0":  # to compare both, in tests and the bench
        raise ImportError("TRACER_SPEEDUPS=0")
    from tracer._speedups import (Activation, EncoderCore, RecordBuffer, Tracer, delta_step, dict_version,
                                  full_step, same_items, same_objects, step_lines)
    from tracer import _speedups as native  # for kernel.py's calls (tracer/_kernel.c)
    NATIVE = True
except ImportError:
    NATIVE = False
    native = None

    # their callers run their own Python loops instead
    EncoderCore = full_step = delta_step = None

    class Tracer:
        """The engine's per-step state; in C, also the trace function, which takes line steps itself."""

        __slots__ = ("on_event", "step", "activations", "shown", "codes", "latest_by_code", "recursion", "encoder",
                     "buffer", "names_by_code", "frame_text", "output", "stop", "ran", "frame", "steps", "next_id", "step_limit", "deadline", "yield_opcode", "resume_opcode")

        def __init__(self):
            self.stop = None  # None while the program may run on, else why it stops
            self.ran = ()  # the activations that may have run since the last step
            self.frame = None  # the frame of the step being taken
            self.steps = 0  # steps taken
            self.next_id = 1  # the next activation's id
            self.step_limit = self.deadline = self.yield_opcode = self.resume_opcode = 0

    class RecordBuffer:
        """Bytes written one after another; `take` hands them over and starts again.

        It also keeps the record's steps as RecordWriter counts them, so that
        the tracer's C path can add steps too: `size` of its `budget` used,
        `count` steps, the `last` one as the writer keeps it; `separator`,
        `opener` and `closer` are written between steps, before and after
        each, and `delta` says which encoding the steps are in.

        Unless `send` is None, steps are sent as they close: each by itself
        until `send_each` bytes have been sent, then once `send_batch` bytes
        wait or a step closes `send_interval` seconds after the last send;
        `flush` sends what waits. `send` is given a memoryview of the buffer,
        valid only during the call (no copy: a child at its memory limit
        still sends); `sent` counts the bytes sent.
        """

        def __init__(self):
            self._data = bytearray()
            self.size = self.budget = self.count = 0
            self.last = self.send = None
            self.delta = False
            self.separator = self.opener = self.closer = None
            self.send_each = self.send_batch = self.sent = 0
            self.send_interval = self._sent_at = 0.0

        def open_step(self):
            if self.count and self.separator:
                self._data += self.separator
            if self.opener:
                self._data += self.opener

        def close_step(self):
            if self.closer:
                self._data += self.closer
            if self.send is not None and (self.sent < self.send_each or len(self._data) >= self.send_batch
                                          or time.monotonic() - self._sent_at >= self.send_interval):
                self._send()

        def flush(self):
            if self.send is not None:
                self._send()

        def _send(self):
            if not self._data:
                return
            with memoryview(self._data) as view:
                self.send(view)
            self.sent += len(self._data)
            del self._data[:]
            self._sent_at = time.monotonic()

        def write(self, data):
            self._data += data

        def truncate(self, length):
            del self._data[length:]

        def __len__(self):
            return len(self._data)

        def take(self):
            data, self._data = bytes(self._data), bytearray()
            return data

    class Activation:
        """One run of one frame of the program, with its id for the whole trace."""

        __slots__ = ("id", "order", "seen", "after_exception", "overflow", "cached", "cached_at",
                     "frame_text", "frame_line", "frame_locals", "suspendable", "depth")

        def __init__(self, activation_id, suspendable):
            self.id = activation_id
            self.suspendable = suspendable  # its locals cannot change while it waits for a call
            self.order = []  # local names in the order they were first bound
            self.seen = set()
            self.after_exception = False  # the last event here was "exception"
            self.overflow = False  # entered past the recursion limit; never shown
            self.depth = 0  # its frame's depth as CPython counts frames, the module's being 1
            self.cached = None  # (fingerprint, JSON text, (heap id, object) pairs referred to) of the locals
            self.cached_at = -1  # the step that cache was taken or confirmed at
            self.frame_text = None  # JSON text of the frame at that step
            self.frame_line = None  # the line and the locals' text that frame_text was made of
            self.frame_locals = None

    def dict_version(d):
        return None

    def _same(first, second):
        """The same object, or two exact ints or exact strs of one value (their text is the same)."""
        return first is second or (type(first) is type(second) and type(first) in (int, str) and first == second)

    def same_items(fingerprint, start, items, count):
        """Whether items[:count] are the objects of fingerprint[start:] (see _same), which ends there."""
        return (len(fingerprint) == start + count and len(items) >= count
                and all(map(_same, fingerprint[start:], items[:count])))

    def same_objects(first, second):
        """Whether two tuples hold the same objects (see _same), in order."""
        return len(first) == len(second) and all(map(_same, first, second))

    def step_lines(buffer, offset, opener, shape):
        """(offset after the step lines taken, their steps' JSON bytes, their collected members)."""
        texts, collected = [], []
        by_name = {key.decode(): (index, kind, allowed) for index, (key, kind, allowed, _) in enumerate(shape[1])}
        while True:
            newline = buffer.find(b"\n", offset)
            if newline < 0 or not buffer.startswith(opener, offset) or buffer[newline - 1:newline] != b"}" \
                    or newline - offset < len(opener) + 1:
                return offset, texts, collected
            text = buffer[offset + len(opener):newline - 1]
            values = _shaped(text, shape, by_name)
            if values is None:
                return offset, texts, collected
            texts.append(text)
            if shape[2]:
                collected.append(values)
            offset = newline + 1

    class _Members(list):
        """A JSON object's members in order, as json.loads hands them to its object_pairs_hook."""

    def _shaped(text, shape, by_name):
        """The step's collected members' values, or None where it is not strict JSON of the shape
        (`by_name`: each member's index, kind and allowed values, by its name)."""
        try:
            step = json.loads(text.decode("utf-8"), parse_constant=_not_json, object_pairs_hook=_Members)
        except (ValueError, RecursionError):  # UnicodeDecodeError included
            return None
        exact, members, collect = shape
        if type(step) is not _Members:
            return None
        found = {}
        for name, value in step:
            member = by_name.get(name)
            if member is None:
                if exact:
                    return None
                continue
            index, kind, allowed = member
            if index in found or not _of_kind(value, kind, allowed):
                return None  # twice: json.loads would keep the last
            found[index] = value
        if any(required and index not in found for index, (_, _, _, required) in enumerate(members)):
            return None
        return tuple(found.get(index) for index in collect)

    def _of_kind(value, kind, allowed):
        if kind == _KIND_ENUM:
            return type(value) is str and value in allowed
        return type(value) is _PYTHON_TYPES[kind]

    def _not_json(constant):
        raise ValueError(f"{constant} is not JSON")

    _PYTHON_TYPES = {_KINDS[int]: int, _KINDS[str]: str, _KINDS[dict]: _Members, _KINDS[list]: list}

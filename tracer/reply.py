"""The parent's check of a child's reply: every line is checked before it is trusted.

The child is the program's process: whatever it sends may be forged. A
format's reply (formats.py names each one) says what shape a step must have
(`step_shape`: the members its `finish` relies on); speedups.step_lines
takes the step lines that are whole, strict JSON of that shape, and hands
back the members the reply collects (`_take` checks what a shape cannot say
and keeps what `finish` needs); then the reply takes one end line. `finish`
assembles the response body, also for a reply cut short: joined, or
compressed as the steps came (body.py) where the client takes an encoding.
"""

import json

from .body import CompressedStream, joined
from .outcome import stopped
from .record import encode, record_head, record_parts
from .speedups import step_shape

_EVENTS = ("call", "line", "return", "exception")
# a record's step, in either encoding: what the record's assembly relies on (the output is collected)
_STEP_MEMBERS = {"event": _EVENTS, "line": int, "heap": dict}
_STEP_SHAPES = {encoding: step_shape(dict(_STEP_MEMBERS, **members), {"stdout": str}, collect=("stdout",))
                for encoding, members in (("full", {"stack": list}), ("delta", {"keep": int, "frames": list}))}
_STATUSES = {"ok", "exception", "syntax_error", "step_limit", "time_limit", "memory_limit",
             "output_limit", "crash"}


def parse_line(line):
    """The line's JSON object, or None."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        return None
    return message if isinstance(message, dict) else None


class StepsReply:
    """A trace rebuilt from the child's lines, each checked before it is trusted:
    step lines of the format's `step_shape` whose collected members its
    `_take(collected)` takes (keeping what its `finish` needs), then one end line.
    Each format declares its own `step_shape`: there is no default to fall back on."""

    def __init__(self, limits, head):
        self._limits = limits
        self._head = head  # the body's bytes before its first step
        self._steps = []  # each step's JSON bytes, as the child sent them
        self._tail = None
        self._compressed = None

    def compress_as_it_comes(self, new_compressor):
        """Make `finish` return the body compressed by a compressor of `new_compressor`
        (body.CompressedStream), most of it while the child still traces."""
        self._compressed = CompressedStream(self._head, new_compressor)

    def add_steps(self, texts, collected):
        """Steps whose lines are whole JSON of step_shape, and their collected members
        (speedups.step_lines): None, or "invalid"."""
        if not self._take(collected):
            return "invalid"
        self._steps += texts
        if self._compressed is not None:
            self._compressed.feed(self._steps)
        return None

    def finish(self, ending):
        """The response body: how the reading of the reply ended is `ending` (sandbox._read_reply)."""
        parts = self._parts(ending)
        return joined(*parts) if self._compressed is None else self._compressed.finish(*parts)

    def add(self, line):
        """Any other line: "end" for a valid end line, else "invalid"."""
        message = parse_line(line)
        if message is not None and set(message) == {"end"} and _is_tail(message["end"]):
            self._tail = message["end"]
            return "end"
        return "invalid"

    def _outcome(self, ending):
        return self._tail["outcome"] if ending == "end" else cut_short(ending, self._limits, len(self._steps))


class RecordReply(StepsReply):
    """The record's steps; output written after the last one joins it."""

    def __init__(self, limits, encoding):
        super().__init__(limits, record_head(encoding))
        self.step_shape = _STEP_SHAPES[encoding]
        self._encoding = encoding
        self._stdout = []

    def _take(self, collected):
        self._stdout += [stdout for (stdout,) in collected if stdout is not None]
        return True

    def _parts(self, ending):
        steps, shown = self._steps, "".join(self._stdout)
        output = self._tail["stdout"] if ending == "end" else shown
        if output != shown and output.startswith(shown) and steps:
            last_step = json.loads(steps[-1])
            last_step["stdout"] = last_step.get("stdout", "") + output[len(shown):]
            steps[-1] = encode(last_step).encode("utf-8")
        return record_parts(steps, self._outcome(ending), output, self._limits, self._encoding)


def cut_short(ending, limits, steps):
    """The outcome of a reply that did not end with the child's own end line."""
    status = {"timeout": "time_limit", "too_big": "output_limit",
              "too_many_steps": "step_limit"}.get(ending, "crash")
    outcome = stopped(status, limits, steps)
    if ending == "invalid":
        outcome["message"] = "The program's process sent back something that is not a record"
    return outcome


def _is_tail(tail):
    return isinstance(tail, dict) and _is_outcome(tail.get("outcome")) and isinstance(tail.get("stdout"), str)


def _is_outcome(outcome):
    """The record schema's Outcome, checked by hand: a forged one must not reach the response."""
    if not (isinstance(outcome, dict) and set(outcome) <= {"status", "message", "exception", "exit_code"}
            and outcome.get("status") in _STATUSES and isinstance(outcome.get("message"), str)):
        return False
    if "exit_code" in outcome and (outcome["status"] != "ok" or type(outcome["exit_code"]) is not int):
        return False
    if outcome["status"] not in ("exception", "syntax_error"):
        return "exception" not in outcome
    error = outcome.get("exception")
    fields = {"type", "message", "line", "traceback"} | ({"offset"} if outcome["status"] == "syntax_error" else set())
    return (isinstance(error, dict) and fields <= set(error) <= fields | {"offset"}
            and isinstance(error["type"], str) and isinstance(error["message"], str)
            and isinstance(error["traceback"], str)
            and all(type(error[key]) is int and error[key] >= 1 for key in ("line", "offset") if key in error))

"""Assembles the record as JSON text, one encoded step at a time.

Steps are encoded as they are taken, so the size of the record is known
at every step and the whole record is never held as Python objects.
"""

import json

# Room kept for the outcome (a traceback is at most a few KiB) and the limits.
_TAIL_RESERVE = 64 * 1024


def encode(value):
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from the program: escape it
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


def assemble(step_texts, outcome, stdout, limits):
    """The record's bytes from its steps, already JSON text, and the rest."""
    parts = ['{"steps":[', ",".join(step_texts), '],"outcome":', encode(outcome),
             ',"stdout":', encode(stdout), ',"limits":', encode(limits.as_record()), "}"]
    return "".join(parts).encode("utf-8")


class RecordWriter:
    def __init__(self, limits):
        self._limits = limits
        self._encoded = []  # JSON text of every step
        self._last = None  # the last step as a dict: trailing output may join it
        self._size = 0
        self._stdout = []

    @property
    def stdout(self):
        return "".join(self._stdout)

    def add_step(self, step, stdout):
        """Add a step; False when it would take the record past its size cap."""
        if stdout:
            step["stdout"] = stdout
        text = encode(step)
        # the step, its output once more in the record's stdout, a comma
        added = len(text.encode("utf-8")) + (len(encode(stdout)) if stdout else 0) + 1
        if self._size + added + _TAIL_RESERVE > self._limits.record_bytes:
            return False
        self._encoded.append(text)
        self._last = step
        self._size += added
        if stdout:
            self._stdout.append(stdout)
        return True

    def append_stdout(self, text):
        """Output written after the last step belongs to the last step."""
        if not text:
            return
        self._stdout.append(text)
        if self._last is not None:
            self._last["stdout"] = self._last.get("stdout", "") + text
            self._encoded[-1] = encode(self._last)

    def finish(self, outcome, stdout):
        """The whole record as UTF-8 JSON bytes."""
        return assemble(self._encoded, outcome, stdout, self._limits)


class StreamedRecord(RecordWriter):
    """A RecordWriter that sends each step out as soon as it is taken.

    Lines go to `send` as `{"step": ...}`, then `{"end": {"outcome", "stdout",
    "limits"}}`; the sandbox's parent rebuilds the record from them (output
    written after the last step is the end's stdout past the steps' own), so
    the steps taken before a process is killed are not lost.
    """

    def __init__(self, limits, send):
        super().__init__(limits)
        self._send = send

    def add_step(self, step, stdout):
        added = super().add_step(step, stdout)
        if added:
            self._send(b'{"step":' + self._encoded.pop().encode("utf-8") + b"}\n")
        return added

    def append_stdout(self, text):
        self._stdout.append(text)

    def finish(self, outcome, stdout):
        tail = {"outcome": outcome, "stdout": stdout, "limits": self._limits.as_record()}
        self._send(b'{"end":' + encode(tail).encode("utf-8") + b"}\n")
        return b""

"""Assembles the record as JSON text, one encoded step at a time.

Steps are encoded as they are taken, so the size of the record is known
at every step and the whole record is never held as Python objects. A step
arrives as a `Step` whose frames and heap objects are already JSON text;
the full encoding writes every step whole, the delta encoding (see delta.py
for the format and the decoder) only what changed since the step before.
"""

import json
import json.encoder
import re

from . import protocol
from .speedups import RecordBuffer, delta_step, full_step

ENCODINGS = ("full", "delta")

# Room kept for the outcome (a traceback is at most a few KiB) and the limits.
_TAIL_RESERVE = 64 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")
# What json.dumps(ensure_ascii=False) writes for a str.
_encode_basestring = json.encoder.encode_basestring


def _compact_encoder():
    """The C encoder that json.dumps(value, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False) makes, made once: dumps makes one per call, which took 5 to 7 µs
    of a heap object's text where writing it took 1 to 1.5 (the heap objects that
    Python writes: a changed instance, dict or list, a new generator). None where the
    json module has no C part, or another signature. Without the check for circular
    references: what is written here the tracer built, a tree of new dicts and
    lists around the program's strings and numbers."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        return make(None, json.JSONEncoder().default, _encode_basestring, None, ":", ",", False, False, False)
    except TypeError:
        return None


_ENCODER = _compact_encoder()


def encode(value):
    """Compact JSON text; a lone surrogate from the program is written as an escape."""
    if _ENCODER is not None:
        text = "".join(_ENCODER(value, 0))
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _escape_surrogates(text) if _SURROGATE.search(text) else text


def encode_string(text):
    """`encode(text)` for a str, without the encoder's set-up."""
    encoded = _encode_basestring(text)
    return _escape_surrogates(encoded) if not encoded.isascii() and _SURROGATE.search(encoded) else encoded


def _escape_surrogates(text):
    # Raw surrogates can only stand inside JSON strings, where the escape means the same.
    return _SURROGATE.sub(lambda match: "\\u%04x" % ord(match.group()), text)


def record_parts(steps, outcome, stdout, limits, encoding="full"):
    """The record as body.py's parts: its head, its steps (already UTF-8 JSON), its tail."""
    return record_head(encoding), steps, _tail(outcome, stdout, limits)


def record_head(encoding):
    return b'{"encoding":"delta","steps":[' if encoding == "delta" else b'{"steps":['


class Step:
    """One step, its frames and heap objects already JSON text.

    `frames` are JSON texts, outermost first; `heap` maps each heap id to
    its member of the record's heap object (`"7":{...}`), in order; `extra`
    is the text of the members that follow the heap (`,"return":3,"yield":true`,
    `,"exception":{...}`), or empty.
    """

    __slots__ = ("event", "line", "frames", "heap", "extra")

    def __init__(self, event, line, frames, heap, extra):
        self.event = event
        self.line = line
        self.frames = frames
        self.heap = heap
        self.extra = extra


def full_text(step, previous, stdout):
    """The step in the full encoding (what speedups.full_step writes as bytes)."""
    # one join: %-formatting a text this long costs nearly twice as much
    parts = ['{"event":"', step.event, '","line":', str(step.line), ',"stack":[', ",".join(step.frames),
             '],"heap":{', ",".join(step.heap.values()), "}", step.extra]
    if stdout:
        parts += [',"stdout":', encode_string(stdout)]
    parts.append("}")
    return "".join(parts)


def delta_text(step, previous, stdout):
    """The step as a change to `previous` (None for the first step): see delta.py."""
    old_frames = previous.frames if previous is not None else ()
    old_heap = previous.heap if previous is not None else {}
    keep = 0
    for old, new in zip(old_frames, step.frames):
        if old != new:
            break
        keep += 1
    heap = step.heap
    changed = [text for heap_id, text in heap.items() if old_heap.get(heap_id) != text]
    parts = ['{"event":"', step.event, '","line":', str(step.line), ',"keep":', str(keep),
             ',"frames":[', ",".join(step.frames[keep:]), '],"heap":{',
             ",".join(changed), "}"]
    gone = [heap_id for heap_id in old_heap if heap_id not in heap]
    if gone:
        parts += [',"gone":', encode(gone)]
    if not _follows_order(old_heap, heap, gone):
        parts += [',"order":', encode(list(heap))]
    return _finish(parts, step, stdout)


def _follows_order(old_heap, heap, gone):
    """Whether heap's order is old_heap's, less what is gone, then the new ids in their order."""
    kept = [heap_id for heap_id in old_heap if heap_id in heap] if gone else list(old_heap)
    return list(heap)[:len(kept)] == kept


def _finish(parts, step, stdout):
    parts.append(step.extra)
    if stdout:
        parts += [',"stdout":', encode_string(stdout)]
    parts.append("}")
    return "".join(parts)


_RENDERERS = {"full": full_text, "delta": delta_text}


class RecordWriter:
    """Writes the record's bytes as steps come, into one buffer (see RecordBuffer).

    The buffer also keeps the steps' count, their share of the record's cap
    and the last one, so that the tracer's C path can add steps too.
    """

    def __init__(self, limits, encoding="full"):
        self._limits = limits
        self._encoding = encoding
        self._render = _RENDERERS[encoding]
        self._buffer = buffer = RecordBuffer()
        buffer.budget = limits.record_bytes - _TAIL_RESERVE
        buffer.separator, buffer.opener, buffer.closer = b",", b"", b""
        buffer.delta = encoding == "delta"
        buffer.write(record_head(encoding))
        # buffer.last: (step, the step before it, its stdout, where it starts): trailing output may join it
        self._stdout = []

    @property
    def stdout(self):
        return "".join(self._stdout)

    @property
    def direct_buffer(self):
        """The buffer the tracer's C path writes steps into (in either encoding), or None without C."""
        return self._buffer if full_step is not None else None

    def add_step(self, step, stdout):
        """Add a step; False when it would take the record past its size cap."""
        buffer = self._buffer
        previous = buffer.last[0] if buffer.last is not None else None
        if type(previous) is tuple:  # as the tracer's C path keeps it
            previous = Step(*previous)
        stdout_text = encode_string(stdout) if stdout else ""
        opened = len(buffer)
        buffer.open_step()
        start = len(buffer)
        written = None
        if full_step is not None:  # written in C, in one go, as the tracer's C path writes it
            if self._encoding == "full":
                written = full_step(buffer, step.event, step.line, step.frames, step.heap, step.extra, stdout_text)
            else:
                written = delta_step(buffer, step.event, step.line, step.frames, step.heap, step.extra, stdout_text,
                                     previous.frames if previous is not None else (),
                                     previous.heap if previous is not None else {})
        if written is None:
            encoded = self._encoded(step, previous, stdout)
            buffer.write(encoded)
            written = len(encoded)
        # the step, its output once more in the record's stdout, a comma
        added = written + len(stdout_text) + 1
        if buffer.size + added > buffer.budget:
            buffer.truncate(opened)
            return False
        buffer.last = (step, previous, stdout, start)
        buffer.size += added
        buffer.count += 1
        if stdout:
            self._stdout.append(stdout)
        buffer.close_step()
        return True

    def _encoded(self, step, previous, stdout):
        text = self._render(step, previous, stdout)
        if not text.isascii() and _SURROGATE.search(text):
            text = _escape_surrogates(text)
        return text.encode("utf-8")

    def append_stdout(self, text):
        """Output written after the last step belongs to the last step."""
        if not text:
            return
        self._stdout.append(text)
        buffer = self._buffer
        if buffer.last is not None:
            step, previous, stdout, start = buffer.last
            if type(step) is tuple:  # as the tracer's C path keeps it
                step = Step(*step)
            if type(previous) is tuple:
                previous = Step(*previous)
            buffer.last = (step, previous, stdout + text, start)
            buffer.truncate(start)
            buffer.write(self._encoded(step, previous, stdout + text))

    def finish(self, outcome, stdout):
        """The whole record as UTF-8 JSON bytes."""
        self._buffer.write(_tail(outcome, stdout, self._limits))
        return self._buffer.take()


def _tail(outcome, stdout, limits):
    return ('],"outcome":%s,"stdout":%s,"limits":%s}' % (encode(outcome), encode(stdout),
                                                         encode(limits.as_record()))).encode("utf-8")


# When a sandboxed child's steps go to its parent (RecordBuffer's send_* attributes).
# A send costs the child a system call and its parent a wake-up, and each step
# sent by itself a Python call and an allocation, which for a 1000-step trace is
# more than the tracing. The first STREAM_EACH_BYTES go out step by step, so a
# small program that then hangs in C (killed at the deadline) keeps every step it
# took; after that steps go out once STREAM_BATCH_BYTES wait or a step closes
# STREAM_INTERVAL_SECONDS after the last send, and at the end: a child killed
# while stuck loses at most that batch. (8 KiB step by step rather than 64: a
# 1000-step trace's first 64 KiB, about 100 writes, cost it 0.6 ms over HTTP.)
STREAM_EACH_BYTES = 8 * 1024
STREAM_BATCH_BYTES = 64 * 1024
STREAM_INTERVAL_SECONDS = 0.005


def stream(buffer, send):
    """Make `buffer` send its steps to `send` as protocol.py's step lines, as they are due."""
    buffer.separator, buffer.opener, buffer.closer, buffer.send = b"", protocol.STEP_OPENER, protocol.LINE_CLOSER, send
    buffer.send_each, buffer.send_batch, buffer.send_interval = (STREAM_EACH_BYTES, STREAM_BATCH_BYTES,
                                                                 STREAM_INTERVAL_SECONDS)
    return buffer


class StreamedSteps:
    """Mixed into a writer in the child: its steps go out as step lines, in batches
    (see `stream`), and its finish sends what waits, then the end line (the parent's
    reply assembles the body). The writer's __init__ calls `_stream_to(send)`; a
    rendered format's writer hands each step it keeps to `_keep`."""

    def _stream_to(self, send, buffer=None):
        self._lines = stream(buffer if buffer is not None else RecordBuffer(), send)
        self._send = send

    def _keep(self, text, *_):
        lines = self._lines
        lines.open_step()
        lines.write(text)
        lines.close_step()

    def finish(self, outcome, stdout):
        self._lines.flush()
        self._send(end_of_trace(outcome, stdout, self._limits))
        return b""


class StreamedRecord(StreamedSteps, RecordWriter):
    """A RecordWriter whose steps go out as they are taken, written straight into
    the streaming buffer (by add_step or the tracer's C path, not `_keep`).

    The sandbox's parent rebuilds the record from the lines (output written
    after the last step is the end's stdout past the steps' own), so the
    steps taken before a process is killed are not lost.
    """

    def __init__(self, limits, send, encoding="full"):
        super().__init__(limits, encoding)
        self._buffer.take()  # the record's head is the parent's to write
        self._stream_to(send, self._buffer)

    def append_stdout(self, text):
        self._stdout.append(text)


def end_of_trace(outcome, stdout, limits):
    """A streamed writer's last line: how the run ended, all it wrote, under which limits."""
    tail = {"outcome": outcome, "stdout": stdout, "limits": limits.as_record()}
    return protocol.end_line(encode(tail).encode("utf-8"))

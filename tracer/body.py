"""A trace's response body (a head, steps joined by commas, and a tail), joined whole or
compressed while the steps still come from the child (by content_encoding.py's
compressors: the fork server and its children never load their libraries).

Every format's body has that shape (record.record_parts, willow.trace_parts,
pythontutor.trace_parts). Gzip costs about 3 ms for a 1000-step record
(700 KB) once the record is whole, and zstd 0.2 ms after a join of 0.4;
compressed as the steps arrive, most of it is done while the child is still
tracing. A format's end may still change its last step (the record adds output
written after it) or drop it (Python Tutor's return after an uncaught
exception), so each step is compressed only once the next one has come, and the
end checks that the steps it joins begin with the very ones compressed; where
they do not, the body is compressed again whole.
"""

import operator


def joined(head, steps, tail):
    """One join, so a big body is held twice at most: as its steps, then whole."""
    if not steps:
        return head + tail
    parts = [b","] * (2 * len(steps) + 1)
    parts[0], parts[-1] = head, tail
    parts[1:-1:2] = steps
    return b"".join(parts)


def compressed_whole(data, new_compressor):
    """`data` compressed by one compressor of `new_compressor` (see CompressedStream)."""
    compressor = new_compressor()
    return compressor.compress(data) + compressor.flush()


class CompressedStream:
    """The body of `head`, steps and a tail, compressed as the steps come (`feed`) by a
    compressor of `new_compressor` (with zlib's `compress(data)` and `flush()`, which ends
    the stream: content_encoding.COMPRESSORS)."""

    def __init__(self, head, new_compressor):
        self._head = head
        self._new_compressor = new_compressor
        self._compressor = new_compressor()
        self._out = [self._compressor.compress(head)]
        self._compressed = []  # the steps compressed so far, in order

    def feed(self, steps):
        """Compress the steps of `steps` (all so far) that are settled: all but the last."""
        done, settled = len(self._compressed), len(steps) - 1
        if settled > done:
            new = steps[done:settled]
            self._out.append(self._compressor.compress((b"," if done else b"") + b",".join(new)))
            self._compressed += new

    def finish(self, head, steps, tail):
        """The compressed bytes of joined(head, steps, tail)."""
        done = self._compressed
        if head != self._head or len(steps) < len(done) or not all(map(operator.is_, steps, done)):
            self._compressor = None  # dropped before another is made (content_encoding's zstd)
            return compressed_whole(joined(head, steps, tail), self._new_compressor)
        rest = steps[len(done):]
        self._out.append(self._compressor.compress((b"," if done and rest else b"") + b",".join(rest) + tail))
        self._out.append(self._compressor.flush())
        return b"".join(self._out)

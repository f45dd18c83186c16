"""The response body compressed as the child's steps come (tracer/body.py) is the identity
body, encoded: in every encoding, for every format, a last step changed or dropped at the end,
a run cut short."""

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.decoders import DECODERS
from tracer.body import CompressedStream, joined
from tracer.content_encoding import COMPRESSORS


def _steps(count, generator):
    return [b'{"n":%d,"pad":"%s"}' % (n, b"x" * generator.randrange(200)) for n in range(count)]


@pytest.mark.parametrize("content_encoding", sorted(COMPRESSORS))
@pytest.mark.parametrize("count", [0, 1, 2, 7, 300])
def test_fed_in_any_chunks_it_decodes_to_the_joined_body(count, content_encoding):
    generator = random.Random(count)
    head, tail = b'{"steps":[', b'],"end":true}'
    steps = _steps(count, generator)
    for ending in ("same", "last changed", "last dropped", "all dropped", "head changed"):
        stream = CompressedStream(head, COMPRESSORS[content_encoding])
        taken = []
        while len(taken) < len(steps):
            taken += steps[len(taken):len(taken) + generator.randint(1, 40)]
            stream.feed(taken)
        final, final_head = list(taken), head
        if ending == "last changed" and final:
            final[-1] = final[-1][:-1] + b',"stdout":"late"}'
        elif ending == "last dropped" and final:
            final.pop()
        elif ending == "all dropped":
            final = []
        elif ending == "head changed":
            final_head = b'{"trace":['
        packed = stream.finish(final_head, final, tail)
        assert DECODERS[content_encoding](packed) == joined(final_head, final, tail), ending


PROGRAMS = [
    # a step limit cuts it short
    ("xs = []\nfor i in range(500):\n    xs.append(i * i)\n", 300),
    # an uncaught exception (Python Tutor drops the module's return after it)
    ("def f(x):\n    return 1 / x\nvalues = [f(n) for n in range(3, -1, -1)]\n", 200),
    # output written after the last step (the record adds it to that step)
    ("import sys\nprint('start')\nsys.exit('the end')\n", 100),
    ("", 10),
]


@pytest.mark.parametrize("format", ["record", "willow", "pythontutor"])
@pytest.mark.parametrize("source, steps", PROGRAMS)
def test_a_trace_compressed_as_it_comes_is_the_identity_body_encoded(sandbox, format, source, steps):
    for encoding in (["full", "delta"] if format == "record" else ["full"]):
        plain = sandbox.run(source, "", steps, encoding, format)
        for content_encoding, compressor in COMPRESSORS.items():
            packed = sandbox.run(source, "", steps, encoding, format, compressor=compressor)
            assert DECODERS[content_encoding](packed) == plain, (format, encoding, content_encoding)


def test_the_fork_server_never_loads_the_compression_libraries():
    """The children run the program: they hold no more code than tracing needs."""
    probe = "import sys, tracer.forkserver\nprint(sorted({'zstandard', 'brotli', '_brotli'} & set(sys.modules)))\n"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent).stdout
    assert loaded == "[]\n"


def test_a_reply_cut_short_by_the_parent_is_the_identity_body_gzipped(sandbox, monkeypatch):
    """Killed at the deadline while stuck in C: the steps that came, then the parent's outcome."""
    monkeypatch.setenv("TRACER_TIME_SECONDS", "1")
    source = "a = 1\nb = [a] * 3\nx = 10 ** 10 ** 8\n"
    plain = sandbox.run(source, "", 100)
    assert b'"time_limit"' in plain
    for content_encoding, compressor in COMPRESSORS.items():
        assert DECODERS[content_encoding](sandbox.run(source, "", 100, compressor=compressor)) == plain

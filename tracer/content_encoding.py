"""The encodings a response body may be sent in (Content-Encoding), for the service only:
the fork server and its children never import this, nor the libraries it needs.

A client is answered in the first encoding of ENCODINGS that it takes best. A
1000-step record (730 KB) takes, on this project's bench machine: zstd
(level 3) 0.22 ms, 84x smaller; brotli (quality 3) 1.1 ms, 91x; gzip (level
6) 2.7 ms, 81x, where level 1 is twice as fast but the record only 41x
smaller, and on a school's network the bytes cost more than the milliseconds.
So a trace's body is compressed as the child's steps arrive (body.py), in
every encoding: zstd's took a 1000-step generators request from 6.0 ms to 5.7,
a fib one from 5.5 to 5.1 and a word count one (2.4 MB) from 14.4 to 12.5, the
join and compression of the whole record no longer after the child's end.
"""

import threading
import zlib

import brotli
import zstandard

from .body import compressed_whole

ENCODINGS = ("zstd", "br", "gzip")  # the client's choice first; among equals, the fastest
_ZSTD_LEVEL = 3
_BROTLI_QUALITY = 3
_GZIP_LEVEL = 6
_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # zlib's gzip container: header (mtime 0), deflate, crc32, size


_zstd = threading.local()


def _zstd_compressor():
    # Each thread's own ZstdCompressor, whose context a body's compressobj reuses (31 µs
    # to make one, 3 to reuse it; each holds 1.6 MB resident once it has compressed a
    # 760 KB record: 6 MB for the 4 threads deployed). It may not be used by two threads
    # at once, nor by two compressobjs (a thread compresses one body at a time;
    # CompressedStream drops its compressor before it makes another). Streamed, the
    # frame does not say its size first (decoders that need it: ZstdDecompressor's
    # decompressobj, or zstandard.decompress with max_output_size).
    compressor = getattr(_zstd, "compressor", None)
    if compressor is None:
        compressor = _zstd.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return compressor.compressobj()


class _BrotliCompressor:
    """brotli's streaming compressor with zlib's method names (body.CompressedStream)."""

    def __init__(self):
        self._compressor = brotli.Compressor(quality=_BROTLI_QUALITY)

    def compress(self, data):
        return self._compressor.process(data)

    def flush(self):
        return self._compressor.finish()


def _gzip_compressor():
    return zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WINDOW)


# encoding -> () -> a new compressor, with zlib's compress(data) and flush()
COMPRESSORS = {"zstd": _zstd_compressor, "br": _BrotliCompressor, "gzip": _gzip_compressor}


def compressed(data, encoding):
    """`data` in `encoding`, one of ENCODINGS."""
    return compressed_whole(data, COMPRESSORS[encoding])

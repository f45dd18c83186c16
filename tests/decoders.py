"""The response bodies' decoders, by Content-Encoding, for the tests that check them."""

import gzip

import brotli
import zstandard


def _zstd(data):
    # a trace's frame, compressed as its steps came, does not say its size first
    # (zstandard.decompress needs it)
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


DECODERS = {"gzip": gzip.decompress, "br": brotli.decompress, "zstd": _zstd}

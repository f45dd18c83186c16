"""The snapshot's hot loops in C (tracer/_speedups.c) where built, else Python.

`dict_version(d)` is CPython's version tag of an exact dict (it changes
whenever the dict does), or None where it cannot be read: the caller then
fingerprints the dict's keys and values instead. `same_items` and
`same_objects` compare by identity (the C version also takes two exact
ints of one value as the same: their text is) and never call `__eq__`.
`settle_heap`, `items_text` and `members_text` are C versions of loops in
HeapEncoder, and `full_step` writes a step's bytes for RecordWriter; None
here when not built: those then run their own Python.
Both give the same record, byte for byte (tests/test_speedups.py).
"""

import operator
import os

try:
    if os.environ.get("TRACER_SPEEDUPS") == "0":  # to compare both, in tests and the bench
        raise ImportError("TRACER_SPEEDUPS=0")
    from tracer._speedups import (dict_version, full_step, items_text, members_text, same_items, same_objects,
                                  settle_heap)
    NATIVE = True
except ImportError:
    NATIVE = False

    # HeapEncoder does these in Python
    settle_heap = items_text = members_text = full_step = None

    def dict_version(d):
        return None

    def same_items(fingerprint, start, items, count):
        """Whether items[:count] are the very objects of fingerprint[start:], which ends there."""
        return (len(fingerprint) == start + count and len(items) >= count
                and all(map(operator.is_, fingerprint[start:], items[:count])))

    def same_objects(first, second):
        """Whether two tuples hold the very same objects, in order."""
        return len(first) == len(second) and all(map(operator.is_, first, second))

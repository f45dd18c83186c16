"""Heap ids for the rendered formats (Python Tutor's, willow's): given once per object and
never reused, without holding every object a step ever showed.

The record's encoder (snapshot.HeapEncoder.release) does the same with its text
caches; the policy is its: an object is held while the last step shows it. Once
none does, one that can be weakly referenced is watched, keeping its id while it
lives (it may be shown again) and losing it as it dies; one that cannot (a list,
a dict, a tuple) is let go with its id where the tracer's reference was its last,
else held on, id and all, until a later sweep finds it so. Those let go die in the
order the last step showed them (a container before what it holds).
"""

import functools
import sys
import types
import weakref

from .objects import type_dict
from .speedups import run_traced

_SWEEP_SLACK = 32
_SUSPENDED = {types.GeneratorType: "gi_suspended", types.CoroutineType: "cr_suspended",
              types.AsyncGeneratorType: "ag_suspended"}


class HeapIds:
    def __init__(self, first_id, finalizers_traced=False):
        # whether what end_step lets go dies with tracing on, where its death runs the
        # program's code: that code's steps are then the format's (the engine takes the
        # step being rendered again after them)
        self._finalizers_traced = finalizers_traced
        self._next_id = first_id
        self._ids = {}  # id(obj) -> heap id
        self._held = {}  # heap id -> obj: those the last step showed, and those not watchable that live on
        self._shown = {}  # heap id -> None, in the order the step being made shows them
        self._last_shown = {}
        self._sweep_at = _SWEEP_SLACK  # held but not shown, past which end_step looks at them all
        self._watched = {}  # heap id -> (address, weak reference), while it lives
        self._deaths = {}  # heap id -> weak reference, of the watched that died since the last step

    def id_of(self, obj):
        """obj's heap id, given now if it has none; obj is held while steps show it."""
        address = id(obj)
        heap_id = self._ids.get(address)
        if heap_id is None:
            heap_id = self._ids[address] = self._next_id
            self._next_id += 1
        self._held[heap_id] = obj
        self._shown[heap_id] = None
        return heap_id

    def start_step(self):
        """Before a step gives any id: the ids of the watched that died are free again."""
        forget_dead(self._ids, self._watched, self._deaths)

    def end_step(self):
        """As a step's heap is done: let go of what the last step showed and this one does not
        (the finalizers of what only the tracer held run here: their output this step's, and,
        where they are traced, their steps before it)."""
        shown, held = self._shown, self._held
        sweep = len(held) - len(shown) > self._sweep_at
        # a sweep: also those held on before, which the program may have let go of since
        vanished = [heap_id for heap_id in (held if sweep else self._last_shown) if heap_id not in shown]
        self._last_shown, self._shown = shown, {}
        # out of `held` before any dies: a finalizer's traced steps find the ids as they are now
        candidates = [(heap_id, held.pop(heap_id)) for heap_id in vanished]
        if sweep:
            self._sweep_at = 2 * (len(held) - len(shown)) + _SWEEP_SLACK
        if self._finalizers_traced and any(finalizes(obj) for _, obj in candidates):
            run_traced(self._let_go, candidates)
        else:
            self._let_go(candidates)

    def _let_go(self, candidates):
        """end_step's end: each dies in turn, if the tracer held its last reference, before the
        next is looked at (what it held may have had no other)."""
        for index in range(len(candidates)):
            # (by index: enumerate's reused result would hold the pair, and so obj, a turn longer)
            heap_id, obj = candidates[index]
            candidates[index] = None
            if self._watch(heap_id, obj):
                obj = None
                continue
            # `obj` here and getrefcount's argument are the tracer's only ones
            if sys.getrefcount(obj) <= 2:
                if self._ids.get(id(obj)) == heap_id:  # (unless a finalizer's step showed it again)
                    del self._ids[id(obj)]
            else:
                self._held[heap_id] = obj
            obj = None

    def _watch(self, heap_id, obj):
        return watch(self._watched, self._deaths, heap_id, obj)


def finalizes(obj):
    """Whether obj's death runs code of its own: a __del__ in its class's MRO, or a suspended
    generator's (its `finally`). Read without running any: class dicts and a flag."""
    cls = type(obj)
    suspended = _SUSPENDED.get(cls)
    if suspended is not None:
        return getattr(obj, suspended)
    return any("__del__" in type_dict(base) for base in type.__dict__["__mro__"].__get__(cls))


def watch(watched, deaths, heap_id, obj):
    """Keep obj's id while it lives without holding it (in `watched`, its death noted in
    `deaths`): False where it cannot be weakly referenced."""
    if heap_id in watched:
        return True
    try:
        # the callback is C (no frame, no event): the death is noted for forget_dead
        watched[heap_id] = (id(obj), weakref.ref(obj, functools.partial(deaths.__setitem__, heap_id)))
    except TypeError:
        return False
    return True


def forget_dead(ids, watched, deaths):
    """Drop the ids (`ids`: address -> heap id) of the watched that died since this was last
    called, before any id is given: another object may have their address now."""
    for heap_id in list(deaths):
        del deaths[heap_id]
        address, _ = watched.pop(heap_id)
        if ids.get(address) == heap_id:
            del ids[address]

"""Python values to the record's JSON values and heap objects.

Nothing here may run the program's code: objects are read only through
objects.py's helpers, and the caches here are keyed by `id()`, never by
the object (hashing a class calls its metaclass's `__hash__`).
"""

import collections
import enum
import itertools
import math
import sys
import types

from .heap_ids import finalizes, forget_dead, watch
from .speedups import EncoderCore, dict_version, run_traced, same_items, same_objects
from .record import encode, encode_string
from .objects import (SCALAR_REPRS, SCALAR_TYPES, TypeLayout, bytes_repr, clip, dict_get, dict_items, exception_args,
                      int_repr, is_dunder, is_program_class, is_program_code, is_sunder, module_dict, qualified_name,
                      short_repr, tuple_items, type_bases, type_dict, type_module, type_name, type_qualname)

MAX_EXACT_INT = 2**53 - 1

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


# ------------------------------------------------------- reprs of `other`

def _builtin_callable_repr(obj):
    owner = obj.__self__
    if owner is None or type(owner) is types.ModuleType:
        return f"<built-in function {obj.__name__}>"
    return f"<built-in method {obj.__name__} of {type_name(type(owner))} object>"


def _module_repr(obj):
    name = dict_get(module_dict(obj), "__name__")
    return f"<module {str.__repr__(name)}>" if type(name) is str else "<module>"


def _exception_repr(obj):
    try:
        args = exception_args(obj)
    except Exception:
        args = ()
    inner = ", ".join(short_repr(a) for a in tuple_items(args)) if type(args) is tuple else ""
    return f"{qualified_name(type(obj))}({inner})"


def _wrapper_repr(obj):
    return f"<{type_name(type(obj))}({short_repr(obj.__func__)})>"


_OTHER_REPRS = {
    id(t): (t, r)
    for t, r in [
        (types.ModuleType, _module_repr),
        (types.GeneratorType, lambda g: f"<generator object {g.__qualname__}>"),
        (types.CoroutineType, lambda g: f"<coroutine object {g.__qualname__}>"),
        (types.AsyncGeneratorType, lambda g: f"<async_generator object {g.__qualname__}>"),
        (types.BuiltinFunctionType, _builtin_callable_repr),
        (types.FunctionType, lambda f: f"<function {f.__qualname__}>"),
        (types.MethodType, lambda m: f"<bound method {m.__func__.__qualname__} "
                                     f"of {type_name(type(m.__self__))} object>"),
        (range, range.__repr__),
        (slice, lambda s: f"slice({short_repr(s.start)}, {short_repr(s.stop)}, {short_repr(s.step)})"),
        (types.MemberDescriptorType, types.MemberDescriptorType.__repr__),
        (types.GetSetDescriptorType, types.GetSetDescriptorType.__repr__),
        (types.WrapperDescriptorType, types.WrapperDescriptorType.__repr__),
        (types.MethodDescriptorType, types.MethodDescriptorType.__repr__),
        (staticmethod, _wrapper_repr),
        (classmethod, _wrapper_repr),
        (bytearray, None),  # cut to the string cap in other_repr
    ]
}


def _other_fingerprint(obj, cls):
    """What other_repr's text depends on, for the kinds whose repr is cheap to fingerprint."""
    if cls is types.GeneratorType or cls is types.CoroutineType or cls is types.AsyncGeneratorType:
        return (cls, obj.__qualname__)
    if cls is range or cls is types.BuiltinFunctionType:
        return _IMMUTABLE
    if cls is types.ModuleType:
        return (cls, dict_get(module_dict(obj), "__name__"))
    if id(cls) in _OTHER_REPRS or issubclass(cls, (type, BaseException)):
        return None
    return (cls, type_module(cls), type_qualname(cls))


def other_repr(obj, limit):
    cls = type(obj)
    entry = _OTHER_REPRS.get(id(cls))
    try:
        if entry is not None:
            if cls is bytearray:
                text = bytearray.__repr__(obj[:limit] if len(obj) > limit else obj)
            else:
                text = entry[1](obj)
        elif issubclass(cls, type):
            text = f"<class {str.__repr__(qualified_name(obj))}>"
        elif issubclass(cls, BaseException):
            text = _exception_repr(obj)
        else:
            text = f"<{qualified_name(cls)} object>"
    except Exception:
        text = f"<{type_name(cls)} object>"
    return clip(text, limit)


# ------------------------------------------------------------ the encoder

class _PythonCore:
    """HeapEncoder's heap ids and value texts: speedups.EncoderCore in Python.

    `_reference(obj)` gives obj its heap id (once, for the whole trace) and
    puts it in this step's heap; `value_text(v)` writes a scalar or a
    reference and leaves the rest to the encoder's `_other_text`;
    `items_text` and `members_text` write a list's items and a namespace
    (None: the caller writes it); `snapshot` takes a step's snapshot: its
    frames' texts, a returned value's and the heap's. The C core also has
    `frames_text`.
    """

    def _reference(self, obj):
        key = id(obj)
        heap_id = self._ids.get(key)
        if heap_id is None:
            heap_id = len(self._alive) + 1
            self._ids[key] = heap_id
            self._alive.append(obj)
        elif self._alive[heap_id - 1] is None:  # watched while unseen, shown again: held again
            self._alive[heap_id - 1] = obj
        if self._collected is not None:
            self._collected.append((heap_id, obj))
        if heap_id not in self._heap:
            self._heap[heap_id] = None  # placeholder keeps discovery order
            self._pending.append((heap_id, obj))
        return heap_id

    def value_text(self, v):
        t = type(v)
        if t is int:
            if -MAX_EXACT_INT <= v <= MAX_EXACT_INT:
                return int.__repr__(v)
        elif t is str:
            if len(v) <= self._string_cap:
                return encode_string(v)
        elif t is bool:
            return "true" if v else "false"
        elif v is None:
            return "null"
        elif t is float:
            if math.isfinite(v) and not v.is_integer():
                return float.__repr__(v)
        elif t is not bytes and not any(t is other for other in self._scalar_types):
            return '{"ref":%d}' % self._reference(v)
        return self._other_text(v)

    def items_text(self, items, count):
        value_text = self.value_text
        return ",".join([value_text(item) for item in items[:count]])

    def members_text(self, names, bound):
        return None

    def snapshot(self, chain, step, ran, names_by_code, frame_text, *returned):
        """A step's frames' texts, the text of the value returned if given, and the heap's texts."""
        if self._deaths:
            self.forget_dead()
        self._heap = {}
        self._pending = []
        top = len(chain) - 1
        frames = [frame_text(entry, index == top) for index, entry in enumerate(chain)]
        return_text = self.value_text(returned[0]) if returned else None
        heap = self.heap()
        last, self._last_heap = self._last_heap, heap
        vanished = [heap_id for heap_id in last if heap_id not in heap]
        if vanished or len(self._ids) > self._release_at:
            self.release(vanished, heap, len(chain))
        return frames, heap, return_text


_Core = EncoderCore if EncoderCore is not None else _PythonCore
_RELEASE_SLACK = 32


class HeapEncoder(_Core):
    """Turns values into JSON values, collecting the heap of one step as JSON text.

    Heap ids are handed out once per object and never reused. An object is
    held while a step shows it; once none does, release lets it go, watching
    it weakly where it can so that it keeps its id while it lives (see
    release): the program's memory is what it holds itself.

    An object's text is cached with a fingerprint: the objects its text is
    made of (its class, its length, its items, keys, values or attributes).
    Fingerprints are compared by identity, never with `==` (which could run
    the program's `__eq__`), and hold what they name alive, so an unchanged
    fingerprint means unchanged text: most objects are encoded once, not at
    every step.
    """

    def __init__(self, limits, parent_of):
        # the core's fields (see _PythonCore)
        self._items_cap = limits.items_per_object
        self._string_cap = limits.string_length
        self._ids = {}  # id(obj) -> heap id
        self._alive = []  # the object of heap id N at N - 1, None once released
        self._release_at = _RELEASE_SLACK  # ids held past which release sweeps them all
        self._last_heap = {}  # the last snapshot's heap (the C core keeps its own)
        self._watched = {}  # heap id -> (address, weak reference) of an object held no more, while it lives
        self._deaths = {}  # heap id -> weak reference, of the watched that died since the last snapshot
        self.activations = {}  # the engine's: frame -> Activation, whose cached locals hold ids
        self._heap = {}
        self._pending = []
        self._collected = None  # the objects referred to by what is being encoded
        self._key_texts = {}  # name -> '"name":', for namespaces (names are str)
        self._scalar_types = SCALAR_TYPES
        self._cache = {}  # heap id -> (fingerprint, text, objects it refers to)
        self._immutable, self._by_version = _IMMUTABLE, _BY_VERSION
        self._parent_of = parent_of  # function -> frame id or None
        self._layouts = {}  # id(cls) -> TypeLayout
        # False where the program has no __del__ and no generator: letting go runs none of its code
        self.finalizers_may_run = True

    def release(self, vanished, heap, shown_frames):
        """Stop holding the objects of the last step's heap that this step's `heap`
        no longer shows (`vanished`, their ids, in the order they were found), as
        the snapshot ends.

        The tracer holds an object while a step shows it, or while a text cached
        for a later step refers to it: the locals of a live frame that is not
        shown (a suspended generator's) and what their cached texts show in
        turn. Past that, an object that can be weakly referenced is watched: it
        keeps its id while it lives (it may be shown again) and loses it as it
        dies. One that cannot is let go with its id if the tracer's was its last
        reference, else held on, id and all. Those another object refers to are
        watched first, then the roots of the garbage are let go in the order
        found: each dies as CPython would kill it, what it held after it.

        Ids held for texts that no longer refer to them, or for objects never in
        two steps' heaps, and garbage cycles of objects that cannot be weakly
        referenced, are let go by a sweep of every id, once as many are held as
        were kept at the last sweep plus _RELEASE_SLACK: a step's cost stays in
        proportion to what it shows.

        The C core calls this at the same points with the same arguments, so
        both give the same ids, but for where it can tell that nothing would
        be let go (frames.c, release_holds_all). Finalizers of what only the
        tracer held run here (_let_go), as the step after the line where the
        program let go is taken: traced, though inside the trace function
        (run_traced), so their steps come before that one, which the engine
        then takes again (Engine._take_record_step).
        """
        ids, alive, cache = self._ids, self._alive, self._cache
        sweep = len(ids) > self._release_at
        if sweep:
            vanished = [heap_id for heap_id in ids.values() if heap_id not in heap]
        held = self._held_by_hidden_frames(heap, shown_frames)
        # what only the tracer holds, in `candidates` alone: first without the cached
        # texts' fingerprints, which hold what each object held when it was drawn
        candidates = []
        obj = None
        for heap_id in vanished:
            obj = alive[heap_id - 1]
            if obj is None or heap_id in held or ids.get(id(obj)) != heap_id:
                continue
            cache.pop(heap_id, None)
            alive[heap_id - 1] = None
            candidates.append((heap_id, obj))
        obj = None
        # Referred to by something else (the program, or another candidate): watched
        # now, if that can be, so that each dies as CPython would kill it once the
        # garbage that holds it dies. The others are roots of garbage, or held on.
        roots, referred = [], []
        for index, (heap_id, obj) in enumerate(candidates):
            # its pair in `candidates`, `obj` and getrefcount's argument: none but the tracer's
            is_root = sys.getrefcount(obj) <= 3
            if is_root or not self._watch(heap_id, obj):
                (roots if is_root else referred).append(index)
                continue
            candidates[index] = None
        obj = None
        if roots or referred:
            if self.finalizers_may_run and any(pair is not None and finalizes(pair[1]) for pair in candidates):
                # what their deaths run (a `__del__`, a dropped generator's `finally`) is the
                # program's: traced, its steps come before this one, which the engine then takes
                # again (and where one runs that this did not foresee, untraced: its output
                # still makes the engine take this step again)
                run_traced(self._let_go, candidates, roots, referred, sweep)
            else:
                self._let_go(candidates, roots, referred, sweep)
        if sweep:
            self._release_at = 2 * len(ids) + _RELEASE_SLACK

    def _let_go(self, candidates, roots, referred, sweep):
        """release's end: the roots die in the order they were found, then what they referred to."""
        ids, alive = self._ids, self._alive
        for group in (roots, referred):
            for index in group:
                heap_id, obj = candidates[index]
                candidates[index] = None
                # (a root; or referred to before the roots died, and by nothing else now)
                if group is roots or sweep or sys.getrefcount(obj) <= 2:
                    # (unless a finalizer's step, above, showed it again and let go of it itself)
                    if not self._watch(heap_id, obj) and ids.get(id(obj)) == heap_id:
                        del ids[id(obj)]
                else:
                    alive[heap_id - 1] = obj  # alive elsewhere, and only a hold tells when it dies
                obj = None

    def _watch(self, heap_id, obj):
        """Keep obj's id while it lives, without holding it: False where it cannot be weakly referenced."""
        return watch(self._watched, self._deaths, heap_id, obj)

    def forget_dead(self):
        """Drop the ids of watched objects that died since the last snapshot, before
        this one gives any: another object may have their address now."""
        forget_dead(self._ids, self._watched, self._deaths)

    def release_all(self):
        """Let go of every object: the program has ended, and its finalizers are to run."""
        self._ids.clear()
        self._alive[:] = [None] * len(self._alive)
        self._cache.clear()
        self._watched.clear()
        self._deaths.clear()
        self._heap, self._pending, self._last_heap = {}, [], {}

    def _held_by_hidden_frames(self, heap, shown_frames):
        """The ids that live frames not shown in this step refer to, directly or through cached texts."""
        activations = self.activations
        if len(activations) <= shown_frames:  # every live frame is shown: what it refers to is in the heap
            return ()
        held = set()
        cache = self._cache
        waiting = []
        for activation in activations.values():
            cached = activation.cached
            if cached is not None and cached[2]:
                waiting += cached[2]
        while waiting:
            heap_id = waiting.pop()[0]
            if heap_id not in held and heap_id not in heap:
                held.add(heap_id)
                entry = cache.get(heap_id)
                if entry is not None:
                    waiting += entry[2]
        return held

    def value(self, v):
        t = type(v)
        if t is str:
            if len(v) <= self._string_cap:
                return v
            return {"type": "str", "value": v[: self._string_cap],
                    "truncated": len(v) - self._string_cap}
        if t is int:
            if -MAX_EXACT_INT <= v <= MAX_EXACT_INT:
                return v
            return {"type": "int", "repr": int_repr(v)}
        if t is bool or v is None:
            return v
        if t is float:
            if math.isfinite(v) and not v.is_integer():
                return v
            return {"type": "float", "repr": float.__repr__(v)}
        if t is bytes:
            text, cut = bytes_repr(v, self._string_cap)
            return {"type": "bytes", "repr": text, "truncated": cut} if cut else {"type": "bytes", "repr": text}
        entry = SCALAR_REPRS.get(id(t))
        if entry is not None:
            text = entry[1](v)
            if text is not None:
                return {"type": type_name(t), "repr": text}
        return {"ref": self._reference(v)}

    def _other_text(self, v):
        """`encode(self.value(v))`, for what value_text does not write itself."""
        value = self.value(v)
        if type(value) is dict and "ref" in value:
            return '{"ref":%d}' % value["ref"]
        return encode(value)

    def namespace_text(self, names, bound):
        """The JSON object of names' values, in `bound`'s order, and the objects it refers to."""
        self._collected = referred = []
        try:
            text = self.members_text(names, bound)
            if text is not None:
                return text, referred
            referred.clear()
            value_text = self.value_text
            keys = self._key_texts
            parts = []
            for name in bound:
                key = keys.get(name)
                if key is None:
                    key = keys[name] = encode_string(name) + ":"
                parts.append(key + value_text(names[name]))
            return "{%s}" % ",".join(parts), referred
        finally:
            self._collected = None

    def _list_text(self, obj):
        """The text `_sequence` gives an exact list, written directly."""
        cap = self._items_cap
        items = self.items_text(obj, cap)
        if len(obj) <= cap:
            return '{"kind":"list","type":"list","items":[%s]}' % items
        return '{"kind":"list","type":"list","items":[%s],"truncated":%d}' % (items, len(obj) - cap)

    def encode_with_refs(self, build):
        """`encode(build())`, and the (heap id, object) pairs it referred to, in order."""
        self._collected = referred = []
        try:
            return encode(build()), referred
        finally:
            self._collected = None

    def refer_again(self, referred):
        """Puts what a cached text refers to into this step's heap, as encoding it would."""
        heap = self._heap
        for pair in referred:
            if pair[0] not in heap:
                heap[pair[0]] = None
                self._pending.append(pair)

    def heap(self):
        """The step's heap, {heap id: '"id":JSON text'}: every object referenced so far, and all they reach.

        The loop runs once per object per step. Where built, C
        (EncoderCore.settle_pending) takes every object whose text holds, and
        writes again the exact lists and dicts and the plain instances that
        changed, as this loop does, and hands back the others, which this loop
        checks again and encodes; without it, the cases that keep their text
        are inlined here (an exact list, a function, what never changes).
        """
        pending = self._pending
        heap = self._heap
        cache = self._cache
        cap = self._items_cap
        settle_pending = getattr(self, "settle_pending", None)  # C's, where built
        while pending:
            if settle_pending is not None:
                pair = settle_pending()
                if pair is None:
                    break
                heap_id, obj = pair
            else:
                heap_id, obj = pending.pop()
            entry = cache.get(heap_id)
            fingerprint = _MISSING  # computed once, for the check or for the new entry
            if entry is not None:
                cached = entry[0]
                cls = type(obj)
                if cached is _IMMUTABLE:
                    same = True
                elif cls is list:
                    same = (cached[0] is list and cached[1] == len(obj)
                            and same_items(cached, 2, obj, min(len(obj), cap)))
                elif cls is types.FunctionType:
                    same = (cached[1] is obj.__name__ and cached[2] is obj.__code__
                            and cached[3] is obj.__defaults__ and cached[4] is obj.__kwdefaults__)
                elif cls is types.GeneratorType:
                    same = cached[1] is obj.__qualname__
                else:
                    fingerprint = self._fingerprint(obj)
                    same = fingerprint is not None and same_objects(cached, fingerprint)
                if same:
                    for pair in entry[2]:  # refer_again, inlined
                        if pair[0] not in heap:
                            heap[pair[0]] = None
                            pending.append(pair)
                    heap[heap_id] = entry[1]
                    continue
            if fingerprint is _MISSING:
                fingerprint = self._fingerprint(obj)
            if type(obj) is list:
                self._collected = referred = []
                try:
                    text = self._list_text(obj)
                finally:
                    self._collected = None
            else:
                text, referred = self.encode_with_refs(lambda: self._object(obj))
            keyed = '"%d":%s' % (heap_id, text)
            if fingerprint is not None:
                cache[heap_id] = (fingerprint, keyed, referred)
            heap[heap_id] = keyed
        return heap

    # -- heap objects, by kind

    def _kind(self, obj, cls):
        if issubclass(cls, (list, tuple, set, frozenset, collections.deque)):
            return "sequence"
        if issubclass(cls, dict):
            return "mapping"
        if issubclass(cls, type):
            if is_program_class(obj):
                return "class"
        elif cls is types.FunctionType:
            if is_program_code(obj.__code__):
                return "function"
        elif cls is types.MethodType:
            func = obj.__func__
            if type(func) is types.FunctionType and is_program_code(func.__code__):
                return "method"
        elif is_program_class(cls):
            return "instance"
        return "other"

    def _object(self, obj):
        cls = type(obj)
        kind = self._kind(obj, cls)
        if kind == "sequence":
            return self._sequence(obj, cls)
        if kind == "mapping":
            return self._mapping(obj, cls)
        if kind == "class":
            return self._class(obj, cls)
        if kind == "function":
            return self._function(obj, obj, cls, bound=False)
        if kind == "method":
            return self._function(obj, obj.__func__, cls, bound=True)
        if kind == "instance":
            return self._instance(obj, cls)
        return {"kind": "other", "type": type_name(cls),
                "repr": other_repr(obj, self._string_cap)}

    def _fingerprint(self, obj):
        """The objects obj's text is made of; None where that cannot be told cheaply.

        An exact tuple or frozenset holds the same objects for its whole
        life, and its text names them only by value or heap id: _IMMUTABLE.
        """
        cls = type(obj)
        cap = self._items_cap
        if cls is list:  # the hot path: an exact list, safe to slice
            return (cls, len(obj), *(obj if len(obj) <= cap else obj[:cap]))
        if cls is tuple or cls is frozenset:
            return _IMMUTABLE
        if cls is dict:
            version = dict_version(obj)
            if version is not None:
                return (cls, version)
            if len(obj) <= cap:
                return (cls, len(obj), *obj, *obj.values())
            return (cls, len(obj), *itertools.chain.from_iterable(itertools.islice(obj.items(), cap)))
        kind = self._kind(obj, cls)
        if kind == "sequence":
            base = next(b for b in (list, tuple, set, frozenset, collections.deque) if issubclass(cls, b))
            return (cls, type_name(cls), base.__len__(obj), *itertools.islice(base.__iter__(obj), cap))
        if kind == "mapping":
            items_of = collections.OrderedDict.items if issubclass(cls, collections.OrderedDict) else dict.items
            return (cls, type_name(cls), dict.__len__(obj),
                    *itertools.chain.from_iterable(itertools.islice(items_of(obj), cap)))
        if kind == "instance":
            layout = self._layout(cls)
            parts = [cls, type_name(cls)]
            for _name, member in layout.slots:
                try:
                    parts.append(member.__get__(obj, cls))
                except AttributeError:
                    parts.append(_MISSING)
            if layout.dict_getter is not None:
                try:
                    attributes = layout.dict_getter(obj, cls)
                except Exception:
                    return None
                if attributes is not None and issubclass(type(attributes), dict):
                    version = dict_version(attributes)
                    if version is not None:
                        if not layout.slots:  # the shape C's settle recognizes
                            return (cls, type_name(cls), _BY_VERSION, attributes, version)
                        parts += (attributes, version)
                    else:
                        parts.append(attributes)
                        parts.extend(itertools.chain.from_iterable(dict_items(attributes)))
                else:
                    parts.append(attributes)
            return tuple(parts)
        if kind == "class":
            return (cls, type_name(cls), type_name(obj), *type_bases(obj),
                    *itertools.chain.from_iterable(dict_items(type_dict(obj).copy())))
        if kind == "function":
            return (cls, obj.__name__, obj.__code__, obj.__defaults__, obj.__kwdefaults__)
        if kind == "method":
            func = obj.__func__
            return (cls, func, func.__name__, func.__code__, func.__defaults__, func.__kwdefaults__)
        return _other_fingerprint(obj, cls)

    def _items(self, iterator, length):
        items = [self.value(item) for item in itertools.islice(iterator, self._items_cap)]
        return items, length - len(items)

    def _sequence(self, obj, cls):
        for base, kind in ((list, "list"), (tuple, "tuple"), (set, "set"),
                           (frozenset, "frozenset"), (collections.deque, "list")):
            if issubclass(cls, base):
                break
        items, cut = self._items(base.__iter__(obj), base.__len__(obj))
        encoded = {"kind": kind, "type": type_name(cls), "items": items}
        if cut:
            encoded["truncated"] = cut
        return encoded

    def _mapping(self, obj, cls):
        items_of = collections.OrderedDict.items if issubclass(cls, collections.OrderedDict) else dict.items
        entries = [[self.value(k), self.value(v)]
                   for k, v in itertools.islice(items_of(obj), self._items_cap)]
        encoded = {"kind": "dict", "type": type_name(cls), "entries": entries}
        cut = dict.__len__(obj) - len(entries)
        if cut:
            encoded["truncated"] = cut
        return encoded

    def _attrs(self, pairs):
        attrs = {}
        for name, value in pairs:
            if type(name) is not str:
                name = short_repr(name)
            if not is_dunder(name):
                attrs[name] = self.value(value)
        return attrs

    def _layout(self, cls):
        layout = self._layouts.get(id(cls))
        if layout is None:
            layout = self._layouts[id(cls)] = TypeLayout(cls)
        return layout

    def _instance(self, obj, cls):
        layout = self._layout(cls)
        pairs = []
        for name, member in layout.slots:
            try:
                pairs.append((name, member.__get__(obj, cls)))
            except AttributeError:  # a slot never assigned
                pass
        if layout.dict_getter is not None:
            try:
                attributes = layout.dict_getter(obj, cls)
            except Exception:
                attributes = None
            if attributes is not None and issubclass(type(attributes), dict):
                pairs.extend(dict_items(attributes))
        encoded = {"kind": "instance", "type": type_name(cls), "attrs": self._attrs(pairs)}
        return self._cut_attrs(encoded)

    def _class(self, obj, cls):
        pairs = dict_items(type_dict(obj).copy())
        if issubclass(cls, enum.EnumMeta):  # its _sunder_ bookkeeping is not the program's
            pairs = [(name, value) for name, value in pairs if not is_sunder(name)]
        encoded = {"kind": "class", "type": type_name(cls), "name": type_name(obj),
                   "bases": [type_name(base) for base in type_bases(obj)],
                   "attrs": self._attrs(pairs)}
        return self._cut_attrs(encoded)

    def _cut_attrs(self, encoded):
        attrs = encoded["attrs"]
        if len(attrs) > self._items_cap:
            kept = dict(itertools.islice(attrs.items(), self._items_cap))
            encoded["attrs"] = kept
            encoded["truncated"] = len(attrs) - len(kept)
        return encoded

    def _function(self, obj, func, cls, bound):
        return {"kind": "function", "type": type_name(cls), "name": func.__name__,
                "signature": signature(func, skip_first=bound),
                "parent": self._parent_of(func)}


def signature(func, skip_first=False):
    """`name(a, b=2, *args, c, **kw)`, built from the code object and defaults."""
    code = func.__code__
    names = code.co_varnames
    positional = code.co_argcount
    positional_only = code.co_posonlyargcount
    keyword_only = code.co_kwonlyargcount
    defaults = func.__defaults__ or ()
    keyword_defaults = func.__kwdefaults__ or {}
    defaults = tuple.__getitem__(defaults, slice(None))
    first_default = positional - len(defaults)
    parts = []
    for index in range(positional):
        part = names[index]
        if index >= first_default:
            part += "=" + short_repr(defaults[index - first_default])
        parts.append(part)
        if positional_only and index == positional_only - 1:
            parts.append("/")
    if skip_first and positional:
        del parts[0]
        if parts and positional_only == 1:
            del parts[0]
    star_index = positional + keyword_only
    if code.co_flags & _CO_VARARGS:
        parts.append("*" + names[star_index])
        star_index += 1
    elif keyword_only:
        parts.append("*")
    for name in names[positional:positional + keyword_only]:
        default = dict_get(keyword_defaults, name, _MISSING) if issubclass(type(keyword_defaults), dict) else _MISSING
        parts.append(name if default is _MISSING else f"{name}={short_repr(default)}")
    if code.co_flags & _CO_VARKEYWORDS:
        parts.append("**" + names[star_index])
    return f"{func.__name__}({', '.join(parts)})"


_MISSING = object()
_IMMUTABLE = (object(),)  # a fingerprint that never needs comparing
_BY_VERSION = object()  # marks an instance's fingerprint that names its __dict__ and that dict's version


"""willow's trace format: the response of the tracer this project re-creates.

`{"steps": [{"snapshot": {"event", "stack", "heap"}, "print"}, ...]}`, and a
last step `{"error": {"exception": {"type", "traceback"}} | {"cause"},
"print"}` when the program raised or was stopped; as willow's client reads
it (../shared/peers/willow/client/src/types/tracer.ts): 0-based lines; a
frame's members are its names that do not start with "_"; a value is a
number (an int or float under 2**53), a string (a str as its repr, in
quotes; bool, None, complex and bigger numbers as their text; a class,
and the type of anything not drawn), or `[id]`, a heap object
`{id, type, category, members}` of category list (list, tuple), set, map
(dict, an instance of the program's classes) or other; `#return#` and
`#exception#` members on the top frame; `print` the output since the
step before.

Where willow is wrong, this renderer does what its user would want; the
README's table lists each difference and why. Nothing here runs the
program's code (objects.py).
"""

import enum

from .objects import (TypeLayout, attributes, dict_items, exception_args, int_repr, is_plain_argument,
                      is_program_class, short_repr, tuple_items, type_name)
from .body import joined
from .heap_ids import HeapIds
from .record import StreamedSteps, encode
from .reply import StepsReply
from .speedups import step_shape

_EXACT = 2**53  # willow's bound for a JSON number (JavaScript's exact integers)
_STEP_LIMIT_CAUSE = "Program too long, maximum steps allowed: {steps}"
_type_repr = type.__repr__
_enum_type = type(enum.Enum)


def _is_hidden(name):
    return type(name) is not str or name.startswith("_")


def _class_text(cls):
    """What str(cls) gives, unless that would run the program's code (its metaclass's __repr__)."""
    if type(cls) is _enum_type:
        return f"<enum {str.__repr__(type_name(cls))}>"
    return _type_repr(cls)


def _exception_repr(error):
    """repr(error) for a builtin exception's repr over plain arguments; else the same shape from short reprs."""
    try:
        args = exception_args(error)
    except Exception:
        args = ()
    if type(args) is not tuple:
        args = ()
    if is_plain_argument(args):  # then repr() of the arguments runs none of the program's code
        return BaseException.__repr__(error)
    inner = ", ".join(short_repr(arg, 200) for arg in tuple_items(args))
    return f"{type_name(type(error))}({inner})"


class _Heap:
    """One snapshot's heap; ids are the trace's, given in the order objects are first met, never reused.

    An object keeps its id while it lives (heap_ids.py), so a later object cannot
    take a dead one's address and with it its id.
    """

    def __init__(self, ids):
        self._ids = ids
        self.objects = {}

    def value(self, value):
        """The value's JSON form; heap objects it reaches are added, walking with a stack of our own."""
        pending = []
        encoded = self._value(value, pending)
        while pending:
            obj, members, pairs, keys_are_names = pending.pop()
            children = []
            for key, item in pairs:
                shown_key = key if keys_are_names else self._value(key, children)
                members.append({"key": shown_key, "value": self._value(item, children)})
            pending.extend(reversed(children))
        return encoded

    def _value(self, value, pending):
        cls = type(value)
        if cls is str:
            return str.__repr__(value)
        if cls is bool or value is None:
            return "True" if value is True else "False" if value is False else "None"
        if cls is int:
            return value if -_EXACT < value < _EXACT else int_repr(value)
        if cls is float:
            return value if -_EXACT < value < _EXACT else float.__repr__(value)
        if cls is complex:
            return complex.__repr__(value)
        if issubclass(cls, type):
            return _class_text(value)
        if issubclass(cls, str):
            return str.__repr__(value)
        if issubclass(cls, int):  # IntEnum, IntFlag: numbers as json writes them
            number = int.__int__(value)
            return number if -_EXACT < number < _EXACT else int_repr(number)
        if issubclass(cls, float):
            number = float.__float__(value)
            return number if -_EXACT < number < _EXACT else float.__repr__(number)
        if issubclass(cls, complex):
            return complex.__repr__(value)
        kind = self._kind(value, cls)
        if kind is None:
            return _type_repr(cls)
        heap_id = self._ids.id_of(value)
        if heap_id not in self.objects:
            category, pairs = kind
            members = []
            self.objects[heap_id] = {"id": heap_id, "category": category, "type": type_name(cls), "members": members}
            # an instance's members are its attribute names, shown as a frame's variables are
            pending.append((value, members, pairs, category == "map" and not issubclass(cls, dict)))
        return [heap_id]

    def _kind(self, value, cls):
        """(category, its (key, value) pairs), or None for what willow draws as its type's name."""
        if issubclass(cls, (list, tuple)):
            items = list.__iter__(value) if issubclass(cls, list) else tuple.__iter__(value)
            return "list", list(enumerate(items))
        if issubclass(cls, set):
            return "set", list(enumerate(set.__iter__(value)))
        if issubclass(cls, dict):
            return "map", list(dict_items(value))
        if is_program_class(cls):
            found = attributes(value, cls) or {}
            pairs = [(name, item) for name, item in dict_items(found) if not _is_hidden(name)]
            for name, slot in TypeLayout(cls).slots:
                if not _is_hidden(name):
                    try:
                        pairs.append((name, slot.__get__(value, cls)))
                    except AttributeError:  # an empty slot
                        pass
            return "map", pairs
        return None


class WillowRenderer:
    """The engine's steps as willow's snapshots."""

    def __init__(self, module_code, globals_hidden, source, options=None, finalizers_traced=False):
        self._module_code = module_code
        self._hidden = globals_hidden
        # (a step is rendered from the frames alone, so the engine can render it again)
        self._ids = HeapIds(first_id=0, finalizers_traced=finalizers_traced)

    def render(self, frame, event, arg, chain, yielded=False):
        self._ids.start_step()
        heap = _Heap(self._ids)
        stack = []
        for shown, _ in chain:
            is_module = shown.f_code is self._module_code
            names = shown.f_globals if is_module else shown.f_locals
            members = [{"key": name, "value": heap.value(names[name])} for name in list(names)
                       if not _is_hidden(name) and not (is_module and name in self._hidden)]
            stack.append({"line": shown.f_lineno - 1, "name": shown.f_code.co_name, "members": members})
        top = stack[-1]["members"]
        if event == "return" and len(stack) > 1:
            top.append({"key": "#return#", "value": heap.value(arg)})
        elif event == "exception":
            top.append({"key": "#exception#", "value": _exception_repr(arg[1])})
        self._ids.end_step()
        return {"snapshot": {"event": event, "stack": stack, "heap": heap.objects}}


# -- the trace as a whole

def ending_step(outcome, limits, leftover):
    """The step after the last snapshot: the program's error, or why it was stopped; None if it ended well.

    Output written after the last snapshot is this step's print (or a step
    of its own: `sys.exit("message")` ends well, with its message printed).
    """
    status = outcome["status"]
    if status in ("exception", "syntax_error"):
        error = outcome["exception"]
        step = {"error": {"exception": {"type": error["type"], "traceback": _willow_traceback(error["traceback"])}}}
    elif status == "step_limit":
        step = {"error": {"cause": _STEP_LIMIT_CAUSE.format(steps=limits.steps)}}
    elif status != "ok":
        step = {"error": {"cause": outcome["message"]}}
    elif leftover:
        step = {}
    else:
        return None
    step["print"] = leftover
    return step


def _willow_traceback(text):
    """CPython's traceback as willow shows it: ours names the program's file and line as a script's does."""
    return text if text.endswith("\n") else text + "\n"


HEAD = b'{"steps":['


def trace_parts(steps, shown, outcome, stdout, limits):
    """The response body as body.py's parts, from the snapshot steps (UTF-8 JSON), what they
    printed, and how the run ended."""
    leftover = stdout[len(shown):] if stdout.startswith(shown) else ""
    ending = ending_step(outcome, limits, leftover)
    parts = list(steps)
    if ending is not None:
        parts.append(encode(ending).encode("utf-8"))
    return HEAD, parts, b"]}"


class WillowWriter:
    """Collects the snapshot steps as JSON text, under the record cap."""

    def __init__(self, limits):
        self._limits = limits
        self._texts = []
        self._size = 64 * 1024  # room for the ending step
        self._stdout = []
        self._shown = []

    @property
    def stdout(self):
        return "".join(self._stdout)

    def add_step(self, step, stdout):
        self._stdout.append(stdout)
        step["print"] = stdout
        text = encode(step).encode("utf-8")
        if self._size + len(text) + 1 > self._limits.record_bytes:
            return False
        self._size += len(text) + 1
        self._shown.append(stdout)
        self._keep(text)
        return True

    def _keep(self, text):
        self._texts.append(text)

    def append_stdout(self, text):
        self._stdout.append(text)

    def finish(self, outcome, stdout):
        return joined(*trace_parts(self._texts, "".join(self._shown), outcome, stdout, self._limits))


class StreamedWillow(StreamedSteps, WillowWriter):
    """Sends each step out as it is taken, as StreamedRecord does for the record format."""

    def __init__(self, limits, send):
        super().__init__(limits)
        self._stream_to(send)


class WillowReply(StepsReply):
    """willow's trace from the child's lines: each step a snapshot of the right shape."""

    # what finish relies on; the snapshot is whole, strict JSON, passed on as sent
    step_shape = step_shape({"snapshot": dict, "print": str}, exact=True, collect=("print",))

    def __init__(self, limits, source, encoding="full", options=None):
        super().__init__(limits, HEAD)
        self._shown = []

    def _take(self, collected):
        self._shown += [shown for (shown,) in collected]
        return True

    def _parts(self, ending):
        shown = "".join(self._shown)
        stdout = self._tail["stdout"] if ending == "end" else shown
        return trace_parts(self._steps, shown, self._outcome(ending), stdout, self._limits)

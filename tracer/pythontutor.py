"""Python Tutor's trace format: a second renderer of the engine's steps.

The engine runs the program and decides which events are steps; this module
renders each step as Python Tutor's trace generator (pg_logger with
pg_encoder) writes it: `{"code": source, "trace": [step, ...]}`, with its
frame ids, zombie and parent frames, cumulative stdout and value encoding
(`REF`, `SPECIAL_FLOAT`, `LIST`, `TUPLE`, `SET`, `DICT`, `INSTANCE`,
`INSTANCE_PPRINT`, `CLASS`, `FUNCTION`). The format is described in
tests/pythontutor/README.md.

Where Python Tutor runs the program's code to show a value (a class's own
`__str__`, `==` between variables), this renderer does not: the snapshot
rules of snapshot.py hold here too, and the README lists what differs.
"""

import datetime
import decimal
import fractions
import math
import types

from .body import joined
from .heap_ids import HeapIds
from .record import StreamedSteps, encode
from .reply import StepsReply
from .speedups import step_shape
from .objects import (attributes, dict_items, exception_message, is_program_class, type_bases, type_dict, type_mro,
                      type_name)

_CO_OPTIMIZED = 0x01
# Types are compared by id(): `cls in (int, ...)` could call a metaclass's __eq__.
_PRIMITIVES = frozenset(map(id, (int, float, str, bool, type(None))))
_FUNCTIONS = frozenset(map(id, (types.FunctionType, types.MethodType)))
_HIDDEN_VARIABLES = frozenset(("__builtins__", "__name__", "__exception__", "__doc__", "__package__"))
_HIDDEN_DICT_KEYS = ("__module__", "__return__", "__locals__")
# pg_encoder's list, and what CPython 3.13 adds to every class (Python Tutor's traces, made on 3.11, show neither)
_HIDDEN_ATTRS = frozenset(("__doc__", "__module__", "__return__", "__dict__", "__locals__", "__weakref__",
                           "__qualname__", "__firstlineno__", "__static_attributes__"))
_NOT_SHOWN_FRAMES = ("__new__", "__repr__")
_EVENTS = {"line": "step_line", "call": "call", "return": "return", "exception": "exception"}
_RETURN = "__return__"
# Library types whose own __str__ reads nothing but the object's own value: str() of
# their instances is Python Tutor's INSTANCE_PPRINT and runs none of the program's code.
_SAFE_STR = frozenset(map(id, (bytes, bytearray, datetime.date, datetime.datetime, datetime.time,
                               datetime.timedelta, datetime.timezone, decimal.Decimal, fractions.Fraction)))
LIMIT_MESSAGE = ("Stopped after running {steps} steps. Please shorten your code,\n"
                 "since Python Tutor is not designed to handle long-running code.")


def _encode_primitive(value):
    if type(value) is float:
        if math.isinf(value):
            return ["SPECIAL_FLOAT", "Infinity" if value > 0 else "-Infinity"]
        if math.isnan(value):
            return ["SPECIAL_FLOAT", "NaN"]
        if value == int(value):
            return ["SPECIAL_FLOAT", "%.1f" % value]
        return round(value, 4)
    return value


def _str_keys(mapping):
    """The keys of a dict that are exact str, in order; other keys are never compared."""
    return [key for key in mapping if type(key) is str]


def _own_str(cls):
    """The class in cls's MRO whose __str__ str() would call."""
    for klass in type_mro(cls):
        if "__str__" in type_dict(klass):
            return klass
    return object


class HeapEncoder:
    """pg_encoder's value and heap encoding, with small ids that are never reused (heap_ids.py)."""

    def __init__(self, parent_of, heap_primitives=False):
        self._parent_of = parent_of
        self._heap_primitives = heap_primitives  # Python Tutor's option: numbers, strings, ... drawn as objects too
        self._ids = HeapIds(first_id=1)
        self.lambda_codes_by_line = {}  # first line -> lambda code objects, in the order seen
        self.heap = {}

    def reset(self):
        """Before a step's heap is made."""
        self._ids.start_step()
        self.heap = {}

    def done(self):
        """After a step's heap is made: what the last step showed and this one does not is let go."""
        self._ids.end_step()

    def value(self, value, with_parent=True):
        """The encoded value; every heap object it reaches is encoded into `heap` too.

        Depth first, as pg_encoder recurses, but with a stack of its own: a
        structure nested 10000 deep must not raise in the trace function.
        """
        pending = []
        encoded_value = self._reference(value, with_parent, pending)
        while pending:
            obj, encoded, parent_shown = pending.pop()
            children = []
            self._object(obj, encoded, parent_shown, children)
            pending.extend(reversed(children))
        return encoded_value

    def _reference(self, value, with_parent, children):
        if id(type(value)) in _PRIMITIVES and not self._heap_primitives:
            return _encode_primitive(value)
        small_id = self._ids.id_of(value)
        if small_id not in self.heap:
            encoded = self.heap[small_id] = []
            children.append((value, encoded, with_parent))
        return ["REF", small_id]

    def _object(self, obj, encoded, with_parent, children):
        cls = type(obj)

        def value(item):
            return self._reference(item, with_parent, children)

        if id(cls) in _PRIMITIVES:
            encoded.extend(["HEAP_PRIMITIVE", type_name(cls), _encode_primitive(obj)])
        elif cls is list or cls is tuple or cls is set:
            encoded.append({list: "LIST", tuple: "TUPLE", set: "SET"}[cls])
            encoded.extend(value(item) for item in cls.__iter__(obj))
        elif cls is dict:
            encoded.append("DICT")
            for key, item in dict_items(obj):
                if not (type(key) is str and key in _HIDDEN_DICT_KEYS):
                    encoded.append([value(key), value(item)])
        elif cls is types.FunctionType or cls is types.MethodType:
            encoded.extend(["FUNCTION", self._signature(obj), self._parent_of(obj) if with_parent else None])
        elif cls is types.BuiltinFunctionType:
            encoded.extend(["FUNCTION", obj.__name__ + "(...)", None])
        elif issubclass(cls, type):
            bases = [type_name(base) for base in type_bases(obj) if base is not object]
            encoded.extend(["CLASS", type_name(obj), bases])
            self._attrs(obj, cls, encoded, children)
        else:
            self._instance(obj, cls, encoded, children)

    def _instance(self, obj, cls, encoded, children):
        name = type_name(cls)
        owner = _own_str(cls)
        if issubclass(cls, BaseException) and not is_program_class(owner):
            text = exception_message(obj)
        elif id(cls) in _SAFE_STR:
            try:
                text = type_dict(owner)["__str__"](obj)
            except Exception:
                text = None
        else:
            # object's __str__ (Python Tutor's INSTANCE), or one that could run the
            # program's code, which is never called: the instance shows its attributes.
            encoded.extend(["INSTANCE", name])
            if cls is not types.ModuleType:
                self._attrs(obj, cls, encoded, children)
            return
        encoded.extend(["INSTANCE_PPRINT", name, text if type(text) is str and text else "<incomplete object>"])

    def _attrs(self, obj, cls, encoded, children):
        """The attributes in __dict__, sorted; what they hold is shown with no parent frame, as pg_encoder does."""
        found = attributes(obj, cls)
        if not found:
            return
        for name in sorted(key for key in _str_keys(found) if key not in _HIDDEN_ATTRS):
            # with heap_primitives on, pg_encoder draws the attribute's name as an object too
            shown_name = self._reference(name, False, children) if self._heap_primitives else name
            encoded.append([shown_name, self._reference(found[name], False, children)])

    def _signature(self, obj):
        func = obj.__func__ if type(obj) is types.MethodType else obj
        if type(func) is not types.FunctionType:
            return type_name(type(func)) + "(...)"
        code = func.__code__
        names = code.co_varnames
        parts = list(names[:code.co_argcount])
        index = code.co_argcount + code.co_kwonlyargcount
        if code.co_flags & 0x04:
            parts.append("*" + names[index])
            index += 1
        if code.co_flags & 0x08:
            parts.append("**" + names[index])
        parts.extend(names[code.co_argcount:code.co_argcount + code.co_kwonlyargcount])
        name = func.__name__ if type(func.__name__) is str else code.co_name
        text = f"{name}({', '.join(parts)})"
        if name == "<lambda>":
            codes = self.lambda_codes_by_line.setdefault(code.co_firstlineno, [])
            if code not in codes:
                codes.append(code)
            text += self.lambda_suffix(code)
        return text

    def lambda_suffix(self, code):
        if code in self.lambda_codes_by_line.get(code.co_firstlineno, ()):
            return f" <line {code.co_firstlineno}>"
        return ""


class PythonTutorRenderer:
    """Turns the engine's steps into Python Tutor trace steps (dicts), keeping its bookkeeping.

    Frame ids count call steps; a frame that defined a function still
    reachable from a later step, or whose code holds a lambda, is a parent
    and stays on show as a zombie after it returns.
    """

    def __init__(self, module_code, globals_hidden, source, options=None):
        options = options or {}
        self._module_code = module_code
        # Lines ending in #break put pg_logger in breakpoint mode: only the steps at
        # those lines, the step after each, and exceptions are kept.
        self._breakpoints = {number for number, line in enumerate(source.splitlines(), 1)
                             if line.endswith("#break") and not line.strip().startswith("#break")}
        self._previous_line = None
        self._globals_hidden = globals_hidden
        self._frame_ids = {}
        self._next_frame_id = 1
        # Functions and bound methods are keyed by id() (a bound method's hash is its
        # object's, which may be the program's __hash__) and kept alive in the values.
        self._closures = {}  # id(function) -> (function, the frame that defined it)
        self._lambda_parents = {}  # lambda code -> frame
        self._parents = set()
        self._zombies = []
        self._global_functions = {}  # id(function) -> function
        self._globals_order = []
        self._returned = {}  # frame -> the value shown as __return__
        self._encoder = HeapEncoder(self._parent_id_of, options.get("heap_primitives", False))
        # Python Tutor's cumulative mode: every frame that returned stays shown, as a zombie
        self._cumulative = options.get("cumulative_mode", False)

    def render(self, frame, event, arg, chain, yielded=False):
        """The step for this event, or None where Python Tutor shows none."""
        frames = [shown for shown, _ in chain]
        if any(not shown.f_code.co_flags & _CO_OPTIMIZED and shown.f_code is not self._module_code
               for shown in frames):
            return None  # inside a class body
        if frame.f_code.co_name in _NOT_SHOWN_FRAMES:
            return None
        if event == "call":
            self._frame_ids[frame] = self._next_frame_id
            self._next_frame_id += 1
            if self._cumulative and frame not in self._zombies:
                self._zombies.append(frame)
            self._returned.pop(frame, None)
        elif event == "return":
            self._returned[frame] = arg
        self._encoder.reset()
        self._find_parents(frame)
        on_stack = [shown for shown in reversed(frames) if shown.f_code is not self._module_code
                    and shown in self._frame_ids]
        entries = [self._frame_entry(shown) for shown in on_stack]
        zombies = [self._frame_entry(zombie) for zombie in self._zombies if zombie not in frames]
        encoded_globals = {}
        module_globals = frames[0].f_globals
        for name in _str_keys(module_globals):
            if name in _HIDDEN_VARIABLES or name == _RETURN or name in self._globals_hidden:
                continue
            encoded_globals[name] = self._encoder.value(module_globals[name])
            if name not in self._globals_order:
                self._globals_order.append(name)
        for entry in entries:
            entry["is_zombie"] = entry["is_highlighted"] = False
        if entries:
            entries[0]["is_highlighted"] = True
        for entry in zombies:
            entry["is_zombie"], entry["is_highlighted"] = True, False
        stack = sorted(entries + zombies, key=lambda entry: entry["frame_id"])
        for entry in stack:
            entry["unique_hash"] = "%s_f%d%s%s" % (entry["func_name"], entry["frame_id"],
                                                    "_p" if entry["is_parent"] else "",
                                                    "_z" if entry["is_zombie"] else "")
        step = {"line": frame.f_lineno, "event": _EVENTS[event], "func_name": frame.f_code.co_name,
                "globals": encoded_globals,
                "ordered_globals": [name for name in self._globals_order if name in encoded_globals],
                "stack_to_render": stack, "heap": self._encoder.heap}
        self._encoder.done()
        if event == "return" and frame not in self._parents and frame not in self._zombies:
            # never shown again: its frame (which holds its locals) is not held past its return
            self._frame_ids.pop(frame, None)
            self._returned.pop(frame, None)
        if event == "exception":
            step["exception_msg"] = type_name(arg[0]) + ": " + exception_message(arg[1])
        previous_line, self._previous_line = self._previous_line, step["line"]
        if (self._breakpoints and step["line"] not in self._breakpoints
                and previous_line not in self._breakpoints and event != "exception"):
            return None
        return step

    # -- frames

    def _locals(self, frame):
        names = frame.f_globals if frame.f_code is self._module_code else frame.f_locals
        shown = {name: names[name] for name in _str_keys(names) if name not in _HIDDEN_VARIABLES}
        if frame in self._returned:
            shown[_RETURN] = self._returned[frame]
        return shown

    def _frame_entry(self, frame):
        parent_ids = []
        ancestor = self._parent_frame(frame)
        while ancestor is not None and self._frame_ids[ancestor] not in parent_ids:
            parent_ids.append(self._frame_ids[ancestor])
            ancestor = self._parent_frame(ancestor)
        code = frame.f_code
        name = code.co_name
        if name == "<lambda>":
            name += self._encoder.lambda_suffix(code)
        # A variable a parent frame holds too (the same object) is shown there only,
        # unless it is one of this frame's own.
        parents_locals = [self._locals(parent) for parent in map(self._zombie_by_id, parent_ids)
                          if parent is not None]
        encoded = {}
        for variable, value in self._locals(frame).items():
            inherited = variable != _RETURN and any(
                variable in names and names[variable] is value for names in parents_locals)
            if (inherited and variable not in code.co_varnames) or variable == "__module__":
                continue
            encoded[variable] = self._encoder.value(value)
        ordered = [variable for variable in code.co_varnames if variable in encoded]
        ordered += sorted(variable for variable in encoded if variable != _RETURN and variable not in ordered)
        if _RETURN in encoded:
            ordered.append(_RETURN)
        return {"func_name": name, "is_parent": frame in self._parents, "frame_id": self._frame_ids[frame],
                "parent_frame_id_list": parent_ids, "encoded_locals": encoded, "ordered_varnames": ordered}

    def _zombie_by_id(self, frame_id):
        return next((zombie for zombie in self._zombies if self._frame_ids.get(zombie) == frame_id), None)

    def _parent_frame(self, frame):
        """The frame whose code defined the function that this frame runs, as pg_logger guesses it."""
        code = frame.f_code
        own_locals = None
        for function, parent in self._closures.values():
            if _code_of(function) == code:
                if own_locals is None:
                    own_locals = self._locals(frame)
                parent_locals = self._locals(parent)
                if all(parent_locals[name] is own_locals[name] for name in own_locals
                       if name not in code.co_varnames and name != _RETURN and name in parent_locals):
                    return parent
        for lambda_code, parent in self._lambda_parents.items():
            if lambda_code == code:
                return parent
        return None

    def _parent_id_of(self, function):
        entry = self._closures.get(id(function))
        return self._frame_ids[entry[1]] if entry is not None and entry[0] is function else None

    def _find_parents(self, top):
        """Record which frame defined each function now reachable from the top frame (pg_logger's rules)."""
        if top.f_code is self._module_code:
            for value in list(top.f_globals.values()):
                if id(type(value)) in _FUNCTIONS and id(value) not in self._closures:
                    self._global_functions[id(value)] = value
            return
        for value in self._locals(top).values():
            for function in _reachable_functions(value, set()):
                if id(function) in self._closures or id(function) in self._global_functions:
                    continue
                code = _code_of(function)
                parent = self._frame_with_constant(top, code) if code is not None else None
                if parent is not None and parent in self._frame_ids:
                    self._closures[id(function)] = (function, parent)
                    self._mark_parent(parent)
        for constant in top.f_code.co_consts:
            if type(constant) is types.CodeType and constant.co_name == "<lambda>":
                self._lambda_parents[constant] = top
                self._mark_parent(top)

    def _mark_parent(self, frame):
        self._parents.add(frame)
        if frame not in self._zombies:
            self._zombies.append(frame)

    def _frame_with_constant(self, top, code):
        frame = top
        while frame is not None:
            if any(constant is code for constant in frame.f_code.co_consts):
                return frame
            if frame.f_code is self._module_code:
                return None
            frame = frame.f_back
        return None


def _code_of(function):
    """The code a function or bound method runs; None for a method bound to something else."""
    func = function.__func__ if type(function) is types.MethodType else function
    return func.__code__ if type(func) is types.FunctionType else None


def _reachable_functions(value, seen):
    """Functions and methods reachable from value through lists, tuples, sets, dicts and __dict__s, depth first."""
    pending = [value]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        cls = type(value)
        if cls is types.FunctionType or cls is types.MethodType:
            yield value
        elif cls is list or cls is tuple or cls is set:
            pending.extend(reversed(list(cls.__iter__(value))))
        elif id(cls) not in _PRIMITIVES and cls is not types.ModuleType:
            contents = value if cls is dict else attributes(value, cls)
            if contents:
                pending.extend(reversed([part for pair in dict_items(contents) for part in pair]))


# -- the trace as a whole

STEP_EVENTS = frozenset(_EVENTS.values())


def trace_parts(steps, events, outcome, source, limits):
    """The response body, {"code", "trace"}, as body.py's parts, from the steps (UTF-8 JSON) and
    their (event, func_name).

    As pg_logger ends a trace: a program that did not compile is one
    `uncaught_exception` step; a `return` from the module right after an
    `exception` step is dropped; a limit adds `instruction_limit_reached`.
    """
    steps, events = list(steps), list(events)
    status = outcome["status"]
    ending = None
    if status == "syntax_error":
        error = outcome["exception"]
        steps, events = [], []
        ending = {"event": "uncaught_exception", "line": error["line"], "offset": error["offset"],
                  "exception_msg": f"{error['type']}: {error['message']} (<string>, line {error['line']})"}
    elif status == "exception" and not any(event == "exception" for event, _ in events):
        error = outcome["exception"]
        ending = {"event": "uncaught_exception", "line": error["line"],
                  "exception_msg": f"{error['type']}: {error['message']}"}
    elif status != "ok" and status != "exception":
        message = LIMIT_MESSAGE.format(steps=limits.steps) if status == "step_limit" else outcome["message"]
        ending = {"event": "instruction_limit_reached", "exception_msg": message}
    if ending is not None:
        steps.append(encode(ending).encode("utf-8"))
    elif len(events) >= 2 and events[-2][0] == "exception" and events[-1] == ("return", "<module>"):
        steps.pop()
    return head(source), steps, b"]}"


def head(source):
    return b'{"code":%s,"trace":[' % encode(source).encode("utf-8")


class PythonTutorWriter:
    """Collects the rendered steps as JSON text, with cumulative stdout, under the record cap."""

    def __init__(self, limits, source):
        self._limits = limits
        self._source = source
        self._texts = []
        self._events = []
        self._size = len(source) * 2 + 64 * 1024
        self._stdout = []

    @property
    def stdout(self):
        return "".join(self._stdout)

    def add_step(self, step, stdout):
        if stdout:
            self._stdout.append(stdout)
        step["stdout"] = self.stdout
        text = encode(step).encode("utf-8")
        if self._size + len(text) + 1 > self._limits.record_bytes:
            return False
        self._size += len(text) + 1
        self._keep(text, (step["event"], step["func_name"]))
        return True

    def _keep(self, text, event):
        self._texts.append(text)
        self._events.append(event)

    def append_stdout(self, text):
        self._stdout.append(text)

    def finish(self, outcome, stdout):
        return joined(*trace_parts(self._texts, self._events, outcome, self._source, self._limits))


class StreamedPythonTutor(StreamedSteps, PythonTutorWriter):
    """Sends each step out as it is taken, as StreamedRecord does for the record format."""

    def __init__(self, limits, send, source):
        super().__init__(limits, source)
        self._stream_to(send)


class PythonTutorReply(StepsReply):
    """Python Tutor's trace; its end needs each step's event and function name."""

    step_shape = step_shape({"line": int, "event": tuple(sorted(STEP_EVENTS)), "func_name": str, "globals": dict,
                             "ordered_globals": list, "stack_to_render": list, "heap": dict, "stdout": str},
                            {"exception_msg": str}, exact=True, collect=("event", "func_name", "exception_msg"))

    def __init__(self, limits, source, encoding="full", options=None):
        super().__init__(limits, head(source))
        self._source = source
        self._events = []

    def _take(self, collected):
        # an exception's step, and only one, says its message
        if not all((message is not None) == (event == "exception") for event, _, message in collected):
            return False
        self._events += [(event, name) for event, name, _ in collected]
        return True

    def _parts(self, ending):
        return trace_parts(self._steps, self._events, self._outcome(ending), self._source, self._limits)



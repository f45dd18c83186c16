"""Reading the program's objects without running any of its code.

Every renderer of a step (the record's snapshot.py, Python Tutor's and
willow's formats) reads the program's objects through these. An attribute
is read through the C-level descriptor of a builtin type, never through
`getattr` on the program's object; a container is walked with its builtin
base type's iterator; a type is compared by identity. So an overridden
`__repr__`, `__eq__`, `__hash__`, `__getattribute__`, `__iter__`, `__len__`
or property is never called, and neither is a metaclass's `__eq__` or
`__hash__` (caches are keyed by `id()`, never by the object).
"""

import datetime
import decimal
import fractions
import math
import types

PROGRAM_FILENAME = "<source>"
PROGRAM_MODULE = "__main__"

_HEAPTYPE = 1 << 9

type_name = type.__dict__["__name__"].__get__
type_qualname = type.__dict__["__qualname__"].__get__
_type_module_attribute = type.__dict__["__module__"].__get__
type_mro = type.__dict__["__mro__"].__get__
type_bases = type.__dict__["__bases__"].__get__
type_dict = type.__dict__["__dict__"].__get__
type_flags = type.__dict__["__flags__"].__get__
module_dict = types.ModuleType.__dict__["__dict__"].__get__
exception_args = BaseException.__dict__["args"].__get__
dict_items = dict.items
dict_get = dict.get
tuple_items = tuple.__iter__


def type_module(cls):
    """The class's __module__, None where it has none (a heap type made in C without one,
    such as ctypes' array types, raises AttributeError: the program must not see it)."""
    try:
        return _type_module_attribute(cls)
    except AttributeError:
        return None


def is_program_class(cls):
    module = type_module(cls)
    return type(module) is str and module == PROGRAM_MODULE


def is_program_code(code):
    return code.co_filename == PROGRAM_FILENAME


def is_dunder(name):
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def is_sunder(name):
    return (type(name) is str and len(name) > 2 and name[0] == name[-1] == "_"
            and name[1] != "_" and name[-2] != "_")


def clip(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + "..."


# ---------------------------------------------------------------- scalars

_INT_CHUNK_DIGITS = 4000  # under CPython's 4300-digit str() limit
_INT_EXACT_DIGITS = 20000  # past this only the last digits are shown


def _int_digits(n):
    """Decimal digits of n >= 0, in chunks small enough for str()."""
    base = 10**_INT_CHUNK_DIGITS
    chunks = []
    while n >= base:
        n, low = divmod(n, base)
        chunks.append(str(low).zfill(_INT_CHUNK_DIGITS))
    chunks.append(str(n))
    return "".join(reversed(chunks))


def int_repr(n):
    try:
        return repr(n)
    except ValueError:  # past sys.get_int_max_str_digits()
        pass
    sign = "-" if n < 0 else ""
    n = abs(n)
    approximate_digits = int(n.bit_length() * math.log10(2)) + 1
    if approximate_digits <= _INT_EXACT_DIGITS:
        digits = _int_digits(n)
        return f"{sign}{digits[:20]}...{digits[-20:]} ({len(digits)} digits)"
    tail = str(n % 10**20).zfill(20)
    return f"{sign}...{tail} (about {approximate_digits} digits)"


def _datetime_repr(value):
    tzinfo = value.tzinfo
    if tzinfo is None or type(tzinfo) is datetime.timezone:
        return type(value).__repr__(value)
    return None  # a user tzinfo's repr would run the program's code


def bytes_repr(value, limit):
    if len(value) <= limit:
        return bytes.__repr__(value), 0
    return bytes.__repr__(value[:limit]), len(value) - limit


# exact type -> repr function, for the scalars shown as {"type", "repr"}
SCALAR_REPRS = {
    id(t): (t, r)
    for t, r in [
        (complex, complex.__repr__),
        (type(...), lambda v: "Ellipsis"),
        (type(NotImplemented), lambda v: "NotImplemented"),
        (decimal.Decimal, decimal.Decimal.__repr__),
        (fractions.Fraction, fractions.Fraction.__repr__),
        (datetime.date, datetime.date.__repr__),
        (datetime.timedelta, datetime.timedelta.__repr__),
        (datetime.datetime, _datetime_repr),
        (datetime.time, _datetime_repr),
    ]
}
SCALAR_TYPES = tuple(t for t, _ in SCALAR_REPRS.values())


def short_repr(value, limit=40):
    """A one-line text for a value inside a signature or a message."""
    t = type(value)
    if t is str:
        return clip(str.__repr__(value), limit)
    if t is int:
        return clip(int_repr(value), limit)
    if t is bool or value is None or t is float:
        return repr(value)
    if t is bytes:
        return clip(bytes.__repr__(value), limit)
    if t is tuple and len(value) <= 8:
        inner = ", ".join(short_repr(item, limit) for item in tuple_items(value))
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    entry = SCALAR_REPRS.get(id(t))
    if entry is not None:
        text = entry[1](value)
        if text is not None:
            return clip(text, limit)
    return f"<{type_name(t)}>"


def is_plain_argument(value, depth=0):
    """True for arguments a builtin exception's __str__ formats without user code."""
    t = type(value)  # compared by identity: `t in (...)` could call a metaclass's __eq__
    if t is str or t is int or t is float or t is bool or t is bytes or value is None:
        return t is not int or value.bit_length() < 10000
    if t is tuple and depth < 2:
        return all(is_plain_argument(item, depth + 1) for item in tuple_items(value))
    return False


def exception_message(exc):
    """The exception's text, as str(exc) gives it when that runs no program code.

    A `__str__` defined by the program, or arguments that are not plain
    scalars, are never formatted: the arguments are shown instead (the
    single string argument itself, else their short reprs).
    """
    cls = type(exc)
    try:
        args = exception_args(exc)
    except Exception:
        args = ()
    if type(args) is not tuple:
        args = ()
    for klass in type_mro(cls):
        if "__str__" in type_dict(klass):
            if not is_program_class(klass) and is_plain_argument(args):
                try:
                    text = type_dict(klass)["__str__"](exc)
                except Exception:
                    break
                if type(text) is str:
                    return text
            break
    if len(args) == 0:
        return ""
    if len(args) == 1:
        only = args[0]
        return only if type(only) is str else short_repr(only, 200)
    return "(" + ", ".join(short_repr(a, 200) for a in tuple_items(args)) + ")"


def qualified_name(cls):
    module = type_module(cls)
    qualname = type_qualname(cls)
    if type(module) is str and module not in ("builtins", PROGRAM_MODULE):
        return f"{module}.{qualname}"
    return qualname


class TypeLayout:
    """How instances of one program class keep their attributes."""

    __slots__ = ("cls", "slots", "dict_getter")

    def __init__(self, cls):
        self.cls = cls  # keeps id(cls) from being reused while cached
        self.slots = []
        self.dict_getter = None
        for klass in reversed(type_mro(cls)):
            if not type_flags(klass) & _HEAPTYPE:
                continue
            for name, attr in dict_items(type_dict(klass).copy()):
                if type(attr) is types.MemberDescriptorType and not is_dunder(name):
                    self.slots.append((name, attr))
        for klass in type_mro(cls):
            attr = dict_get(type_dict(klass).copy(), "__dict__")
            if type(attr) is types.GetSetDescriptorType:
                self.dict_getter = attr.__get__
                break


def attributes(obj, cls):
    """obj's __dict__ (a class's as a copy), read through the builtin descriptor; None without one."""
    if issubclass(cls, type):
        return dict(dict_items(type_dict(obj).copy()))
    if cls is types.ModuleType:
        return None
    getter = TypeLayout(cls).dict_getter
    if getter is None:
        return None
    try:
        found = getter(obj, cls)
    except Exception:
        return None
    return found if issubclass(type(found), dict) else None

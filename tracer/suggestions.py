"""What CPython adds to the last line of an uncaught NameError, AttributeError or
ImportError's traceback: ". Did you mean: 'x'?" (and "Did you forget to import").

CPython 3.12 and later compute it in the traceback module, from dir() of the
object and hasattr() on `self`, which can run the program's code (a __dir__,
a __getattr__, a property). Here the traceback module's own functions do the
choosing and the wording, given stand-ins that hold only names read without
running any code (objects.attributes and the classes' own dicts). CPython
3.11 computes it in C, out of reach of Python: there the line has no
suggestion.
"""

import traceback
import types

from .objects import attributes, module_dict, type_dict, type_mro

AVAILABLE = hasattr(traceback, "_compute_suggestion_error")


class _Names:
    """Stands in for an object: dir() gives its names, hasattr() finds only those."""

    def __init__(self, names):
        self._names = [name for name in names if type(name) is str]

    def __dir__(self):
        return self._names

    def __getattr__(self, name):
        if name in self._names:
            return None
        raise AttributeError(name)


def suffix(error, message):
    """The text CPython puts after `message` on the traceback's last line, or ""."""
    if not AVAILABLE or not message:
        return ""
    cls = type(error)
    try:
        if issubclass(cls, ImportError):
            return _suffix_of(ImportError(message, name=_IMPORT_NAME(error), name_from=_IMPORT_NAME_FROM(error)),
                              message)
        if issubclass(cls, AttributeError):
            name = _ATTRIBUTE_NAME(error)
            if type(name) is not str:
                return ""
            return _suffix_of(AttributeError(message, name=name, obj=_Names(_names_of(_ATTRIBUTE_OBJ(error)))),
                              message)
        if issubclass(cls, NameError):
            name = _NAME(error)
            return _name_error_suffix(error, name, message) if type(name) is str else ""
    except Exception:  # a suggestion is never worth a failed record
        return ""
    return ""


# the exceptions' own fields, read through their descriptors (a subclass's property could run code)
_NAME = NameError.__dict__["name"].__get__
_ATTRIBUTE_NAME = AttributeError.__dict__["name"].__get__
_ATTRIBUTE_OBJ = AttributeError.__dict__["obj"].__get__
_IMPORT_NAME = ImportError.__dict__["name"].__get__
_IMPORT_NAME_FROM = ImportError.__dict__["name_from"].__get__ if "name_from" in ImportError.__dict__ else None


def _suffix_of(stand_in, message):
    text = str(traceback.TracebackException(type(stand_in), stand_in, None, lookup_lines=False))
    return text[len(message):] if text.startswith(message) else ""


def _name_error_suffix(error, name, message):
    """The traceback module's suggestion from the innermost frame's names, `self`'s
    read safely; its wording from a NameError without one, as it words it."""
    tb = error.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    names = dict.fromkeys(frame.f_locals)
    if "self" in names:
        names["self"] = _Names(_names_of(frame.f_locals["self"]))
    stand_in_frame = types.SimpleNamespace(f_locals=names, f_globals=dict.fromkeys(frame.f_globals),
                                           f_builtins=dict.fromkeys(frame.f_builtins))
    stand_in_tb = types.SimpleNamespace(tb_frame=stand_in_frame, tb_next=None)
    suggestion = traceback._compute_suggestion_error(NameError(message, name=name), stand_in_tb, name)
    forgot = _suffix_of(NameError(message, name=name), message)  # "" or ". Did you forget to import 'x'"
    if forgot and not forgot.endswith("?"):  # 3.12's traceback module leaves it out; its display does not
        forgot += "?"
    if not suggestion:
        return forgot
    return f". Did you mean: '{suggestion}'?" + (" Or d" + forgot[3:] if forgot else "")


def _names_of(obj):
    """What dir(obj) lists for an object, read without running its code."""
    cls = type(obj)
    names = set()
    if cls is types.ModuleType:
        names.update(module_dict(obj))
    elif issubclass(cls, type):  # a class: its own and its bases' names, not its metaclass's
        for klass in type_mro(obj):
            names.update(type_dict(klass))
    else:
        own = attributes(obj, cls)
        if own is not None:
            names.update(own)
        for klass in type_mro(cls):
            names.update(type_dict(klass))
    return sorted(name for name in names if type(name) is str)

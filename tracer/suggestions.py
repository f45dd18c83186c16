"""What CPython adds to the last line of an uncaught NameError, AttributeError or
ImportError's traceback: ". Did you mean: 'x'?" (and "Did you forget to import").

CPython 3.12 and later compute it in the traceback module, from dir() of the
object and hasattr() on `self`, which can run the program's code (a __dir__,
a __getattr__, a property). Here the traceback module's own functions do the
choosing and the wording, given stand-ins that hold only names read without
running any code (objects.attributes and the classes' own dicts). CPython
3.11 computes it in C (Python/suggestions.c), which Python cannot call:
_suffix_311 makes the same choice in Python.
"""

import sys
import traceback
import types

from .objects import attributes, module_dict, type_dict, type_mro

_IN_TRACEBACK_MODULE = hasattr(traceback, "_compute_suggestion_error")  # 3.12 on


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
    if not message:
        return ""
    cls = type(error)
    try:
        if not _IN_TRACEBACK_MODULE:
            return _suffix_311(error, cls)
        if issubclass(cls, ImportError):
            return _import_error_suffix(_IMPORT_NAME(error), _IMPORT_NAME_FROM(error))
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
    frame = _innermost_frame(error)
    if frame is None:
        return ""
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


def _import_error_suffix(module_name, name):
    """`from module import name` where the module has no such name: the traceback
    module's choice among the module's names, as it makes it for an attribute
    (it would import the module by the exception's name: here only one imported
    already is read, and only its dict)."""
    module = sys.modules.get(module_name) if type(module_name) is str else None
    if type(name) is not str or type(module) is not types.ModuleType:
        return ""
    stand_in = AttributeError(name=name, obj=_Names(module_dict(module)))
    suggestion = traceback._compute_suggestion_error(stand_in, None, name)
    return f". Did you mean: '{suggestion}'?" if suggestion else ""


def _innermost_frame(error):
    """The frame the exception was raised in, or None."""
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


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


# -- 3.11: Python/suggestions.c's choice, and pythonrun.c's words

_MAX_CANDIDATE_ITEMS = 750
_MAX_STRING_SIZE = 40
_MOVE_COST = 2
_CASE_COST = 1


def _suffix_311(error, cls):
    if issubclass(cls, AttributeError):
        name = _ATTRIBUTE_NAME(error)
        groups = [_names_of(_ATTRIBUTE_OBJ(error))]
    elif issubclass(cls, NameError):
        name = _NAME(error)
        frame = _innermost_frame(error)
        if frame is None:
            return ""
        # the frame's own variables first, then its globals, then its builtins
        groups = [list(frame.f_code.co_varnames), list(frame.f_globals), list(frame.f_builtins)]
    else:
        return ""
    if type(name) is not str:
        return ""
    for names in groups:
        suggestion = _closest(name, [candidate for candidate in names if type(candidate) is str])
        if suggestion is not None:
            return f". Did you mean: '{suggestion}'?"
    return ""


def _closest(name, candidates):
    """The candidate fewest edits from `name`, if it is close enough (as suggestions.c chooses)."""
    if len(candidates) >= _MAX_CANDIDATE_ITEMS:
        return None
    wrong = name.encode("utf-8", "surrogatepass")
    best, best_distance = None, None
    for candidate in candidates:
        if candidate == name:
            continue
        other = candidate.encode("utf-8", "surrogatepass")
        # no more than a third of the characters involved changed, and better than the best so far
        most = (len(wrong) + len(other) + 3) * _MOVE_COST // 6
        if best_distance is not None:
            most = min(most, best_distance - 1)
        distance = _edit_distance(wrong, other, most)
        if distance > most:
            continue
        if best is None or distance < best_distance:
            best, best_distance = candidate, distance
    return best


def _substitution_cost(a, b):
    if a & 31 != b & 31:  # not the same letter in another case
        return _MOVE_COST
    if a == b:
        return 0
    lower_a = a + 32 if 65 <= a <= 90 else a
    lower_b = b + 32 if 65 <= b <= 90 else b
    return _CASE_COST if lower_a == lower_b else _MOVE_COST


def _edit_distance(a, b, most):
    """Levenshtein distance over UTF-8 bytes (a case change costs half a move), or more
    than `most` once it cannot be `most` or less."""
    if a == b:
        return 0
    while a and b and a[0] == b[0]:  # a common prefix and suffix cost nothing
        a, b = a[1:], b[1:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    if not a or not b:
        return (len(a) + len(b)) * _MOVE_COST
    if len(a) > _MAX_STRING_SIZE or len(b) > _MAX_STRING_SIZE:
        return most + 1
    if len(b) < len(a):
        a, b = b, a
    if (len(b) - len(a)) * _MOVE_COST > most:
        return most + 1
    row = [(index + 1) * _MOVE_COST for index in range(len(a))]
    result = 0
    for b_index, b_byte in enumerate(b):
        distance = result = b_index * _MOVE_COST
        minimum = None
        for index, a_byte in enumerate(a):
            substitute = distance + _substitution_cost(b_byte, a_byte)
            distance = row[index]
            insert_delete = min(result, distance) + _MOVE_COST
            result = min(insert_delete, substitute)
            row[index] = result
            minimum = result if minimum is None else min(minimum, result)
        if minimum > most:
            return most + 1
    return result

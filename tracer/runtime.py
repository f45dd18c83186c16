"""The world a traced program sees: its builtins, imports, `sys` and streams.

These restrictions give clear messages to honest programs; they are not a
security boundary (the process the program runs in is: see sandbox.py).
"""

import builtins
import contextlib
import importlib
import importlib.util
import io
import linecache
import os
import sys
import types
import warnings

from .objects import PROGRAM_FILENAME

ALLOWED_MODULES = (
    "__future__", "abc", "array", "bisect", "calendar", "cmath", "collections",
    "collections.abc", "contextlib", "copy", "dataclasses", "datetime",
    "decimal", "enum", "fractions", "functools", "graphlib", "heapq",
    "itertools", "json", "keyword", "math", "numbers", "operator", "pprint",
    "random", "re", "statistics", "string", "struct", "sys", "textwrap",
    "time", "types", "typing", "unicodedata",
)

# Imported once, with the tracer, so a program's import never runs module
# code under the tracer and never changes sys.modules.
_MODULES = {name: importlib.import_module(name) for name in ALLOWED_MODULES if name != "sys"}
# Imported by the C code of an allowed module through the program's own
# __import__ (datetime.strptime, time.strptime): allowed, though not offered.
_MODULES["_strptime"] = importlib.import_module("_strptime")

# The sandbox's children have an empty filesystem (see confinement.py), yet
# the codec registry imports `encodings.<name>` the first time an encoding
# is used (str.encode("cp1251"), bytes.decode("shift_jis"), ...). The fork
# server reads those modules' sources, and imports the other modules they
# import (the C codecs, idna's stringprep, base64_codec's base64...), while
# it still has files; a child then imports an encoding from memory, as it
# would from disk.
_CODEC_DEPENDENCIES = ("_multibytecodec", "_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp",
                       "_codecs_kr", "_codecs_tw", "stringprep", "base64", "binascii", "quopri", "zlib", "bz2")


class _EncodingsInMemory:
    """A meta path finder and loader for the `encodings` package's modules, from
    sources read when it was made."""

    def __init__(self):
        import encodings
        directory = encodings.__path__[0]
        self._sources = {}
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py") and name != "__init__.py":
                path = os.path.join(directory, name)
                with open(path, "rb") as file:
                    self._sources["encodings." + name[:-3]] = (path, file.read())

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._sources:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self._sources[fullname][0])

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module):
        path, source = self._sources[module.__name__]
        module.__file__ = path
        exec(compile(source, path, "exec"), vars(module))


def prepare_for_an_empty_filesystem():
    """Called once by the fork server before its root is emptied."""
    for name in _CODEC_DEPENDENCIES:
        try:
            importlib.import_module(name)
        except ImportError:  # a build without it: its encodings are missing untraced too
            pass
    sys.meta_path.insert(0, _EncodingsInMemory())


_ALLOWED_TEXT = ", ".join(name for name in ALLOWED_MODULES if name != "__future__")


class OutputCapture(io.TextIOBase):
    """stdout and stderr of the program, one stream as a terminal shows them.

    Text past `limit` bytes is dropped and `overflowed` is set; the engine
    then stops the program with `output_limit`.
    """

    def __init__(self, limit):
        super().__init__()
        self._limit = limit
        self._parts = []
        self._size = 0
        self._taken = 0
        self.unread = False  # written to since the last take (the tracer's C path reads it)
        self.writes = 0  # how many times it has been written to (set unread)
        self.overflowed = False
        self.discarding = False

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "strict"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        if type(text) is not str:
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text.isascii():
            text.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, as a UTF-8 stdout raises
        if self.discarding or self.overflowed or not text:
            return len(text)
        room = self._limit - self._size
        if len(text) > room:
            text = text[:max(room, 0)]
            self.overflowed = True
        self.unread = True
        self.writes += 1
        self._parts.append(text)
        self._size += len(text)
        return len(text)

    def take(self):
        """The text written since the last take."""
        self.unread = False
        if self._taken == len(self._parts):
            return ""
        text = "".join(self._parts[self._taken:])
        self._parts[self._taken:] = [text]
        self._taken = len(self._parts)
        return text


def _builtins_of_any_run():
    """A program's builtins module, less what is tied to its run (its `__import__`, its `input`)."""
    module = types.ModuleType("builtins", builtins.__doc__)
    names = vars(module)
    names.update(vars(builtins))
    names.update(
        open=_refuse("open", "files cannot be opened here: read the input with input() or sys.stdin"),
        breakpoint=_refuse("breakpoint", "there is no debugger here"),
        help=_refuse("help", "there is no interactive help here"),
        exit=_exit, quit=_exit, locals=_locals, vars=_vars,
    )
    for name in ("copyright", "credits", "license"):
        names.pop(name, None)
    return module


# The builtins module that the next program run in this process takes, made
# ahead by the fork server (make_builtins_ahead) for the one program each of
# its children runs. Made there, it costs a child nothing: making it copies
# builtins' 150-odd names, which writes the reference count of every value,
# and each page so written is one a child copies from the server's (a cold
# child's 4-line program: 426 page faults made here, 373 made ahead).
_builtins_ahead = None


def make_builtins_ahead():
    """Called by the fork server before it forks: the first program each child runs takes them."""
    global _builtins_ahead
    _builtins_ahead = _builtins_of_any_run()


class ProgramEnvironment:
    """Builtins, a `sys` facade and streams for one run of one program."""

    def __init__(self, input_text, output, recursion, echo_input=False):
        self.output = output
        self._echo_input = echo_input
        self.stdin = _stdin(input_text)
        self._recursion = recursion
        self._module_copies = {}
        self.builtins = self._make_builtins()
        self.main_module = self._make_main()
        self.sys_module = self._make_sys()

    def globals(self):
        """The program's module namespace (sys.modules["__main__"].__dict__)."""
        return vars(self.main_module)

    @contextlib.contextmanager
    def installed(self, source, compile_warnings):
        """The interpreter's process-wide state as the program sees it while it runs, put
        back after: its streams; it is `__main__` (dataclasses' string annotations,
        typing.get_type_hints and enum's functional API look it up there); its lines
        for warnings, which are shown as a fresh interpreter shows them (on stderr,
        with the interpreter's filters, whatever a host such as pytest set), those
        of compiling first; the int digit limit, which it may change."""
        saved_streams = sys.stdin, sys.stdout, sys.stderr
        saved_main = sys.modules.get("__main__")
        saved_lines = linecache.cache.get(PROGRAM_FILENAME)
        saved_int_digits = sys.get_int_max_str_digits()
        sys.stdin, sys.stdout, sys.stderr = self.stdin, self.output, self.output
        sys.modules["__main__"] = self.main_module
        linecache.cache[PROGRAM_FILENAME] = (len(source), None, source.splitlines(True), PROGRAM_FILENAME)
        for warning in compile_warnings:
            self.output.write(warnings.formatwarning(warning.message, warning.category, warning.filename,
                                                     warning.lineno))
        try:
            with warnings.catch_warnings():
                warnings.filters[:] = _STARTUP_WARNING_FILTERS
                warnings.showwarning = _show_on_stderr
                yield
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            _put_back(sys.modules, "__main__", saved_main)
            _put_back(linecache.cache, PROGRAM_FILENAME, saved_lines)
            sys.set_int_max_str_digits(saved_int_digits)

    def _make_main(self):
        """`__main__` as `python program.py` makes it: its dunders, `__builtins__` a module."""
        main = types.ModuleType("__main__")
        vars(main).update(__package__=None, __loader__=None, __spec__=None, __annotations__={},
                          __builtins__=self.builtins, __file__=PROGRAM_FILENAME, __cached__=None)
        return main

    def _make_builtins(self):
        global _builtins_ahead
        module, _builtins_ahead = _builtins_ahead or _builtins_of_any_run(), None
        names = vars(module)
        names["__import__"] = self._import
        if self._echo_input:
            names["input"] = self._echoing_input
        return module

    def _echoing_input(self, prompt=""):
        """input() that also writes the line read, as a terminal shows what was typed
        (Python Tutor's traces do this)."""
        line = builtins.input(prompt)
        self.output.write(line + "\n")
        return line

    def _make_sys(self):
        facade = types.ModuleType("sys", "The parts of sys a traced program may use.")
        for name in ("byteorder", "float_info", "hash_info", "int_info",
                     "maxsize", "maxunicode", "version", "version_info", "platform",
                     "getsizeof", "intern", "exc_info", "exception", "getdefaultencoding",
                     "get_int_max_str_digits", "implementation", "float_repr_style"):
            if hasattr(sys, name):
                setattr(facade, name, getattr(sys, name))
        facade.argv = ["<source>"]
        facade.stdin = facade.__stdin__ = self.stdin
        facade.stdout = facade.__stdout__ = self.output
        facade.stderr = facade.__stderr__ = self.output
        facade.exit = _exit
        facade.modules = {"__main__": self.main_module, "builtins": self.builtins, "sys": facade}
        facade.getrecursionlimit = self._recursion.get
        facade.setrecursionlimit = self._recursion.set
        facade.set_int_max_str_digits = _set_int_max_str_digits
        return facade

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0:
            raise ImportError("relative imports are not available: the program is a single file")
        if name == "sys":
            return self.sys_module
        if name not in _MODULES:
            top = name.partition(".")[0]
            if top not in sys.stdlib_module_names and top not in _MODULES:
                # as CPython says of a module that is nowhere (this one would not be either)
                raise ModuleNotFoundError(f"No module named {top!r}", name=top)
            raise ImportError(f"import of {name!r} is not allowed here; "
                              f"the modules that can be imported are: {_ALLOWED_TEXT}",
                              name=name)
        return self._copy_of(name if fromlist else name.partition(".")[0])

    def _copy_of(self, name):
        """A module object of the program's own, sharing the real one's contents.

        Rebinding an attribute (`json.dumps = None`) then changes only the
        program's copy, not the module the tracer itself uses.
        """
        copy = self._module_copies.get(name)
        if copy is None:
            original = _MODULES[name]
            copy = types.ModuleType(name)
            vars(copy).update(vars(original))
            self._module_copies[name] = copy
            self.sys_module.modules[name] = copy
        return copy


_STARTUP_WARNING_FILTERS = list(warnings.filters)  # as the interpreter set them, before any host's


@contextlib.contextmanager
def compiling_warnings():
    """Records what compiling the program warns of (`x is 1`), under the interpreter's filters."""
    with warnings.catch_warnings(record=True) as recorded:
        warnings.filters[:] = _STARTUP_WARNING_FILTERS
        yield recorded


def _show_on_stderr(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning as a fresh interpreter's: the warning and its line, on stderr."""
    (file or sys.stderr).write(warnings.formatwarning(message, category, filename, lineno, line))


def _put_back(mapping, key, saved):
    if saved is None:
        mapping.pop(key, None)
    else:
        mapping[key] = saved


def _stdin(text):
    """sys.stdin as CPython makes it on Linux: UTF-8 text over bytes (`.buffer`), lines
    ended by "\n" only (no newline translation)."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate outside surrogateescape's range
        data = text.encode("utf-8", "surrogatepass")
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline="\n")


def _locals():
    """locals(), where the caller is a function: a copy of its locals as they are now.

    CPython's locals() in a function is a dict it refreshes from the frame
    whenever it is asked for again, or whenever a trace function reads the
    frame's locals: under the tracer that would be at every step, so a
    `locals()` taken before a name was bound would show it later. In a
    module or class body it is the namespace itself, as untraced.
    """
    return _locals_of(sys._getframe(1))


def _vars(*args):
    """vars(): locals() without an argument, the builtin with one."""
    return builtins.vars(*args) if args else _locals_of(sys._getframe(1))


def _locals_of(frame):
    return dict(frame.f_locals) if frame.f_code.co_flags & _CO_OPTIMIZED else frame.f_locals


def _set_int_max_str_digits(maxdigits):
    """sys.set_int_max_str_digits for the program; the engine puts the tracer's back after it."""
    sys.set_int_max_str_digits(maxdigits)


_CO_OPTIMIZED = 0x0001


class RecursionLimit:
    """The recursion limit the program sees; the engine enforces it."""

    def __init__(self, depth, ceiling):
        self.depth = depth
        self._ceiling = ceiling

    def get(self):
        return self.depth

    def set(self, limit):
        if type(limit) is not int:
            raise TypeError("'%s' object cannot be interpreted as an integer" % type(limit).__name__)
        if limit < 1:
            raise ValueError("recursion limit must be greater or equal than 1")
        self.depth = min(limit, self._ceiling)


def _exit(code=None):
    raise SystemExit(code)


def _refuse(name, reason):
    def refused(*args, **kwargs):
        raise PermissionError(f"{name}() is not available: {reason}")
    refused.__name__ = refused.__qualname__ = name
    return refused


_MISSING = object()


class ModuleState:
    """Saves the allowed modules' attributes and random's state, to put them back.

    A program imports copies of the modules, but it can still reach the
    originals (a submodule, a function's globals) or seed `random`'s shared
    generator; the next run in the same process must not see it.
    """

    def __init__(self):
        self._saved = {name: dict(vars(module)) for name, module in _MODULES.items()}
        self._random_state = _MODULES["random"].getstate()

    def changed(self):
        """What changed since this was made: the modules whose attributes did, and "random's state" if it did."""
        names = [name for name in _MODULES if self._module_changed(name)]
        if _MODULES["random"].getstate() != self._random_state:
            names.append("random's state")
        return names

    def restore(self):
        for name, module in _MODULES.items():
            if self._module_changed(name):
                namespace = vars(module)
                namespace.clear()
                namespace.update(self._saved[name])
        _MODULES["random"].setstate(self._random_state)

    def _module_changed(self, name):
        namespace, saved = vars(_MODULES[name]), self._saved[name]
        # compared by identity: == could call the program's __eq__
        return len(namespace) != len(saved) or any(
            namespace.get(key, _MISSING) is not value for key, value in saved.items())

"""Runs a program under sys.settrace and records a step at each of its events.

The engine knows frames, events and limits; turning values into JSON is
snapshot.py's job and assembling the record is record.py's.
"""

import collections
import ctypes
import dis
import functools
import gc
import os
import sys
# _thread, not threading: threading registers a hook that runs in every child
# the fork server forks (about 115 page faults before the child runs a line
# of its own); only the watchdog, which a sandboxed engine never starts, needs it.
import _thread
import time
import types
import warnings

from . import outcome as outcomes
from .formats import FORMATS
from .record import Step, encode
from .runtime import ModuleState, OutputCapture, ProgramEnvironment, RecursionLimit, compiling_warnings
from .speedups import NATIVE, Activation, GcNeutral, Tracer, dict_version, same_objects
from .objects import PROGRAM_FILENAME, exception_message, type_name
from .snapshot import HeapEncoder

_CO_OPTIMIZED = 0x01
_CO_NEWLOCALS = 0x02
_SUSPENDS = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
_YIELD_VALUE = dis.opmap["YIELD_VALUE"]
_RESUME = dis.opmap["RESUME"]
_AGAIN = object()  # a step to take again (Engine._take_record_step)
_RECURSION_CEILING = 10000  # the most a program may raise its recursion limit to
_RECURSION_HEADROOM = 200  # frames left to the engine above the program's limit

# CPython 3.13 raises a scheduled exception only at a later check, inside the
# frame's own `try`: there the trace function raises the RecursionError itself,
# at the frame's call event, which turns tracing off; a sys.monitoring callback
# on that frame's unwinding (PY_UNWIND, which sys.settrace does not go through)
# turns it back on (Engine._overflow).
_REVIVES_TRACING = sys.version_info >= (3, 13)
_MONITORING_TOOL = 4  # not one of the ids sys.monitoring names (debugger, coverage, profiler, optimizer)
_MONITORING_NAME = "python-tracer"

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]

# One program at a time per process: it owns sys.stdin/stdout/stderr and the
# recursion limit while it runs.
_lock = _thread.allocate_lock()
_running = None


class StopProgram(BaseException):
    """Raised into the program to end it at a limit.

    Raising from a trace function makes CPython turn tracing off, so a program
    that catches this exception would run on untraced. The engine therefore
    also schedules it as an asynchronous exception, which CPython raises at
    the program's next loop or call; building that exception runs this
    `__init__`, which turns tracing back on, and the next event raises again.
    """

    def __init__(self, *args):
        super().__init__(*args)
        engine = _running
        if engine is not None:
            engine.resume_tracing()


def _scheduler(thread_id, exception_type):
    """A mapping whose missing-key lookup schedules an asynchronous exception.

    A subscript calls the scheduler from C without the check for pending
    exceptions that follows a Python-level call, so the exception cannot
    fire inside the trace function, which would turn tracing off.
    """
    return collections.defaultdict(functools.partial(_set_async_exc, thread_id, exception_type))


class Engine:
    """Traces one program.

    In the sandbox's child (`sandboxed=True`) no watchdog thread is started
    (the child may not create threads; its parent enforces the deadline) and
    an uncaught MemoryError, which the address-space limit causes, ends the
    run as `memory_limit`.
    """

    def __init__(self, source, input_text, limits, writer=None, sandboxed=False, encoding="full",
                 format="record", options=None):
        self._source = source
        self._input = input_text
        self._limits = limits
        self._lines = source.splitlines()
        self._given_writer = writer
        self._sandboxed = sandboxed
        self._encoding = encoding
        self._format = FORMATS[format]
        self._options = options or {}

    # -- running

    def run(self):
        """Trace the program; return what the writer's finish returns (the record's bytes)."""
        writer = self._given_writer or self._format.writer(self._limits, self._source, self._encoding, self._options)
        with _lock:  # the warnings module's state is the process's
            try:
                # what compiling warns of (`x is 1`) is the program's first output, as on a terminal
                with compiling_warnings() as self._compile_warnings:
                    code = compile(self._source, PROGRAM_FILENAME, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as error:
                return writer.finish(outcomes.syntax_error(error, self._source), "")
            return self._run_locked(code, writer)

    def _run_locked(self, code, writer):
        global _running
        self._prepare(code, writer)
        saved_recursion = sys.getrecursionlimit()
        # The sandbox's child exits after this one run: nothing to put back for a next one.
        module_state = None if self._sandboxed else ModuleState()
        namespace = self._environment.globals()
        ending = None
        saved_unraisable_hook = sys.unraisablehook
        installed = self._environment.installed(self._source, self._compile_warnings)
        installed.__enter__()
        sys.unraisablehook = _unraisable_hook(saved_unraisable_hook)
        sys.setrecursionlimit(_stack_depth() + _RECURSION_CEILING + _RECURSION_HEADROOM)
        self._core.deadline = time.monotonic() + self._limits.time_seconds
        watchdog = _Watchdog(self)
        # 3.12 warns when a trace function reads the locals of an inlined comprehension
        warnings.filterwarnings("ignore", "assigning None to unbound local", RuntimeWarning)
        _running = self
        self._tracing = True
        try:
            if GcNeutral is not None:
                self._trace.restart()
            sys.settrace(self._trace)
            if not self._sandboxed:
                watchdog.start()
            try:
                exec(code, namespace)
            finally:
                self._tracing = False
                sys.settrace(None)
        except BaseException as error:  # the program's, or StopProgram
            ending = error
        result = None
        ran_to_its_end = exiting = self._core.stop is None
        finalized = False
        # A scheduled StopProgram may still be pending, or come while the program's
        # finalizers run past the deadline: it fires in here, and each part runs once.
        while True:
            try:
                if exiting:
                    exiting = False
                    # first, as the interpreter prints a SystemExit's message before it exits
                    result = self._outcome(ending)
                    self._finalize_program(namespace)
                    finalized = True
                watchdog.stop()
                _checkpoint()
                break
            except StopProgram:
                pass
        _running = None
        sys.settrace(None)
        if _REVIVES_TRACING:
            self._stop_watching()
        if result is None or self._core.stop is not None:
            result = self._outcome(ending)
        stopped_at = self._core.stop
        keep_output = stopped_at is None or (self._format.prints_at_limit and stopped_at != "output_limit")
        stdout = self._output.take() if keep_output else ""
        if finalized or not ran_to_its_end:
            # What is left of a program stopped at a limit dies here, while its output still
            # goes nowhere (it would go to this process's own stdout once put back). Not
            # where the deadline cut the finalizers short: what is left of them would run
            # here, the watchdog stopped.
            self._output.discarding = True
            self._let_go_of_the_program()
            namespace.clear()
            if not self._sandboxed and self._may_finalize():
                # (the StopPrograms' tracebacks hold the trace function's frames, and they what
                # the steps showed, in cycles made as the program stopped: young ones, which a
                # collection of the young generations frees at a fraction of a full one's cost;
                # the sandbox's child exits instead)
                ending = None
                gc.collect(1)
        installed.__exit__(None, None, None)
        sys.unraisablehook = saved_unraisable_hook
        sys.setrecursionlimit(saved_recursion)
        if module_state is not None:
            module_state.restore()
        self._writer.append_stdout(stdout)
        return self._writer.finish(result, self._writer.stdout)

    def _may_finalize(self):
        """Whether the program's own code could run as its objects die: a __del__ or a generator's `finally`."""
        return any(code.co_name == "__del__" or code.co_flags & _SUSPENDS for code in self._codes.values())

    def _let_go_of_the_program(self):
        """Drop every hold the tracer has on the program's objects."""
        self._encoder.release_all()
        self._activations.clear()
        self._shown.clear()
        self._core.ran = ()  # activations, which hold the texts they cached
        self._render = None  # a rendered format's renderer holds what it showed

    def _finalize_program(self, namespace):
        """What the interpreter's exit does to the program's objects, so that their
        finalizers print what they print untraced (untraced here too).

        The tracer's own hold on them goes first; then a collection, the
        module's names set to None in their order (__builtins__ kept), another
        collection. CPython's exit leaves the order to its cyclic collector
        (a module with a class or function is a cycle, through __globals__),
        whose order depends on the collector's lists: where several objects
        with finalizers are left, theirs may come in another order.
        """
        self._let_go_of_the_program()
        # (a collection of a big process takes milliseconds: only where the program's own code
        # could run in one, a __del__ or a generator's `finally`)
        collect = self._may_finalize()
        if collect:
            gc.collect()
        for name in list(namespace):
            if type(name) is str and name != "__builtins__" and namespace.get(name) is not None:
                namespace[name] = None
        if collect:
            gc.collect()

    def _prepare(self, code, writer):
        self._writer = writer
        self._codes = {}  # id(code) -> code, for every code object of the program
        self._parent_code = {}  # id(code) -> the function code that defines it
        self._names = {}  # id(code) -> its name as JSON text
        self._collect_codes(code, None)
        self._output = OutputCapture(self._limits.stdout_bytes)
        self._recursion = RecursionLimit(self._limits.recursion_depth, _RECURSION_CEILING)
        self._environment = ProgramEnvironment(self._input, self._output, self._recursion,
                                               echo_input=self._format.echo_input)
        self._encoder = HeapEncoder(self._limits, self._parent_of)
        self._encoder.finalizers_may_run = self._may_finalize()
        renderer = self._format.renderer
        if renderer is not None:
            # (where the program has no __del__ and no generator, letting go runs none of its code)
            self._finalizers_traced = self._format.traces_finalizers and self._may_finalize()
            traced = {"finalizers_traced": True} if self._finalizers_traced else {}
            self._render = renderer(code, set(self._environment.globals()), self._source, self._options,
                                    **traced).render
            self._take_step = self._take_rendered_step
        else:
            self._take_step = self._take_record_step
        self._activations = {}  # frame -> Activation, while the frame runs
        self._encoder.activations = self._activations  # what their cached locals show stays held
        self._latest_by_code = {}  # id(code) -> id of its latest activation
        self._parents = {}  # id(function) -> frame id, fixed when first seen
        self._overflow_frames = []
        # The shown frames, kept as calls and returns come, so a step need not walk the stack.
        self._shown = []
        # The state a step reads and changes (steps taken, why the program stops, ...), where the
        # trace function's C path reads and changes it too; see speedups.Tracer.
        core = self._core = Tracer()
        core.on_event = self._on_event
        core.activations, core.shown, core.output = self._activations, self._shown, self._output
        core.names_by_code, core.frame_text = self._names, self._frame_text
        core.codes, core.latest_by_code, core.recursion = self._codes, self._latest_by_code, self._recursion
        core.step = self._step
        core.step_limit = self._limits.steps
        core.yield_opcode, core.resume_opcode = _YIELD_VALUE, _RESUME
        direct = writer.direct_buffer if renderer is None else None
        core.encoder, core.buffer = (self._encoder, direct) if direct is not None else (None, None)
        trace = core if NATIVE else self._on_event
        self._trace = GcNeutral(trace) if GcNeutral is not None else trace
        self._thread_id = _thread.get_ident()
        self._schedule_stop = _scheduler(self._thread_id, StopProgram)
        self._schedule_recursion_error = _scheduler(self._thread_id, RecursionError)

    def _collect_codes(self, code, parent):
        self._codes[id(code)] = code
        self._names[id(code)] = encode(code.co_name)
        self._parent_code[id(code)] = parent
        inner_parent = code if code.co_flags & _CO_NEWLOCALS else parent
        for constant in code.co_consts:
            if type(constant) is types.CodeType:
                self._collect_codes(constant, inner_parent)

    @property
    def deadline(self):
        """When the program must stop, on time.monotonic()'s clock."""
        return self._core.deadline

    def resume_tracing(self):
        """Turn tracing back on after StopProgram was raised; see StopProgram."""
        if not self._tracing or _thread.get_ident() != self._thread_id:
            return
        self._trace_from(sys._getframe(2))

    def _trace_from(self, frame):
        """Trace the program's frames from `frame` outwards, and every new one."""
        while frame is not None:
            if id(frame.f_code) in self._codes:
                frame.f_trace = self._trace
            frame = frame.f_back
        sys.settrace(self._trace)

    def _watch_overflow_unwind(self):
        """(3.13) Be called back when the frame that overflowed unwinds; see _REVIVES_TRACING."""
        monitoring = sys.monitoring
        if monitoring.get_tool(_MONITORING_TOOL) != _MONITORING_NAME:
            monitoring.use_tool_id(_MONITORING_TOOL, _MONITORING_NAME)
        monitoring.register_callback(_MONITORING_TOOL, monitoring.events.PY_UNWIND, self._after_overflow)
        monitoring.set_events(_MONITORING_TOOL, monitoring.events.PY_UNWIND)

    def _after_overflow(self, code, offset, exception):
        """The overflowing frame unwinds: what its own untraced events would have done, then tracing again."""
        sys.monitoring.set_events(_MONITORING_TOOL, 0)
        frame = sys._getframe(1)
        activation = self._activations.get(frame)
        if activation is not None and activation.overflow:
            del self._activations[frame]
        if type(exception) is RecursionError and not exception.args:
            exception.args = ("maximum recursion depth exceeded",)
        if self._tracing:
            self._trace_from(frame.f_back)

    def _stop_watching(self):
        monitoring = sys.monitoring
        if monitoring.get_tool(_MONITORING_TOOL) == _MONITORING_NAME:
            monitoring.set_events(_MONITORING_TOOL, 0)
            monitoring.register_callback(_MONITORING_TOOL, monitoring.events.PY_UNWIND, None)
            monitoring.free_tool_id(_MONITORING_TOOL)

    # -- the trace functions: keep them lean, they run at every event

    def _on_event(self, frame, event, arg):
        """The global trace function (its "call" events) and every program frame's local one.

        Where built, the trace function is speedups.Tracer, which takes the
        common events (a line, a call, a return of a shown frame, while no
        limit is near) itself, exactly as here, and hands the others here.
        """
        activation = self._activations.get(frame)
        if activation is None and event == "call" and id(frame.f_code) not in self._codes:
            # library code: not traced, but its frames count against the limit
            if self._depth_of(frame) > self._recursion.depth:
                self._overflow()
            return None
        core = self._core
        if core.stop is not None:
            self._halt()
        if event == "call":
            if activation is None:
                activation = self._enter(frame)
                if activation.id == 1:  # the module's own first call is no step
                    activation.depth = 1
                    self._shown.append((frame, activation))
                    return self._trace
            activation.depth = self._depth_of(frame)
            if activation.depth > self._recursion.depth:
                activation.overflow = True
                self._overflow_frames.append(frame)
                self._overflow()
                return self._trace
            self._shown.append((frame, activation))
        elif activation is None:
            return self._trace
        if activation.overflow:
            if event == "exception" and type(arg[1]) is RecursionError and not arg[1].args:
                arg[1].args = ("maximum recursion depth exceeded",)
            elif event == "return":
                del self._activations[frame]
            return self._trace
        return self._step(frame, event, arg, activation, event == "return" and self._yielded(frame, activation))

    def _depth_of(self, frame):
        """The frame's depth among Python frames, library code's included, as CPython
        counts them against the recursion limit (the module's frame is 1): its
        nearest traced caller's, plus the frames between."""
        activations = self._activations
        hops = 0
        back = frame.f_back
        while back is not None:
            hops += 1
            activation = activations.get(back)
            if activation is not None:
                return activation.depth + hops
            back = back.f_back
        return hops + 1

    def _overflow(self):
        """Raise RecursionError in the frame whose call event this is, as it starts."""
        if _REVIVES_TRACING:
            # raised from here, before the frame's first instruction (a pending
            # one would wait for a later check, inside the frame's own `try`)
            self._watch_overflow_unwind()
            raise RecursionError("maximum recursion depth exceeded")
        self._schedule_recursion_error[0]
        del self._schedule_recursion_error[0]

    def _step(self, frame, event, arg, activation, yielded):
        """The step of an event whose frame is entered or left already, and what follows it."""
        if frame.f_lineno:  # events without a line (an empty module's) are no step
            self._record_step(frame, event, arg, activation, yielded)
        if event == "exception":
            activation.after_exception = True
        elif event == "return":
            if self._shown and self._shown[-1][0] is frame:
                self._shown.pop()
            if not yielded:
                del self._activations[frame]
        else:
            activation.after_exception = False
        return self._trace

    def _enter(self, frame):
        code = frame.f_code
        # Its locals cannot change while it waits for a call to return: no
        # cells shared with other frames, not a module or class namespace.
        suspendable = bool(code.co_flags & _CO_OPTIMIZED) and not code.co_cellvars and not code.co_freevars
        activation = Activation(self._core.next_id, suspendable)
        self._core.next_id += 1
        self._activations[frame] = activation
        self._latest_by_code[id(frame.f_code)] = activation.id
        return activation

    def _yielded(self, frame, activation):
        if activation.after_exception:
            return False
        # At a yield, f_lasti is the YIELD_VALUE (3.11, 3.12) or the RESUME after it (3.13).
        operations = frame.f_code.co_code
        lasti = frame.f_lasti
        return operations[lasti] == _YIELD_VALUE or (
            lasti >= 2 and operations[lasti] == _RESUME and operations[lasti - 2] == _YIELD_VALUE)

    def _halt(self):
        """End the program: raise StopProgram now and schedule it again."""
        stop = StopProgram.__new__(StopProgram)
        self._schedule_stop[0]  # nothing may be called between this and raise
        del self._schedule_stop[0]
        try:
            raise stop
        finally:
            # (this frame holding the exception whose traceback holds this frame would be a
            # cycle, and what the frames below hold, the program's objects, would live on until
            # some later collection, finalizers and all)
            del stop

    def _stop_with(self, status):
        self._mark_stopped(status)
        if self._sandboxed:
            if self._format.prints_at_limit and status != "output_limit":
                self._writer.append_stdout(self._output.take())
            # The child is disposable: its record ends here. Unwinding could take
            # until the deadline, as on 3.12 a loop that catches BaseException
            # gets its next line event inside its own try, where StopProgram is
            # caught again.
            self._writer.finish(outcomes.stopped(status, self._limits, self._core.steps), self._writer.stdout)
            os._exit(0)
        self._halt()

    def _mark_stopped(self, status):
        if self._core.stop is None:
            self._core.stop = status
        self._output.discarding = True

    # -- steps

    def _record_step(self, frame, event, arg, activation, yielded):
        core = self._core
        taken = _AGAIN
        # (again while finalizers run: each time they took steps or wrote, which the limits bound)
        while taken is _AGAIN:
            if core.steps >= self._limits.steps:
                self._stop_with("step_limit")
            if self._output.overflowed:
                self._stop_with("output_limit")
            if time.monotonic() > core.deadline:
                self._stop_with("time_limit")
            core.frame = frame
            shown = self._shown
            chain = shown if shown and shown[-1][0] is frame else self._chain(frame)
            taken = self._take_step(frame, event, arg, chain, yielded)
        if not taken:
            return
        core.steps += 1
        # Until the next step, the top frame runs on, and after a return so does its caller.
        top = chain[-1][1]
        core.ran = (top, chain[-2][1]) if event == "return" and len(chain) > 1 else (top,)

    def _take_record_step(self, frame, event, arg, chain, yielded):
        """Add the step in the record's format; _AGAIN where the snapshot ran the program.

        Taking the snapshot lets go of what the last step showed and no step
        shows now (HeapEncoder.release), which runs the finalizers of what the
        program let go of meanwhile (a `__del__`, a dropped generator's
        `finally`), traced: CPython runs them as the program lets go, before
        this step. So where one took a step or wrote output, this step is
        taken again, after them (the limits checked again, and what they
        changed shown). The tracer's C path hands such a step here the same way.
        """
        core = self._core
        output = self._output
        writes, steps = output.writes, core.steps
        returned = (arg,) if event == "return" and not chain[-1][1].after_exception else ()
        frames, heap, return_text = self._encoder.snapshot(chain, core.steps, core.ran, self._names,
                                                           self._frame_text, *returned)
        if output.writes != writes or core.steps != steps:
            return _AGAIN
        if returned:
            extra = ',"return":' + return_text + (',"yield":true' if yielded else "")
        elif event == "exception":
            extra = ',"exception":' + encode({"type": type_name(arg[0]), "message": exception_message(arg[1])})
        else:
            extra = ""
        if not self._writer.add_step(Step(event, frame.f_lineno, frames, heap, extra), output.take()):
            self._stop_with("output_limit")
        return True

    def _take_rendered_step(self, frame, event, arg, chain, yielded):
        """Add the step in the format's renderer's shape, where it shows one here; _AGAIN
        where rendering it ran the program (as _take_record_step, for the formats whose
        finalizers are traced: Format.traces_finalizers)."""
        output, core = self._output, self._core
        writes, steps = output.writes, core.steps
        step = self._render(frame, event, arg, chain, yielded)
        if self._finalizers_traced and (output.writes != writes or core.steps != steps):
            return _AGAIN
        if step is None:
            return False
        if not self._writer.add_step(step, self._output.take()):
            self._stop_with("output_limit")
        return True

    def _chain(self, frame):
        """The program's shown frames on the stack, outermost first, with their activations."""
        chain = []
        while frame is not None:
            if id(frame.f_code) in self._codes:
                activation = self._activations.get(frame)
                if activation is not None and not activation.overflow:
                    chain.append((frame, activation))
            frame = frame.f_back
        chain.reverse()
        return chain

    def _frame_text(self, entry, is_top, names=None):
        """One frame's JSON text; `names` is its namespace when the caller has read it already.

        A frame's text is reused while the frame's line and the objects bound
        to its names are the same ones. A function frame that has not run
        since the last step (nor shares cells with one that has) cannot have
        changed, so its locals are not even read. The encoder's snapshot
        calls this for each frame, where C cannot write the frame itself.
        """
        frame, activation = entry
        encoder = self._encoder
        step = self._core.steps
        cached = activation.cached
        if (not is_top and activation.cached_at == step - 1 and activation.suspendable
                and activation not in self._core.ran):
            if cached[2]:
                encoder.refer_again(cached[2])
            activation.cached_at = step
            return activation.frame_text
        code = frame.f_code
        # The module's namespace is its globals. Reading f_locals there would
        # also copy 3.12's inlined-comprehension variables out and back, and
        # CPython 3.12 writes None into an outer one on the way back.
        if names is None:
            names = frame.f_globals if activation.id == 1 else frame.f_locals
        # The same names bound to the same objects, in the same order: the same
        # text. An unchanged version tag says so at once; else the fingerprint.
        fingerprint = dict_version(names)
        if fingerprint is None:
            fingerprint = (*names, *names.values())
            same = cached is not None and type(cached[0]) is tuple and same_objects(cached[0], fingerprint)
        else:
            same = cached is not None and cached[0] == fingerprint
        if same:
            if cached[2]:
                encoder.refer_again(cached[2])
            local_values = cached[1]
        else:
            # A function's locals are all str, so a C-level check skips the loop at
            # most steps; a module's or class body's namespace may hold keys whose
            # __hash__ is the program's, so it is walked with a type check.
            if not (code.co_flags & _CO_OPTIMIZED and activation.seen.issuperset(names)):
                _learn_names(names, activation, activation.id == 1)
            bound = [name for name in activation.order if name in names]
            local_values, referred = encoder.namespace_text(names, bound)
            activation.cached = (fingerprint, local_values, referred)
        activation.cached_at = step
        line = frame.f_lineno
        if activation.frame_text is None or activation.frame_line != line or activation.frame_locals is not local_values:
            activation.frame_text = "".join(['{"id":', str(activation.id), ',"name":', self._names[id(code)],
                                             ',"line":', str(line), ',"locals":', local_values, "}"])
            activation.frame_line, activation.frame_locals = line, local_values
        return activation.frame_text

    def _parent_of(self, function):
        """The frame id of the activation that defined a nested function."""
        key = id(function)
        if key in self._parents:
            return self._parents[key]
        parent_code = self._parent_code.get(id(function.__code__))
        parent = None
        if parent_code is not None:
            frame = self._core.frame
            while frame is not None:
                if frame.f_code is parent_code and frame in self._activations:
                    parent = self._activations[frame].id
                    break
                frame = frame.f_back
            else:
                parent = self._latest_by_code.get(id(parent_code))
        self._parents[key] = parent
        return parent

    # -- the end

    def _outcome(self, ending):
        core = self._core
        if core.stop is not None:
            return outcomes.stopped(core.stop, self._limits, core.steps)
        if ending is None:
            return outcomes.finished(None)
        if self._sandboxed and isinstance(ending, MemoryError):
            return outcomes.stopped("memory_limit", self._limits, core.steps)
        if isinstance(ending, SystemExit):
            code, message = outcomes.exit_status(ending)
            if message:
                self._output.discarding = False
                self._output.write(message)
            return outcomes.finished(code)
        return outcomes.uncaught(ending, self._lines, self._codes, self._overflow_frames)


class _Watchdog:
    """Stops a program that runs past its deadline without trace events.

    A loop on one line (`while True: pass`) or a long call into C gives the
    trace function no event to stop at, so from the deadline on a thread
    schedules StopProgram into the program's thread every few milliseconds
    until the run is over. A C call that never returns to the interpreter
    (a huge `10**10**8`) is beyond reach in-process: the sandbox's CPU limit
    ends it.
    """

    _INTERVAL = 0.05

    def __init__(self, engine):
        self._engine = engine
        # made by start(): the sandbox's child never starts a watchdog, and a Thread's
        # locks and event, made on a request's path, cost it 0.06 to 0.1 ms
        self._done = self._thread = None

    def start(self):
        import threading  # here, not with this module: see the import of _thread
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tracer-watchdog", daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread is None:
            return
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self):
        engine = self._engine
        if self._done.wait(max(engine.deadline - time.monotonic(), 0)):
            return
        engine._mark_stopped("time_limit")
        while not self._done.is_set():
            _set_async_exc(engine._thread_id, StopProgram)
            self._done.wait(self._INTERVAL)


def _unraisable_hook(fallback):
    """Drops a StopProgram that fired inside a finalizer or weakref callback.

    A scheduled StopProgram fires at the next check CPython makes, which may
    be in a callback whose errors cannot propagate; the program is being
    stopped either way.
    """
    def hook(unraisable):
        if not isinstance(unraisable.exc_value, StopProgram):
            fallback(unraisable)
    return hook


def _learn_names(names, activation, is_module):
    """Append names bound since the last step, in their binding order."""
    seen = activation.seen
    for name in names:
        if type(name) is str and name not in seen:
            seen.add(name)
            if not (name.startswith(".") or (is_module and name.startswith("__"))):
                activation.order.append(name)


def _checkpoint():
    """A call: CPython raises any pending asynchronous exception here."""


def _stack_depth():
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth

"""The C extension (tracer/_speedups.c, its parts in tracer/c/ by job): each name and
the Python it mirrors, which runs where this is not built (tracer/speedups.py) and
which tests/test_speedups.py and tests/test_fuzz.py hold it to, byte for byte."""

from typing import Any, Callable

# -- tracer/c/unchanged.c: what changed since a cached text was made

def dict_version(d: object, /) -> int | None:
    """The dict's version tag; speedups.dict_version (always None: the fingerprint decides)."""

def same_items(fingerprint: tuple, start: int, items: list, count: int, /) -> bool:
    """speedups.same_items: items[:count] are the very objects of fingerprint[start:]."""

def same_objects(first: tuple, second: tuple, /) -> bool:
    """speedups.same_objects: the same objects, in order (exact ints and strs by value)."""

# -- tracer/c/heap.c: heap ids and value texts

class EncoderCore:
    """snapshot._PythonCore: heap ids, value texts, a step's snapshot (HeapEncoder subclasses it)."""

    _ids: dict[int, int]
    _alive: list[object]
    _heap: dict[int, str | None]
    _pending: list[tuple[int, object]]
    _collected: list[tuple[int, object]] | None
    _key_texts: dict[str, str]
    _scalar_types: tuple[type, ...]
    _cache: dict[int, tuple]
    _immutable: object
    _by_version: object
    _items_cap: int
    _string_cap: int
    _release_at: int
    _deaths: dict[int, Any]

    def _reference(self, obj: object, /) -> int: ...
    def value_text(self, value: object, /) -> str: ...
    def items_text(self, items: list, count: int, /) -> str: ...
    def settle_pending(self) -> tuple[int, object] | None:
        """snapshot.HeapEncoder.heap's loop as far as C takes it: the first pair it leaves to Python."""
    def members_text(self, names: dict, bound: list, /) -> str | None: ...
    def frames_text(self, chain: list, step: int, ran: tuple, names_by_code: dict,
                    frame_text: Callable, /) -> list[str]: ...
    def snapshot(self, chain: list, step: int, ran: tuple, names_by_code: dict, frame_text: Callable,
                 *returned: object) -> tuple[list[str], dict[int, str], str | None]: ...

# -- tracer/c/record.c: the record's bytes

class RecordBuffer:
    """speedups.RecordBuffer: bytes written one after another, with what RecordWriter keeps of the steps."""

    size: int
    budget: int
    count: int
    last: object
    separator: bytes
    opener: bytes
    closer: bytes
    send: Callable[[memoryview], object] | None  # the view is valid only during the call
    send_each: int
    send_batch: int
    send_interval: float
    sent: int  # read-only
    delta: bool

    def write(self, data: bytes, /) -> None: ...
    def truncate(self, length: int, /) -> None: ...
    def take(self) -> bytes: ...
    def open_step(self) -> None: ...
    def close_step(self) -> None: ...
    def flush(self) -> None: ...
    def __len__(self) -> int: ...

def full_step(buffer: RecordBuffer, event: str, line: int, frames: list[str], heap: dict[int, str],
              extra: str, stdout_text: str, /) -> int | None:
    """record.full_text, written into the buffer: the bytes written, or None for Python to write."""

def delta_step(buffer: RecordBuffer, event: str, line: int, frames: list[str], heap: dict[int, str],
               extra: str, stdout_text: str, old_frames: list[str], old_heap: dict[int, str],
               /) -> int | None:
    """record.delta_text, written into the buffer, as full_step."""

# -- tracer/c/frames.c: a frame's cached text

class Activation:
    """speedups.Activation: one run of one frame of the program."""

    id: int
    order: list[str]
    seen: set[str]
    cached: tuple | None
    cached_at: int
    frame_text: str | None
    frame_line: int | None
    frame_locals: str | None
    after_exception: bool
    overflow: bool
    suspendable: bool
    depth: int

    def __init__(self, activation_id: int, suspendable: bool, /) -> None: ...

# -- tracer/c/trace.c: the trace function

class Tracer:
    """speedups.Tracer's state, and the trace function itself (Engine._on_event for the common events)."""

    on_event: Callable
    step: Callable
    activations: dict
    shown: list
    codes: dict
    latest_by_code: dict
    recursion: Any
    encoder: EncoderCore | None
    buffer: RecordBuffer | None
    names_by_code: dict
    frame_text: Callable
    output: Any
    stop: str | None
    ran: tuple
    frame: object
    steps: int
    next_id: int
    step_limit: int
    deadline: float
    yield_opcode: int
    resume_opcode: int

    def __call__(self, frame: object, event: str, arg: object, /) -> object: ...

def run_traced(function: Callable, /, *args: object) -> object:
    """speedups.run_traced: function(*args), the program's code it runs traced even from
    inside the trace function (there CPython traces nothing); used whatever TRACER_SPEEDUPS
    says, so that C and Python trace the same finalizers."""

# -- tracer/c/gc_neutral.c, tracer/_collector.c: the trace function as the cyclic collector sees it

class GcNeutral:
    """Calls `trace` with automatic collection off and the collector's count put back after, so
    the program's garbage cycles are collected where its own allocations make it due, in its
    traced code. No Python mirror: where this is not built the trace function is called bare."""

    trace: Callable

    def __init__(self, trace: Callable, /) -> None: ...
    def __call__(self, frame: object, event: str, arg: object, /) -> object: ...
    def restart(self) -> None:
        """The program starts: every generation's count from zero."""

# -- tracer/_json_check.c: the service's check of a child's step lines

def step_lines(buffer: bytes, offset: int, opener: bytes, shape: tuple, /) -> tuple[int, list[bytes], list[tuple]]:
    """speedups.step_lines: the whole step lines of `shape` (speedups.step_shape) from offset on,
    and where they stop."""

# -- tracer/_kernel.c: a spare's confinement calls, and its child's CPU, without ctypes

def prctl(option: int, argument: int, /) -> int:
    """kernel.prctl without a pointer: prctl(option, argument, 0, 0, 0); OSError where refused."""

def seccomp_filter(program: bytes, /) -> None:
    """kernel.seccomp_filter: installs the classic BPF program (8 bytes an instruction)."""

def landlock_create_ruleset(attributes: bytes | None, flags: int, /) -> int:
    """kernel.landlock_create_ruleset: a ruleset's descriptor, or with its version flag the ABI version."""

def landlock_restrict_self(ruleset: int, /) -> None:
    """kernel.landlock_restrict_self: this process enforces the ruleset."""

def sched_getcpu() -> int | None:
    """kernel.current_cpu: the CPU this thread runs on, None where the kernel does not say."""

# -- tracer/_immortal.c: the fork server's objects made immortal before it forks

IMMORTALIZES: bool
"""Whether immortalize marks anything on this runtime: CPython 3.12 and 3.13, with the GIL."""

def immortalize(roots: list, /) -> int:
    """speedups.immortalize (which marks nothing): every object reachable from the roots made
    immortal; how many were not already."""

"""Runs each trace in a confined child of the fork server, never in this process.

The parent side: it starts the fork server (forkserver.py) once, checks in a
canary child which layers hold, and for each request hands the server one end
of a fresh socket, sends the request, and reads the record back under a
wall-clock deadline and a byte cap, validating every line before it answers.
"""

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import kernel, protocol
from .canary import REQUIRED, stand_ins
from .limits import limits_for
from .reply import parse_line
from .speedups import step_lines, step_shape

_ROOT = str(Path(__file__).resolve().parent.parent)
_GRACE_SECONDS = 1.0
_OVERDUE_MARGIN_SECONDS = 2.0
# A waiting spare answers a connection with its pid line at once. None within
# this long: the connection was lost (gVisor can take one on the control
# socket of a server that has just died) and is handed over again; a child
# that was only slow finds its connection closed and exits, having done
# nothing anyone can see.
_FIRST_BYTE_SECONDS = 2.0
_PASSED_TO_SERVER = ("TRACER_SPEEDUPS",)
_REPLY_MARGIN = 1024 * 1024
# Once this much of a trace has come, the thread reading it keeps off the
# child's CPU (_away_from). Below it, a small program's few steps: they are
# checked where the child runs, as waking a thread on an idle CPU costs more.
# Above it, while the child still sends step by step (up to STREAM_EACH_BYTES),
# each write woke this thread onto the child's CPU, where it preempted the
# child to check one step: 20 to 30 switches before the batches came.
# Moving at 2 KiB instead of 8 took Sandbox.run of a 1000-step generators
# trace from 11.3 to 10.5 ms, and of a 24-step one (4.7 KB) from 4.2 to 3.7.
_CHECK_BESIDE_FROM_BYTES = 2 * 1024
# Spares the fork server keeps forked, confined and warmed up ahead
# (forkserver._Spares), unless TRACER_SPARES says otherwise: enough for a
# grader's burst of requests back to back, each taking one, to find one warm
# (at least twice the children the CPUs run at once). A waiting spare holds
# about 2.9 MB of memory of its own (16: 47 MB).
_SPARES = 16

log = logging.getLogger("tracer.sandbox")


class SandboxUnavailable(Exception):
    """The minimum isolation does not hold here: no program may run."""


def _setting(name, default):
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


class Sandbox:
    def __init__(self):
        # By default as many children at once as functions-framework's gunicorn has
        # threads (THREADS, else 4 per CPU): a request the framework has taken then
        # never waits for a slot behind a long trace; the kernel shares the CPUs.
        self.concurrency = _setting("TRACER_CONCURRENCY", _setting("THREADS", (os.cpu_count() or 1) * 4))
        self.memory_bytes = _setting("TRACER_MEMORY_MB", 160) * 1024 * 1024
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._traces_lock = threading.Lock()
        self._traces = 0  # running in this process now
        self._cpus = len(os.sched_getaffinity(0))
        self._control_lock = threading.RLock()  # start() runs the canary through _hand_over
        self._process = None
        self._control = None
        self.layers = {}
        self.speedups = False  # whether the children run the C loops (tracer/_speedups)

    # -- starting

    def spawn(self):
        """Start the fork server without waiting for it: it imports and confines itself
        while the caller goes on (main.py does this at import, as the function starts)."""
        with self._control_lock:
            if self._process is None:
                self._spawn()

    def start(self):
        """Start the fork server (unless spawn() has) and check in a canary child which layers hold."""
        with self._control_lock:
            self._start()

    def _start(self):
        if self._process is None:
            self._spawn()
        self.layers = self._canary()
        missing = [name for name in REQUIRED if not self.layers.get(name)]
        if missing:
            self._stop()
            log.error("sandbox refuses to run programs: %s do not hold (%s)", ", ".join(missing), self.layers)
            raise SandboxUnavailable("the sandbox is not available here: " + ", ".join(missing) + " missing")
        log.info("sandbox layers: %s; C loops: %s", self.layers,
                 "yes" if self.speedups else "no, the Python fallback (slower)")
        for message in stand_ins(self.layers):
            log.warning("sandbox: %s", message)

    def _spawn(self):
        # The children run as this service's uid where it is not root: they must
        # not be able to read its memory or /proc files (ptrace rules, /proc/PID/mem).
        kernel.prctl(kernel.PR_SET_DUMPABLE, 0)
        time_seconds = limits_for().time_seconds
        # how many children the fork server keeps forked and confined ahead
        # (forkserver._Spares): at least twice as many as the CPUs run at once
        running_at_once = min(self.concurrency, self._cpus)
        settings = {"cpu_seconds": time_seconds + 2, "memory_bytes": self.memory_bytes,
                    # after its hand-over, when the server kills a child still running
                    # (forkserver._Spares.kill_overdue): past the deadline run() gives it
                    # (counted from before the hand-over), with room for a slow hand-over
                    "overdue_seconds": time_seconds + _GRACE_SECONDS + _OVERDUE_MARGIN_SECONDS,
                    "spares": max(1, _setting("TRACER_SPARES", max(_SPARES, 2 * running_at_once)))}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = f"import sys; sys.path.insert(0, {_ROOT!r}); from tracer.forkserver import main; main()"
        # -I less its -E: -s -P, and an environment with nothing but a fixed hash
        # seed, so a program's sets and dicts of strings come out the same on
        # every run (Python Tutor's traces are made with PYTHONHASHSEED=0 too),
        # and the choice of the Python fallback where it is asked for. -S: the
        # server imports nothing from site-packages, and `site` (the .pth files of
        # the service's packages) cost its start, on a cold start's path, 8 ms of
        # 16; the builtins it would add are the runtime's own (runtime.py).
        env = {"PYTHONHASHSEED": "0"}
        env.update({name: os.environ[name] for name in _PASSED_TO_SERVER if name in os.environ})
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-s", "-P", "-c", code, str(theirs.fileno()), json.dumps(settings)],
            env=env, cwd="/", pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL)
        theirs.close()
        self._control = ours

    def _canary(self):
        reply = _CanaryReply()
        try:
            ending = self._exchange(b"c", None, reply, time.monotonic() + 10, 1 << 16, 0)
        except OSError as error:
            ending = str(error)
        if ending != "end":
            log.error("sandbox canary failed: %s", ending)
            return {}
        self.speedups = reply.speedups
        return reply.layers

    def stop(self):
        with self._control_lock:
            self._stop()

    def _stop(self):
        if self._control is not None:
            self._control.close()
        if self._process is not None:
            # A server spawned before gunicorn forked this worker is its arbiter's
            # child: wait() returns at once here, and the server ends when the
            # arbiter's copy of the control socket closes too.
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = self._control = None

    # -- one run

    def run(self, source, input_text, steps, encoding="full", format="record", options=None, compressor=None):
        """The response body for one program, traced in its own child; with `compressor` (() -> a
        compressor: content_encoding.COMPRESSORS), compressed by one (as the
        steps come, while the child still traces)."""
        # imported on the first run, not with this module: main.py spawns the fork
        # server once this module is imported, and the formats' imports took 21 ms of it
        from .formats import FORMATS
        limits = limits_for(steps)
        options = options or {}
        request = {"source": source, "input": input_text, "limits": limits.as_record(),
                   "encoding": encoding, "format": format, "options": options}
        with self._slots, self._tracing():
            # A connection handed over as the server dies can be lost with it: no
            # child ever started on it, so it is handed over once more.
            for _ in range(2):
                reply = FORMATS[format].reply(limits, source, encoding, options)
                if compressor is not None:
                    reply.compress_as_it_comes(compressor)
                # from here, not from the request's arrival: time spent waiting for a
                # slot is not the program's
                deadline = time.monotonic() + limits.time_seconds + _GRACE_SECONDS
                # (only here: the canary waits for a server that may still be starting)
                ending = self._exchange(b"t", request, reply, deadline, limits.record_bytes + _REPLY_MARGIN,
                                        limits.steps, _FIRST_BYTE_SECONDS)
                if ending != "unstarted":
                    break
        return reply.finish(ending)

    @contextlib.contextmanager
    def _tracing(self):
        """Count this trace among those running while it runs."""
        with self._traces_lock:
            self._traces += 1
        try:
            yield
        finally:
            with self._traces_lock:
                self._traces -= 1

    def _exchange(self, kind, request, reply, deadline, byte_cap, step_cap, first_byte_seconds=None):
        """How reading the reply ended: "end", "invalid", "timeout", "eof", "too_big", "too_many_steps",
        or "unstarted" (the stream ended, or stayed silent for `first_byte_seconds` after the
        hand-over, before any child wrote to it)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with mine:
            with theirs:
                self._hand_over(kind, theirs)
            # Counted from the hand-over, not before it: the hand-over may wait for
            # another request's restart of the server (its start and canary: 0.8 s
            # in gVisor on an idle machine, more under load), and a child must not
            # be given up on for that. (Counted before, a CI run in gVisor had two of
            # four requests that met a dead server together answer a crash, most
            # likely so: each connection given up on before any child could answer.)
            first_byte_by = deadline if first_byte_seconds is None else time.monotonic() + first_byte_seconds
            if request is not None:
                mine.settimeout(max(deadline - time.monotonic(), 0.001))
                try:
                    mine.sendall(protocol.request_frame(request))
                except OSError:
                    pass  # the child died before reading: the reply ends early, a crash
            # A CPU to check a child's lines beside it: only while the traces running leave one idle
            # (else moving the checking threads about only unbalances the CPUs; see _away_from)
            check_beside = kind == b"t" and 2 * self._traces <= self._cpus
            return _read_reply(mine, reply, deadline, byte_cap, step_cap, first_byte_by, check_beside)

    def _hand_over(self, kind, connection):
        """Give the fork server a connection to fork a child for; restart it once if it died.

        All under one lock: of two requests that find the server dead, the first
        restarts it and the second then uses the new one.
        """
        with self._control_lock:
            try:
                socket.send_fds(self._control, [kind], [connection.fileno()])
                return
            except OSError as error:
                if kind == b"c":  # the canary itself: the server never came up
                    raise
                log.error("the fork server is gone (%s): starting a new one", error)
            self._stop()
            self._start()
            socket.send_fds(self._control, [kind], [connection.fileno()])


def _read_reply(connection, reply, deadline, byte_cap, step_cap, first_byte_by, check_beside=False):
    """Hand the child's lines to `reply` as they come, until the deadline, the byte
    cap, one step too many, a line that `reply` refuses or the end line; "unstarted"
    if no byte came by `first_byte_by`. However it ends, the child is killed then.

    Each line is checked while the child is still tracing, not all at the
    end; with `check_beside`, once more than a small program's steps have come
    (_CHECK_BESIDE_FROM_BYTES), on another CPU than the child's where there is
    one (_away_from).
    The child counts its own steps, but a program that tampers with the
    engine could make it count wrong: the step limit is held here too.
    """
    buffer = b""
    pid = None
    total = 0
    steps = 0
    ending = None
    child_cpu = cpus_before = None
    try:
        while ending is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                ending = "timeout"
                break
            connection.settimeout(remaining if total else max(min(remaining, first_byte_by - time.monotonic()), 0.001))
            try:
                chunk = connection.recv(1 << 16)
            except socket.timeout:
                ending = "timeout" if total or time.monotonic() >= deadline else "unstarted"
                break
            except OSError:  # reset: the child ended with the request unread
                ending = "eof" if total else "unstarted"
                break
            if not chunk:
                ending = "eof" if total else "unstarted"
                break
            total += len(chunk)
            if total > byte_cap:
                ending = "too_big"
                break
            buffer += chunk
            if total > _CHECK_BESIDE_FROM_BYTES and child_cpu is not None:
                cpus_before, child_cpu = _away_from(child_cpu), None
            offset = 0
            while ending is None:
                # the step lines, checked in one call; then the line they stopped at, if whole
                offset, texts, collected = step_lines(buffer, offset, protocol.STEP_OPENER, reply.step_shape)
                if texts:
                    steps += len(texts)
                    if steps > step_cap:
                        ending = "too_many_steps"
                        break
                    ending = reply.add_steps(texts, collected)
                    if ending is not None:
                        break
                newline = buffer.find(b"\n", offset)
                if newline < 0:
                    break
                line, offset = buffer[offset:newline], newline + 1
                if pid is None and protocol.is_pid_line(line):
                    message = json.loads(line)
                    pid = int(message["pid"])
                    child_cpu = message.get("cpu") if check_beside else None
                    continue
                ending = reply.add(line)  # the end line, or a line that is not the reply's
            buffer = buffer[offset:]
    finally:
        if cpus_before is not None:
            os.sched_setaffinity(0, cpus_before)
        # After its end line too: a child exits by itself once it has sent it, but
        # the program may have taken the child over, sent an end line of its own and
        # gone to sleep, out of reach of the deadline (this thread no longer watches)
        # and of its CPU limit (it uses none), holding its memory, and the fork
        # server's refill too, which waits for no child to be running.
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return ending


def _away_from(cpu):
    """Keep this thread off `cpu`, the one the child said it runs on; the CPUs it
    may run on before, to put back, or None where it stays as it was.

    The child's writes wake this thread with the kernel's hint that the writer
    will sleep next, so the kernel puts it on the child's CPU, even with another
    one idle. But the child traces on: checking its lines and tracing then take
    turns on one CPU. Kept off it, this thread checks beside the child: a
    1000-step trace came back in 4.4 ms instead of 6.2 on this 2-CPU machine.
    (Not for a short trace: waking a thread on another CPU, an idle one, costs
    more than checking a few steps. Nor under load, where no CPU idles: there
    8 clients got 7 to 12% fewer requests per second answered when every
    reading thread moved.) Nothing moves with one CPU, or a CPU this thread
    may not use (whatever the child says, this thread keeps at least one CPU
    it had).
    """
    if type(cpu) is not int:
        return None
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed or len(allowed) < 2:
        return None
    os.sched_setaffinity(0, allowed - {cpu})
    return allowed


class _CanaryReply:
    """The canary child's report of which layers hold, and whether it runs the C loops."""

    step_shape = step_shape({})  # any step line is refused (add_steps)

    def __init__(self):
        self.layers = None
        self.speedups = False

    def add_steps(self, texts, collected):
        return "invalid"

    def add(self, line):
        message = parse_line(line)
        if message is None or not isinstance(message.get("canary"), dict):
            return "invalid"
        self.layers = message["canary"]
        self.speedups = message.get("speedups") is True
        return "end"

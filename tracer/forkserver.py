"""The fork server: one clean interpreter that forks the confined children.

It is started once by the service (sandbox.py) with an empty environment,
imports the tracer and the allowed modules, confines itself once
(confinement.isolate_server: an empty root, its own namespaces, not the
service's user) and then keeps children forked and confined ahead
(confinement.confine_spare: session, descriptors, limits, no_new_privs,
Landlock, seccomp), as many as the service asks (_Spares). Before it forks
more than the two a cold start's first requests take, it settles: it traces
a small program once (so that no child does again what only a first trace
does) and makes its objects immortal where CPython has immortal objects (so
that no child copies a page to count them: _make_objects_immortal).
Each spare waits on a socket of its own, warmed up by a small trace, never
beside a child running a request: at once if it was forked in a quiet
moment, or else once the server sends it b"w" (in the next quiet moment,
or as soon as no child runs where requests leave room for it:
_Spares.refill, _Spares._ended), unless a request waits for it already
(_spare).
On its control socket the service sends one message per request: one byte
(b"t" trace, b"c" canary) with one descriptor, a socket whose other end it
holds. The server passes both on to a spare, which makes that socket its
only one, reads the request from it, traces the program and sends the
record back; the server forks the next spare when none is left, or else
once it is quiet, one fork per look at the control socket and at most one
every few milliseconds (_Spares.refill); a child still running well past
any deadline the service gives it (its reader gone) is killed
(_Spares.kill_overdue). Neither the fork, nor the
confinement, nor the warm-up is on a request's path; where requests come
one after another with no room between them, their spares skip the
warm-up (every core is theirs), and the page faults it would have moved
ahead come on the request's path.

The sockets are SOCK_SEQPACKET: a message and its descriptor arrive whole,
even where several service processes (gunicorn workers forked after the
server started) send on the one control socket.

The child's lines to its parent are protocol.py's.
"""

import _signal
import gc
import json
import os
import select
import signal
import socket
import sys
import time

from . import canary, confinement, kernel, landlock, protocol, runtime, seccomp, speedups
from .confinement import CHILD_FD
from .engine import Engine
from .formats import FORMATS
from .limits import Limits, limits_for
from .record import StreamedRecord

_KINDS = (b"t", b"c")
_WARM_UP = b"w"  # the server to a waiting spare: warm up now


def serve(control_fd, settings):
    runtime.prepare_for_an_empty_filesystem()
    null_fd = os.open(os.devnull, os.O_RDWR)  # the children's stdin, stdout and stderr
    host_paths = _host_paths()
    program = seccomp.build() if seccomp.supported() else None
    landlock_ruleset = landlock.ruleset()
    server = confinement.isolate_server()
    # The server's objects are left out of the collector's passes in a child
    # forked before it settles too (see there).
    gc.freeze()

    def settle():
        # Done once, beside a cold start's first requests, not before them
        # (_Spares._FORKED_BEFORE_SETTLING): 10 to 15 ms of the server's start.
        #
        # What a trace does only the first time in a process (its bytecode
        # specialized, caches filled, objects made once) is then done here, in the
        # pages every child shares, not again in each child, which copies every
        # page it writes: a child forked from the warmed server traced a 4-line
        # program with 450 page faults instead of 560, and the children of
        # one client's requests back to back took 10.5 ms of CPU each, not 11.3.
        _warm_up()
        runtime.make_builtins_ahead()  # after the warm-up, which would take them
        # Every object the server made is left out of the collector's passes, so a
        # child's collection does not touch (and copy) the pages they live on. (No
        # collection first: it took 2 to 5 ms of a cold start's path to free some 40
        # objects, and the warm-up's some 70, which stay instead.)
        gc.freeze()
        _make_objects_immortal()

    control = socket.socket(fileno=control_fd)
    events = select.poll()
    events.register(control, select.POLLIN)
    # A child's exit wakes the poll below (through this pipe) to reap it.
    exits, exits_written = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(exits_written)
    signal.signal(signal.SIGCHLD, lambda signal_number, frame: None)
    events.register(exits, select.POLLIN)

    def spare_child(spare_fd, warm):
        landlock_version = confinement.confine_spare(spare_fd, null_fd, settings, program, landlock_ruleset)
        return _spare(dict(server, landlock=landlock_version), host_paths, warm)

    spares = _Spares(lambda warm: _fork(lambda spare_fd: spare_child(spare_fd, warm)), settings["spares"], events,
                     settings["overdue_seconds"], settle)
    while True:
        for fd, _ in _poll(events, _sooner(spares.refill(), spares.kill_overdue())):
            if fd == exits:
                _drain(exits)
                spares.reap()
            elif fd != control_fd:
                spares.died(fd)
            else:
                message, fds = _receive(control, 16)
                if not message:
                    return  # the service is gone
                for connection in fds:
                    if message in _KINDS:
                        spares.pass_on(message, connection)
                    os.close(connection)  # the child has it; a message of another kind: the service gets EOF


class _Spares:
    """The children forked and confined ahead of their requests, and those running one."""

    _ATTEMPTS = 3

    # The server settles (its own warm-up and immortal walk, serve's settle:
    # 10 to 15 ms) only before forking more than this many spares: at a cold
    # start the service's first request (the canary) and the trace after it
    # come while the server starts, and it settles beside them, not before.
    # Their two children share fewer pages with the server (more page faults),
    # and are warmed up by none. From the server's spawn to its first trace
    # answered (Sandbox.start, then one run; medians of 15, 15 and 25
    # alternated, CPython 3.12): 125.6, 99.7 and 131.4 ms settling first;
    # 106.7, 96.7 and 114.8 like this.
    _FORKED_BEFORE_SETTLING = 2

    def __init__(self, fork, wanted, events, overdue_seconds, settle):
        self._fork = fork  # (warm) -> (the server's end of the new spare's socket, its pid)
        self._settle = settle  # () -> None, called once, before a fork past _FORKED_BEFORE_SETTLING
        self._forked = 0
        # As many spares as a burst of requests (a grader's, back to back) is
        # likely to use: each request of the burst then finds one warm, and none
        # is forked and warmed beside it, on the cores it needs; they are
        # forked again in the quiet after it (refill). (sandbox.py sets how many.)
        self._wanted = wanted
        self._events = events
        self._waiting = {}  # descriptor -> (socket, pid)
        self._cold = set()  # descriptors of waiting spares not told to warm up yet
        self._running = {}  # pid -> time.monotonic() of its hand-over, for each child that took a request
        # The service kills a child once its reply has ended, and at its deadline;
        # a child still running this long after its hand-over has outlived both
        # (the thread reading it is gone: a service worker killed or timed out
        # mid-request), and no limit of its own ends a child asleep: it is killed here.
        self._overdue_seconds = overdue_seconds
        # time.monotonic() of the last hand-over or end of a child; the start counts
        # as one: the canary comes as the server starts (see refill)
        self._last_activity = time.monotonic()
        self._last_quiet_work = 0.0  # time.monotonic() of the last fork or warm-up begun in a quiet moment
        self._last_end = None  # time.monotonic() of the last end of a child
        # Seconds from the end of the last child that left none running to the
        # next hand-over (0 if one ran): the room a warm-up had then; 0 at the
        # start, as the trace after the canary comes at once.
        self._last_idle = 0.0

    # A spare's fork and warm-up take a core for a few milliseconds. While another
    # spare waits, they wait for a quiet moment: no child running a request and
    # none handed one or ended for this long (the service then is sending a
    # response, and the next request of a client that sends one after another
    # may be on its way), so that they take no core a request needs.
    _QUIET_SECONDS = 0.02
    # In the quiet, one spare is forked or warmed up at most this often: about
    # what its fork, confinement and warm-up take of one core (2.5 to 3 ms
    # here), so that the refill after a burst takes one core at a time, and a
    # request that comes in the middle of it finds the other free. (Forked all
    # at once, the spares a burst of 15 had taken warmed up side by side:
    # bursts 25 ms apart had their 99th percentile at 12.1 ms, against 8.6
    # with 4 spares; one every 4 ms, 10.5 against 12.2.)
    _REFILL_SPACING_SECONDS = 0.004
    # A cold spare warms up as soon as no child runs if requests last left
    # this much room between a child's end and the next (a little more than a
    # warm-up takes), for the next may then come as late again: a client whose
    # requests are 5 ms apart. One that sends its next as soon as it has its
    # answer leaves 1 to 3 ms: its spares stay cold, or its request would wait
    # for a warm-up begun just before.
    _WARM_UP_ROOM_SECONDS = 0.004

    def refill(self):
        """Fork the spares missing and warm up those that are cold: a spare at once
        while none waits (cold unless it is quiet), the rest once it is quiet, one
        per look at the control socket, _REFILL_SPACING_SECONDS apart; the seconds
        until the poll should wake to look again (None: no need). So a request that
        came meanwhile is handed over first, not after every fork.

        A spare warms up only where no child runs: in the quiet, or at a
        child's end where requests leave room (_ended). Its warm-up moves a
        trace's page faults ahead of its request, but costs more CPU than it
        saves (a spare of a 4-line program: 523 faults in the warm-up, 405 fewer
        in the request), so while requests keep coming, every core is theirs.
        One client's requests past the spares, each taking the spare forked as
        the one before took the last (medians of 5 runs, against the warm-up
        beside the request where a core seemed free): back to back, 5.73 ms a
        4-line program against 6.06, and 9.06 a 1000-step one against 9.76, the
        children taking 745 page faults each against 812; 5 ms apart, 4.08 ms
        against 4.39.

        As the server starts, one is forked before its first look, cold, as
        the service's first request (the canary) comes then: a spare warming up
        would hold it up. Its hand-over forks the next at once, cold, beside
        it, for the trace after it; the server settles before the third
        (_FORKED_BEFORE_SETTLING). (Forking four in a row first, the server
        took 31 to 42 ms from its confinement to its first answer; two, 14 to
        27. The first two forked warm instead, spawn to first trace answered
        took 95.2 and 120.7 ms against 96.7 and 114.8 cold, medians of 15 and
        25 alternated; cold starts over HTTP, 283 and 297 ms against 275 and
        283.)"""
        while len(self._waiting) < self._wanted or self._cold:
            now = time.monotonic()
            if not self._waiting:
                self._add(warm=self._quiet_for(now) >= self._QUIET_SECONDS)
                continue
            if self._running:
                return None  # a child's end wakes the poll
            quiet_for = self._quiet_for(now)
            if quiet_for < self._QUIET_SECONDS:
                return self._QUIET_SECONDS - quiet_for
            since_work = now - self._last_quiet_work
            if since_work < self._REFILL_SPACING_SECONDS:
                return self._REFILL_SPACING_SECONDS - since_work
            if self._cold:
                self._warm_up_oldest_cold()
            else:
                self._add(warm=True)
            self._last_quiet_work = now
        return None

    def _quiet_for(self, now):
        return 0.0 if self._running else now - self._last_activity

    def _add(self, warm):
        if self._settle is not None and self._forked >= self._FORKED_BEFORE_SETTLING:
            settle, self._settle = self._settle, None
            try:
                settle()
            except Exception:
                # Settling only spares the children work (each then does what only a
                # first trace does, as the first two did): a failure of it must not end
                # a server that serves, which the service would restart, to fail again
                # at its third fork. It is not tried again.
                pass
        spare, pid = self._fork(warm)
        self._forked += 1
        self._waiting[spare.fileno()] = (spare, pid)
        if not warm:
            self._cold.add(spare.fileno())
        # POLLIN: its socket is readable once it has died (gVisor reports a
        # closed peer as readable, but not as hung up unless asked)
        self._events.register(spare, select.POLLIN)

    def _warm_up_oldest_cold(self):
        # the oldest: the one the next request goes to
        fd = next(fd for fd in self._waiting if fd in self._cold)
        self._cold.discard(fd)
        try:
            self._waiting[fd][0].send(_WARM_UP)
        except OSError:
            pass  # it died: its socket's readability says so (died)

    def died(self, fd):
        """A waiting spare's socket is readable: it died (the OOM killer); refill forks another."""
        self._events.unregister(fd)
        self._cold.discard(fd)
        self._waiting.pop(fd)[0].close()

    def reap(self):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self._running:
                self._ended(pid)

    def _ended(self, pid):
        """A child that ran a request has ended: the cold spares warm up now if no child
        runs and the requests before left room for it (_WARM_UP_ROOM_SECONDS)."""
        self._last_activity = self._last_end = time.monotonic()
        self._running.pop(pid, None)
        if not self._running and self._last_idle >= self._WARM_UP_ROOM_SECONDS:
            while self._cold:
                self._warm_up_oldest_cold()

    def kill_overdue(self):
        """Kill the children running _overdue_seconds after their hand-over (each is reaped
        as it ends); the seconds until the next is due, or None while none runs."""
        now = time.monotonic()
        due = None
        for pid, handed_over in self._running.items():
            left = handed_over + self._overdue_seconds - now
            if left > 0:
                due = left if due is None else min(due, left)
                continue
            try:
                os.killpg(pid, signal.SIGKILL)  # its group: it made itself a session (confine_spare)
            except (ProcessLookupError, PermissionError):
                pass  # ended meanwhile: its reaping is on its way
        return due

    def pass_on(self, kind, connection):
        """Hand a connection to a waiting spare (a new one if none is left alive)."""
        for _ in range(self._ATTEMPTS):
            if not self._waiting:
                self._add(warm=False)  # its request follows at once
            fd = next(iter(self._waiting))  # the oldest: the likeliest to be done warming up
            spare, pid = self._waiting.pop(fd)
            self._cold.discard(fd)
            self._events.unregister(fd)
            try:
                socket.send_fds(spare, [kind], [connection])
                now = time.monotonic()
                if self._last_end is not None:
                    self._last_idle = 0.0 if self._running else now - self._last_end
                self._running[pid] = now
                self._last_activity = now
                return
            except OSError:
                continue  # died while waiting: the next one
            finally:
                spare.close()
        # no spare took it: the service sees its connection end unanswered, and hands it over again


def _make_objects_immortal():
    """Every object the server has made, and what they refer to, made immortal where the
    runtime has immortal objects (CPython 3.12 and 3.13: speedups.immortalize, _immortal.c):
    a child then counts none of them up or down, and copies none of their pages for it.
    On 3.12, one client's requests back to back past the spares: a child took 373 page
    faults for a 4-line program instead of 598, and 416 for generators at 1000 steps
    instead of 629."""
    if not speedups.IMMORTALIZES:
        return  # (CPython 3.11: listing the objects alone took 1.1 ms of the server's start)
    collecting = gc.isenabled()
    gc.disable()  # no collection while the frozen objects are the collector's again
    gc.unfreeze()
    try:
        objects = gc.get_objects()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    speedups.immortalize(objects)


def _sooner(*timeouts):
    """The shortest of `timeouts` (seconds; None: no limit)."""
    given = [timeout for timeout in timeouts if timeout is not None]
    return min(given) if given else None


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _poll(events, timeout):
    """The events, after at most `timeout` seconds (None: no limit)."""
    while True:
        try:
            # a wait under a millisecond rounded up, not down to a poll that spins
            return events.poll(None if timeout is None else 0 if timeout == 0 else max(timeout * 1000, 1))
        except InterruptedError:
            continue


def _receive(sock, max_fds):
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1, max_fds)
            return message, fds
        except InterruptedError:
            continue


def _fork(run):
    """Fork a child that runs `run(its socket's fd)` and exits: (the server's end of that socket, its pid)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        status = 70
        try:
            # _signal's own calls, not signal's wrappers (whose enum lookups fail on the
            # server's handler, an exception made and caught), and the socket's descriptor
            # closed without its object's methods: in a fresh fork these three lines took
            # 95 page faults and 0.31 ms of CPU that way, 51 and 0.16 this way
            _signal.set_wakeup_fd(-1)
            _signal.signal(signal.SIGCHLD, _signal.SIG_DFL)
            os.close(ours.detach())
            status = run(theirs.detach())
        finally:
            os._exit(status)
    theirs.close()
    return ours, pid


# The server traces this once before its first fork (serve), and a spare again
# before it waits: the pages a trace writes (the engine's, the encoder's, the
# compiler's, a fresh frame's) are then the spare's own already, copied from
# the server's, instead of each costing a fault on the request's path. It
# changes nothing of the modules a program sees (no import, no random); in a
# spare, the collection after it leaves the collector's counts as a fresh fork's.
WARM_UP_STEPS = 1000
_WARM_UP_SOURCE = """def total(n):
    result = 0
    for i in range(n):
        result += i
    return result
values = [total(3), {'key': 1.5}, 'text', (1, None), [True]]
for value in values:
    print(value)
"""


def _warm_up():
    # Well within the limits: a sandboxed engine that reaches one ends the process.
    limits = limits_for(WARM_UP_STEPS)
    try:
        Engine(_WARM_UP_SOURCE, "", limits, writer=StreamedRecord(limits, lambda data: None), sandboxed=True).run()
    except BaseException:  # never a reason for the server or a spare not to serve
        pass


def _request_waiting():
    """Whether the server has handed this spare a request already (or is gone)."""
    return bool(select.select([CHILD_FD], [], [], 0)[0])


def _warm_up_spare():
    # Unless a request has been handed over already (to a spare forked for it,
    # or just before the warm-up, or right after the server said to warm up):
    # it would wait for the warm-up and then take the faults it saves anyway.
    if not _request_waiting():
        _warm_up()
        gc.collect()


def _spare(server, host_paths, warm):
    """Wait for a request's connection on the server's socket (on CHILD_FD), then answer it;
    warm up first where `warm`, or when the server says so while it waits."""
    if warm:
        _warm_up_spare()
    waiting = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0, fileno=CHILD_FD)  # no getsockopt: seccomp
    try:
        while True:
            kind, fds = _receive(waiting, 1)
            if kind != _WARM_UP or fds:
                break
            _warm_up_spare()
    finally:
        waiting.detach()  # CHILD_FD is replaced by the connection, not closed
    if len(fds) != 1:
        return 0  # the server is gone
    confinement.take_connection(fds[0])
    if kind == b"c":
        return _canary(server, host_paths)
    if kind == b"t":
        return _child()
    return 0


def _host_paths():
    """Files that exist here before isolation: the canary checks none is readable after it."""
    candidates = [sys.executable, __file__, "/etc/passwd", "/etc/hostname", "/proc/self/status",
                  "/proc/1/cmdline", "/tmp", "/home", "/proc"]
    return [path for path in candidates if os.path.exists(path)]


def _canary(server, host_paths):
    _write(protocol.pid_line(os.getpid(), kernel.current_cpu()))
    _write(protocol.canary_line(canary.layers(server, host_paths), speedups.NATIVE))
    return 0


def _child():
    _write(protocol.pid_line(os.getpid(), kernel.current_cpu()))
    request = _read_request()
    limits = Limits(**request["limits"])
    trace_format = FORMATS[request["format"]]
    # the writer sends its steps in batches (record.stream) and its end line, each with one write
    writer = trace_format.streamed(limits, _write, request["source"], request["encoding"], request["options"])
    engine = Engine(request["source"], request["input"], limits, writer=writer, sandboxed=True,
                    format=request["format"], options=request["options"])
    engine.run()
    return 0


def _write(data):
    view = memoryview(data)
    while view:
        written = os.write(CHILD_FD, view)
        view = view[written:]


def _read_exactly(count):
    chunks = []
    while count:
        chunk = os.read(CHILD_FD, min(count, 1 << 16))
        if not chunk:
            raise EOFError("the request ended early")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _read_request():
    return json.loads(_read_exactly(protocol.request_length(_read_exactly(protocol.REQUEST_LENGTH_BYTES))))


def main():
    control_fd = int(sys.argv[1])
    settings = json.loads(sys.argv[2])
    serve(control_fd, settings)


if __name__ == "__main__":
    main()

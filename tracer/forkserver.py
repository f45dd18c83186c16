"""The fork server: one clean interpreter that forks a confined child per run.

It is started once by the service (sandbox.py) with an empty environment,
imports the tracer and the allowed modules, and then only waits on its
control socket. Each message there carries one descriptor: a socket whose
other end the service holds. The server forks; the child confines itself
(session, descriptors, user, limits, no_new_privs, seccomp), reads the
request from that socket, traces it and streams the record back.

Child protocol, one JSON object per line: {"pid": N}, then {"step": ...}
per step, then {"end": {"outcome", "stdout", "limits"}}.
"""

import json
import os
import resource
import signal
import socket
import struct
import sys

from . import seccomp, speedups
from .engine import Engine
from .limits import Limits
from .pythontutor import StreamedPythonTutor
from .record import StreamedRecord

_NOBODY = 65534
_CHILD_FD = 3
_MAX_REQUEST = 4 * 1024 * 1024
_HOST_NETWORK = None


def serve(control_fd, settings):
    global _HOST_NETWORK
    _HOST_NETWORK = os.readlink("/proc/self/ns/net")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    program = seccomp.build() if seccomp.supported() else None
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, 1)
        except InterruptedError:
            continue
        if not message:
            return  # the service is gone
        for fd in fds:
            if os.fork() == 0:
                status = 70
                try:
                    status = _child(fd, control_fd, settings, program, canary=message == b"c")
                finally:
                    os._exit(status)
            os.close(fd)


def _child(fd, control_fd, settings, program, canary=False):
    os.setsid()
    os.close(control_fd)
    _own_descriptors(fd)
    os.environ.clear()
    seccomp.enter_network_namespace()  # an extra layer where allowed (root); seccomp refuses sockets anyway
    _drop_privileges()
    _limit_resources(settings)
    seccomp.set_no_new_privs()
    if program is not None:
        seccomp.load(program)
    _write(b'{"pid":%d}\n' % os.getpid())
    if canary:
        _write(json.dumps({"canary": _layers(), "speedups": speedups.NATIVE}).encode() + b"\n")
        return 0
    request = _read_request()
    limits = Limits(**request["limits"])
    if request["format"] == "pythontutor":
        writer = StreamedPythonTutor(limits, _write, request["source"])
    else:
        writer = StreamedRecord(limits, _write, request["encoding"])
    engine = Engine(request["source"], request["input"], limits, writer=writer, sandboxed=True,
                    format=request["format"])
    engine.run()
    return 0


def _layers():
    """Which confinement layers hold in this process, seen from inside it."""
    with open("/proc/self/status") as file:
        status = dict(line.split(":", 1) for line in file.read().splitlines() if ":" in line)
    with open("/proc/self/limits") as file:
        limits = {line[:26].strip(): line[26:].split() for line in file.read().splitlines()[1:]}

    def refused(action):
        try:
            action()
        except OSError:
            return True
        return False

    return {
        "seccomp": status.get("Seccomp", "").strip() == "2",
        "no_new_privs": status.get("NoNewPrivs", "").strip() == "1",
        "sockets_refused": refused(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
        "fork_refused": refused(lambda: os._exit(0) if os.fork() == 0 else None),
        "file_write_refused": refused(lambda: open("/tmp/.tracer-canary", "w").close()),
        "memory_limited": limits.get("Max address space", ["unlimited"])[0] != "unlimited",
        "cpu_limited": limits.get("Max cpu time", ["unlimited"])[0] != "unlimited",
        "uid": os.getuid(),
        "unprivileged": os.getuid() != 0,
        "descriptors": sorted(int(name) for name in os.listdir("/proc/self/fd")),
        "environment_empty": not os.environ,
        "network_namespace": os.readlink("/proc/self/ns/net") != _HOST_NETWORK,
    }


def _own_descriptors(fd):
    """stdin, stdout, stderr on /dev/null; the request socket on fd 3; nothing else."""
    null = os.open(os.devnull, os.O_RDWR)
    for standard in (0, 1, 2):
        os.dup2(null, standard)
    if fd != _CHILD_FD:
        os.dup2(fd, _CHILD_FD)
    os.closerange(_CHILD_FD + 1, os.sysconf("SC_OPEN_MAX"))


def _drop_privileges():
    if os.getuid() == 0:
        os.setgroups([])
        os.setresgid(_NOBODY, _NOBODY, _NOBODY)
        os.setresuid(_NOBODY, _NOBODY, _NOBODY)


def _limit_resources(settings):
    cpu = settings["cpu_seconds"]
    memory = settings["memory_bytes"]
    for limit, value in [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_NPROC, (0, 0)),
        (resource.RLIMIT_NOFILE, (16, 16)),
        (resource.RLIMIT_FSIZE, (0, 0)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]:
        resource.setrlimit(limit, value)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past FSIZE fails instead of killing


def _write(data):
    view = memoryview(data)
    while view:
        written = os.write(_CHILD_FD, view)
        view = view[written:]


def _read_exactly(count):
    chunks = []
    while count:
        chunk = os.read(_CHILD_FD, min(count, 1 << 16))
        if not chunk:
            raise EOFError("the request ended early")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _read_request():
    (length,) = struct.unpack("!I", _read_exactly(4))
    if length > _MAX_REQUEST:
        raise ValueError("request too large")
    return json.loads(_read_exactly(length))


def main():
    control_fd = int(sys.argv[1])
    settings = json.loads(sys.argv[2])
    serve(control_fd, settings)


if __name__ == "__main__":
    main()

"""The fork server: one clean interpreter that forks a confined child per run.

It is started once by the service (sandbox.py) with an empty environment,
imports the tracer and the allowed modules, confines itself once
(confinement.isolate_server: an empty root, its own namespaces, not the
service's user) and then only waits on its control socket. Each message
there carries one descriptor: a socket whose other end the service holds.
The server forks; the child adds its own layers (confinement.confine_child:
session, descriptors, capabilities, limits, no_new_privs, Landlock,
seccomp), reads the request from that socket, traces it and streams the
record back.

The child's lines to its parent are protocol.py's.
"""

import json
import os
import signal
import socket
import sys

from . import canary, confinement, protocol, runtime, seccomp, speedups
from .confinement import CHILD_FD
from .engine import Engine
from .limits import Limits
from .pythontutor import StreamedPythonTutor
from .record import StreamedRecord

def serve(control_fd, settings):
    runtime.prepare_for_an_empty_filesystem()
    null_fd = os.open(os.devnull, os.O_RDWR)  # the children's stdin, stdout and stderr
    host_paths = _host_paths()
    program = seccomp.build() if seccomp.supported() else None
    server = confinement.isolate_server()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
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
                    landlock = confinement.confine_child(fd, control_fd, null_fd, settings, program)
                    if message == b"c":
                        status = _canary(dict(server, landlock=landlock), host_paths)
                    else:
                        status = _child()
                finally:
                    os._exit(status)
            os.close(fd)


def _host_paths():
    """Files that exist here before isolation: the canary checks none is readable after it."""
    candidates = [sys.executable, __file__, "/etc/passwd", "/etc/hostname", "/proc/self/status",
                  "/proc/1/cmdline", "/tmp", "/home", "/proc"]
    return [path for path in candidates if os.path.exists(path)]


def _canary(server, host_paths):
    _write(protocol.pid_line(os.getpid()))
    _write(protocol.canary_line(canary.layers(server, host_paths), speedups.NATIVE))
    return 0


def _child():
    _write(protocol.pid_line(os.getpid()))
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

"""Which confinement layers hold, asked of the kernel from inside a confined child.

Nothing here reads /proc text (gVisor's differs from Linux's, and the child
has no /proc): each layer is a kernel query (prctl, getrlimit, capget) or an
attempt that must fail. The sandbox refuses to run programs unless the
layers in REQUIRED hold.
"""

import ctypes
import os
import resource
import socket

from . import kernel
from .confinement import DESCRIPTORS

# Without these a program could read the host's files, reach the network or touch
# another process, or the memory limit would not hold: the service answers 503.
REQUIRED = ("seccomp", "no_new_privs", "memory_limited", "sockets_refused", "host_files_hidden",
            "other_processes_unreachable")

_SYS_PTRACE = 101
_PTRACE_ATTACH = 16
_SYS_PROCESS_VM_READV = 310


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def layers(server, host_paths):
    """The layers as seen from here. `server` is the fork server's report of how it
    isolated itself and the Landlock ABI this child enforces; `host_paths` are files and directories that exist on the host
    (seen by the fork server before it isolated itself) that must not be readable."""
    parent = os.getppid()
    return {
        "seccomp": _query(kernel.PR_GET_SECCOMP) == kernel.SECCOMP_MODE_FILTER,
        "no_new_privs": _query(kernel.PR_GET_NO_NEW_PRIVS) == 1,
        "memory_limited": resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY,
        "cpu_limited": resource.getrlimit(resource.RLIMIT_CPU)[0] != resource.RLIM_INFINITY,
        "sockets_refused": _refused(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
        and _refused(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()),
        "fork_refused": _refused(lambda: os._exit(0) if os.fork() == 0 else None),
        "file_write_refused": _refused(lambda: open("/tracer-canary", "w").close())
        and _refused(lambda: os.mkdir("/tracer-canary")),
        "host_files_hidden": _hidden(host_paths),
        "other_processes_unreachable": _unreachable(parent),
        "no_capabilities": kernel.effective_capabilities() == 0,
        "uid": os.getuid(),
        "unprivileged": os.getuid() != 0,
        "descriptors": [fd for fd in range(DESCRIPTORS) if _is_open(fd)],
        "environment_empty": not os.environ,
        "filesystem": server["filesystem"],
        "user_namespace": server["user_namespace"],
        "network_namespace": server["network_namespace"],
        "landlock": server["landlock"],
    }


def _query(option):
    try:
        return kernel.prctl(option)
    except OSError:
        return None


def _refused(action):
    try:
        action()
    except OSError:
        return True
    return False


def _hidden(host_paths):
    """Nothing of the host can be listed or opened: the root lists empty (or not at all)."""
    try:
        if os.listdir("/"):
            return False
    except OSError:
        pass
    for path in host_paths:
        if not _refused(lambda: os.close(os.open(path, os.O_RDONLY))):
            return False
    return True


def _unreachable(pid):
    """The parent (the fork server) can be neither signalled, traced nor read."""
    if not _refused(lambda: os.kill(pid, 0)):
        return False
    result, _ = kernel.raw_syscall(_SYS_PTRACE, ctypes.c_long(_PTRACE_ATTACH), ctypes.c_long(pid), None, None)
    if result == 0:
        return False
    buffer = ctypes.create_string_buffer(8)
    local = _IOVec(ctypes.cast(buffer, ctypes.c_void_p), 8)
    remote = _IOVec(ctypes.cast(buffer, ctypes.c_void_p), 8)  # an address the parent, a fork, also has
    result, _ = kernel.raw_syscall(_SYS_PROCESS_VM_READV, ctypes.c_long(pid), ctypes.byref(local),
                                   ctypes.c_ulong(1), ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
    return result < 0


def _is_open(fd):
    try:
        os.get_inheritable(fd)  # fcntl(F_GETFD), without the fcntl module's 5 mappings in every child
    except OSError:
        return False
    return True


def stand_ins(layers, service_uid=None):
    """What stands in for each layer this environment could not give, in words for the log."""
    service_uid = os.getuid() if service_uid is None else service_uid
    messages = []
    if layers.get("filesystem") == "none":
        messages.append("no mount namespace or chroot here: the child's Landlock ruleset is what hides the "
                        "host's files")
    if layers.get("landlock", 0) == 0:
        messages.append("no Landlock here: the empty root (%s) hides the host's files, seccomp refuses "
                        "sockets and signals" % layers.get("filesystem"))
    if not layers.get("user_namespace"):
        messages.append("no user namespace here: %s" % (
            "the children run as nobody (65534)" if layers.get("uid") != service_uid
            else "the children share the service's uid; the service and the fork server are non-dumpable, "
                 "seccomp refuses ptrace, process_vm_readv and signals"))
    if not layers.get("network_namespace"):
        messages.append("no network namespace here: seccomp refuses every socket")
    return messages

"""The few Linux calls the sandbox makes that `os` does not offer, through libc.

Each raises OSError (with the kernel's errno) when the kernel refuses; none
needs a library beyond libc, so the runtime works wherever CPython does.
Those a spare makes to confine itself, and its child to name its CPU, go
through tracer/_kernel.c where it is built: a spare is a fork of the fork
server, and ctypes' first calls write pages that it then copies (see there).
"""

import ctypes
import os

from .speedups import native as _native  # None where the C is not built, or TRACER_SPEEDUPS=0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# prctl options
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

# unshare flags
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# mount flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 2

_SYS_PIVOT_ROOT = 155
_SYS_CAPGET = 125
_SYS_CAPSET = 126
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(result, what):
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def prctl(option, argument=0, pointer=None):
    """prctl(option, argument, ...); `pointer` (a ctypes object) is passed by reference."""
    if pointer is None and _native is not None:
        return _native.prctl(option, argument)
    third = ctypes.byref(pointer) if pointer is not None else ctypes.c_ulong(0)
    return _check(_libc.prctl(option, ctypes.c_ulong(argument), third, ctypes.c_ulong(0),
                              ctypes.c_ulong(0)), f"prctl({option})")


def unshare(flags):
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def mount(source, target, kind, flags, data=None):
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(kind), ctypes.c_ulong(flags), _bytes(data)),
           f"mount({target})")


def umount(target, flags=0):
    _check(_libc.umount2(_bytes(target), flags), f"umount({target})")


def pivot_root(new_root, put_old):
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _bytes(new_root), _bytes(put_old)), "pivot_root")


def _capabilities(number, data):
    """capget or capset of this process (version 3: two 32-bit words per set)."""
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    _check(_libc.syscall(number, header, data), "capget" if number == _SYS_CAPGET else "capset")
    return data


def drop_capabilities():
    """Empty effective, permitted and inheritable sets (the ones a user namespace's creator holds)."""
    _capabilities(_SYS_CAPSET, (ctypes.c_uint32 * 6)())


def syscall(number, *arguments):
    """A raw syscall with integer or pointer arguments; its result (negative results raise)."""
    return _check(_libc.syscall(number, *arguments), f"syscall({number})")


def raw_syscall(number, *arguments):
    """A raw syscall's result and errno, never raising: for attempts that should fail."""
    ctypes.set_errno(0)
    result = _libc.syscall(number, *arguments)
    return result, ctypes.get_errno()


def _bytes(value):
    return value.encode() if isinstance(value, str) else value


def current_cpu():
    """The CPU this thread runs on now (sched_getcpu), or None where the kernel does not say."""
    if _native is not None:
        return _native.sched_getcpu()
    cpu = _libc.sched_getcpu()
    return cpu if cpu >= 0 else None


_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_RESTRICT_SELF = 446


def landlock_create_ruleset(attributes, flags):
    """landlock_create_ruleset(2): a ruleset's descriptor, or with its version flag the ABI
    version; `attributes`: struct landlock_ruleset_attr as bytes (as much as the ABI reads), or None."""
    if _native is not None:
        return _native.landlock_create_ruleset(attributes, flags)
    return syscall(_SYS_LANDLOCK_CREATE_RULESET, attributes, ctypes.c_size_t(len(attributes or b"")),
                   ctypes.c_uint32(flags))


def landlock_restrict_self(ruleset):
    """landlock_restrict_self(2): this process enforces the ruleset from now on."""
    if _native is not None:
        return _native.landlock_restrict_self(ruleset)
    syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    return None


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


SECCOMP_MODE_FILTER = 2  # PR_GET_SECCOMP's answer where a filter is installed


def seccomp_filter(program):
    """Install a seccomp filter (classic BPF, bytes: 8 per instruction) on this process;
    needs no_new_privs."""
    if _native is not None:
        return _native.seccomp_filter(program)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog)
    return None


def effective_capabilities():
    """This process's effective capability set, as a bit mask (capget)."""
    data = _capabilities(_SYS_CAPGET, (ctypes.c_uint32 * 6)())
    return data[0] | (data[3] << 32)

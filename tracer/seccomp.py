"""A default-deny seccomp-BPF syscall filter for the traced program's process (x86_64).

After its setup the child only computes in memory, reads its request,
writes its record to the socket it was handed, and exits. The filter allows
the syscalls that needs (ALLOWED, each with its reason) and refuses every
other one with EPERM: a syscall a newer kernel adds, or one nobody thought
of, is refused too. A syscall of another architecture or of the x32 ABI
kills the process.

The filter is plain data, built here without libseccomp and loaded with
prctl, so the runtime needs no library the platform may lack: a binary
search over the syscall numbers (_search), each leaf a short look through.
"""

import os
import struct
import sys

from . import kernel

_AUDIT_ARCH_X86_64 = 0xC000003E
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO_EPERM = 0x00050000 | 1
_RET_ALLOW = 0x7FFF0000
_X32_SYSCALL_BIT = 0x40000000

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_JA = 0x05  # BPF_JMP | BPF_JA
_MAX_CONDITIONAL_JUMP = 255

_NR_OFFSET = 0
_ARCH_OFFSET = 4

# x86_64 syscall numbers allowed whatever their arguments, and why the child needs each.
ALLOWED = {
    # the request's socket (fd 3) and the descriptors it already has
    "read": 0, "write": 1, "readv": 19, "writev": 20, "pread64": 17, "close": 3, "close_range": 436,
    "lseek": 8, "fstat": 5, "dup": 32, "dup2": 33, "dup3": 292,
    # a spare child, its filter loaded, receives its request's connection on fd 3
    # (which then becomes that connection); no other socket is open, none can be made
    "recvmsg": 47,
    # memory: the interpreter's allocators, and MemoryError at the address-space limit
    "brk": 12, "mmap": 9, "munmap": 11, "mremap": 25, "mprotect": 10, "madvise": 28,
    # looking at the (empty, read-only) filesystem: a program's missing file is
    # FileNotFoundError as it would be anywhere; opening is allowed read-only below
    "stat": 4, "lstat": 6, "newfstatat": 262, "statx": 332, "access": 21, "faccessat": 269,
    "faccessat2": 439, "getdents64": 217, "readlink": 89, "readlinkat": 267, "getcwd": 79,
    # time: time.time/monotonic where the vDSO falls back, time.sleep, CPU time
    "clock_gettime": 228, "clock_getres": 229, "gettimeofday": 96, "time": 201,
    "clock_nanosleep": 230, "nanosleep": 35, "getrusage": 98, "times": 100,
    # waiting for nothing (select/poll with no descriptors is how some code sleeps)
    "select": 23, "pselect6": 270, "poll": 7, "ppoll": 271, "sched_yield": 24,
    # signal handlers of its own (Python installs SIGINT's), and returning from one
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "sigaltstack": 131,
    "restart_syscall": 219,
    # locks inside libc and the interpreter
    "futex": 202,
    # os.urandom and random's seeding
    "getrandom": 318,
    # asking who and where it is: answers about itself only
    "getpid": 39, "gettid": 186, "getppid": 110, "getuid": 102, "geteuid": 107, "getgid": 104,
    "getegid": 108, "getresuid": 118, "getresgid": 120, "getgroups": 115, "getpgrp": 111,
    "getpgid": 121, "getsid": 124, "capget": 125, "getrlimit": 97, "uname": 63, "sysinfo": 99,
    "sched_getaffinity": 204, "getcpu": 309,
    # ending
    "exit": 60, "exit_group": 231,
}

# open(path, flags) and openat(dirfd, path, flags): allowed only without flags that write
_OPEN = 2
_OPENAT = 257
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000  # WRONLY RDWR CREAT TRUNC APPEND TMPFILE
# prlimit64(pid, resource, new, old): allowed only to read its own limits (pid 0, new NULL),
# which is what getrlimit and sysconf do
_PRLIMIT64 = 302
# prctl(option, ...): allowed only for the options that read its own state
_PRCTL = 157
_PRCTL_READS = (kernel.PR_GET_DUMPABLE, kernel.PR_GET_NAME, kernel.PR_GET_SECCOMP, kernel.PR_CAPBSET_READ,
                kernel.PR_GET_NO_NEW_PRIVS)
# fcntl(fd, command, ...): its descriptors' flags and copies only; not F_SETOWN,
# F_SETOWN_EX or F_SETSIG, which would have the kernel signal another process (SIGIO)
_FCNTL = 72
_FCNTL_COMMANDS = (0, 1, 2, 3, 4, 1030)  # F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_DUPFD_CLOEXEC


def _arg_low(index):
    return 16 + 8 * index  # little-endian: the low 32 bits come first


def _arg_high(index):
    return _arg_low(index) + 4


def _instruction(code, k, jump_true=0, jump_false=0):
    return struct.pack("HBBI", code, jump_true, jump_false, k)


def _open_body(flags_arg):
    return [
        _instruction(_LD_W_ABS, _arg_low(flags_arg)),
        _instruction(_JSET_K, _WRITE_FLAGS, 0, 1),
        _instruction(_RET_K, _RET_ERRNO_EPERM),
        _instruction(_RET_K, _RET_ALLOW),
    ]


def _prlimit_body():
    return [
        _instruction(_LD_W_ABS, _arg_low(0)),
        _instruction(_JEQ_K, 0, 0, 5),
        _instruction(_LD_W_ABS, _arg_low(2)),
        _instruction(_JEQ_K, 0, 0, 3),
        _instruction(_LD_W_ABS, _arg_high(2)),
        _instruction(_JEQ_K, 0, 0, 1),
        _instruction(_RET_K, _RET_ALLOW),
        _instruction(_RET_K, _RET_ERRNO_EPERM),
    ]


def _one_of_body(arg, values):
    """Allow the syscall only when its argument `arg` (32 bits) is one of `values`."""
    body = [_instruction(_LD_W_ABS, _arg_low(arg))]
    for index, value in enumerate(values):
        remaining = len(values) - index - 1
        body.append(_instruction(_JEQ_K, value, remaining + 1, 0))
    return body + [_instruction(_RET_K, _RET_ERRNO_EPERM), _instruction(_RET_K, _RET_ALLOW)]


_ALLOW = [_instruction(_RET_K, _RET_ALLOW)]


def _decisions():
    """{syscall number: the instructions that decide it (each path ends in a return)}."""
    decisions = {number: _ALLOW for number in ALLOWED.values()}
    decisions.update({_OPEN: _open_body(1), _OPENAT: _open_body(2), _PRLIMIT64: _prlimit_body(),
                      _PRCTL: _one_of_body(0, _PRCTL_READS), _FCNTL: _one_of_body(1, _FCNTL_COMMANDS)})
    return decisions


# A search ends in a linear look through at most this many numbers.
_LEAF_NUMBERS = 8


def _search(decisions):
    """Instructions that find the syscall number (in the accumulator) among the sorted
    (number, instructions) `decisions` and run its instructions, or return EPERM.

    A binary search, not a chain of comparisons: installing a filter, the kernel
    runs it once for every syscall number to find those it always allows (and
    then lets them through without running it), so a chain's length is paid
    some 450 times in every child: a chain of these 76 numbers took 0.14 ms of
    a spare's confinement here, this search 0.07 ms. (A body loads arguments
    but ends in returns: nothing after it needs the number back.)
    """
    if len(decisions) <= _LEAF_NUMBERS:
        return _look_through(decisions)
    middle = len(decisions) // 2
    below, from_middle = _search(decisions[:middle]), _search(decisions[middle:])
    if len(below) <= _MAX_CONDITIONAL_JUMP:
        return [_instruction(_JGE_K, decisions[middle][0], len(below), 0)] + below + from_middle
    # a conditional jump reaches at most 255 instructions ahead; an unconditional one, any
    return ([_instruction(_JGE_K, decisions[middle][0], 0, 1), _instruction(_JA, len(below))]
            + below + from_middle)


def _look_through(decisions):
    """A leaf of the search: each number in turn, then EPERM. The numbers allowed whatever
    their arguments jump to the leaf's last instruction, a return that allows."""
    program, jumps_to_allow = [], []  # the latter: (index in program, number)
    for number, body in decisions:
        if body is _ALLOW:
            jumps_to_allow.append((len(program), number))
            program.append(None)
        else:
            program += [_instruction(_JEQ_K, number, 0, len(body))] + body
    program += [_instruction(_RET_K, _RET_ERRNO_EPERM)] + _ALLOW
    for index, number in jumps_to_allow:
        program[index] = _instruction(_JEQ_K, number, len(program) - 1 - (index + 1), 0)
    return program


def build():
    """The filter program as bytes (struct sock_filter[]), for x86_64."""
    program = [
        _instruction(_LD_W_ABS, _ARCH_OFFSET),
        _instruction(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0),
        _instruction(_RET_K, _RET_KILL_PROCESS),
        _instruction(_LD_W_ABS, _NR_OFFSET),
        _instruction(_JGE_K, _X32_SYSCALL_BIT, 0, 1),
        _instruction(_RET_K, _RET_KILL_PROCESS),
    ]
    return b"".join(program + _search(sorted(_decisions().items())))


def supported():
    # os.uname, not platform: importing platform took 4 to 9 ms of the fork server's start
    return sys.platform == "linux" and os.uname().machine == "x86_64"


def load(program):
    """Install the filter on this (single-threaded) process; needs no_new_privs."""
    kernel.seccomp_filter(program)

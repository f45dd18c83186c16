"""A seccomp-BPF syscall filter for the traced program's process (x86_64).

The filter is plain data, built here without libseccomp and loaded with
prctl, so the runtime needs no library the platform may lack. It allows
everything a Python program computing in memory needs and refuses (EPERM)
sockets, process creation and exec, signals, ptrace, raising limits, file
creation and writing, and kernel administration; a syscall of another
architecture kills the process.
"""

import ctypes
import platform
import struct

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

_NR_OFFSET = 0
_ARCH_OFFSET = 4


def _arg_low(index):
    return 16 + 8 * index  # little-endian: the low 32 bits come first


# x86_64 syscall numbers refused outright
DENIED = {
    # network
    "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "recvfrom": 45, "sendmsg": 46,
    "recvmsg": 47, "bind": 49, "listen": 50, "socketpair": 53, "accept4": 288,
    "recvmmsg": 299, "sendmmsg": 307,
    # processes and programs
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone3": 435,
    # signals to anyone, other processes' memory
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
    "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    # files: create, change, remove
    "creat": 85, "rename": 82, "mkdir": 83, "rmdir": 84, "link": 86, "unlink": 87, "symlink": 88,
    "truncate": 76, "ftruncate": 77, "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93,
    "lchown": 94, "mknod": 133, "utime": 132, "utimes": 235, "mkdirat": 258, "mknodat": 259,
    "fchownat": 260, "futimesat": 261, "unlinkat": 263, "renameat": 264, "linkat": 265,
    "symlinkat": 266, "fchmodat": 268, "utimensat": 280, "fallocate": 285, "renameat2": 316,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "memfd_create": 319, "openat2": 437,
    "name_to_handle_at": 303, "open_by_handle_at": 304,
    # limits, identity, privileges
    "setrlimit": 160, "prlimit64": 302, "setpriority": 141, "setuid": 105, "setgid": 106,
    "setreuid": 113, "setregid": 114, "setgroups": 116, "setresuid": 117, "setresgid": 119,
    "setfsuid": 122, "setfsgid": 123, "capset": 126, "personality": 135,
    # the kernel and the machine
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "finit_module": 313,
    "kexec_load": 246, "kexec_file_load": 320, "acct": 163, "settimeofday": 164,
    "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "unshare": 272, "setns": 308,
    "keyctl": 250, "add_key": 248, "request_key": 249, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "modify_ldt": 154, "quotactl": 179,
    "vhangup": 153, "fanotify_init": 300, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}

# open(path, flags) and openat(dirfd, path, flags): refused when the flags write
_OPEN = 2
_OPENAT = 257
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000  # WRONLY RDWR CREAT TRUNC APPEND TMPFILE


def _instruction(code, k, jump_true=0, jump_false=0):
    return struct.pack("HBBI", code, jump_true, jump_false, k)


def build():
    """The filter program as bytes (struct sock_filter[]), for x86_64."""
    program = [
        _instruction(_LD_W_ABS, _ARCH_OFFSET),
        _instruction(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0),
        _instruction(_RET_K, _RET_KILL_PROCESS),
        _instruction(_LD_W_ABS, _NR_OFFSET),
        _instruction(_JGE_K, _X32_SYSCALL_BIT, 0, 1),
        _instruction(_RET_K, _RET_ERRNO_EPERM),
    ]
    for number in sorted(set(DENIED.values())):
        program.append(_instruction(_JEQ_K, number, 0, 1))
        program.append(_instruction(_RET_K, _RET_ERRNO_EPERM))
    for number, flags_arg in ((_OPEN, 1), (_OPENAT, 2)):
        program += [
            _instruction(_JEQ_K, number, 0, 3),
            _instruction(_LD_W_ABS, _arg_low(flags_arg)),
            _instruction(_JSET_K, _WRITE_FLAGS, 0, 1),
            _instruction(_RET_K, _RET_ERRNO_EPERM),
            _instruction(_LD_W_ABS, _NR_OFFSET),
        ]
    program.append(_instruction(_RET_K, _RET_ALLOW))
    return b"".join(program)


def supported():
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_libc = ctypes.CDLL(None, use_errno=True)


def set_no_new_privs():
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


_CLONE_NEWNET = 0x40000000


def enter_network_namespace():
    """Move into a new, empty network namespace; False where the kernel refuses."""
    return _libc.unshare(_CLONE_NEWNET) == 0


def load(program):
    """Install the filter on this (single-threaded) process; needs no_new_privs."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")

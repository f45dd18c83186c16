"""Landlock: the kernel's unprivileged access control, as one more layer in the child.

`restrict()` makes a ruleset that handles every filesystem and network
right this kernel's Landlock knows, with no rule granting any, and scopes
signals and abstract UNIX sockets to the process's own domain; then the
process enforces it on itself. No path can then be opened, no TCP port bound
or connected, no process outside the domain signalled, whatever seccomp and
the mount namespace already refuse. Needs no_new_privs. Where the kernel has
no Landlock (gVisor, kernels before 5.13, or Landlock not enabled) it
returns 0 and the other layers stand.
"""

import ctypes
import os

from . import kernel

_SYS_CREATE_RULESET = 444
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1

# access rights by the ABI version that introduced them
_FS_RIGHTS = {1: (1 << 13) - 1,  # execute .. make_sym
              2: 1 << 13,  # refer
              3: 1 << 14,  # truncate
              5: 1 << 15}  # ioctl_dev
_NET_RIGHTS = {4: (1 << 0) | (1 << 1)}  # bind_tcp, connect_tcp
_SCOPES = {6: (1 << 0) | (1 << 1)}  # abstract_unix_socket, signal


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def abi_version():
    """This kernel's Landlock ABI version, 0 where there is none."""
    result, _ = kernel.raw_syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                                   ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(result, 0)


def _rights(table, version):
    return sum(bits for since, bits in table.items() if since <= version)


def restrict():
    """Deny every path, TCP port and outside signal to this process from now on;
    the ABI version enforced, or 0 where the kernel has no Landlock."""
    version = abi_version()
    if version == 0:
        return 0
    attributes = _RulesetAttr(_rights(_FS_RIGHTS, version), _rights(_NET_RIGHTS, version),
                              _rights(_SCOPES, version))
    # an older ABI reads only the fields it knows: give it only those
    size = ctypes.sizeof(attributes) if version >= 6 else (16 if version >= 4 else 8)
    ruleset = kernel.syscall(_SYS_CREATE_RULESET, ctypes.byref(attributes), ctypes.c_size_t(size),
                             ctypes.c_uint32(0))
    try:
        kernel.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version

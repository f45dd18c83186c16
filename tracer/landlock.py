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

import os
import struct

from . import kernel

_CREATE_RULESET_VERSION = 1

# access rights by the ABI version that introduced them
_FS_RIGHTS = {1: (1 << 13) - 1,  # execute .. make_sym
              2: 1 << 13,  # refer
              3: 1 << 14,  # truncate
              5: 1 << 15}  # ioctl_dev
_NET_RIGHTS = {4: (1 << 0) | (1 << 1)}  # bind_tcp, connect_tcp
_SCOPES = {6: (1 << 0) | (1 << 1)}  # abstract_unix_socket, signal


def abi_version():
    """This kernel's Landlock ABI version, 0 where there is none."""
    try:
        return kernel.landlock_create_ruleset(None, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def _rights(table, version):
    return sum(bits for since, bits in table.items() if since <= version)


def ruleset():
    """What restrict() enforces on this kernel: its Landlock ABI version and the ruleset's
    attributes (struct landlock_ruleset_attr, as bytes), or (0, None) where there is none.
    The fork server makes it once for all its spares."""
    version = abi_version()
    if version == 0:
        return 0, None
    # handled_access_fs, handled_access_net, scoped (u64 each)
    attributes = struct.pack("=QQQ", _rights(_FS_RIGHTS, version), _rights(_NET_RIGHTS, version),
                             _rights(_SCOPES, version))
    # an older ABI reads only the fields it knows: give it only those
    return version, attributes[:24 if version >= 6 else (16 if version >= 4 else 8)]


def restrict(prepared=None):
    """Deny every path, TCP port and outside signal to this process from now on;
    the ABI version enforced, or 0 where the kernel has no Landlock. `prepared`:
    ruleset(), made ahead (else made now)."""
    version, attributes = prepared or ruleset()
    if version == 0:
        return 0
    ruleset_fd = kernel.landlock_create_ruleset(attributes, 0)
    try:
        kernel.landlock_restrict_self(ruleset_fd)
    finally:
        os.close(ruleset_fd)
    return version

"""The fork server's confinement, set up once, and what each child adds for itself.

`isolate_server()` runs once in the fork server, after it has imported all
it will ever need and before it forks any child, so a request pays nothing
for it. It hides the host's filesystem and processes from every child to
come, in the first way this environment allows:

1. a user namespace with its own mount, network, IPC and UTS namespaces,
   the root pivoted into an empty read-only tmpfs and the host's root
   detached (works unprivileged, and as root on a kernel that allows user
   namespaces; tried first in a throwaway child, since a half-made user
   namespace cannot be left);
2. as root without user namespaces: a mount (+ network, IPC, UTS) namespace
   and the same pivot;
3. as root where pivot_root is refused (gVisor, a chrooted host): chroot into
   an empty directory that is then removed;
4. none: the child's Landlock ruleset is then what hides the filesystem (and
   the sandbox refuses to run where it is missing too).

Started as root, the server then becomes nobody (65534), so neither it nor
its children hold the service's identity or any capability outside their
namespace; it is made non-dumpable, so a child of the same uid cannot
read its memory or /proc files; and it empties its environment and drops
the capabilities it still holds (all of them, in a user namespace it
made), for every child to inherit so: done once here, not again in each
child, where the two took 0.6 to 0.9 ms of its CPU.

`confine_spare()` is each child's own part, done before its request comes
(the child then waits as one of the server's spares), in order: its
session, its descriptors, resource limits, no_new_privs, a Landlock
ruleset, and last the seccomp filter.
"""

import os
import resource

from . import kernel, landlock, seccomp

NOBODY = 65534
CHILD_FD = 3  # the request's connection (while the child waits as a spare: its socket to the server)
DESCRIPTORS = 16
_NEW_NAMESPACES = kernel.CLONE_NEWNS | kernel.CLONE_NEWNET | kernel.CLONE_NEWIPC | kernel.CLONE_NEWUTS
_STAGING = "/tmp"  # where the empty root is mounted before the pivot: any directory every user can enter
_TMPFS_OPTIONS = "size=4k,nr_inodes=8,mode=0555"


def isolate_server():
    """Confine this process (the fork server) and every child it will fork;
    a report of how: {"filesystem", "user_namespace", "network_namespace"}."""
    started_as_root = os.geteuid() == 0
    report = {"filesystem": "none", "user_namespace": False, "network_namespace": False}
    if _works_in_a_child(_enter_user_namespace):
        _enter_user_namespace()
        report.update(filesystem="pivot_root", user_namespace=True, network_namespace=True)
    elif started_as_root:
        report["network_namespace"] = _try(lambda: kernel.unshare(_NEW_NAMESPACES))
        if report["network_namespace"] and _try(_pivot_into_empty_root):
            report["filesystem"] = "pivot_root"
        elif _try(_chroot_into_empty_directory):
            report["filesystem"] = "chroot"
    if os.geteuid() == 0:
        _become_nobody()
    kernel.prctl(kernel.PR_SET_DUMPABLE, 0)
    os.environ.clear()
    kernel.drop_capabilities()
    return report


def _try(action):
    try:
        action()
    except OSError:
        return False
    return True


def _works_in_a_child(action):
    """Whether `action` succeeds in a forked copy of this process (which then exits)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            action()
            code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _enter_user_namespace():
    if os.geteuid() == 0:
        _become_nobody()
    uid, gid = os.getuid(), os.getgid()
    # /proc/self/*_map of a non-dumpable process (one that changed uid) belong to root
    kernel.prctl(kernel.PR_SET_DUMPABLE, 1)
    kernel.unshare(kernel.CLONE_NEWUSER | _NEW_NAMESPACES)
    try:
        _write("/proc/self/setgroups", "deny")
    except FileNotFoundError:
        pass  # kernels before 3.19
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _pivot_into_empty_root()


def _pivot_into_empty_root():
    """Make the root an empty read-only tmpfs and detach the old one, in this mount namespace."""
    kernel.mount(None, "/", None, kernel.MS_REC | kernel.MS_PRIVATE)  # nothing propagates out
    kernel.mount("tracer-root", _STAGING, "tmpfs", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC,
                 _TMPFS_OPTIONS)
    os.chdir(_STAGING)
    kernel.pivot_root(".", ".")  # the old root is stacked on the new one...
    kernel.umount(".", kernel.MNT_DETACH)  # ...and detached from it
    os.chdir("/")
    kernel.mount(None, "/", None, kernel.MS_REMOUNT | kernel.MS_BIND | kernel.MS_RDONLY | kernel.MS_NOSUID
                 | kernel.MS_NODEV | kernel.MS_NOEXEC)
    if os.listdir("/"):
        raise OSError("the new root is not empty")


def _chroot_into_empty_directory():
    """chroot into a new empty directory, then remove it: nothing can be made in it."""
    # Imported only on this path: tempfile brings shutil, and with it lzma,
    # 15 ms of the server's start and 10 mappings that each fork copies.
    import tempfile
    parent = tempfile.gettempdir()
    path = tempfile.mkdtemp(prefix=".tracer-root-", dir=parent)
    parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chmod(path, 0o555)
        os.chroot(path)
        os.chdir("/")
        os.rmdir(os.path.basename(path), dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def _become_nobody():
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def _write(path, text):
    with open(path, "w") as file:
        file.write(text)


def confine_spare(spare_fd, null_fd, settings, program, landlock_ruleset):
    """Confine this freshly forked child, before its request; the Landlock ABI it enforces (0: none).

    The child then waits as the server's spare on `spare_fd` (moved to
    CHILD_FD) for its request's connection; `take_connection` puts that on
    CHILD_FD in its place. The server makes the seccomp `program` (or None)
    and the `landlock_ruleset` (landlock.ruleset()) once for all its spares.
    """
    os.setsid()
    _own_descriptors(spare_fd, null_fd)
    if os.geteuid() == 0:  # only where the server could not stop being root
        _become_nobody()
    _limit_resources(settings)
    kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
    landlock_version = landlock.restrict(landlock_ruleset)
    if program is not None:
        seccomp.load(program)
    return landlock_version


def take_connection(connection_fd):
    """The request's connection on CHILD_FD, in place of the spare's socket to the server."""
    os.dup2(connection_fd, CHILD_FD)
    os.close(connection_fd)


def _own_descriptors(fd, null_fd):
    """stdin, stdout, stderr on /dev/null; `fd` on CHILD_FD; nothing else."""
    for standard in (0, 1, 2):
        os.dup2(null_fd, standard)
    if fd != CHILD_FD:
        os.dup2(fd, CHILD_FD)
    os.closerange(CHILD_FD + 1, os.sysconf("SC_OPEN_MAX"))


def _limit_resources(settings):
    cpu = settings["cpu_seconds"]
    memory = settings["memory_bytes"]
    for limit, value in [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_NPROC, (0, 0)),
        (resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS)),
        (resource.RLIMIT_FSIZE, (0, 0)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]:
        resource.setrlimit(limit, value)
    # (a write past FSIZE fails with EFBIG instead of killing: CPython ignores SIGXFSZ from its
    # start, and the server and its children inherit that; setting it again here took 0.03 to
    # 0.07 ms of each spare's confinement)

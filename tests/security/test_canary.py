"""The canary's verdict matches reality: every layer it reports is tried from a traced program.

Runs in each environment (see test_environments.py): what the canary says
holds there is attempted by a program the sandbox traces, and must be
refused; what it says is missing must not be refused.
"""

import json
import os

import pytest

from tests import environments
from tests.security.test_hostile_programs import ESCAPE
from tracer.canary import REQUIRED, stand_ins

# Run inside the child, untraced (exec'd from a function the tracer does not see,
# so no step limit applies): what each layer looks like from there.
PROBE = ESCAPE + '''
probe_source = """
import ctypes, errno, json, os, resource, socket
libc = ctypes.CDLL(None, use_errno=True)
def refused(action):
    try:
        action()
    except OSError as error:
        return True
    return False
def syscall_refused(number, *args):
    return libc.syscall(number, *args) < 0
def listing():
    try:
        return os.listdir("/")
    except OSError as error:
        return error.errno
caps = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
libc.syscall(125, caps, data)
root = os.stat("/")
facts = {
    "seccomp": [syscall_refused(n) for n in (250, 298, 319, 321, 323, 425, 999)],
    "prctl_seccomp": libc.prctl(21, 0, 0, 0, 0),
    "prctl_no_new_privs": libc.prctl(39, 0, 0, 0, 0),
    "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
    "rlimit_cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
    "sockets": [refused(lambda: socket.socket(family)) for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)],
    "fork": refused(lambda: os._exit(0) if os.fork() == 0 else None),
    "write": refused(lambda: os.open("/written", os.O_CREAT | os.O_WRONLY)),
    "host_paths": [refused(lambda: os.close(os.open(p, os.O_RDONLY))) for p in HOST_PATHS],
    "listing": listing(),
    "root": [root.st_dev, root.st_ino],
    "open_root": refused(lambda: os.close(os.open("/", os.O_RDONLY))),
    "open_root_errno": ctypes.get_errno(),
    "kill_parent": refused(lambda: os.kill(os.getppid(), 0)),
    "ptrace_parent": libc.ptrace(16, os.getppid(), 0, 0) < 0,
    "capabilities": data[0] | data[3] << 32,
    "permitted_capabilities": data[1] | data[4] << 32,
    "uid": os.getuid(),
    "descriptors": [fd for fd in range(64) if not refused(lambda: os.get_inheritable(fd))],
    "environment": dict(os.environ),
}
try:
    os.open("/", os.O_RDONLY)
except OSError as error:
    facts["open_root_errno"] = error.errno
facts_json = json.dumps(facts)
"""
namespace = {"HOST_PATHS": HOST_PATHS, "__builtins__": real_sys.modules["builtins"]}
real_sys.modules["builtins"].exec(probe_source, namespace)
print(namespace["facts_json"])
'''


@pytest.fixture(scope="module")
def facts(sandbox):
    host_paths = [path for path in (__file__, "/etc/passwd", "/proc/self/status", "/proc/1/cmdline", "/tmp")
                  if os.path.exists(path)]
    record = json.loads(sandbox.run(f"HOST_PATHS = {host_paths!r}\n" + PROBE, "", 200))
    assert record["outcome"]["status"] == "ok", record["outcome"]
    return json.loads(record["stdout"])


def test_every_required_layer_holds(sandbox):
    assert all(sandbox.layers[name] is True for name in REQUIRED), sandbox.layers
    assert sandbox.speedups  # built by `make build` (or the environment's setup): children run the C loops


def test_seccomp_and_no_new_privs_as_reported(sandbox, facts):
    assert sandbox.layers["seccomp"] == (facts["prctl_seccomp"] == 2) is True
    assert all(facts["seccomp"])  # syscalls the filter does not list are refused
    assert sandbox.layers["no_new_privs"] == (facts["prctl_no_new_privs"] == 1) is True


def test_limits_as_reported(sandbox, facts):
    assert sandbox.layers["memory_limited"] == (facts["rlimit_as"] != -1) is True
    assert sandbox.layers["cpu_limited"] == (facts["rlimit_cpu"] != -1) is True
    record = json.loads(sandbox.run("x = bytearray(10 ** 10)", "", 20))
    assert record["outcome"]["status"] == "memory_limit"


def test_refusals_as_reported(sandbox, facts):
    assert sandbox.layers["sockets_refused"] == all(facts["sockets"]) is True
    assert sandbox.layers["fork_refused"] == facts["fork"] is True
    assert sandbox.layers["file_write_refused"] == facts["write"] is True


def test_host_files_hidden_as_reported(sandbox, facts):
    assert sandbox.layers["host_files_hidden"] == all(facts["host_paths"]) is True
    assert facts["listing"] == [] or isinstance(facts["listing"], int)  # empty, or not even listable
    host_root = os.stat("/")
    pivoted = facts["root"] != [host_root.st_dev, host_root.st_ino]
    assert pivoted == (sandbox.layers["filesystem"] != "none")


def test_landlock_as_reported(sandbox, facts):
    """Landlock refuses even the empty root (EACCES); without it the root opens."""
    if sandbox.layers["landlock"]:
        assert facts["open_root"] and facts["open_root_errno"] == 13
    else:
        assert not facts["open_root"]
    if environments.CURRENT == "gvisor":
        assert sandbox.layers["landlock"] == 0  # gVisor has no Landlock: the empty root stands in


def test_other_processes_unreachable_as_reported(sandbox, facts):
    assert sandbox.layers["other_processes_unreachable"] == (facts["kill_parent"] and facts["ptrace_parent"]) is True


def test_identity_as_reported(sandbox, facts):
    assert sandbox.layers["uid"] == facts["uid"]
    assert sandbox.layers["no_capabilities"] == (facts["capabilities"] == 0) is True
    assert facts["permitted_capabilities"] == 0  # none to take back either
    assert sandbox.layers["descriptors"] == facts["descriptors"] == [0, 1, 2, 3]
    assert sandbox.layers["environment_empty"] == (facts["environment"] == {}) is True
    if os.getuid() == 0:
        assert facts["uid"] != 0


def test_namespaces_as_reported(sandbox):
    """Seen from outside: the fork server's namespaces differ from the service's where the
    canary says so. Where the service is not root the fork server is non-dumpable, so its
    /proc files cannot even be read by the service's own uid."""
    server = sandbox._process.pid
    if environments.CURRENT == "gvisor":
        # gVisor gives every process its own namespace link numbers and no mnt link:
        # there, what the namespaces do is checked from inside (the root's identity,
        # refused sockets) by the tests above.
        assert not os.path.exists(f"/proc/{server}/ns/mnt")
        return
    if os.getuid() != 0:
        with pytest.raises(PermissionError):
            os.readlink(f"/proc/{server}/ns/user")
        return
    def differs(kind):
        return os.readlink(f"/proc/{server}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")
    assert differs("user") == sandbox.layers["user_namespace"]
    assert differs("net") == sandbox.layers["network_namespace"]
    assert differs("mnt") == (sandbox.layers["filesystem"] == "pivot_root")


def test_the_expected_layers_in_each_environment(sandbox):
    """What this machine gives in each environment (as measured here; the README's table)."""
    layers = sandbox.layers
    if environments.CURRENT == "gvisor":
        assert (layers["filesystem"], layers["user_namespace"], layers["landlock"]) == ("chroot", False, 0)
    elif environments.CURRENT == "no_namespaces":  # Landlock alone hides the files
        assert (layers["filesystem"], layers["user_namespace"]) == ("none", False)
        assert layers["landlock"] >= 1
    else:
        assert (layers["filesystem"], layers["user_namespace"]) == ("pivot_root", True)
        assert layers["landlock"] >= 1
    assert layers["network_namespace"] is (environments.CURRENT != "no_namespaces")


def test_the_log_names_what_stands_in_for_each_missing_layer(sandbox):
    gvisor = {"filesystem": "chroot", "landlock": 0, "user_namespace": False, "network_namespace": True,
              "uid": 65534}
    messages = stand_ins(gvisor, service_uid=0)
    assert len(messages) == 2
    assert "no Landlock" in messages[0] and "chroot" in messages[0]
    assert "nobody" in messages[1]
    bare = {"filesystem": "none", "landlock": 6, "user_namespace": False, "network_namespace": False, "uid": 1000}
    messages = stand_ins(bare, service_uid=1000)
    assert [message.split(":")[0] for message in messages] == [
        "no mount namespace or chroot here", "no user namespace here", "no network namespace here"]
    assert "non-dumpable" in messages[1]
    expected = {"gvisor": stand_ins(gvisor, 0), "no_namespaces": stand_ins(dict(bare, landlock=7, uid=os.getuid()))}
    assert stand_ins(sandbox.layers) == expected.get(environments.CURRENT, [])

"""tracer/kernel.py's calls through tracer/_kernel.c and through ctypes: the same
results, the same refusals, the same confinement. Each confining call runs in a
forked child, which reports over a pipe and exits."""

import errno
import json
import os

import pytest

from tracer import _speedups, kernel, landlock, seccomp

WAYS = {"C": _speedups, "ctypes": None}


@pytest.fixture(params=sorted(WAYS))
def way(request, monkeypatch):
    monkeypatch.setattr(kernel, "_native", WAYS[request.param])
    return request.param


def _in_a_child(work):
    """work() in a forked child: what it returned (JSON), or the errno of the OSError it raised."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reading)
            try:
                result = {"returned": work()}
            except OSError as error:
                result = {"errno": error.errno}
            os.write(writing, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_prctl_reads_and_refuses_alike(way):
    assert kernel.prctl(kernel.PR_GET_NO_NEW_PRIVS) in (0, 1)
    assert kernel.prctl(kernel.PR_GET_DUMPABLE) == kernel._libc.prctl(kernel.PR_GET_DUMPABLE, 0, 0, 0, 0)
    with pytest.raises(OSError) as refused:
        kernel.prctl(0x7fff_0000)  # no such option
    assert refused.value.errno == errno.EINVAL


def test_the_cpu_is_one_of_this_processs(way):
    assert kernel.current_cpu() in os.sched_getaffinity(0)


def test_no_new_privs_landlock_and_seccomp_hold_in_the_child(way):
    version, attributes = landlock.ruleset()

    def confine():
        kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
        enforced = landlock.restrict(landlock.ruleset())
        seccomp.load(seccomp.build())
        try:
            os.open("/etc/hostname", os.O_RDONLY)
            opened = True
        except OSError:
            opened = False
        return [kernel.prctl(kernel.PR_GET_NO_NEW_PRIVS), enforced, kernel.prctl(kernel.PR_GET_SECCOMP), opened]

    assert _in_a_child(confine) == {"returned": [1, version, 2, False]}
    if version:
        assert len(attributes) == (24 if version >= 6 else 16 if version >= 4 else 8)


def test_a_filter_without_no_new_privs_is_refused(way):
    def load_without_capabilities():
        kernel.drop_capabilities()  # as root, CAP_SYS_ADMIN would let it in
        seccomp.load(seccomp.build())

    assert _in_a_child(load_without_capabilities) == {"errno": errno.EACCES}


def test_a_malformed_filter_is_refused():
    with pytest.raises(ValueError):
        _speedups.seccomp_filter(b"\0" * 7)
    with pytest.raises(ValueError):
        _speedups.seccomp_filter("text")
    assert _in_a_child(lambda: (kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1), _speedups.seccomp_filter(b""))[1]) \
        == {"errno": errno.EINVAL}

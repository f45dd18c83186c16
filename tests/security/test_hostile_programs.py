"""Hostile programs posted to the real emulator: none has its effect.

Every test here opens connections to 127.0.0.1 only. After each program the
server must still answer a normal request correctly.
"""

import json
import os
import socket
import threading
import time

import pytest

import tracer
from tests.conftest import check_record, processes
from tests.test_emulator import request, start_emulator_process

SECRET = "tracer-secret-5be1c0ffee"

# Python-level escape to the real os module and the real __import__ (the
# allow-list is not a boundary; the operating system is).
ESCAPE = (
    "s = ().__class__.__base__.__subclasses__()\n"
    "g = dict(zip(map(type.__dict__['__name__'].__get__, s), s))['_wrap_close'].__init__.__globals__\n"
    "os = g['sys'].modules['os']\n"
    "real_sys = g['sys']\n"
    "b = g['__builtins__']\n"
    "real_import = b['__import__'] if type(b) is dict else b.__import__\n"
    "real_open = b['open'] if type(b) is dict else b.open\n"
    "del s, g, b\n"
    "def attempt(f):\n"
    "    try:\n"
    "        return ('done', f())\n"
    "    except BaseException as e:\n"
    "        return ('refused', type(e).__name__)\n"
)


@pytest.fixture(scope="module")
def emulator():
    env = dict(os.environ, TRACER_SECRET_TOKEN=SECRET, TRACER_TIME_SECONDS="2", TRACER_MEMORY_MB="256")
    with start_emulator_process(env) as (url, process):
        yield url, process


@pytest.fixture(scope="module")
def server(emulator):
    return emulator[0]


@pytest.fixture(scope="module")
def service_pids(server, emulator):
    """The service's processes (its session: the framework, its workers, the fork server), once
    the fork server is up; each holds SECRET in its environment."""
    still_serving(server)
    session = emulator[1].pid
    pids = [pid for pid, fields in processes() if int(fields[3]) == session]  # fields[3]: the session id
    assert len(pids) >= 2, pids  # at least the framework and the fork server
    return pids


@pytest.fixture(scope="module")
def listeners():
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.settimeout(0.2)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    yield tcp, udp
    tcp.close()
    udp.close()


def trace(server, source, steps=300, input=""):
    status, _, body = request(server, body={"source": source, "steps": steps, "input": input})
    assert status == 200
    assert SECRET.encode() not in body
    return check_record(json.loads(body))


def still_serving(server):
    record = trace(server, "x = [1, 2]\nprint(sum(x))")
    assert record["outcome"]["status"] == "ok" and record["stdout"] == "3\n"


def _every_pid():
    """Every process on this machine (or in this gVisor sandbox), as the tests see them."""
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def heap_items(record, value):
    """The items of the list or tuple `value` refers to, at the last step."""
    return record["steps"][-1]["heap"][str(value["ref"])]["items"]


def result_of(record):
    """The items of the program's `r` at its end."""
    names = locals_at_end(record)
    assert names.get("r") is not None, record["outcome"]
    return heap_items(record, names["r"])


def locals_at_end(record):
    return record["steps"][-1]["stack"][0]["locals"] if record["steps"] else {}


# name, program (after ESCAPE), what must hold of the record
ATTEMPTS = [
    ("os_system", "r = attempt(lambda: os.system('touch {dir}/system'))", "no_file:system"),
    ("subprocess", "r = attempt(lambda: real_import('subprocess').run(['touch', '{dir}/sub']))", "no_file:sub"),
    ("fork", "r = attempt(lambda: os.fork())", "refused"),
    ("fork_bomb", "while True:\n    attempt(os.fork)", "limit"),
    # _thread, not threading: the children have no threading module to import (the server never imports it)
    ("thread", "r = attempt(lambda: real_import('_thread').start_new_thread(print, ()))", "refused"),
    ("execv", "r = attempt(lambda: os.execv('/bin/sh', ['sh', '-c', 'touch {dir}/exec']))", "no_file:exec"),
    ("posix_spawn", "r = attempt(lambda: os.posix_spawn('/bin/touch', ['touch', '{dir}/spawn'], {{}}))", "no_file:spawn"),
    ("write_file", "r = attempt(lambda: real_open('{dir}/written', 'w').write('x'))", "no_file:written"),
    ("create_os_open", "r = attempt(lambda: os.open('{dir}/created', os.O_CREAT | os.O_WRONLY))", "no_file:created"),
    ("truncate", "r = attempt(lambda: real_open('{dir}/existing', 'r+').truncate(0))", "intact:existing"),
    ("os_truncate", "r = attempt(lambda: os.truncate('{dir}/existing', 0))", "intact:existing"),
    ("unlink", "r = attempt(lambda: os.unlink('{dir}/existing'))", "intact:existing"),
    ("rename", "r = attempt(lambda: os.rename('{dir}/existing', '{dir}/moved'))", "intact:existing"),
    ("mkdir", "r = attempt(lambda: os.mkdir('{dir}/made'))", "no_file:made"),
    ("read_secret_file", "r = attempt(lambda: real_open('{dir}/secret').read())", "refused"),
    ("read_existing_file", "r = attempt(lambda: real_open('{dir}/existing').read())", "refused"),
    ("environ", "r = dict(os.environ)\nprint(r)", "no_secret"),
    # the host's filesystem and processes are not in view
    ("list_root", "r = attempt(lambda: os.listdir('/'))", "nothing"),
    ("list_tmp", "r = attempt(lambda: os.listdir('/tmp'))", "refused"),
    ("list_test_dir", "r = attempt(lambda: os.listdir('{dir}'))", "refused"),
    ("list_home", "r = attempt(lambda: os.listdir('/home'))", "refused"),
    ("list_proc", "r = attempt(lambda: os.listdir('/proc'))", "refused"),
    ("walk_up", "r = attempt(lambda: os.listdir('/../../..'))", "nothing"),
    ("read_etc_passwd", "r = attempt(lambda: real_open('/etc/passwd').read())", "refused"),
    ("read_etc_hostname", "r = attempt(lambda: real_open('/etc/hostname').read())", "refused"),
    ("read_self_maps", "r = attempt(lambda: real_open('/proc/self/maps').read())", "refused"),
    ("read_interpreter", "r = attempt(lambda: real_open(real_sys.executable, 'rb').read(4))", "refused"),
    ("read_tracer_source", "r = attempt(lambda: real_open(real_sys.modules['tracer'].__file__).read())", "refused"),
    ("proc_1_cmdline", "r = attempt(lambda: real_open('/proc/1/cmdline', 'rb').read())", "refused"),
    ("every_pid_cmdline", "r = [attempt(lambda: os.read(os.open(f'/proc/{{pid}}/cmdline', 0), 4096)) "
                          "for pid in {every_pid}]", "all_refused"),
    ("service_proc_files", "r = [attempt(lambda: real_open(f'/proc/{{pid}}/{{name}}', 'rb').read()) "
                           "for pid in {pids} + [os.getppid()] for name in ('environ', 'cmdline', 'maps', 'mem')]",
     "all_refused"),
    ("service_mem_by_address", "r = []\nfor pid in {pids} + [os.getppid()]:\n"
                               "    fd = attempt(lambda: os.open(f'/proc/{{pid}}/mem', 0))\n"
                               "    r.append(fd)\n"
                               "    if fd[0] == 'done':\n        r.append(('done', os.pread(fd[1], 64, 0x400000)))",
     "all_refused"),
    ("service_memory_by_syscall", "c = real_import('ctypes')\nlibc = c.CDLL(None, use_errno=True)\n"
                                  "class V(c.Structure):\n    _fields_ = [('b', c.c_void_p), ('n', c.c_size_t)]\n"
                                  "buf = c.create_string_buffer(4096)\nr = []\n"
                                  "for pid in {pids} + [os.getppid()]:\n"
                                  "    mine, theirs = V(c.cast(buf, c.c_void_p), 4096), V(c.cast(buf, c.c_void_p), 4096)\n"
                                  "    n = libc.syscall(310, pid, c.byref(mine), 1, c.byref(theirs), 1, 0)\n"
                                  "    r.append(('refused', c.get_errno()) if n < 0 else ('done', buf.raw[:n]))\n"
                                  "    n = libc.ptrace(16, pid, 0, 0)\n"
                                  "    r.append(('refused', c.get_errno()) if n < 0 else ('done', n))\n"
                                  "del buf, mine, theirs", "all_refused"),
    # F_SETOWN (8), F_SETSIG (10), through libc: the children have no fcntl module
    ("sigio_to_parent", "c = real_import('ctypes').CDLL(None, use_errno=True)\n"
                        "r = [c.fcntl(3, 8, os.getppid()), c.fcntl(3, 10, 9)]\n"
                        "r = [('refused', n) if n < 0 else ('done', n) for n in r]", "all_refused"),
    ("unlisted_syscalls", "c = real_import('ctypes').CDLL(None, use_errno=True)\n"
                          "r = [c.syscall(n, 0, 0, 0, 0, 0, 0) for n in (250, 298, 319, 323, 321, 425, 310, 440, 999)]\n"
                          "r = [('refused', n) if n < 0 else ('done', n) for n in r]", "all_refused"),
    ("proc_environ", "out = []\nfor pid in {pids} + [os.getppid(), 1]:\n"
                     "    out.append(attempt(lambda: real_open(f'/proc/{{pid}}/environ').read()))\nprint(out)", "no_secret"),
    ("tcp_connect", "s = attempt(lambda: real_import('socket').create_connection(('127.0.0.1', {tcp})))", "no_tcp"),
    ("udp_send", "sk = real_import('socket')\n"
                 "r = attempt(lambda: sk.socket(sk.AF_INET, sk.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {udp})))", "no_udp"),
    ("unix_socket", "sk = real_import('socket')\nr = attempt(lambda: sk.socket(sk.AF_UNIX))", "refused"),
    ("ctypes_socket", "c = real_import('ctypes').CDLL(None, use_errno=True)\nr = c.syscall(41, 2, 1, 0)\n"
                      "r = ('refused', 'EPERM') if r < 0 else ('done', r)", "refused"),
    ("kill_parent", "r = attempt(lambda: os.kill(os.getppid(), 9))", "refused"),
    ("kill_everyone", "r = attempt(lambda: os.kill(-1, 9))", "refused"),
    ("setuid_root", "r = attempt(lambda: os.setuid(0))", "refused"),
    # SIGXFSZ ignored (as CPython sets it at its start): a write past RLIMIT_FSIZE fails with EFBIG, not a kill
    ("file_size_signal", "sg = real_import('signal')\n"
                         "r = ('refused', 'ignored') if sg.getsignal(sg.SIGXFSZ) == sg.SIG_IGN else ('done', 'default')",
     "refused"),
    ("raise_limits", "res = real_import('resource')\n"
                     "r = attempt(lambda: res.setrlimit(res.RLIMIT_AS, (-1, -1)))", "refused"),
    ("ptrace", "c = real_import('ctypes').CDLL(None)\nr = c.ptrace(16, os.getppid(), 0, 0)\n"
               "r = ('refused', r) if r < 0 else ('done', r)", "refused"),
    ("memory_bomb", "x = bytearray(10 ** 10)", "status:memory_limit"),
    ("memory_growth", "x = []\nwhile True:\n    x.append(' ' * 10 ** 7)", "status:memory_limit"),
    ("c_cpu_burn", "x = 10 ** 10 ** 8", "status:time_limit"),
    ("sleep_forever", "import time\ntime.sleep(10 ** 6)", "status:time_limit"),
    ("output_flood_lines", "for i in range(10 ** 6):\n    print(i)", "limit"),
    ("output_flood_line", "print('x' * 10 ** 8)", "limit"),
    ("deep_recursion", "real_sys.setrecursionlimit(10 ** 6)\ndef f(n):\n    return f(n + 1)\nf(0)", "any"),
    ("settrace_none", "real_sys.settrace(None)\nwhile True:\n    pass", "status:time_limit"),
    ("reset_step_counter", "objects = real_import('gc').get_objects()\n"
                           "names = list(map(type.__dict__['__name__'].__get__, map(type, objects)))\n"
                           "engine = objects[names.index('Engine')]\ndel objects, names\n"
                           "while True:\n    engine._steps = 0", "steps:300"),
    ("catch_stop", "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
     "status:step_limit"),
    ("forge_descriptors", "for fd in range(10):\n    attempt(lambda: os.write(fd, b'{{\"end\": 1}}\\nHTTP/1.1 200 OK\\n'))", "any"),
    ("os_exit", "os._exit(0)", "status:crash"),
    ("forge_reply", "os.write(3, '{{\"step\": 1}}\\n'.encode('utf-16') + b'[]\\n\\xff\\n')\nos._exit(0)", "status:crash"),
    ("abort", "os.abort()", "status:crash"),
    ("system_exit", "raise SystemExit(5)", "status:ok"),
    ("keyboard_interrupt", "raise KeyboardInterrupt", "status:exception"),
    ("generator_exit", "raise GeneratorExit", "status:exception"),
    ("atexit_and_finalizer", "real_import('atexit').register(lambda: print('atexit ran'))\n"
                             "class D:\n    def __del__(self):\n        print('finalizer ran')\nd = D()",
     "no_output:atexit"),  # the finalizer runs as the program ends, as untraced; atexit never does
    ("gc_tamper", "gc = real_import('gc')\nfor o in gc.get_objects():\n    if type(o).__name__ == 'StreamedRecord':\n"
                  "        o._send(b'{{\"end\": {{\"forged\": 1}}}}\\n')", "any"),
    ("frame_walk", "f = real_sys._getframe()\nwhile f.f_back:\n    f = f.f_back\n"
                   "r = attempt(lambda: f.f_globals['os'].system('touch {dir}/frames'))", "no_file:frames"),
]


# Attempts that loop over processes: their count varies (a spare being forked is in
# the service's session for a moment), so they get the steps for any count.
_STEPS = {"every_pid_cmdline": 10000, "service_proc_files": 2000, "service_mem_by_address": 2000}


@pytest.mark.parametrize("name, program, expectation", ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_hostile_program_has_no_effect(server, service_pids, listeners, tmp_path, name, program, expectation):
    tcp, udp = listeners
    os.chmod(tmp_path, 0o777)
    (tmp_path / "existing").write_text("keep")
    os.chmod(tmp_path / "existing", 0o666)
    (tmp_path / "secret").write_text(SECRET)
    os.chmod(tmp_path / "secret", 0o600)
    source = ESCAPE + program.format(dir=tmp_path, tcp=tcp.getsockname()[1], udp=udp.getsockname()[1],
                                     pids=service_pids, every_pid=_every_pid())
    if expectation == "all_refused":  # r's attempts that were not refused, and how many were made
        source += "\nn = len(r)\nr = [x for x in r if x[0] != 'refused']\n"
    record = trace(server, source, steps=_STEPS.get(name, 300))
    kind, _, detail = expectation.partition(":")
    names = locals_at_end(record)
    if kind == "no_file":
        assert not (tmp_path / detail).exists()
    elif kind == "intact":
        assert (tmp_path / detail).read_text() == "keep"
    elif kind == "refused":
        assert result_of(record)[0] == "refused", result_of(record)
    elif kind == "nothing":  # refused, or an empty listing
        result = result_of(record)
        assert result[0] == "refused" or result[1] == {"ref": result[1]["ref"]} and not heap_items(
            record, result[1]), result
    elif kind == "all_refused":
        assert names["n"] > 0 and result_of(record) == [], [heap_items(record, x) for x in result_of(record)]
        assert SECRET not in json.dumps(record)
    elif kind == "no_secret":
        assert SECRET not in json.dumps(record)
    elif kind == "no_tcp":
        with pytest.raises(socket.timeout):
            tcp.accept()
    elif kind == "no_udp":
        with pytest.raises(socket.timeout):
            udp.recvfrom(16)
    elif kind == "status":
        assert record["outcome"]["status"] == detail
    elif kind == "limit":
        assert record["outcome"]["status"] in ("step_limit", "output_limit", "time_limit", "memory_limit")
    elif kind == "steps":
        assert record["outcome"]["status"] == "step_limit" and len(record["steps"]) == int(detail)
    elif kind == "no_output":
        assert detail not in record["stdout"]
    still_serving(server)


def test_the_service_processes_are_not_dumpable(service_pids):
    """Not dumpable: a process's /proc files then belong to root, whatever its uid, so
    a process of the same uid (a child of an unprivileged service) cannot read them."""
    checked = 0
    for pid in service_pids:
        try:
            owner = os.stat(f"/proc/{pid}/environ").st_uid
        except FileNotFoundError:  # a child that was in the session when listed, gone since
            continue
        checked += 1
        assert owner == 0, pid
        if os.getuid() != 0:
            with pytest.raises(PermissionError):
                with open(f"/proc/{pid}/environ", "rb") as file:
                    file.read()
    assert checked >= 2


@pytest.mark.parametrize("trace_format", ["record", "pythontutor"])
def test_a_forged_ending_is_refused_in_both_formats(server, trace_format):
    """The program writes its own end line, with an outcome the record's schema forbids."""
    forged = ('{"end": {"outcome": {"status": "exception", "message": "forged"}, "stdout": "forged"}}')
    source = ESCAPE + f"os.write(3, b'{forged}\\n')\nos._exit(0)\n"
    status, _, body = request(server, body={"source": source, "steps": 300, "format": trace_format})
    assert status == 200
    reply = json.loads(body)
    if trace_format == "record":
        assert check_record(reply)["outcome"]["status"] == "crash"
    else:
        assert reply["trace"][-1]["event"] == "instruction_limit_reached"
        assert "forged" not in json.dumps(reply["trace"])


def _running(pid):
    """Whether process `pid` exists and has not ended (a zombie has: it waits to be reaped)."""
    return any(each == pid and fields[0] != "Z" for each, fields in processes())


def test_a_child_asleep_after_an_end_line_of_its_own_is_killed(server):
    """The program sends a valid end line of its own, naming its pid, then sleeps with no
    timeout: past the parent's reading (which stops at the end line, and with it the
    deadline) and past its CPU limit (it uses none). Left alive, it would hold its
    memory for good, one more with every such request, and the fork server, which
    forks spares again only once no child runs, would stop doing so."""
    end = {"end": {"outcome": {"status": "ok", "message": "done"}, "stdout": "PID", "limits": {}}}
    source = ESCAPE + (
        "nap = real_sys.modules['select'].select\n"
        f"line = {json.dumps(end)!r}.replace('PID', str(os.getpid())).encode() + b'\\n'\n"
        "os.write(3, line); nap([], [], [])\n")  # one line: no step, so no write, between them
    record = trace(server, source)
    assert record["outcome"] == {"status": "ok", "message": "done"}  # its end line was taken
    pid = int(record["stdout"])
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)
    still_serving(server)


def test_a_child_is_killed_where_reading_its_reply_fails(monkeypatch):
    """Where reading a reply ends in an exception (functions-framework's request timeout is
    one, raised into the reading thread), the child is killed all the same."""
    import tracer.reply
    from tracer.sandbox import Sandbox
    lines = []

    def failing_add(self, line):
        lines.append(line)
        raise RuntimeError("the reading thread interrupted")

    sandbox = Sandbox()
    sandbox.start()
    monkeypatch.setattr(tracer.reply.StepsReply, "add", failing_add)
    source = ESCAPE + ("nap = real_sys.modules['select'].select\n"
                       "os.write(3, b'{\"asleep\": %d}\\n' % os.getpid()); nap([], [], [])\n")
    try:
        with pytest.raises(RuntimeError):
            sandbox.run(source, "", 300)
        pid = json.loads(lines[-1])["asleep"]
        deadline = time.monotonic() + 5
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(pid)
    finally:
        sandbox.stop()


def test_a_child_whose_reader_is_gone_is_killed_by_the_fork_server(monkeypatch):
    """Where the thread reading a child is gone mid-request (a service worker killed or
    timed out), nothing in the service kills the child: the fork server does, once it has
    run past any deadline the service gives it (time limit 1 s + 1 s of grace + a 2 s
    margin after its hand-over). The program sleeps with no timeout, which no limit of
    its own ends."""
    import signal
    import tracer.sandbox
    from tracer.sandbox import Sandbox
    monkeypatch.setenv("TRACER_TIME_SECONDS", "1")
    pids = []

    def reader_gone(connection, reply, *args, **kwargs):
        received = b""
        while b"asleep" not in received:
            chunk = connection.recv(1 << 16)
            if not chunk:
                break
            received += chunk
        pids.append(json.loads(received.split(b"\n", 1)[0])["pid"])
        return "eof"  # and no kill: as if the thread had died here

    sandbox = Sandbox()
    sandbox.start()
    monkeypatch.setattr(tracer.sandbox, "_read_reply", reader_gone)
    source = ESCAPE + ("nap = real_sys.modules['select'].select\n"
                       "os.write(3, b'asleep\\n'); nap([], [], [])\n")
    try:
        started = time.monotonic()
        sandbox.run(source, "", 300)
        (pid,) = pids
        assert _running(pid)  # asleep, and no one reads it any more
        while _running(pid) and time.monotonic() < started + 20:
            time.sleep(0.05)
        assert not _running(pid)
        assert time.monotonic() - started >= 2  # not before the deadline the service gave it
    finally:
        for pid in pids:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        sandbox.stop()


def _real_step(trace_format):
    """A step as the tracer makes it, in one line of JSON."""
    record = tracer.trace("x = 1\n", "", 5, format=trace_format)
    step = (record["steps"] if trace_format == "record" else record["trace"])[0]
    return json.dumps(step, separators=(",", ":"))


# Lines a program could write in place of its steps: each is refused, whole, before
# anything of it reaches the response (the record is made of a step's bytes as they came).
FORGED_STEP_LINES = {
    "extra_member": '{{"step":{step},"forged":1}}',
    "second_step": '{{"step":{step},"step":{step}}}',
    "trailing_bytes": '{{"step":{step}]}}',
    "nan": '{{"step":{step_nan}}}',
    "control_character": '{{"step":{step_control}}}',
    "deep_nesting": '{{"step":' + "[" * 20000 + "]" * 20000 + "}}",
    # whole, strict JSON, but not of the step's shape (speedups.step_shape)
    "member_of_another_kind": '{{"step":{step_kind}}}',
    "member_twice_one_escaped": '{{"step":{step_twice}}}',
}


@pytest.mark.parametrize("trace_format", ["record", "pythontutor"])
@pytest.mark.parametrize("forgery", FORGED_STEP_LINES)
def test_a_forged_step_is_refused(server, trace_format, forgery):
    step = _real_step(trace_format)
    line = FORGED_STEP_LINES[forgery].format(step=step, step_nan=step.replace('"line":1', '"line":1,"x":NaN'),
                                             step_control=step.replace('"heap"', '"he\x01ap"'),
                                             step_kind=step.replace('"line":1', '"line":"forged"'),
                                             step_twice=step[:-1] + ',"ev\\u0065nt":"forged"}')
    valid = '{{"step":{step}}}'.format(step=step)
    source = ESCAPE + f"os.write(3, {valid!r}.encode() + b'\\n' + {line!r}.encode() + b'\\n')\nos._exit(0)\n"
    status, _, body = request(server, body={"source": source, "steps": 300, "format": trace_format})
    assert status == 200
    reply = json.loads(body)  # a forged byte in the response would make it fail here
    if trace_format == "record":
        assert check_record(reply)["outcome"]["status"] == "crash"
        assert "forged" not in json.dumps(reply)
    else:
        assert reply["trace"][-1]["event"] == "instruction_limit_reached"
        assert "forged" not in json.dumps(reply["trace"])
    still_serving(server)


def test_deeply_nested_source_is_a_syntax_error(server):
    record = trace(server, "x = " + "(" * 5000 + ")" * 5000)
    assert record["outcome"]["status"] == "syntax_error"
    still_serving(server)


def test_huge_input_is_read_whole(server):
    record = trace(server, "import sys\ndata = sys.stdin.read()\nn = len(data)", input="y" * 60000)
    assert locals_at_end(record)["n"] == 60000


def test_hostile_objects_are_snapshot_safely(server):
    record = trace(server, "class X:\n    def __repr__(self):\n        while True: pass\n"
                           "    def __eq__(self, o):\n        raise RuntimeError\n"
                           "    def __hash__(self):\n        return 1 / 0\n"
                           "    def __getattribute__(self, n):\n        while True: pass\n"
                           "x = [X(), X()]\n")
    assert record["outcome"]["status"] == "ok"


def test_concurrent_requests_get_their_own_records(server):
    hostile = [ESCAPE + "os._exit(0)", "while True:\n    pass", "x = bytearray(10 ** 10)",
               ESCAPE + "os.write(3, b'{\"end\": 0}\\n')", "import time\ntime.sleep(100)"]
    results = {}

    def normal(index):
        record = trace(server, f"tag = {index}\nprint('request', tag)")
        results[index] = record

    def bad(source):
        trace(server, source, steps=200)

    threads = [threading.Thread(target=normal, args=(i,)) for i in range(12)]
    threads += [threading.Thread(target=bad, args=(source,)) for source in hostile]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(12))
    for index, record in results.items():
        assert record["stdout"] == f"request {index}\n"
        assert locals_at_end(record)["tag"] == index


def test_a_dead_fork_server_is_replaced():
    from tracer.sandbox import Sandbox
    sandbox = Sandbox()
    sandbox.start()
    try:
        sandbox._process.kill()
        sandbox._process.wait()
        record = check_record(json.loads(sandbox.run("print('back')", "", 10)))
        assert record["stdout"] == "back\n"
    finally:
        sandbox.stop()


def test_requests_that_find_the_fork_server_dead_together_all_get_records(monkeypatch):
    """Two (here four) requests meet a dead fork server at once: one restarts it, the
    others use the new one; none closes another's socket or gets an error.

    Logging that the server is gone is made slow: the window in which another
    request found the old server dead and then restarted over the first one's
    new server (closing its socket: an OSError, an HTML 500) is then wide open.
    """
    import tracer.sandbox
    from tracer.sandbox import Sandbox
    sandbox = Sandbox()
    sandbox.start()
    logged = tracer.sandbox.log.error
    monkeypatch.setattr(tracer.sandbox.log, "error", lambda *args: (time.sleep(0.3), logged(*args)))
    try:
        for round in range(3):
            sandbox._process.kill()
            sandbox._process.wait()
            barrier = threading.Barrier(4)
            results = {}

            def one(index):
                barrier.wait()
                try:
                    results[index] = check_record(json.loads(sandbox.run(f"print({index})", "", 10)))["stdout"]
                except Exception as error:  # reported below, with the others' results
                    results[index] = repr(error)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert results == {i: f"{i}\n" for i in range(4)}, (round, results)
    finally:
        sandbox.stop()


def test_the_wait_for_a_first_byte_starts_at_the_hand_over(monkeypatch):
    """A hand-over that takes longer than the wait for a child's first byte (as one
    that waits while another request restarts the server) still gets its record: the
    child's time to answer counts from the hand-over. Here the server is paused across
    each hand-over and resumes 0.1 s after it returns; counted from before it, both
    attempts were given up on at once and the request answered a crash."""
    import signal
    import tracer.sandbox
    from tracer.sandbox import Sandbox
    sandbox = Sandbox()
    sandbox.start()
    monkeypatch.setattr(tracer.sandbox, "_FIRST_BYTE_SECONDS", 0.3)
    hand_over = Sandbox._hand_over
    resumes = []

    def slow_hand_over(self, *args):
        server = self._process.pid
        for resume in resumes:  # a retry's hand-over: the server stays paused across it too
            resume.cancel()
        os.kill(server, signal.SIGSTOP)
        resumes.append(threading.Timer(0.6, os.kill, (server, signal.SIGCONT)))
        resumes[-1].start()
        hand_over(self, *args)
        time.sleep(0.5)

    monkeypatch.setattr(Sandbox, "_hand_over", slow_hand_over)
    try:
        record = check_record(json.loads(sandbox.run("print('answered')", "", 10)))
        assert record["outcome"]["status"] == "ok" and record["stdout"] == "answered\n", record["outcome"]
    finally:
        monkeypatch.undo()
        for resume in resumes:
            resume.cancel()
        os.kill(sandbox._process.pid, signal.SIGCONT)
        sandbox.stop()


def test_concurrency_setting_bounds_children_running_at_once(monkeypatch):
    """With TRACER_CONCURRENCY=1 two runs never overlap (their own clocks say so)."""
    from tracer.sandbox import Sandbox
    monkeypatch.setenv("TRACER_CONCURRENCY", "1")
    sandbox = Sandbox()
    sandbox.start()
    spans = []

    def one():
        record = json.loads(sandbox.run("import time\nstart = time.monotonic()\ntime.sleep(0.3)\n"
                                        "end = time.monotonic()\n", "", 50))
        names = locals_at_end(check_record(record))
        spans.append((names["start"], names["end"]))

    try:
        threads = [threading.Thread(target=one) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sandbox.stop()
    spans.sort()
    assert len(spans) == 3
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:]))

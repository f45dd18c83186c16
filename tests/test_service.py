"""The HTTP contract through Flask's test client: statuses, errors, CORS."""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys

import flask
import pytest

import main
import tracer
from tracer import landlock, speedups
from tests.conftest import RECORD, REQUEST, check_error, check_record, processes
from tests.decoders import DECODERS
from tests.security.test_hostile_programs import ESCAPE

app = flask.Flask(__name__)
app.add_url_rule("/", "service", lambda: main.service(flask.request), methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])


@pytest.fixture
def client():
    return app.test_client()


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/", data=data, content_type=content_type)


def assert_cors(response):
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def error_of(response, status, code):
    assert response.status_code == status
    assert_cors(response)
    body = check_error(response.get_json())
    assert body["error"]["code"] == code
    return body["error"]["message"]


def test_post_returns_the_record_that_trace_json_gives(client):
    body = {"source": "x = input()\nprint(x * 2)", "input": "ab\n", "steps": 100}
    REQUEST.validate(body)
    response = post(client, body)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert_cors(response)
    assert response.data == tracer.trace_json(body["source"], body["input"], 100)
    record = check_record(response.get_json())
    assert record["stdout"] == "abab\n"


def test_delta_encoding_through_the_sandbox_decodes_to_the_full_record(client):
    source = "def grow(xs):\n    xs.append(len(xs))\n    return xs\n\nys = []\nfor _ in range(3):\n    grow(ys)\nprint(ys)\n"
    body = {"source": source, "steps": 100, "encoding": "delta"}
    REQUEST.validate(body)
    delta = post(client, body)
    assert delta.status_code == 200
    RECORD.validate(delta.get_json())
    record = check_record(tracer.decode(delta.get_json()))
    full = post(client, {"source": source, "steps": 100})
    assert record == full.get_json() and record["stdout"] == "[0, 1, 2]\n"
    assert len(delta.data) < len(full.data) / 2


def test_defaults_apply_to_missing_fields(client):
    record = check_record(post(client, {}).get_json())
    assert record["steps"] == [] and record["limits"]["steps"] == 5000


def test_steps_above_maximum_are_clamped(client, monkeypatch):
    monkeypatch.setenv("TRACER_MAX_STEPS", "40")
    record = check_record(post(client, {"source": "while True:\n    pass", "steps": 10**6}).get_json())
    assert record["limits"]["steps"] == 40 and len(record["steps"]) == 40


def test_program_failure_is_a_200_with_a_record(client):
    for source in ["1/0", "x = = 1", "while True:\n    pass"]:
        response = post(client, {"source": source, "steps": 10})
        assert response.status_code == 200
        check_record(response.get_json())


def test_options_is_the_cors_preflight(client):
    response = client.options("/", headers={"Origin": "http://example.org",
                                            "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204 and response.data == b""
    assert_cors(response)


def test_get_is_the_viewer_page_and_head_its_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b'<button id="trace"' in page.data
    assert "script-src 'sha256-" in page.headers["Content-Security-Policy"]
    head = client.head("/")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_405(client, method):
    response = getattr(client, method)("/")
    error_of(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, HEAD, POST, OPTIONS"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_content_type_is_415(client, content_type):
    error_of(post(client, {"source": ""}, content_type), 415, "unsupported_media_type")


@pytest.mark.parametrize("body, fragment", [
    (b"{", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", "JSON object"),
    (b'"source"', "JSON object"),
    (b'{"steps": NaN}', "not valid JSON"),
    ({"steps": "10"}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"steps": 1000.0}, "steps"),
    (b'{"steps": 1e3}', "steps"),
    ({"steps": True}, "steps"),
    ({"steps": 0}, "steps"),
    ({"steps": -5}, "steps"),
    ({"steps": None}, "steps"),
    ({"source": 5}, "source"),
    ({"source": None}, "source"),
    ({"input": ["a"]}, "input"),
    ({"source": "", "extra": 1}, "extra"),
    (b'{"source": "\\ud800"}', "surrogate"),
    ({"encoding": "compact"}, "encoding"),
    ({"encoding": None}, "encoding"),
    ({"encoding": ["delta"]}, "encoding"),
])
def test_invalid_bodies_are_400_with_a_clear_message(client, body, fragment):
    assert fragment in error_of(post(client, body), 400, "invalid_request")


def test_oversized_fields_and_body_are_413(client):
    big = "x" * (64 * 1024 + 1)
    error_of(post(client, {"source": big}), 413, "payload_too_large")
    error_of(post(client, {"input": big}), 413, "payload_too_large")
    error_of(post(client, b'{"source": "' + b"a" * (1024 * 1024) + b'"}'), 413, "payload_too_large")
    assert post(client, {"source": "#" + "x" * (64 * 1024 - 1)}).status_code == 200


def test_multibyte_source_cap_counts_utf8_bytes(client):
    error_of(post(client, {"source": "é" * (32 * 1024 + 1)}), 413, "payload_too_large")


def test_413_wins_over_400(client):
    error_of(post(client, {"source": "x" * (70 * 1024), "steps": "bad", "extra": 1}), 413, "payload_too_large")
    error_of(post(client, b'{"steps": "bad", "source": "' + b"\\u00e9" * 200000 + b'"}'), 413,
             "payload_too_large")


def test_a_hostile_program_does_not_break_the_next_request(client):
    post(client, {"source": "import json, math\njson.dumps = None\nmath.pi = 0\n"
                            "while True:\n    try:\n        pass\n    except BaseException:\n        pass",
                  "steps": 50})
    record = check_record(post(client, {"source": "import math\nx = math.pi"}).get_json())
    assert record["steps"][-1]["stack"][0]["locals"]["x"] == 3.141592653589793


def test_without_isolation_the_service_refuses_with_503(client, monkeypatch):
    from tracer.sandbox import Sandbox
    monkeypatch.setattr(main, "_sandbox_instance", Sandbox())
    monkeypatch.setattr(main, "_sandbox_checked", False)
    monkeypatch.setattr(Sandbox, "_canary", lambda self: {"seccomp": False, "no_new_privs": True})
    response = post(client, {"source": "print(1)"})
    assert response.status_code == 503
    assert "seccomp" in error_of(response, 503, "service_unavailable")
    monkeypatch.undo()
    assert post(client, {"source": "print(1)"}).status_code == 200


def test_a_program_that_catches_the_stop_ends_at_the_step_limit_in_the_sandbox(client):
    """On 3.12 such a loop's next line event is inside its own try, so StopProgram is caught
    again and again; the child ends its record at the limit instead of running to the deadline."""
    source = "n = 0\nwhile True:\n    try:\n        n += 1\n    except BaseException:\n        pass\n"
    record = check_record(post(client, {"source": source, "steps": 30}).get_json())
    assert record["outcome"]["status"] == "step_limit" and len(record["steps"]) == 30


def test_a_failure_inside_the_service_is_a_json_500_and_the_next_request_works(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("the fork server's socket is gone")
    monkeypatch.setattr(main._sandbox(), "run", broken)
    response = post(client, {"source": "print(1)"})
    assert "logged" in error_of(response, 500, "internal_error")
    assert response.content_type == "application/json"
    monkeypatch.undo()
    assert check_record(post(client, {"source": "print(1)"}).get_json())["stdout"] == "1\n"


def test_the_python_fallback_is_chosen_through_the_service(monkeypatch):
    """TRACER_SPEEDUPS=0 reaches the fork server: its children trace without the C loops,
    to the same record, and confine themselves through ctypes (kernel.py) rather than
    tracer/_kernel.c, to the same layers, as the canary finds them."""
    from tracer.sandbox import Sandbox
    source = "xs = [3, 1, 2]\nxs.sort()\ntotal = sum(xs)\n"
    records = {}
    for setting in ("0", "1"):
        monkeypatch.setenv("TRACER_SPEEDUPS", setting)
        sandbox = Sandbox()
        sandbox.start()
        try:
            records[setting] = (sandbox.speedups, json.loads(sandbox.run(source, "", 50)), sandbox.layers)
        finally:
            sandbox.stop()
    assert records["0"][0] is False and records["1"][0] is True
    assert check_record(records["0"][1]) == check_record(records["1"][1])
    assert records["0"][2] == records["1"][2]
    assert records["1"][2]["seccomp"] and records["1"][2]["no_new_privs"]
    assert records["1"][2]["landlock"] == landlock.ruleset()[0]


def test_the_empty_root_changes_nothing_a_program_does(client):
    """The children have no filesystem: encodings imported on first use (pure Python and
    the C codecs) and datetime's strptime still work, with the output of CPython untraced."""
    source = ("import datetime\n"
              "samples = {'idna': 'bücher.de', 'punycode': 'bücher', 'utf-16': 'text', 'cp1251': 'текст',\n"
              "           'koi8_r': 'текст', 'mac_cyrillic': 'текст', 'shift_jis': 'テキスト', 'iso2022_jp': 'テキスト',\n"
              "           'gb18030': '文本', 'big5': '文本', 'euc_kr': '텍스트'}\n"
              "for name, text in samples.items():\n"
              "    print(name, text.encode(name), text.encode(name).decode(name) == text)\n"
              "print(datetime.datetime.strptime('2026-11-30', '%Y-%m-%d'))\n"
              "try:\n    'x'.encode('no-such-codec')\nexcept LookupError as error:\n    print(error)\n")
    untraced = subprocess.run([sys.executable, "-c", source], stdout=subprocess.PIPE, text=True, check=True).stdout
    record = check_record(post(client, {"source": source, "steps": 500}).get_json())
    assert record["outcome"]["status"] == "ok", record["outcome"]
    assert record["stdout"] == untraced


def test_the_fork_servers_start_without_site_changes_no_builtin(client):
    """The fork server starts with -S (no site): the builtins a program sees are those it
    sees in process, where site ran."""
    source = "print(sorted(dir(__builtins__)))\nexit(3)\n"
    record = check_record(post(client, {"source": source, "steps": 50}).get_json())
    assert record == tracer.trace(source, "", 50)
    assert record["outcome"]["exit_code"] == 3 and "'quit'" in record["stdout"]


def test_a_child_counts_no_reference_to_the_servers_objects(client):
    """Where the runtime has immortal objects (speedups.IMMORTALIZES: CPython 3.12 and 3.13)
    the fork server makes its own so before it forks (forkserver._make_objects_immortal): a
    child then writes none of their reference counts, and copies none of their pages for it.
    A program's own objects are counted as ever. (A program's sys has no getrefcount: this
    one reaches the real one as a hostile program would.) The server does so once it has
    forked the children of a cold start's canary and first trace (_Spares._FORKED_BEFORE_SETTLING):
    a trace first, so that this one runs in a later child if this test runs alone."""
    check_record(post(client, {"source": "x = 1\n", "steps": 5}).get_json())
    source = ESCAPE + ("import json\n"
              "def counted(value):\n"
              "    before = real_sys.getrefcount(value)\n"
              "    kept = [value] * 5\n"
              "    return real_sys.getrefcount(value) - before\n"
              "print(counted(json.dumps), counted(real_sys.modules), counted([]))\n")
    record = check_record(post(client, {"source": source, "steps": 50}).get_json())
    servers_function, servers_dict, programs_list = map(int, record["stdout"].split())
    assert programs_list >= 5  # (and the references the trace's own steps hold)
    if speedups.IMMORTALIZES:
        assert servers_function == servers_dict == 0
    else:
        assert servers_function >= 5 and servers_dict >= 5


def test_importing_the_service_does_not_import_the_engine():
    # its cold start waits for its imports, and it never traces (the fork server's children do)
    script = "import sys, main; print('tracer.engine' in sys.modules, 'tracer.sandbox' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.stdout.split() == ["False", "True"]




@pytest.mark.parametrize("encoding", sorted(DECODERS))
@pytest.mark.parametrize("format", ["record", "willow", "pythontutor"])
def test_a_compressed_response_decodes_to_exactly_the_identity_body(client, encoding, format):
    body = json.dumps({"source": "xs = list(range(50))\nfor i in range(20):\n    xs[i] = -i\n", "steps": 200,
                       "format": format})
    plain = client.post("/", data=body, content_type="application/json")
    packed = client.post("/", data=body, content_type="application/json",
                         headers={"Accept-Encoding": f"{encoding};q=1.0, identity;q=0.5"})
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
    assert_cors(packed)
    assert DECODERS[encoding](packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) * 10 < len(plain.get_data())
    if format == "record":
        check_record(json.loads(plain.get_data()))


@pytest.mark.parametrize("accepted, chosen", [
    ("gzip, deflate, br, zstd", "zstd"),  # Chrome's and Firefox's: the fastest of equals
    ("gzip, deflate, br", "br"),  # Safari's
    ("br;q=0.5, gzip", "gzip"),  # the client's q-values first
    ("zstd;q=0, *", "br"),
    ("deflate", None),
])
def test_the_encoding_is_the_clients_choice_then_the_fastest(client, accepted, chosen):
    response = client.post("/", data=json.dumps({"source": "xs = list(range(200))\nys = xs[::-1]\n", "steps": 10}),
                           content_type="application/json", headers={"Accept-Encoding": accepted})
    assert response.headers.get("Content-Encoding") == chosen
    data = response.get_data()
    check_record(json.loads(DECODERS[chosen](data) if chosen else data))


def test_no_compression_unless_accepted_or_worth_it(client):
    body = {"source": "xs = list(range(50))\nfor i in range(20):\n    xs[i] = -i\n", "steps": 200}
    refused = client.post("/", data=json.dumps(body), content_type="application/json",
                          headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    check_record(json.loads(refused.get_data()))
    small_error = client.post("/", data="[]", content_type="application/json", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small_error.headers and "Accept-Encoding" in small_error.headers["Vary"]
    check_error(small_error.get_json())
    # a trace's body is compressed as its steps come, before its size is known: even a small one
    for encoding in DECODERS:
        small_trace = client.post("/", data=json.dumps({"source": "x = 1\n"}), content_type="application/json",
                                  headers={"Accept-Encoding": encoding})
        assert small_trace.headers["Content-Encoding"] == encoding
        assert len(DECODERS[encoding](small_trace.get_data())) < 1024
        check_record(json.loads(DECODERS[encoding](small_trace.get_data())))
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(page.get_data()) == main.VIEWER_PAGE


def test_steps_taken_before_a_hang_in_c_reach_the_record(monkeypatch):
    """The child sends a small record's steps one by one and a big one's in batches
    (record.stream), in every format: killed at the deadline while stuck in C, a small
    program keeps every step and a big one all but the last batch."""
    from tracer.sandbox import Sandbox
    monkeypatch.setenv("TRACER_TIME_SECONDS", "2")
    sandbox = Sandbox()
    sandbox.start()
    try:
        small = check_record(json.loads(sandbox.run("a = 1\nb = 2\nx = 10 ** 10 ** 8\n", "", 100)))
        assert small["outcome"]["status"] == "time_limit"
        assert [step["line"] for step in small["steps"]] == [1, 2, 3]
        # the rendered formats' steps go out the same way (record.StreamedSteps)
        tutor = json.loads(sandbox.run("a = 1\nb = 2\nx = 10 ** 10 ** 8\n", "", 100, "full", "pythontutor"))
        assert [step.get("line") for step in tutor["trace"]] == [1, 2, 3, None]
        assert "2 seconds" in tutor["trace"][-1]["exception_msg"]
        willow = json.loads(sandbox.run("a = 1\nb = 2\nx = 10 ** 10 ** 8\n", "", 100, "full", "willow"))
        assert [step["snapshot"]["stack"][0]["line"] for step in willow["steps"][:-1]] == [0, 1, 2]  # 0-based
        assert "time limit" in willow["steps"][-1]["error"]["cause"]
        # 603 steps of about 700 bytes each (a list in every heap), then the hang
        big = check_record(json.loads(sandbox.run(
            "xs = list(range(200))\nfor i in range(300):\n    y = i\nx = 10 ** 10 ** 8\n", "", 1000)))
        assert big["outcome"]["status"] == "time_limit"
        smallest_step = min(len(json.dumps(step, separators=(",", ":"))) for step in big["steps"][1:])
        assert len(big["steps"]) >= 603 - (64 * 1024 // smallest_step + 1), len(big["steps"])
    finally:
        sandbox.stop()


def test_the_spares_warm_up_ends_well_within_its_limits():
    """A sandboxed engine that reaches a limit ends its process: a spare whose warm-up
    did would die before its request, and the server would fork spares forever."""
    from tracer import forkserver
    record = tracer.trace(forkserver._WARM_UP_SOURCE, "", forkserver.WARM_UP_STEPS)
    assert record["outcome"]["status"] == "ok"
    assert len(record["steps"]) < forkserver.WARM_UP_STEPS / 10


def test_the_warm_up_leaves_the_modules_a_program_sees_as_they_were():
    """The fork server traces the warm-up before its first fork, and a spare before its
    request: every child inherits what it leaves, so it must leave nothing a program sees."""
    from tracer import forkserver, runtime
    state = runtime.ModuleState()
    forkserver._warm_up()
    assert state.changed() == []


def test_the_fork_server_imports_nothing_its_children_pay_for():
    """Every child pays at its fork for what the server imported: threading's hook,
    which runs after each fork (some 100 page faults), and the 5 mappings of each
    extension module (tempfile's shutil brings lzma's), which fork copies and exit
    frees. None of them is needed in the server (tempfile only to chroot)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); from tracer import forkserver, runtime; "
            "runtime.prepare_for_an_empty_filesystem(); "
            "print(sorted(set(sys.modules) & {'threading', 'tempfile', 'shutil', 'lzma', 'fcntl'}))")
    result = subprocess.run([sys.executable, "-S", "-s", "-P", "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


class _FakeForks:
    """_Spares' fork, without processes: each spare is the far end of a socket pair."""

    def __init__(self):
        self.warm, self.server_ends, self.children = [], [], []

    def __call__(self, warm):
        server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server_ends.append(server_end)
        self.children.append(child_end)
        self.warm.append(warm)
        return server_end, 1000 + len(self.children)


@pytest.fixture
def spares(monkeypatch):
    """A _Spares for 4 spares on fake forks (spares.forks), a connection to hand over,
    and its clock (spares.clock[0], seconds)."""
    import select
    import types
    from tracer import forkserver
    forks = _FakeForks()
    clock = [100.0]
    monkeypatch.setattr(forkserver, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    settled = []  # how many spares had been forked each time the server settled
    spares = forkserver._Spares(forks, 4, select.poll(), overdue_seconds=10.0,
                                settle=lambda: settled.append(len(forks.children)))
    spares.forks, spares.clock, spares.settled = forks, clock, settled
    spares.connection = socket.socketpair()
    yield spares
    for end in [*spares.connection, *forks.server_ends, *forks.children]:
        end.close()


def _refill(spares):
    """Refill as the server's loop does, with no request coming in between: the clock
    moves on by each wait the refill asks for."""
    while (wait := spares.refill()) is not None:
        spares.clock[0] += wait + 1e-9  # as the poll, which wakes a little late rather than early


def _one_request(spares, idle, runs=0.002):
    """A request handed over `idle` seconds after the last look, running `runs` seconds,
    with the refill after each event, as the server's loop does; the refill's answer."""
    spares.clock[0] += idle
    spares.pass_on(b"t", spares.connection[0].fileno())
    spares.refill()
    spares.clock[0] += runs
    spares._ended(max(spares._running))
    return spares.refill()


def test_a_child_running_past_its_overdue_time_is_killed(spares, monkeypatch):
    """kill_overdue kills the process group of each child still running `overdue_seconds`
    after its hand-over (here 10 s), only those, and says when the next one is due."""
    from tracer import forkserver
    killed = []
    monkeypatch.setattr(forkserver.os, "killpg", lambda pid, signal_number: killed.append((pid, signal_number)))
    _refill(spares)
    assert spares.kill_overdue() is None  # none running: nothing to wake for
    spares.pass_on(b"t", spares.connection[0].fileno())
    (first,) = spares._running
    assert spares.kill_overdue() == pytest.approx(10.0)
    spares.clock[0] += 4
    spares.pass_on(b"t", spares.connection[0].fileno())
    (second,) = set(spares._running) - {first}
    assert spares.kill_overdue() == pytest.approx(6.0) and killed == []
    spares.clock[0] += 6
    assert spares.kill_overdue() == pytest.approx(4.0)
    assert killed == [(first, signal.SIGKILL)]
    spares._ended(first)  # reaped
    spares.clock[0] += 4
    assert spares.kill_overdue() is None and killed == [(first, signal.SIGKILL), (second, signal.SIGKILL)]


def test_spares_forked_for_requests_back_to_back_stay_cold_until_the_quiet(spares):
    """A spare's warm-up costs more CPU than it saves its request: while one client's
    requests come back to back, the cores are theirs. A spare forked then (none left
    waiting) does not warm up; in the next quiet moment the server tells it to (b"w"),
    before it forks more."""
    from tracer import forkserver
    quiet, spacing = forkserver._Spares._QUIET_SECONDS, forkserver._Spares._REFILL_SPACING_SECONDS
    forked, children = spares.forks.warm, spares.forks.children
    _refill(spares)  # the first ones: one cold as the server starts, warmed up in the quiet after it
    assert forked == [False] + [True] * 3 and children[0].recv(1) == b"w"
    for _ in range(6):  # the last two take spares forked at once for them
        assert _one_request(spares, 0.001) == pytest.approx(quiet)
    assert forked == [False] + [True] * 3 + [False] * 3
    waiting = children[6]
    waiting.setblocking(False)
    with pytest.raises(BlockingIOError):
        waiting.recv(1)
    spares.clock[0] += quiet + 1e-9
    assert spares.refill() == pytest.approx(spacing)  # its warm-up takes this look's turn
    assert waiting.recv(1) == b"w" and len(forked) == 7
    _refill(spares)
    assert forked == [False] + [True] * 3 + [False] * 3 + [True] * 3
    with pytest.raises(BlockingIOError):
        waiting.recv(1)  # told once


def test_a_spare_warms_up_at_a_childs_end_if_requests_leave_room_for_it(spares):
    """Not beside a running request, but as soon as none runs, where the last request
    came long enough after the child before it ended: the next may come as late."""
    from tracer import forkserver
    room = forkserver._Spares._WARM_UP_ROOM_SECONDS
    forked, children, connection = spares.forks.warm, spares.forks.children, spares.connection[0].fileno()
    _refill(spares)
    for _ in range(3):
        _one_request(spares, room + 0.001)
    spares.clock[0] += room + 0.001
    spares.pass_on(b"t", connection)  # the last one waiting
    spares.refill()
    assert forked[4:] == [False]  # forked at once, beside it: cold
    spares.pass_on(b"t", connection)  # another at once takes it (no room: one runs)
    spares.refill()
    assert forked[4:] == [False] * 2
    cold = children[5]
    cold.setblocking(False)
    spares.clock[0] += 0.002
    spares._ended(1004)
    with pytest.raises(BlockingIOError):
        cold.recv(1)  # one still runs
    spares._ended(1005)
    with pytest.raises(BlockingIOError):
        cold.recv(1)  # none runs, but the last request left no room
    _one_request(spares, room + 0.001)  # takes it, cold; the next is forked beside it
    assert forked[4:] == [False] * 3
    assert children[6].recv(1) == b"w"  # at its end: that request had room


def test_a_spare_warms_up_when_the_server_says_so_unless_its_request_is_there(monkeypatch):
    for request_behind in (False, True):
        def first(server_end, hand_over):
            server_end.send(b"w")
            if request_behind:
                hand_over()

        warm_ups, served = _spare_run(monkeypatch, False, first)
        assert served == [True]
        assert warm_ups == ([] if request_behind else [True])


def test_a_cold_starts_first_requests_find_their_spares_forked_cold_and_the_server_settles_beside_them(spares):
    """As the server starts, it forks one spare, cold, and looks for a request: the
    service's first (the canary) comes then, and would wait for a warm-up. Its hand-over
    forks the next at once, cold, for the trace after it. The server settles (its own
    warm-up and immortal walk) once, only before the third fork: beside those two."""
    from tracer import forkserver
    quiet = forkserver._Spares._QUIET_SECONDS
    forked, connection = spares.forks.warm, spares.connection[0].fileno()
    assert spares.refill() == pytest.approx(quiet)  # the start counts as activity: look for the canary
    assert forked == [False] and spares.settled == []
    spares.pass_on(b"c", connection)
    assert spares.refill() is None  # a child runs and a spare waits: its end wakes the poll
    assert forked == [False, False] and spares.settled == []
    spares.clock[0] += 0.003
    spares._ended(1001)
    spares.pass_on(b"t", connection)  # the trace takes the second
    spares.refill()
    assert forked == [False] * 3 and spares.settled == [2]  # settled, then forked the third
    spares.clock[0] += 0.003
    spares._ended(1002)
    _refill(spares)
    assert len(forked) == 6 and spares.settled == [2]  # once


def test_a_server_whose_settling_fails_goes_on_forking_unsettled(spares):
    """Settling only saves the children work: where it fails, the server forks the
    third spare and the rest all the same (each child then does that work itself, as
    the first two do), hands requests over, and does not try to settle again."""
    def failing_settle():
        spares.settled.append(len(spares.forks.children))
        raise MemoryError("the immortal walk")
    spares._settle = failing_settle
    _refill(spares)  # settles before the third fork, fails, forks on
    assert spares.settled == [2] and len(spares.forks.children) == 4
    _one_request(spares, idle=1.0)
    _refill(spares)
    assert len(spares.forks.children) == 5 and spares.settled == [2]


def test_the_children_forked_before_the_server_settles_answer_as_those_after():
    """A new server's first two children (the canary's and the first trace's) are forked
    before it has warmed up, made a program's builtins ahead or made its objects immortal:
    they make all that themselves, and a program traced there gets the record it gets in
    process, as in every later child."""
    from tracer.sandbox import Sandbox
    source = ("import json\n"
              "values = sorted({'b': 2, 'a': 1}.items())\n"
              "try:\n"
              "    int('x')\n"
              "except ValueError as error:\n"
              "    print(type(error).__name__, json.dumps(values), len(dir(__builtins__)) > 100)\n")
    expected = tracer.trace(source, "", 100)
    assert expected["stdout"] == 'ValueError [["a", 1], ["b", 2]] True\n'
    sandbox = Sandbox()
    sandbox.start()  # the canary: the first child
    try:
        records = [check_record(json.loads(sandbox.run(source, "", 100))) for _ in range(3)]
    finally:
        sandbox.stop()
    assert records == [expected] * 3


def test_past_the_first_spares_the_server_looks_for_a_request_between_two_forks(spares):
    """In the quiet, the server forks one spare per look at its control socket: a request
    coming meanwhile takes a spare there is, not the next fork's turn."""
    from tracer import forkserver
    spacing, quiet = forkserver._Spares._REFILL_SPACING_SECONDS, forkserver._Spares._QUIET_SECONDS
    children = spares.forks.children
    assert spares.refill() == pytest.approx(quiet)
    spares.clock[0] += quiet + 1e-9
    assert spares.refill() == spacing  # its warm-up took this look's turn
    assert len(children) == 1
    spares.clock[0] += spacing + 1e-9
    assert spares.refill() == spacing  # one more per look
    assert len(children) == 2
    spares.pass_on(b"c", spares.connection[0].fileno())
    assert len(children) == 2  # the request went to a spare there was
    assert spares.refill() is None  # a child runs and spares wait: its end wakes the poll
    assert len(children) == 2


def test_after_a_burst_the_spares_are_forked_again_one_at_a_time_in_the_quiet(spares):
    """A burst of requests uses up the spares; the refill waits for the quiet after it, then
    forks them no closer together than _REFILL_SPACING_SECONDS, so that their warm-ups take
    one core at a time, not every core a request coming meanwhile would need."""
    from tracer import forkserver
    spacing, quiet = forkserver._Spares._REFILL_SPACING_SECONDS, forkserver._Spares._QUIET_SECONDS
    children, connection = spares.forks.children, spares.connection[0].fileno()
    _refill(spares)
    assert len(children) == 4
    for pid in range(1001, 1004):  # a burst: three requests, one after another
        spares.pass_on(b"t", connection)
        spares.clock[0] += 0.001
        spares._ended(pid)
    assert spares.refill() == pytest.approx(quiet)  # one spare still waits: the quiet first
    spares.clock[0] += quiet + 1e-9
    forked_at, fork = [], spares._fork
    spares._fork = lambda warm: (forked_at.append(spares.clock[0]), fork(warm))[1]
    while (wait := spares.refill()) is not None:
        assert wait > 0
        spares.clock[0] += wait / 2  # the poll may wake sooner (a child's exit): no fork comes early
        assert spares.refill() == pytest.approx(wait / 2)
        spares.clock[0] += wait / 2 + 1e-9
    assert len(children) == 7 and len(forked_at) == 3
    assert [later - earlier for earlier, later in zip(forked_at, forked_at[1:])] == [pytest.approx(spacing)] * 2


def _children_of(pid):
    """The pids of the live (not zombie) children of `pid`."""
    return [child for child, fields in processes() if int(fields[1]) == pid and fields[0] != "Z"]


def test_the_fork_server_keeps_as_many_spares_as_tracer_spares_says(monkeypatch):
    """By default _SPARES, so that a burst of requests back to back finds each one
    forked and warm; after requests, it forks the ones they took again."""
    import time
    from tracer import sandbox as sandbox_module
    for setting, expected in (("3", 3), (None, sandbox_module._SPARES)):
        if setting is None:
            monkeypatch.delenv("TRACER_SPARES", raising=False)
        else:
            monkeypatch.setenv("TRACER_SPARES", setting)
        sandbox = sandbox_module.Sandbox()
        sandbox.start()
        try:
            for _ in range(expected + 2):
                assert json.loads(sandbox.run("x = 1\n", "", 10))["outcome"]["status"] == "ok"
            deadline = time.monotonic() + 10
            while len(_children_of(sandbox._process.pid)) != expected and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # and no more come
            assert len(_children_of(sandbox._process.pid)) == expected
        finally:
            sandbox.stop()


def _spare_run(monkeypatch, warm, first):
    """forkserver._spare(warm) on a socket pair, without a process: `first(server_end,
    hand_over)` sends what comes before it waits, and its warm-up hands the request
    over. (one True per warm-up, one True if it served the request)"""
    from tracer import forkserver
    server_end, spare_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    connection = socket.socketpair()
    warm_ups, served = [], []

    def hand_over():
        socket.send_fds(server_end, [b"t"], [connection[0].fileno()])

    monkeypatch.setattr(forkserver, "CHILD_FD", spare_end.fileno())
    monkeypatch.setattr(forkserver, "_warm_up", lambda: (warm_ups.append(True), hand_over()))
    monkeypatch.setattr(forkserver.confinement, "take_connection", os.close)
    monkeypatch.setattr(forkserver, "_child", lambda: served.append(True) or 0)
    try:
        first(server_end, hand_over)
        assert forkserver._spare({}, [], warm) == 0
        return warm_ups, served
    finally:
        for end in [server_end, spare_end, *connection]:
            end.close()


def test_a_spare_handed_its_request_before_it_warms_up_serves_it_cold(monkeypatch):
    """The warm-up would only make a request that is there already wait (the service's
    first requests find spares just forked); one that comes later finds the spare warm."""
    for handed_before in (True, False):
        warm_ups, served = _spare_run(monkeypatch, True,
                                      lambda server_end, hand_over: hand_over() if handed_before else None)
        assert served == [True]
        assert warm_ups == ([] if handed_before else [True])


def test_a_request_goes_to_the_spare_that_has_waited_longest(spares):
    """The newest spare may still be warming up; the oldest has had the longest to finish."""
    children = spares.forks.children
    _refill(spares)  # four, forked one after another
    assert children[0].recv(1) == b"w"  # the first, forked cold as the server started
    for kind in (b"t", b"c"):
        spares.pass_on(kind, spares.connection[0].fileno())
    for child_end in children:
        child_end.setblocking(False)
    given = [socket.recv_fds(child_end, 1, 1)[:2] for child_end in children[:2]]
    for _, fds in given:
        for fd in fds:
            os.close(fd)
    assert [kind for kind, _ in given] == [b"t", b"c"]
    for later in children[2:]:
        with pytest.raises(BlockingIOError):
            later.recv(1)


def test_the_thread_reading_a_long_trace_checks_it_off_the_childs_cpu(monkeypatch):
    """The child names its CPU in its first line. Once more than a small program's
    steps have come (even while the child still sends them one by one), the
    thread reading them keeps off that CPU where it has another one, and has its
    CPUs back at the end; a short trace never moves it."""
    from tracer import sandbox as sandbox_module
    from tracer.record import STREAM_EACH_BYTES
    from tracer.sandbox import _CHECK_BESIDE_FROM_BYTES
    moves, cpus_while_checking = [], []
    away_from, step_lines = sandbox_module._away_from, sandbox_module.step_lines

    def recording_away_from(cpu):
        moves.append(cpu)
        return away_from(cpu)

    def recording_step_lines(*arguments):
        cpus_while_checking.append(os.sched_getaffinity(0))
        return step_lines(*arguments)

    monkeypatch.setattr(sandbox_module, "_away_from", recording_away_from)
    monkeypatch.setattr(sandbox_module, "step_lines", recording_step_lines)
    before = os.sched_getaffinity(0)
    sandbox = main._sandbox()
    check_record(json.loads(sandbox.run("a = 1\nb = a + 1\n", "", 100)))
    assert moves == [] and all(cpus == before for cpus in cpus_while_checking)
    cpus_while_checking.clear()
    # about 20 steps, all sent one by one (fewer bytes than STREAM_EACH_BYTES); the sums
    # keep them apart, so they cannot all come in the read that has the child's first line
    few = "words = []\nfor i in range(6):\n    words.append(str(i))\n    sum(range(300000))\nprint(words)\n"
    record = sandbox.run(few, "", 1000)
    assert _CHECK_BESIDE_FROM_BYTES < len(record) < STREAM_EACH_BYTES
    assert check_record(json.loads(record))["outcome"]["status"] == "ok"
    assert len(moves) == 1 and os.sched_getaffinity(0) == before
    moves.clear()
    cpus_while_checking.clear()
    record = check_record(json.loads(sandbox.run("total = 0\nfor i in range(400):\n    total += i\n", "", 1000)))
    assert record["outcome"]["status"] == "ok"
    assert len(moves) == 1 and type(moves[0]) is int and moves[0] in before
    expected_last = before - {moves[0]} if len(before) > 1 else before
    assert cpus_while_checking[0] == before and cpus_while_checking[-1] == expected_last
    assert os.sched_getaffinity(0) == before
    # with another trace running, a CPU idles for the check only on 4 CPUs or more
    moves.clear()
    with sandbox._tracing():
        check_record(json.loads(sandbox.run("total = 0\nfor i in range(400):\n    total += i\n", "", 1000)))
    assert len(moves) == (1 if sandbox._cpus >= 4 else 0)
    assert os.sched_getaffinity(0) == before


@pytest.mark.parametrize("cpu", [None, True, "0", 0.0, -1, 1 << 20])
def test_a_cpu_the_child_names_wrongly_moves_nothing(cpu):
    from tracer.sandbox import _away_from
    before = os.sched_getaffinity(0)
    assert _away_from(cpu) is None
    assert os.sched_getaffinity(0) == before


def test_the_childs_first_line_names_its_pid_and_cpu():
    from tracer import protocol
    assert json.loads(protocol.pid_line(7, 1)) == {"pid": 7, "cpu": 1}
    assert json.loads(protocol.pid_line(7, None)) == {"pid": 7}
    assert protocol.is_pid_line(protocol.pid_line(7, 1))

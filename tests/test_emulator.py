"""End to end: functions-framework serving main.service on 127.0.0.1."""

import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import fixtures
from tests.conftest import check_error, check_record

ROOT = Path(__file__).resolve().parent.parent


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def start_emulator(env=None):
    """functions-framework on a free 127.0.0.1 port; yields its URL, stops it after."""
    with start_emulator_process(env) as (url, _):
        yield url


@contextlib.contextmanager
def start_emulator_process(env=None):
    """As start_emulator, yielding the URL and the process (the leader of its own session)."""
    port = _free_port()
    executable = Path(sys.executable).with_name("functions-framework")
    process = subprocess.Popen(
        [str(executable), "--target", "service", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or dict(os.environ),
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start: " + process.stderr.read().decode())
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/", process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server():
    with start_emulator() as url:
        yield url


def request(url, method="POST", body=None, content_type="application/json", headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_seed_fixture_over_http_gives_the_expected_record(server):
    status, headers, body = request(server, body={"source": fixtures.source("seed"),
                                                  "input": fixtures.input_text("seed")})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    record = check_record(json.loads(body))
    assert record == json.loads(fixtures.expected_path("seed").read_text())


def test_bad_requests_over_http(server):
    for kwargs, status, code in [
        ({"body": b"{"}, 400, "invalid_request"),
        ({"body": {"steps": "1"}}, 400, "invalid_request"),
        ({"body": {"source": ""}, "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"body": {"source": "x" * 70000}}, 413, "payload_too_large"),
        ({"method": "PUT"}, 405, "method_not_allowed"),
        ({"method": "DELETE"}, 405, "method_not_allowed"),
    ]:
        got, headers, body = request(server, **kwargs)
        assert got == status
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert check_error(json.loads(body))["error"]["code"] == code


def test_cors_preflight_over_http(server):
    status, headers, body = request(server, method="OPTIONS", content_type=None, headers={
        "Origin": "http://example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]


def test_server_keeps_serving_after_a_program_stops_at_a_limit(server):
    status, _, body = request(server, body={"source": "while True:\n    try:\n        pass\n"
                                                      "    except BaseException:\n        pass", "steps": 20})
    assert status == 200 and json.loads(body)["outcome"]["status"] == "step_limit"
    status, _, body = request(server, body={"source": "print('ok')"})
    assert status == 200 and check_record(json.loads(body))["stdout"] == "ok\n"


def test_records_over_http_are_gzip_encoded_when_asked(server):
    body = {"source": fixtures.source("seed"), "input": fixtures.input_text("seed"), "steps": 500}
    _, plain_headers, plain = request(server, body=body)
    status, headers, packed = request(server, body=body, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    assert "Content-Encoding" not in plain_headers
    assert int(headers["Content-Length"]) == len(packed) < len(plain)
    assert gzip.decompress(packed) == plain

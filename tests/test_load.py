"""Many clients at once, long and hostile programs among them: every normal request
gets its own record (bench/mixed_load.py; the bench runs it for a minute)."""

import json
import threading
import time

from bench import mixed_load
from tests.test_emulator import start_emulator


def test_clients_mixing_long_and_hostile_programs_lose_no_normal_request(monkeypatch):
    # a short time limit keeps the hostile programs that run to it (and the test) short
    monkeypatch.setenv("TRACER_TIME_SECONDS", "2")
    with start_emulator() as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        result = mixed_load.run(port, seconds=12, clients=8)
    assert result["errors"] == []
    assert result["normal"] >= 8 and result["long"] >= 1 and result["hostile"] >= 1, result


def test_time_waiting_for_a_slot_is_not_the_programs(monkeypatch):
    """With one slot, a program queued behind one that runs to the time limit still
    gets its whole time limit (the deadline counted from the request's arrival ended
    it at once, as time_limit)."""
    from tracer.sandbox import Sandbox
    monkeypatch.setenv("TRACER_TIME_SECONDS", "1")
    monkeypatch.setenv("TRACER_CONCURRENCY", "1")
    sandbox = Sandbox()
    sandbox.start()
    try:
        hog = threading.Thread(target=sandbox.run, args=("x = 10 ** 10 ** 8\n", "", 10))
        hog.start()
        while sandbox._slots._value:  # until the hog holds the one slot
            time.sleep(0.01)
        queued = json.loads(sandbox.run("import time\ntime.sleep(0.5)\nprint('done')\n", "", 10))
        hog.join()
    finally:
        sandbox.stop()
    assert queued["outcome"]["status"] == "ok" and queued["stdout"] == "done\n"

"""bench/cpu_split.py finds the processes that serve a port and splits their CPU by
role: `make bench` prints it, and no other test would notice that it broke. Its
numbers are not asserted, only what must hold of them whatever the machine."""

import os

from bench import cpu_split, end_to_end
from tests.test_emulator import start_emulator_process


def test_the_cpu_of_back_to_back_requests_is_split_by_process():
    body = {"source": end_to_end.TINY, "input": "", "steps": 1000}
    with start_emulator_process() as (url, process):
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        roles = cpu_split.serving_processes(port)
        result = cpu_split.split(port, lambda: end_to_end.post(port, body)[0], requests=30, used_up_after=20)
    # the session's leader serves; of the fork server there is one, started by it
    assert roles[process.pid] == "service"
    servers = [pid for pid, role in roles.items() if role == "fork_server"]
    assert len(servers) == 1 and servers[0] != os.getpid()
    assert set(result) == {"service_ms", "fork_server_ms", "children_ms", "client_ms", "machine_busy_ms",
                           "wall_ms", "cpus"}
    # every request was traced in a child the server forked and reaped: their CPU is the server's children's
    assert result["children_ms"] > 0 and result["service_ms"] > 0 and result["wall_ms"] > 0
    assert result["cpus"] == len(os.sched_getaffinity(0))


def test_a_port_nobody_serves_is_said_so():
    port = end_to_end._free_port()
    try:
        cpu_split.serving_processes(port)
    except RuntimeError as error:
        assert str(port) in str(error)
    else:
        raise AssertionError("a port no functions-framework serves was found served")

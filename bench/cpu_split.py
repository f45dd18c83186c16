"""Where a request's CPU goes, process by process: one client's requests back to back
over HTTP, past this service's spares (as end_to_end's `long`).

Latency alone cannot say why a small program past the spares stays at three
to four times the seed's time: both cores are busy. This counts, from /proc, the CPU
time (utime + stime) per request of each process the request touches: the
client (this process), the service's processes (functions-framework's gunicorn
arbiter and worker: its session, minus the fork server), the fork server
itself, and its children as the server reaps them (each a spare: its fork's
after-work, confinement, the trace, its exit); and the machine's busy time in
all (/proc/stat), against which wall time times the CPUs is the most the
requests could have had. The seed has no fork server: its service is all.

/proc counts in clock ticks (10 ms here): over REQUESTS requests, 0.05 ms a
request.
"""

import os
import time

REQUESTS = 200
# Requests sent back to back before counting: enough to use up the spares the
# fork server keeps (16), so that each counted request takes a spare forked
# beside the one before, and the spares forked ahead (whose CPU is counted as
# they are reaped) are not among those counted.
USED_UP_AFTER = 30
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """/proc/PID/stat's fields after the command name (field 3, the state, first)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().split(b"\0")
    except OSError:
        return []


def _pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def serving_processes(port):
    """{pid: "service" or "fork_server"} of the functions-framework session serving `port`."""
    serving = [pid for pid in _pids() if _cmdline(pid)[-3:-1] == [b"--port", str(port).encode()]]
    if not serving:
        raise RuntimeError(f"no functions-framework process serves port {port}")
    session = _stat(serving[0])[3]
    members = {}  # pid -> (parent's pid, whether it is the fork server)
    for pid in _pids():
        try:
            fields = _stat(pid)
        except OSError:
            continue  # gone meanwhile
        if fields[3] == session:
            members[pid] = (fields[1], b"tracer.forkserver" in b" ".join(_cmdline(pid)))
    servers = {str(pid) for pid, (_, is_server) in members.items() if is_server}
    # (a spare just forked is in the session until its setsid: it is the server's child, counted as that)
    return {pid: "fork_server" if is_server else "service" for pid, (parent, is_server) in members.items()
            if parent not in servers}


def _seconds(pid):
    """(this process's CPU seconds, its reaped children's), from /proc/PID/stat."""
    fields = _stat(pid)
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime) / _TICKS_PER_SECOND, (cutime + cstime) / _TICKS_PER_SECOND


def _machine_busy_seconds():
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / _TICKS_PER_SECOND


def _snapshot(roles):
    counted = {"service": 0.0, "fork_server": 0.0, "children": 0.0}
    for pid, role in roles.items():
        own, reaped = _seconds(pid)
        counted[role] += own
        if role == "fork_server":
            counted["children"] += reaped
    times = os.times()
    counted["client"] = times.user + times.system
    counted["machine_busy"] = _machine_busy_seconds()
    counted["wall"] = time.perf_counter()
    return counted


def split(port, send, requests=REQUESTS, used_up_after=USED_UP_AFTER):
    """Milliseconds per request of each process (see the module's docstring), for one
    client's `requests` back to back after `used_up_after` more; `send()` sends one
    request to `port` and returns its HTTP status."""
    roles = serving_processes(port)
    for _ in range(used_up_after):
        send()
    before = _snapshot(roles)
    for _ in range(requests):
        status = send()
        assert status == 200, status
    after = _snapshot(roles)
    result = {f"{key}_ms": (after[key] - before[key]) * 1000 / requests for key in before}
    if "fork_server" not in roles.values():
        del result["fork_server_ms"], result["children_ms"]
    result["cpus"] = len(os.sched_getaffinity(0))
    return result

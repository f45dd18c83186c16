"""Clients mixing normal, long and hostile programs against one service, over HTTP.

Each client sends, in turn, the programs of MIX (most of them normal ones)
for as long as it is told, each as soon as it has its answer. A normal
program's answer must be 200 with exactly the record the tracer makes of
it in-process; anything else is an error. Used by the end-to-end bench (a
minute) and by tests/test_load.py (bounded).
"""

import concurrent.futures
import http.client
import json
import statistics
import time

import tracer

NORMAL = {
    "sum": "total = 0\nfor i in range(20):\n    total += i\nprint(total)\n",
    "strings": "words = 'the quick brown fox'.split()\nlongest = max(words, key=len)\nprint(longest.upper())\n",
    "classes": ("class Node:\n    def __init__(self, value, next=None):\n        self.value = value\n"
                "        self.next = next\nhead = None\nfor i in range(5):\n    head = Node(i, head)\n"),
    "input": "name = input()\nprint('hello', name)\n",
}
INPUTS = {"input": "world\n"}
LONG = "n = 0\nwhile True:\n    n += 1\n"  # 10000 steps, the most a request may ask for
HOSTILE = {
    "cpu_in_c": "x = 10 ** 10 ** 8\n",  # holds a slot until the time limit
    "memory": "x = bytearray(10 ** 10)\n",
    "exit": "import os\nos._exit(3)\n",
    "output_flood": "while True:\n    print('x' * 1000)\n",
}
# What each client sends, in turn: mostly normal programs, as a classroom does.
MIX = (["normal"] * 6) + ["long", "hostile"]


def expected_records():
    """The record of each normal program, made in-process: what every answer must be."""
    return {name: tracer.trace(source, INPUTS.get(name, "")) for name, source in NORMAL.items()}


def run(port, seconds, clients=8):
    """{"normal": count, "errors": [...], "p50_ms", "p99_ms", "long", "hostile", "seconds"}."""
    expected = expected_records()
    stop_at = time.monotonic() + seconds

    def client(index):
        normal_times, errors, counts = [], [], {"long": 0, "hostile": 0}
        connection = None
        turn = index
        while time.monotonic() < stop_at:
            kind = MIX[turn % len(MIX)]
            turn += 1
            if kind == "normal":
                name = list(NORMAL)[turn % len(NORMAL)]
                body = {"source": NORMAL[name], "input": INPUTS.get(name, "")}
            elif kind == "long":
                body = {"source": LONG, "steps": 10000}
            else:
                name = list(HOSTILE)[turn % len(HOSTILE)]
                body = {"source": HOSTILE[name], "steps": 1000}
            started = time.perf_counter()
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                connection.request("POST", "/", json.dumps(body), {"Content-Type": "application/json"})
                response = connection.getresponse()
                status, payload = response.status, response.read()
            except (OSError, http.client.HTTPException) as error:
                connection = None
                status, payload = None, repr(error).encode()
            elapsed = time.perf_counter() - started
            if kind != "normal":
                counts[kind] += 1
                if status != 200:
                    errors.append(f"{kind}: {status} {payload[:200]!r}")
                continue
            normal_times.append(elapsed)
            if status != 200:
                errors.append(f"{name}: {status} {payload[:200]!r}")
            elif json.loads(payload) != expected[name]:
                errors.append(f"{name}: a record other than its own")
        return normal_times, errors, counts

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    times = sorted(t for own, _, _ in results for t in own)
    return {
        "seconds": seconds, "clients": clients, "normal": len(times),
        "long": sum(counts["long"] for _, _, counts in results),
        "hostile": sum(counts["hostile"] for _, _, counts in results),
        "errors": [error for _, errors, _ in results for error in errors],
        "p50_ms": statistics.median(times) * 1000 if times else None,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000 if times else None,
    }

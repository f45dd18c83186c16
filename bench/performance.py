"""Cost of tracing: six program shapes at 1000 and 10000 steps, the floors, and the service end to end.

`make bench` prints tables and writes build/bench-performance.json. Every
figure is a median of interleaved runs; nothing here is asserted.

Per shape and step count, each run is a fresh process (so peak RSS is that
trace's): ms per trace, µs per step, bytes per step in the full and in the
delta encoding, peak RSS. In the same process, the floors for the same
program: a no-op `sys.settrace` hook that only counts the program's events,
and the program run untraced, both per event of the program, and the
traced cost as a ratio to each. The full encoding's record cap is raised
for the bench so that every shape reaches its step count (the service
would end the biggest at its 32 MiB cap with `output_limit`).

End to end: the same 1000-step trace through the emulator over HTTP
(isolation included) against in-process, and requests per second with 8
concurrent clients.
"""

import concurrent.futures
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "bench" / "programs"
SHAPES = ["bubble_sort", "fib", "bst", "word_count", "matrix", "generators"]
STEP_COUNTS = [1000, 10000]
RUNS = 3
ROUNDS_LINE = "ROUNDS = 1000000"
# The peer figures at 10000 steps: the faster peer's µs/step and bytes/step.
PEERS = {"bubble_sort": (80, 824), "fib": (53, 810), "bst": (1711, 9982),
         "word_count": (179, 3728), "matrix": (231, 1798), "generators": (37, 701)}
E2E_PROGRAM, E2E_STEPS, E2E_RUNS = "bubble_sort", 1000, 15
CLIENTS, REQUESTS_PER_CLIENT = 8, 6


def source(shape, rounds=None):
    text = (PROGRAMS / f"{shape}.py").read_text()
    return text if rounds is None else text.replace(ROUNDS_LINE, f"ROUNDS = {rounds}")


# -- one measurement, in its own process

def measure(shape, steps):
    import tracer
    program = source(shape)
    started = time.perf_counter()
    full = tracer.trace_json(program, "", steps)
    elapsed = time.perf_counter() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    record = json.loads(full)
    taken = len(record["steps"])
    del record
    started = time.perf_counter()
    delta = tracer.trace_json(program, "", steps, "delta")
    delta_elapsed = time.perf_counter() - started
    noop, untraced = _floors(shape, steps)
    return {"steps": taken, "ms": elapsed * 1000, "us_per_step": elapsed * 1e6 / taken,
            "bytes_per_step": len(full) / taken, "delta_bytes": len(delta),
            "delta_bytes_per_step": len(delta) / taken, "delta_ms": delta_elapsed * 1000,
            "peak_rss_mb": peak_rss / 2**20, "noop_us_per_event": noop, "untraced_us_per_event": untraced}


def _floors(shape, events):
    """µs per program event under a no-op trace hook, and untraced, over about `events` events."""
    rounds, counted = 1, 0
    while counted < events:  # how many rounds give at least that many events
        rounds *= 2
        counted, _ = _run_counted(shape, rounds)
    counted, noop_seconds = _run_counted(shape, rounds)
    code = compile(source(shape, rounds), "<source>", "exec")
    started = time.perf_counter()
    exec(code, {"__name__": "__main__"})
    untraced_seconds = time.perf_counter() - started
    return noop_seconds * 1e6 / counted, untraced_seconds * 1e6 / counted


def _run_counted(shape, rounds):
    code = compile(source(shape, rounds), "<source>", "exec")
    count = 0

    def hook(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != "<source>":
            return None
        count += 1
        return hook

    started = time.perf_counter()
    sys.settrace(hook)
    try:
        exec(code, {"__name__": "__main__"})
    finally:
        sys.settrace(None)
    return count, time.perf_counter() - started


def _measure_in_subprocess(shape, steps):
    env = dict(os.environ, TRACER_RECORD_BYTES=str(512 * 2**20), TRACER_TIME_SECONDS="120")
    result = subprocess.run([sys.executable, "-m", "bench.performance", "--one", shape, str(steps)],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


# -- end to end

def end_to_end():
    import tracer
    from tests.test_emulator import request, start_emulator
    program = source(E2E_PROGRAM)
    body = {"source": program, "steps": E2E_STEPS}
    with start_emulator() as url:
        request(url, body=body)  # starts the fork server
        in_process, over_http = [], []
        for _ in range(E2E_RUNS):
            started = time.perf_counter()
            tracer.trace_json(program, "", E2E_STEPS)
            in_process.append(time.perf_counter() - started)
            started = time.perf_counter()
            status, _, reply = request(url, body=body)
            over_http.append(time.perf_counter() - started)
            assert status == 200 and len(json.loads(reply)["steps"]) == E2E_STEPS
        delta_http = []
        for _ in range(E2E_RUNS):
            started = time.perf_counter()
            request(url, body=dict(body, encoding="delta"))
            delta_http.append(time.perf_counter() - started)

        def client(_):
            for _ in range(REQUESTS_PER_CLIENT):
                status, _, _ = request(url, body=body)
                assert status == 200

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, range(CLIENTS)))
        elapsed = time.perf_counter() - started
    local, http = statistics.median(in_process) * 1000, statistics.median(over_http) * 1000
    return {"program": E2E_PROGRAM, "steps": E2E_STEPS, "in_process_ms": local, "http_ms": http,
            "http_delta_ms": statistics.median(delta_http) * 1000,
            "ratio": http / local, "overhead_ms": http - local, "budget_ms": 1.5 * local + 15,
            "clients": CLIENTS, "requests_per_second": CLIENTS * REQUESTS_PER_CLIENT / elapsed}


# -- the report

def main():
    runs = {(shape, steps): [] for steps in STEP_COUNTS for shape in SHAPES}
    for _ in range(RUNS):  # interleaved: every configuration once per round
        for key in runs:
            runs[key].append(_measure_in_subprocess(*key))
    from tracer import speedups
    loops = "C (tracer/_speedups)" if speedups.NATIVE else "the Python fallback"
    print(f"in-process traces use {loops}; the service's children use C wherever it is built")
    results = []
    for (shape, steps), samples in runs.items():
        row = {"shape": shape, "steps_asked": steps}
        for field in samples[0]:
            row[field] = statistics.median(sample[field] for sample in samples)
        row["x_noop"] = row["us_per_step"] / row["noop_us_per_event"]
        row["x_untraced"] = row["us_per_step"] / row["untraced_us_per_event"]
        peer_us, peer_bytes = PEERS[shape]
        row["peer_us_per_step"], row["peer_ratio"] = peer_us, row["us_per_step"] / peer_us
        results.append(row)
    print(f"{'shape':<12}{'steps':>7}{'ms':>9}{'us/step':>9}{'B/step':>8}{'delta B/step':>13}"
          f"{'delta MB':>9}{'RSS MB':>8}{'noop us':>8}{'x noop':>8}{'x untraced':>11}{'/ peer':>8}")
    for row in results:
        print(f"{row['shape']:<12}{row['steps']:>7}{row['ms']:>9.1f}{row['us_per_step']:>9.1f}"
              f"{row['bytes_per_step']:>8.0f}{row['delta_bytes_per_step']:>13.0f}"
              f"{row['delta_bytes'] / 2**20:>9.2f}{row['peak_rss_mb']:>8.0f}{row['noop_us_per_event']:>8.2f}"
              f"{row['x_noop']:>8.1f}{row['x_untraced']:>11.0f}{row['peer_ratio']:>8.2f}")
    e2e = end_to_end()
    print(f"\nend to end, {e2e['program']} at {e2e['steps']} steps: in-process {e2e['in_process_ms']:.1f} ms, "
          f"HTTP with isolation {e2e['http_ms']:.1f} ms ({e2e['ratio']:.2f}x, +{e2e['overhead_ms']:.1f} ms; "
          f"budget 1.5x + 15 ms = {e2e['budget_ms']:.1f} ms), delta over HTTP {e2e['http_delta_ms']:.1f} ms; "
          f"{e2e['requests_per_second']:.1f} requests/s with {e2e['clients']} clients")
    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    (out / "bench-performance.json").write_text(json.dumps({"speedups": speedups.NATIVE, "shapes": results,
                                                               "end_to_end": e2e}, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]))))
    else:
        main()

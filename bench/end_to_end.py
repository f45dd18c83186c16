"""The speed a user feels: this service and the seed, both over HTTP on 127.0.0.1.

Each is served by functions-framework from its own folder (the seed from
../shared/peers/willow/tracers/python; without ../shared, as in a user's
clone, its column is left out with a message), its Python compiled first as
Cloud Functions' buildpack compiles a function's source at deploy (the
seed's in a copy). For the bench programs at
1000 steps and a tiny program: median latency of sequential requests (the
services taking turns, and one client's back to back, as a grader sends them:
a burst after a rest, and the tail of a longer run, once a burst has used up
what a service prepares ahead; each of these two the median of three runs,
the services alternating), the same taking turns as a browser asks (its
Accept-Encoding: this service answers in zstd, the seed as always), requests
per second with 8 concurrent clients, bytes as identity and as gzip; then
cold start, process start to the first trace answered; then the latency of
requests that come after a quiet spell (as a classroom's do, one now and
then), by its length; then the CPU of one client's requests past the
spares, process by process
(bench/cpu_split.py); then, for this service alone, the latency and bytes in
each encoding a browser takes.
`make bench` prints the table and writes build/bench-end-to-end.json.
Timings are reported, never asserted.
"""

import concurrent.futures
import contextlib
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import cpu_split, mixed_load

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "peers" / "willow" / "tracers" / "python"
PROGRAMS = ROOT / "bench" / "programs"
SHAPES = ["bubble_sort", "fib", "bst", "word_count", "matrix", "generators"]
TINY = "name = 'world'\ngreeting = 'hello ' + name\nwords = greeting.split()\nprint(len(words))\n"
STEPS = 1000
SEQUENTIAL = 15
# One client's longer run back to back: the median of its requests past the first
# SUSTAINED_FROM (this service's spares are used up by then, and each request's
# spare is made beside the requests after it).
SUSTAINED, SUSTAINED_FROM = 45, 20
# Each measurement starts after this long without requests, so that none depends on
# what the one before it left to do (this service's spares forked again, the seed's
# collector): as a grader's burst comes after a quiet spell.
REST_SECONDS = 0.5
# One client's runs back to back are measured this many times, the services
# alternating run by run, and the median taken: a run measures one service at a
# time, so a change in the machine's speed between two runs (the seed's 1000-step
# generators took 35 and 48 ms in one bench) would fall on one side alone.
BACK_TO_BACK_ROUNDS = 3
# Requests that each come this long after the answer to the one before: a request
# after a quiet spell meets CPUs that were idle (on this virtual machine, halted),
# their caches cold. Each service alone, GAP_REQUESTS at each gap, GAP_ROUNDS times
# with the services alternating; for the programs in GAP_PROGRAMS.
GAPS_SECONDS = (0.005, 0.03, 0.15)
GAP_REQUESTS, GAP_ROUNDS = 10, 2
GAP_PROGRAMS = ["generators", "tiny (4 lines)"]
CLIENTS, LOAD_SECONDS = 8, 4.0
# What Chrome and Firefox send: this service answers in zstd, the seed (which compresses
# nothing) as it answers every request.
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br, zstd"
# Cold starts of each service, taking turns: their median (process start to first
# answer varies by a third from one to the next on a 2-core machine).
COLD_STARTS = 11
MIXED_SECONDS = 60


def programs():
    shapes = {shape: (PROGRAMS / f"{shape}.py").read_text() for shape in SHAPES}
    return {**shapes, "tiny (4 lines)": TINY}


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(folder, env=None):
    """functions-framework serving `folder`'s main.service on 127.0.0.1; yields (port, seconds to start)."""
    port = _free_port()
    executable = Path(sys.executable).with_name("functions-framework")
    started = time.perf_counter()
    process = subprocess.Popen([str(executable), "--target", "service", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=folder, env=dict(os.environ, **(env or {})),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                post(port, {"source": "x = 1\n", "steps": 10})
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"functions-framework did not start in {folder}")
                time.sleep(0.005)
        yield port, time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def post(port, body, accept_encoding=None, connection=None):
    """(status, body bytes as sent) for one POST; a new connection unless one is given."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if accept_encoding:
        headers["Accept-Encoding"] = accept_encoding
    try:
        connection.request("POST", "/", json.dumps(body).encode(), headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


def latencies(ports, body, count=SEQUENTIAL, skip=0, gap=0.0, accept_encoding=None):
    """Median seconds per sequential request (past the first `skip`), for each port, the
    ports taking turns (so that a change in the machine's speed during the run falls on
    all of them alike), after a rest; each request sent `gap` seconds after the answer
    to the one before, with `accept_encoding` where given."""
    for port in ports:
        post(port, body, accept_encoding)  # warm
    time.sleep(REST_SECONDS)
    times = [[] for _ in ports]
    for _ in range(count):
        for port, own in zip(ports, times):
            if gap:
                time.sleep(gap)
            started = time.perf_counter()
            status, _ = post(port, body, accept_encoding)
            own.append(time.perf_counter() - started)
            assert status == 200, status
    return [statistics.median(own[skip:]) for own in times]


def back_to_back(ports, body, count=SEQUENTIAL, skip=0):
    """Median seconds per request (past the first `skip`) of one client's `count` back to back,
    for each port: the median of BACK_TO_BACK_ROUNDS runs, the ports taking turns run by run."""
    runs = [[] for _ in ports]
    for _ in range(BACK_TO_BACK_ROUNDS):
        for port, own in zip(ports, runs):
            own.append(latencies([port], body, count, skip)[0])
    return [statistics.median(own) for own in runs]


def after_gaps(ports, body):
    """{gap seconds: [median seconds per request, for each port]}: requests each sent `gap`
    after the answer to the one before (latencies), each port alone, GAP_ROUNDS runs at each
    gap with the ports alternating round by round, and the median of their medians."""
    runs = {gap: [[] for _ in ports] for gap in GAPS_SECONDS}
    for round_number in range(GAP_ROUNDS):
        for gap in GAPS_SECONDS:
            order = list(zip(ports, runs[gap]))
            for port, own in order if round_number % 2 == 0 else reversed(order):
                own.append(latencies([port], body, GAP_REQUESTS, gap=gap)[0])
    return {gap: [statistics.median(own) for own in rows] for gap, rows in runs.items()}


def requests_per_second(port, body):
    """Answered 200s per second with CLIENTS clients, each sending as soon as it has its answer."""
    time.sleep(REST_SECONDS)
    stop_at = time.monotonic() + LOAD_SECONDS

    def client(_):
        answered = 0
        while time.monotonic() < stop_at:
            status, _ = post(port, body)
            answered += status == 200
        return answered

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        answered = sum(pool.map(client, range(CLIENTS)))
    return answered / (time.perf_counter() - started)


def measure(folders):
    """{folder: {"programs": {name: row}, "cold_start_ms": ms, "after_gaps_ms": {name: {gap ms: ms}}}},
    every folder served at once."""
    results = {folder: {"programs": {}} for folder in folders}
    with contextlib.ExitStack() as stack:
        ports = [stack.enter_context(served(folder))[0] for folder in folders]
        for name, source in programs().items():
            body = {"source": source, "input": "", "steps": STEPS}
            seconds = latencies(ports, body)
            bursts = back_to_back(ports, body)
            long_runs = back_to_back(ports, body, SUSTAINED, SUSTAINED_FROM)
            as_browsers_ask = latencies(ports, body, accept_encoding=BROWSER_ACCEPT_ENCODING)
            for folder, port, median, burst, long_run, browser in zip(folders, ports, seconds, bursts, long_runs,
                                                                      as_browsers_ask):
                _, identity = post(port, body)
                _, compressed = post(port, body, "gzip")
                if compressed[:2] == b"\x1f\x8b":
                    assert gzip.decompress(compressed) == identity
                results[folder]["programs"][name] = {
                    "ms": median * 1000, "back_to_back_ms": burst * 1000, "sustained_ms": long_run * 1000,
                    "browser_ms": browser * 1000,
                    "requests_per_second": requests_per_second(port, body),
                    "bytes": len(identity), "bytes_gzip": len(compressed), "steps": _steps_in(identity)}
    cold = {folder: [] for folder in folders}
    for _ in range(COLD_STARTS):
        for folder in folders:
            with served(folder) as (_, seconds):
                cold[folder].append(seconds * 1000)
    for folder in folders:
        results[folder]["cold_start_ms"] = statistics.median(cold[folder])
        results[folder]["after_gaps_ms"] = {name: {} for name in GAP_PROGRAMS}
    with contextlib.ExitStack() as stack:
        ports = [stack.enter_context(served(folder))[0] for folder in folders]
        for name in GAP_PROGRAMS:
            body = {"source": programs()[name], "input": "", "steps": STEPS}
            for gap, medians in after_gaps(ports, body).items():
                for folder, median in zip(folders, medians):
                    results[folder]["after_gaps_ms"][name][f"{gap * 1000:g}"] = median * 1000
    return results


def _steps_in(body):
    """How many steps a record (this service's, or the seed's: both have "steps") holds."""
    steps = json.loads(body).get("steps")
    return len(steps) if isinstance(steps, list) else 0


def fewer_steps(ours, seed):
    """{program: (the seed's steps, ours)} where the seed's record holds fewer steps than ours:
    its times are not those of the same trace (on CPython 3.12 the seed stops at the first
    list comprehension of matrix, which 3.12 inlines)."""
    return {name: (seed["programs"][name]["steps"], row["steps"]) for name, row in ours["programs"].items()
            if seed["programs"][name]["steps"] < row["steps"]}


# The programs whose CPU per request is split by process (bench/cpu_split.py).
CPU_SPLIT_PROGRAMS = ["tiny (4 lines)", "generators"]


def cpu_by_process(folders):
    """{folder: {program: bench/cpu_split.py's ms per request by process}}, each folder served alone."""
    results = {folder: {} for folder in folders}
    for name in CPU_SPLIT_PROGRAMS:
        body = {"source": programs()[name], "input": "", "steps": STEPS}
        for folder in folders:
            with served(folder) as (port, _):
                results[folder][name] = cpu_split.split(port, lambda: post(port, body)[0])
    return results


def print_cpu_by_process(split, folders):
    print(f"\nCPU per request by process (ms; /proc), one client's {cpu_split.REQUESTS} back to back past the "
          f"spares; 'busy' is the machine's in all, against wall x CPUs")
    print(f"{'program':<16}{'':<6}{'wall':>6}{'busy':>6}{'client':>7}{'service':>8}{'server':>7}{'children':>9}")
    for name in CPU_SPLIT_PROGRAMS:
        for folder in folders:
            row = split[folder][name]
            label = "this" if folder == ROOT else "seed"
            server, children = ((f"{row['fork_server_ms']:>7.2f}", f"{row['children_ms']:>9.2f}")
                                if "fork_server_ms" in row else (f"{'-':>7}", f"{'-':>9}"))
            print(f"{name:<16}{label:<6}{row['wall_ms']:>6.2f}{row['machine_busy_ms']:>6.2f}{row['client_ms']:>7.2f}"
                  f"{row['service_ms']:>8.2f}{server}{children}")


ENCODINGS = ["identity", "gzip", "br", "zstd"]


def by_encoding():
    """{program: {encoding: (median ms, bytes)}} for this service, the encodings taking turns."""
    rows = {}
    with served(ROOT) as (port, _):
        for name, source in programs().items():
            body = {"source": source, "input": "", "steps": STEPS}
            times = {encoding: [] for encoding in ENCODINGS}
            sizes = {}
            for _ in range(SEQUENTIAL):
                for encoding in ENCODINGS:
                    started = time.perf_counter()
                    status, data = post(port, body, encoding)
                    times[encoding].append(time.perf_counter() - started)
                    assert status == 200, status
                    sizes[encoding] = len(data)
            rows[name] = {encoding: (statistics.median(times[encoding]) * 1000, sizes[encoding])
                          for encoding in ENCODINGS}
    return rows


def as_deployed(folder, scratch=None):
    """`folder` with its Python compiled to bytecode, as Cloud Functions' buildpack
    compiles a function's source at deploy (`python3 -m compileall -f -q .`; without -f
    here, a .pyc already up to date with its source is kept, which comes to the same): no
    cold start then compiles a module, whatever PYTHONDONTWRITEBYTECODE says here.
    Compiled in place, or in a copy under `scratch` (the seed's: ../shared is left as it is)."""
    if scratch is not None:
        folder = Path(shutil.copytree(folder, Path(scratch) / folder.name))
    paths = [str(folder / "main.py")] + ([str(folder / "tracer")] if (folder / "tracer").is_dir() else [])
    subprocess.run([sys.executable, "-m", "compileall", "-q", *paths], check=True, stdout=subprocess.DEVNULL)
    return folder


def main():
    with tempfile.TemporaryDirectory() as scratch:
        compare(scratch)


def compare(scratch):
    seed_folder = as_deployed(SEED, scratch) if (SEED / "main.py").exists() else None
    folders = [as_deployed(ROOT)] + ([seed_folder] if seed_folder else [])
    if seed_folder is None:
        print(f"the seed is not at hand ({SEED}): its columns are left out")
    results = measure(folders)
    ours, seed = results[ROOT], results.get(seed_folder)
    print(f"\nend to end over HTTP, {STEPS} steps asked, median of {SEQUENTIAL} sequential requests taking "
          f"turns (ms), of one client's {SEQUENTIAL} back to back (b2b) and of the last "
          f"{SUSTAINED - SUSTAINED_FROM} of its {SUSTAINED} back to back (long; these two the median of "
          f"{BACK_TO_BACK_ROUNDS} runs, the services alternating), each after a {REST_SECONDS} s rest; "
          f"requests/s with {CLIENTS} clients for {LOAD_SECONDS:.0f} s")
    header = f"{'program':<16}{'ms':>7}{'b2b':>6}{'long':>6}{'req/s':>6}{'bytes':>9}{'gzip':>7}"
    if seed:
        header += (f"{'seed ms':>9}{'b2b':>7}{'long':>7}{'req/s':>6}{'bytes':>9}{'x faster':>9}"
                   f"{'x b2b':>6}{'x long':>7}{'x req/s':>8}")
    print(header)
    for name, row in ours["programs"].items():
        line = (f"{name:<16}{row['ms']:>7.1f}{row['back_to_back_ms']:>6.1f}{row['sustained_ms']:>6.1f}"
                f"{row['requests_per_second']:>6.0f}{row['bytes']:>9}{row['bytes_gzip']:>7}")
        if seed:
            theirs = seed["programs"][name]
            line += (f"{theirs['ms']:>9.1f}{theirs['back_to_back_ms']:>7.1f}{theirs['sustained_ms']:>7.1f}"
                     f"{theirs['requests_per_second']:>6.0f}{theirs['bytes']:>9}{theirs['ms'] / row['ms']:>9.2f}"
                     f"{theirs['back_to_back_ms'] / row['back_to_back_ms']:>6.2f}"
                     f"{theirs['sustained_ms'] / row['sustained_ms']:>7.2f}"
                     f"{row['requests_per_second'] / theirs['requests_per_second']:>8.2f}")
        print(line)
    print(f"as a browser asks (Accept-Encoding: {BROWSER_ACCEPT_ENCODING}), median of {SEQUENTIAL} sequential "
          f"requests taking turns: ms" + (" (the seed answers as to any request)" if seed else ""))
    for name, row in ours["programs"].items():
        line = f"{name:<16}{row['browser_ms']:>7.1f}"
        if seed:
            theirs = seed["programs"][name]["browser_ms"]
            line += f"  seed {theirs:>7.1f}  x faster {theirs / row['browser_ms']:>6.2f}"
        print(line)
    for name, (theirs, mine) in (fewer_steps(ours, seed) if seed else {}).items():
        print(f"  {name}: the seed's record has {theirs} steps, this service's {mine}: not the same trace")
    print(f"cold start (process start to the first trace answered): {ours['cold_start_ms']:.0f} ms"
          + (f", seed {seed['cold_start_ms']:.0f} ms ({ours['cold_start_ms'] / seed['cold_start_ms']:.2f}x)"
             if seed else ""))
    print(f"\nafter a quiet spell: median ms of requests each sent that long after the answer to the one "
          f"before ({GAP_REQUESTS} x {GAP_ROUNDS}, each service alone)")
    for name, row in ours["after_gaps_ms"].items():
        seed_row = seed["after_gaps_ms"][name] if seed else {}
        cells = [f"{gap} ms: {ms:.1f}" + (f" seed {seed_row[gap]:.1f} ({seed_row[gap] / ms:.2f}x)" if seed_row else "")
                 for gap, ms in row.items()]
        print(f"{name:<16}" + "; ".join(cells))
    split = cpu_by_process(folders)
    print_cpu_by_process(split, folders)
    encoded = by_encoding()
    print(f"\nthis service by Accept-Encoding, median of {SEQUENTIAL} sequential requests: ms, bytes")
    print(f"{'program':<16}" + "".join(f"{encoding:>18}" for encoding in ENCODINGS))
    for name, row in encoded.items():
        print(f"{name:<16}" + "".join(f"{row[encoding][0]:>8.1f} {row[encoding][1]:>9}" for encoding in ENCODINGS))
    with served(ROOT) as (port, _):
        load = mixed_load.run(port, MIXED_SECONDS, CLIENTS)
    print(f"{CLIENTS} clients mixing normal, 10000-step and hostile programs for {MIXED_SECONDS} s: "
          f"{load['normal']} normal answered, p50 {load['p50_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms, "
          f"{load['long']} long, {load['hostile']} hostile; errors: {len(load['errors'])}")
    for error in load["errors"][:10]:
        print("  ", error)
    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    (out / "bench-end-to-end.json").write_text(json.dumps({"ours": ours, "seed": seed, "by_encoding": encoded,
                                                           "cpu_by_process": {str(folder): rows for folder, rows
                                                                              in split.items()},
                                                           "mixed_load": load}, indent=1))


if __name__ == "__main__":
    main()

"""What one process per request costs on this machine, before any program runs.

Every request is traced in a process of its own, forked from the fork
server; the seed traces in the process that serves it. So each request pays
for a fork (in the server), CPython's after-fork work and the first page
faults (in the child), the child's exit, and the page faults its trace takes
on pages it shares with the server (copy on write): what a request costs
beyond the seed's, however small its program. This measures those parts,
each the median of ROUNDS forks, in a process set up as the fork server is
(its imports, the warm-up trace, the builtins made ahead, gc.freeze), and in
a bare interpreter (`python -I -S`, nothing imported) for the floor that no
change to the tracer moves: fork, after-fork and exit of CPython itself. And
the unit most of it is made of here: the time to write a fresh page (an
anonymous mapping's pages, each written once; a copy on write costs that and
the copy).

Run as `python -m bench.process_cost [bare]`: prints one JSON object.
bench/isolation.py runs both and prints them beside its table.
"""

import gc
import json
import mmap
import os
import resource
import statistics
import sys
import time

ROUNDS = 60
# bench/end_to_end.py's small program (not imported from there: its imports, threading's
# among them, would change the process measured here)
TINY = "name = 'world'\ngreeting = 'hello ' + name\nwords = greeting.split()\nprint(len(words))\n"


def _cpu_microseconds(usage):
    return (usage.ru_utime + usage.ru_stime) * 1e6


def _forked(work):
    """Fork a child that runs `work()` and exits: (fork's wall time in the parent, the child's
    CPU and page faults when `work` returns, its CPU and page faults in all), in µs and faults."""
    readable, writable = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            work()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            os.write(writable, f"{_cpu_microseconds(usage)} {usage.ru_minflt}".encode())
            status = 0
        finally:
            os._exit(status)
    fork_microseconds = (time.perf_counter() - started) * 1e6
    os.close(writable)
    report = os.read(readable, 100).split()
    os.close(readable)
    _, status, usage = os.wait4(pid, 0)
    if status != 0 or len(report) != 2:
        raise RuntimeError(f"the forked child failed (wait status {status})")
    child_cpu, child_faults = float(report[0]), int(report[1])
    return fork_microseconds, child_cpu, child_faults, _cpu_microseconds(usage), usage.ru_minflt


def _medians(work):
    runs = [_forked(work) for _ in range(ROUNDS)]
    fork, child, child_faults, total, total_faults = (statistics.median(column) for column in zip(*runs))
    return {"fork_us": round(fork), "child_us": round(child), "child_faults": round(child_faults),
            "exit_us": round(total - child), "total_faults": round(total_faults)}


def _like_the_fork_server():
    """This process set up as forkserver.serve sets up the server before its first fork
    (less the confinement, which needs privileges the bench may not have)."""
    from tracer import forkserver, runtime
    runtime.prepare_for_an_empty_filesystem()
    forkserver._warm_up()
    runtime.make_builtins_ahead()
    gc.freeze()


def _trace_tiny():
    from tracer.engine import Engine
    from tracer.formats import FORMATS
    from tracer.limits import limits_for
    limits = limits_for(1000)
    writer = FORMATS["record"].streamed(limits, lambda data: None, TINY, "full", {})
    Engine(TINY, "", limits, writer=writer, sandboxed=True).run()


def fresh_page_microseconds(pages=1024, rounds=10):
    """Median µs to write one byte into each page of a new anonymous mapping (the
    kernel finds, zeroes and maps a page at each)."""
    times = []
    for _ in range(rounds):
        with mmap.mmap(-1, pages * mmap.PAGESIZE) as mapping:
            started = time.perf_counter()
            for offset in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
                mapping[offset] = 1
            times.append((time.perf_counter() - started) / pages * 1e6)
    return round(statistics.median(times), 2)


def measure(bare):
    if bare:
        return {"process": _medians(lambda: None), "fresh_page_us": fresh_page_microseconds()}
    _like_the_fork_server()
    result = {"process": _medians(lambda: None)}
    for _ in range(20):
        _trace_tiny()
    started = time.process_time()
    for _ in range(ROUNDS):
        _trace_tiny()
    result["tiny_in_process_us"] = round((time.process_time() - started) / ROUNDS * 1e6)
    # the same trace as the first thing a fresh fork does: the pages it writes are
    # the server's until then, each copied at its first write
    result["tiny_forked"] = _medians(_trace_tiny)
    return result


def main():
    bare = sys.argv[1:] == ["bare"]
    if not bare:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    print(json.dumps(measure(bare)))


if __name__ == "__main__":
    main()

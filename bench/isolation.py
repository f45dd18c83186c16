"""Per-request cost of isolation: a trace in a sandboxed child against in-process;
then what its process costs before any program runs (bench/process_cost.py).

Prints the tables and writes build/bench.json. Medians of interleaved runs.
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import tracer
from bench import process_cost
from tracer.sandbox import Sandbox

PROGRAMS = {
    "empty": "",
    "seed": (Path(__file__).resolve().parent.parent / "res" / "seed.py").read_text(),
    "loop_1000_steps": "total = 0\nfor i in range(10000):\n    total += i\n",
}
INPUTS = {"seed": "hello world!\n"}
ROUNDS = 15


def main():
    sandbox = Sandbox()
    sandbox.start()
    results = {}
    for name, source in PROGRAMS.items():
        steps = 1000
        inprocess, isolated = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            tracer.trace_json(source, INPUTS.get(name, ""), steps)
            inprocess.append(time.perf_counter() - started)
            started = time.perf_counter()
            sandbox.run(source, INPUTS.get(name, ""), steps)
            isolated.append(time.perf_counter() - started)
        a, b = statistics.median(inprocess) * 1000, statistics.median(isolated) * 1000
        results[name] = {"in_process_ms": round(a, 2), "sandboxed_ms": round(b, 2),
                         "overhead_ms": round(b - a, 2), "ratio": round(b / a, 2)}
    sandbox.stop()
    print(f"{'program':<18}{'in-process ms':>15}{'sandboxed ms':>15}{'overhead ms':>13}{'ratio':>8}")
    for name, row in results.items():
        print(f"{name:<18}{row['in_process_ms']:>15}{row['sandboxed_ms']:>15}{row['overhead_ms']:>13}{row['ratio']:>8}")
    process = process_costs()
    out = Path("build")
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"isolation": results, "process": process}, indent=1))


def process_costs():
    """bench/process_cost.py's measures, in a bare interpreter and in one set up as the fork server."""
    root = Path(__file__).resolve().parent.parent
    bare = _run([sys.executable, "-I", "-S", str(root / "bench" / "process_cost.py"), "bare"], root)
    server = _run([sys.executable, "-m", "bench.process_cost"], root)
    print(f"\nOne process per request, before its program (medians of {process_cost.ROUNDS} forks; µs, page faults):")
    print(f"{'':<34}{'fork':>7}{'child CPU':>11}{'faults':>8}{'exit':>7}")
    rows = [("bare CPython (-I -S)", bare["process"]), ("set up as the fork server", server["process"]),
            ("  + the 4-line trace, first thing", server["tiny_forked"])]
    for label, row in rows:
        print(f"{label:<34}{row['fork_us']:>7}{row['child_us']:>11}{row['child_faults']:>8}"
              f"{row['exit_us']:>7}")
    print(f"(child CPU: until its work returns; exit: the rest of its CPU.) The 4-line trace in process, "
          f"warm: {server['tiny_in_process_us']} µs. A fresh page, first written: {bare['fresh_page_us']} µs")
    return {"bare": bare, "fork_server": server}


def _run(command, cwd):
    return json.loads(subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout)


if __name__ == "__main__":
    main()

"""Per-request cost of isolation: a trace in a sandboxed child against in-process.

Prints a table and writes build/bench.json. Medians of interleaved runs.
"""

import json
import statistics
import time
from pathlib import Path

import tracer
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
    out = Path("build")
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"isolation": results}, indent=1))


if __name__ == "__main__":
    main()

"""bench/process_cost.py measures what it says: `make bench` runs it, and no test
would otherwise notice that it broke. Its numbers are not asserted, only what
must hold of them whatever the machine."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _measure(*arguments, rounds=3):
    # in a process of its own: set up as the fork server, it would change this one
    code = ("import json, sys; from bench import process_cost as bench; bench.ROUNDS = %d; "
            "print(json.dumps(bench.measure(sys.argv[1:] == ['bare'])))" % rounds)
    done = subprocess.run([sys.executable, "-c", code, *arguments], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout)


def test_a_trace_in_a_fresh_fork_copies_the_pages_it_writes():
    result = _measure()
    empty, traced = result["process"], result["tiny_forked"]
    for row in (empty, traced):
        assert set(row) == {"fork_us", "child_us", "child_faults", "exit_us", "total_faults"}
        assert row["total_faults"] >= row["child_faults"] > 0
    # the trace writes pages the server shares with the child: each a fault of its own
    assert traced["child_faults"] > empty["child_faults"] + 100
    assert traced["child_us"] > empty["child_us"]
    assert result["tiny_in_process_us"] > 0


def test_the_isolation_bench_runs_both_as_make_bench_does(capsys):
    from bench import isolation
    result = isolation.process_costs()  # the bare one as `python -I -S bench/process_cost.py bare`
    assert set(result) == {"bare", "fork_server"}
    assert result["bare"]["fresh_page_us"] > 0 and result["bare"]["process"]["child_faults"] > 0
    assert "bare CPython" in capsys.readouterr().out

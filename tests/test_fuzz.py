"""Generated programs, each traced with the C loops and with the Python fallback: the same record, byte for byte.

Two long-lived workers (tests/fuzz/worker.py), one with the C loops and one
without, trace the same programs in the same order, in process. The programs
are tests/fuzz/programs.py's (pieces that mutate, alias, cycle, delete, raise,
use __slots__, properties, __getattr__, an __eq__ and __hash__ that raise,
generators, closures and deep recursion), at step limits 1, 2, 3, 50 and 5000
(a limit cuts a step's work in the middle), and programs hypothesmith makes
from Python's grammar. TRACER_FUZZ_PROGRAMS sets how many (`make fuzz` runs
thousands); a record that ended at the time limit is not compared (where a
deadline falls depends on speed), nor is one that shows a value whose text
is an address.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.programs import STEP_LIMITS, programs

ROOT = Path(__file__).resolve().parent.parent
# hypothesmith compiles what it makes: its warnings (`1()`) are not ours
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
COUNT = int(os.environ.get("TRACER_FUZZ_PROGRAMS", "150"))
SEED = int(os.environ.get("TRACER_FUZZ_SEED", "15"))


class Workers:
    def __init__(self):
        self.processes = []
        for speedups in ("1", "0"):
            env = dict(os.environ, TRACER_SPEEDUPS=speedups, PYTHONHASHSEED="0", TRACER_TIME_SECONDS="5",
                       TRACER_RECORD_BYTES=str(2 * 1024 * 1024))
            process = subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker"], cwd=ROOT, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert json.loads(process.stdout.readline()) == {"native": speedups == "1"}
            self.processes.append(process)

    def trace(self, source, steps, encoding="full"):
        """(the C loops' record, the fallback's record)."""
        line = json.dumps({"source": source, "steps": steps, "encoding": encoding}).encode() + b"\n"
        for process in self.processes:
            process.stdin.write(line)
            process.stdin.flush()
        return tuple(process.stdout.readline() for process in self.processes)

    def close(self):
        for process in self.processes:
            process.stdin.close()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def workers():
    started = Workers()
    yield started
    started.close()


def comparable(record):
    outcome = json.loads(record)["outcome"]["status"]
    return outcome != "time_limit" and b" at 0x" not in record


def test_generated_programs_give_the_same_record_with_and_without_c(workers):
    statuses = Counter()
    mismatches = []
    for index, source in enumerate(programs(SEED, COUNT)):
        for steps in STEP_LIMITS:
            for encoding in ("full", "delta") if steps == 50 else ("full",):
                native, python = workers.trace(source, steps, encoding)
                assert native.endswith(b"\n") and python.endswith(b"\n")
                statuses[json.loads(native)["outcome"]["status"]] += 1
                if comparable(native) and native != python:
                    mismatches.append((index, steps, encoding, source))
    assert mismatches == []
    # the programs reach every ending they are made to reach
    assert {"ok", "exception", "step_limit", "output_limit"} <= set(statuses)
    print(f"{COUNT} programs, {sum(statuses.values())} records each way: {dict(statuses)}")


@settings(max_examples=max(COUNT // 3, 10), derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(source=hypothesmith.from_grammar())
def test_programs_from_the_grammar_give_the_same_record_with_and_without_c(workers, source):
    native, python = workers.trace(source, 50)
    if comparable(native):
        assert native == python

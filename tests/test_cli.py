"""python -m tracer prints the record the service returns."""

import json
import subprocess
import sys
from pathlib import Path

import tracer
from tests import fixtures
from tests.conftest import check_record

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "tracer", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_cli_prints_the_same_record_as_trace_json():
    program = fixtures.RES / "seed.py"
    result = cli(str(program), "--input", str(fixtures.RES / "seed.in"))
    assert result.returncode == 0
    assert result.stdout.encode() == tracer.trace_json(fixtures.source("seed"), fixtures.input_text("seed")) + b"\n"


def test_cli_steps_pretty_and_stdin_program():
    result = cli("-", "--steps", "3", "--pretty", stdin="while True:\n    pass\n")
    assert result.stdout.startswith("{\n  ")
    record = check_record(json.loads(result.stdout))
    assert record["limits"]["steps"] == 3 and record["outcome"]["status"] == "step_limit"


def test_cli_reports_a_missing_file_and_bad_steps():
    assert cli("/nonexistent/program.py").returncode == 2
    assert "--steps" in cli("-", "--steps", "0", stdin="").stderr


def test_cli_delta_encoding():
    result = cli(str(fixtures.RES / "seed.py"), "--input", str(fixtures.RES / "seed.in"), "--encoding", "delta")
    assert result.returncode == 0
    record = json.loads(result.stdout)
    assert record["encoding"] == "delta"
    assert check_record(tracer.decode(record)) == tracer.trace(fixtures.source("seed"), fixtures.input_text("seed"))


def test_cli_python_tutor_format():
    result = cli("-", "--format", "pythontutor", stdin="x = [1]\nprint(x)\n")
    assert result.returncode == 0
    trace = json.loads(result.stdout)
    assert trace["code"] == "x = [1]\nprint(x)\n"
    assert [step["event"] for step in trace["trace"]] == ["step_line", "step_line", "return"]
    assert trace["trace"][-1]["stdout"] == "[1]\n"
    assert cli("-", "--format", "pythontutor", "--encoding", "delta", stdin="").returncode == 2

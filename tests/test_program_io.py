"""stdin, stdout and stderr as the traced program sees them."""

from tests.conftest import run


def test_input_reads_lines_and_prompt_goes_to_stdout():
    record = run("a = input('a? ')\nb = input()\nprint(a + b)", input="x\ny\n")
    assert record["stdout"] == "a? xy\n"
    assert record["steps"][-1]["stack"][0]["locals"]["a"] == "x"


def test_input_at_end_of_input_raises_eof_error():
    record = run("a = input()\nb = input()", input="only")
    assert record["outcome"]["exception"]["type"] == "EOFError"
    assert record["outcome"]["exception"]["message"] == "EOF when reading a line"
    assert record["outcome"]["exception"]["line"] == 2


def test_sys_stdin_read_readline_and_iteration():
    record = run("import sys\nfirst = sys.stdin.readline()\nrest = sys.stdin.read()\nmore = list(sys.stdin)",
                 input="1\n2\n3\n")
    names = record["steps"][-1]["stack"][0]["locals"]
    assert names["first"] == "1\n" and names["rest"] == "2\n3\n"


def test_print_options_and_stdout_write_are_captured():
    record = run("import sys\nprint(1, 2, sep='|', end='!')\nprint('e', file=sys.stderr)\n"
                 "sys.stdout.write('w')\nprint('f', flush=True)")
    assert record["stdout"] == "1|2!e\nwf\n"


def test_each_step_carries_the_output_since_the_previous_step():
    record = run("print('a')\nx = 1\nprint('b')\nprint('c')")
    deltas = [step.get("stdout") for step in record["steps"]]
    assert deltas == [None, "a\n", None, "b\n", "c\n"]


def test_output_cap_stops_the_program(monkeypatch):
    monkeypatch.setenv("TRACER_STDOUT_BYTES", "1000")
    record = run("print('x' * 5000)\nprint('after')")
    assert record["outcome"]["status"] == "output_limit"
    assert len(record["stdout"]) <= 1000


def test_writing_bytes_to_stdout_is_a_type_error():
    record = run("import sys\nsys.stdout.write(b'x')")
    assert record["outcome"]["exception"]["type"] == "TypeError"


def test_open_is_refused_with_a_clear_message():
    record = run("open('/etc/passwd')")
    exception = record["outcome"]["exception"]
    assert exception["type"] == "PermissionError" and "open() is not available" in exception["message"]


def test_sys_exit_with_string_goes_to_output_and_exit_code_1():
    record = run("import sys\nsys.exit('bad input')")
    assert record["outcome"] == {"status": "ok", "message": "The program exited with code 1", "exit_code": 1}
    assert record["stdout"] == "bad input\n"
    assert record["steps"][-1]["stdout"] == "bad input\n"


def test_exit_with_number_and_none():
    assert run("exit(4)")["outcome"]["exit_code"] == 4
    assert run("import sys\nsys.exit()")["outcome"]["exit_code"] == 0
    assert "exit_code" not in run("x = 1")["outcome"]

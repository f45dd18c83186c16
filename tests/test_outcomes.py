"""outcome: ok, exception, syntax_error, the limits."""

import pytest

from tests.conftest import run


def test_uncaught_exception_sets_outcome_with_program_only_traceback():
    record = run("def f():\n    return 1 / 0\n\nf()")
    outcome = record["outcome"]
    assert outcome["status"] == "exception"
    assert outcome["message"] == "ZeroDivisionError on line 2: division by zero"
    assert outcome["exception"] == {
        "type": "ZeroDivisionError", "message": "division by zero", "line": 2,
        "traceback": 'Traceback (most recent call last):\n  File "<source>", line 4, in <module>\n'
                     '    f()\n  File "<source>", line 2, in f\n    return 1 / 0\n'
                     "ZeroDivisionError: division by zero"}


def test_exception_raised_inside_library_code_names_the_programs_last_line():
    record = run("import json\n\njson.loads('{')")
    exception = record["outcome"]["exception"]
    assert exception["type"] == "JSONDecodeError" and exception["line"] == 3
    assert "json" not in exception["traceback"].replace("json.loads", "")
    assert "/" not in exception["traceback"]


@pytest.mark.parametrize("source, line, offset, type_name", [
    ("x = = 1", 1, 5, "SyntaxError"),
    ("if True:\nprint(1)", 2, 1, "IndentationError"),
    ("x = 1\ny = (", 2, 5, "SyntaxError"),
])
def test_syntax_error_has_line_and_offset_and_no_steps(source, line, offset, type_name):
    record = run(source)
    assert record["outcome"]["status"] == "syntax_error" and record["steps"] == []
    exception = record["outcome"]["exception"]
    assert (exception["type"], exception["line"], exception["offset"]) == (type_name, line, offset)


def test_null_byte_in_source_is_a_syntax_error_outcome():
    record = run("x = 1\ny = '\0'")
    assert record["outcome"]["status"] == "syntax_error"
    assert record["outcome"]["exception"]["line"] == 2


def test_keyboard_interrupt_and_generator_exit_are_ordinary_uncaught_exceptions():
    assert run("raise KeyboardInterrupt")["outcome"]["exception"]["type"] == "KeyboardInterrupt"
    assert run("raise GeneratorExit")["outcome"]["exception"]["type"] == "GeneratorExit"


def test_exception_with_no_message():
    outcome = run("raise ValueError")["outcome"]
    assert outcome["message"] == "ValueError on line 1" and outcome["exception"]["message"] == ""

"""The record's `outcome`: how the run ended, in one sentence and as data."""

from . import suggestions
from .objects import PROGRAM_FILENAME, exception_message, short_repr, type_name

_REPEAT_SHOWN = 3  # as CPython: identical traceback lines beyond this are counted


def finished(exit_code):
    if exit_code is None:
        return {"status": "ok", "message": "The program ran to the end"}
    return {"status": "ok", "message": f"The program exited with code {exit_code}",
            "exit_code": exit_code}


def stopped(status, limits, steps):
    messages = {
        "step_limit": f"Stopped after {steps} steps, the step limit",
        "time_limit": f"Stopped after {limits.time_seconds} seconds, the time limit",
        "output_limit": "Stopped because the output or the record grew past its limit "
                        f"({limits.stdout_bytes} characters of output, {limits.record_bytes} bytes of record)",
        "memory_limit": "Stopped because the program used more memory than allowed",
        "crash": "The program's process died",
    }
    return {"status": status, "message": messages[status]}


def exit_status(system_exit):
    """(exit code, text for stderr) of a SystemExit, as CPython reports it."""
    code = system_exit.code
    if code is None:
        return 0, ""
    if type(code) is int or type(code) is bool:
        return int(code), ""
    text = code if type(code) is str else short_repr(code, 1000)
    return 1, text + "\n"


def uncaught(error, source_lines, program_codes, hidden_frames):
    entries = _program_entries(error.__traceback__, program_codes, hidden_frames)
    name = type_name(type(error))
    message = exception_message(error)
    line = entries[-1][0] if entries else 1
    detail = {"type": name, "message": message, "line": line,
              "traceback": _format_traceback(entries, source_lines, name, message + suggestions.suffix(error, message))}
    text = f"{name} on line {line}: {message}" if message else f"{name} on line {line}"
    return {"status": "exception", "message": text, "exception": detail}


def syntax_error(error, source):
    name = type_name(type(error))
    if isinstance(error, SyntaxError) and error.lineno is not None:
        message = error.msg or ""
        line = error.lineno or 1
        offset = error.offset or 1
        text = error.text
    else:  # null bytes (3.11), or the compiler ran out of stack
        message = exception_message(error)
        line, offset = _position_of_null(source)
        text = None
    lines = [f'  File "{PROGRAM_FILENAME}", line {line}']
    if text:
        shown = text.rstrip("\n")
        stripped = shown.lstrip()
        lines.append("    " + stripped)
        caret = max(offset - 1 - (len(shown) - len(stripped)), 0)
        lines.append("    " + " " * caret + "^")
    lines.append(f"{name}: {message}")
    detail = {"type": name, "message": message, "line": line, "offset": offset,
              "traceback": "\n".join(lines)}
    return {"status": "syntax_error", "message": f"{name} on line {line}: {message}",
            "exception": detail}


def _position_of_null(source):
    index = source.find("\0")
    if index < 0:
        return 1, 1
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


def _program_entries(traceback, program_codes, hidden_frames):
    entries = []
    while traceback is not None:
        frame = traceback.tb_frame
        code = frame.f_code
        if id(code) in program_codes and not any(frame is hidden for hidden in hidden_frames):
            entries.append((traceback.tb_lineno, code.co_name))
        traceback = traceback.tb_next
    return entries


def _format_traceback(entries, source_lines, name, message):
    lines = ["Traceback (most recent call last):"]
    previous, repeats = None, 0

    def flush_repeats():
        if repeats > _REPEAT_SHOWN:
            extra = repeats - _REPEAT_SHOWN
            lines.append(f"  [Previous line repeated {extra} more time{'s' if extra > 1 else ''}]")

    for entry in entries:
        if entry == previous:
            repeats += 1
            if repeats > _REPEAT_SHOWN:
                continue
        else:
            flush_repeats()
            previous, repeats = entry, 1
        line, function = entry
        lines.append(f'  File "{PROGRAM_FILENAME}", line {line}, in {function}')
        if 0 < line <= len(source_lines) and source_lines[line - 1].strip():
            lines.append("    " + source_lines[line - 1].strip())
    flush_repeats()
    lines.append(f"{name}: {message}" if message else name)
    return "\n".join(lines)

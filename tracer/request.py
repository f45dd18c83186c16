"""The request: the POST body, or Python Tutor's GET query; parsing, size caps, types and defaults.

Errors are RequestError with the contract's HTTP status and code; the HTTP
layer only renders them.
"""

import json
from dataclasses import dataclass, field

from .formats import FORMATS, check_options
from .limits import DEFAULT_STEPS
from .record import ENCODINGS

MAX_BODY_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
FIELDS = ("source", "input", "steps", "encoding", "format", "options")


class RequestError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self):
        return {"error": {"code": self.code, "message": self.message}}


def invalid(message):
    return RequestError(400, "invalid_request", message)


def too_large(message):
    return RequestError(413, "payload_too_large", message)


@dataclass(frozen=True)
class TraceRequest:
    source: str = ""
    input: str = ""
    steps: int = DEFAULT_STEPS
    encoding: str = "full"
    format: str = "record"
    options: dict = field(default_factory=dict)  # the format's own, e.g. Python Tutor's heap_primitives


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body, default_format="record"):
    """A TraceRequest from the raw body bytes, or RequestError."""
    if len(body) > MAX_BODY_BYTES:
        raise too_large(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        fields = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise invalid(f"the body is not valid JSON: {error}") from None
    if not isinstance(fields, dict):
        raise invalid("the body must be a JSON object")
    for name in ("source", "input"):  # 413 wins over any 400
        value = fields.get(name)
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
            raise too_large(f"{name} is larger than {MAX_FIELD_BYTES} bytes as UTF-8")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise invalid(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS[:-1])} and {FIELDS[-1]}")
    for name in ("source", "input"):
        value = fields.get(name, "")
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{name} is not valid Unicode: it contains a lone surrogate") from None
    return checked(fields.get("source", ""), fields.get("input", ""), fields.get("steps", DEFAULT_STEPS),
                   fields.get("encoding", "full"), fields.get("format", default_format), fields.get("options", {}))


def checked(source, input_text, steps, encoding, trace_format, options):
    """A TraceRequest from fields whose strings are checked already, or RequestError."""
    if type(steps) is not int or steps < 1:
        raise invalid("steps must be an integer >= 1")
    if not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise invalid('encoding must be "full" or "delta"')
    if not isinstance(trace_format, str) or trace_format not in FORMATS:
        names = ", ".join(f'"{name}"' for name in FORMATS)
        raise invalid(f"format must be one of {names}")
    if encoding not in FORMATS[trace_format].encodings:
        raise invalid(f'encoding "{encoding}" is for the record format; the {trace_format} format has no {encoding}')
    if not isinstance(options, dict):
        raise invalid("options must be a JSON object")
    problem = check_options(trace_format, options)
    if problem:
        raise invalid(problem)
    return TraceRequest(source=source, input=input_text, steps=steps, encoding=encoding, format=trace_format,
                        options=options)


# Python Tutor's front end asks its back end `web_exec_py3.py` (or, in its live
# mode, `LIVE_exec_py3.py`) relative to its own page, with a GET.
PYTHONTUTOR_ENDPOINTS = ("web_exec_py3.py", "LIVE_exec_py3.py")
# As Python Tutor's own back end runs at most 1000 lines of a program.
PYTHONTUTOR_STEPS = 1000


def is_pythontutor_endpoint(path):
    return path.rsplit("/", 1)[-1] in PYTHONTUTOR_ENDPOINTS


def parse_pythontutor_query(args):
    """A TraceRequest in Python Tutor's format from its front end's query parameters, or RequestError.

    `user_script` is the program; `raw_input_json` a JSON list of the
    input() answers (or empty); `options_json` a JSON object of which
    heap_primitives and cumulative_mode are honoured (the rest, such as
    show_only_outputs and origin, are the front end's own business).
    """
    source = args.get("user_script", "")
    raw_input = args.get("raw_input_json", "")
    for name, value in (("user_script", source), ("raw_input_json", raw_input)):
        if len(value.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
            raise too_large(f"{name} is larger than {MAX_FIELD_BYTES} bytes as UTF-8")
    answers = _json_parameter(args, "raw_input_json", []) if raw_input.strip() else []
    if not (isinstance(answers, list) and all(isinstance(answer, str) for answer in answers)):
        raise invalid("raw_input_json must be a JSON list of strings")
    options = _json_parameter(args, "options_json", {})
    if not isinstance(options, dict):
        raise invalid("options_json must be a JSON object")
    honoured = {name: options[name] for name in ("heap_primitives", "cumulative_mode") if name in options}
    input_text = "".join(answer + "\n" for answer in answers)
    for name, value in (("user_script", source), ("raw_input_json", input_text)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{name} is not valid Unicode: it contains a lone surrogate") from None
    return checked(source, input_text, PYTHONTUTOR_STEPS, "full", "pythontutor", honoured)


def _json_parameter(args, name, default):
    text = args.get(name, "")
    if not text.strip():
        return default
    if len(text) > MAX_FIELD_BYTES:
        raise too_large(f"{name} is larger than {MAX_FIELD_BYTES} bytes")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise invalid(f"{name} is not valid JSON: {error}") from None

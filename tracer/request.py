"""The request body: parsing, size caps, types and defaults.

Errors are RequestError with the contract's HTTP status and code; the HTTP
layer only renders them.
"""

import json
from dataclasses import dataclass

from .limits import DEFAULT_STEPS
from .record import ENCODINGS

MAX_BODY_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
FIELDS = ("source", "input", "steps", "encoding", "format")
FORMATS = ("record", "pythontutor")


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


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body):
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
        raise invalid(f"unknown field {unknown[0]!r}; the fields are source, input, steps, encoding and format")
    for name in ("source", "input"):
        value = fields.get(name, "")
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{name} is not valid Unicode: it contains a lone surrogate") from None
    steps = fields.get("steps", DEFAULT_STEPS)
    if type(steps) is not int or steps < 1:
        raise invalid("steps must be an integer >= 1")
    encoding = fields.get("encoding", "full")
    if not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise invalid('encoding must be "full" or "delta"')
    trace_format = fields.get("format", "record")
    if not isinstance(trace_format, str) or trace_format not in FORMATS:
        raise invalid('format must be "record" or "pythontutor"')
    if trace_format == "pythontutor" and encoding != "full":
        raise invalid('encoding "delta" is for the record format; Python Tutor\'s format has no delta')
    return TraceRequest(source=fields.get("source", ""), input=fields.get("input", ""), steps=steps,
                        encoding=encoding, format=trace_format)

"""The HTTP cloud function: a JSON request in, a trace record (or an error) out."""

import threading

from tracer.sandbox import Sandbox, SandboxUnavailable

# The fork server is spawned as this module starts, before its other imports,
# so that it imports and confines itself (its start is most of a cold start:
# the first request waits for it) while this process imports the rest and
# functions-framework starts; gunicorn's workers, forked after, use it through
# the control socket they inherit (a SOCK_SEQPACKET socket, which several
# workers can share). The first request checks it (the canary) before any
# program runs. Spawning makes this process non-dumpable (Sandbox._spawn), and
# the workers forked from it keep that: where the traced children share the
# service's uid (an unprivileged service), they can then neither ptrace it nor
# read its /proc/<pid>/mem, environ or maps.
_sandbox_instance = Sandbox()
_sandbox_instance.spawn()
_sandbox_lock = threading.Lock()
_sandbox_checked = False

import base64  # noqa: E402 (after the spawn, above)
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import flask  # noqa: E402

from tracer.content_encoding import COMPRESSORS, ENCODINGS, compressed  # noqa: E402
from tracer.request import (MAX_BODY_BYTES, RequestError, is_pythontutor_endpoint, parse_body,  # noqa: E402
                            parse_pythontutor_query, too_large)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "3600",
}


log = logging.getLogger("tracer.service")


def service(request):
    """functions-framework entry point (`--target service`).

    Whatever fails inside the service is still answered as JSON with the CORS
    headers (and logged), never with the framework's HTML 500.
    """
    try:
        return _compressed(_serve(request), request)
    except Exception:
        log.exception("internal error while answering %s %s", request.method, request.path)
        body = {"error": {"code": "internal_error",
                          "message": "the service failed while answering this request; it has been logged"}}
        return _response(json.dumps(body).encode(), 500)


_COMPRESS_FROM = 1024  # bytes: below this the encoding's own header and the work are not worth it


def _content_encoding(request):
    """The encoding of content_encoding.ENCODINGS the client takes best (its q-values first), or None."""
    return request.accept_encodings.best_match(ENCODINGS)


def _compressed(response, request):
    """The response encoded as the client takes it (where it is worth it); a trace's body
    comes encoded already (body.py compresses it as the child's steps arrive).

    The record cap and output_limit count the record itself, before this.
    """
    response.vary.add("Accept-Encoding")
    if "Content-Encoding" in response.headers:
        return response
    body = response.get_data()
    encoding = _content_encoding(request)
    if len(body) >= _COMPRESS_FROM and encoding is not None:
        response.set_data(compressed(body, encoding))
        response.headers["Content-Encoding"] = encoding
    return response


def _serve(request):
    try:
        if request.method == "OPTIONS":
            return _response(b"", 204)
        if request.method in ("GET", "HEAD"):
            if not is_pythontutor_endpoint(request.path):
                return _viewer_page()
            trace_request = parse_pythontutor_query(request.args)
        elif request.method != "POST":
            raise RequestError(405, "method_not_allowed",
                               f"{request.method} is not allowed: send a POST with a JSON body")
        else:
            if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
                raise RequestError(415, "unsupported_media_type",
                                   "the body must be JSON, sent with Content-Type: application/json")
            # willow's client sends no format: pointed at /willow, it gets willow's
            default_format = "willow" if request.path.rstrip("/").endswith("/willow") else "record"
            trace_request = parse_body(_read_body(request), default_format)
    except RequestError as error:
        headers = {"Allow": "GET, HEAD, POST, OPTIONS"} if error.status == 405 else {}
        return _response(json.dumps(error.body()).encode(), error.status, headers)
    try:
        # compressed as the steps come, whatever its size: not joined and compressed after the child's end
        content_encoding = _content_encoding(request)
        record = _sandbox().run(trace_request.source, trace_request.input, trace_request.steps,
                                trace_request.encoding, trace_request.format, trace_request.options,
                                compressor=COMPRESSORS.get(content_encoding))
    except SandboxUnavailable as error:
        body = {"error": {"code": "service_unavailable", "message": str(error)}}
        return _response(json.dumps(body).encode(), 503)
    return _response(record, 200, {"Content-Encoding": content_encoding} if content_encoding else None)


def _sandbox():
    """The fork server, checked on first use; SandboxUnavailable if isolation does not hold."""
    global _sandbox_checked
    with _sandbox_lock:
        if not _sandbox_checked:
            _sandbox_instance.start()  # raises SandboxUnavailable: checked again on the next request
            _sandbox_checked = True
        return _sandbox_instance


VIEWER_PAGE = (Path(__file__).resolve().parent / "res" / "viewer.html").read_bytes()


def _content_security_policy(page):
    """Allow the page's own inline script and style (by hash) and POSTs to this origin, nothing else."""
    def hashes(tag):
        blocks = re.findall(rb"<%s>(.*?)</%s>" % (tag, tag), page, re.DOTALL)
        return " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(block).digest()).decode()
                        for block in blocks)
    return (f"default-src 'none'; script-src {hashes(b'script')}; style-src {hashes(b'style')}; "
            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")


VIEWER_HEADERS = {"Content-Security-Policy": _content_security_policy(VIEWER_PAGE),
                  "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _viewer_page():
    response = _response(VIEWER_PAGE, 200, VIEWER_HEADERS)
    response.content_type = "text/html; charset=utf-8"
    return response


def _read_body(request):
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large(f"the body is larger than {MAX_BODY_BYTES} bytes")
    return request.stream.read(MAX_BODY_BYTES + 1)


def _response(body, status, headers=None):
    response = flask.Response(body, status=status)
    if body:
        response.content_type = "application/json"
    response.headers.update(CORS_HEADERS)
    if headers:
        response.headers.update(headers)
    return response

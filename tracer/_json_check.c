/* The service's check of a child's step lines (sandbox.py), part of _speedups.

   `shallow_json(data, levels)` is json.loads(data.decode()) for what the
   parent needs of a step, without building the rest: `data` must be exactly
   one JSON value (RFC 8259: UTF-8, no NaN or Infinity, no control
   character unescaped in a string, surrounding whitespace allowed, nesting
   at most MAX_DEPTH deep), checked to its last byte; the value is returned
   with its containers built `levels` deep and every container below them
   empty ({} or []). Anything else is None. Python's mirror:
   speedups.shallow_json. The record joins the step bytes as they came, so
   the whole value is checked, not only what is built.

   `step_lines(buffer, offset, opener)` takes the step lines (`opener`, one
   JSON value, `}`, a newline) from `offset` on, in one call where a Python
   loop would make several per line: (the offset after the last one taken,
   [each step's JSON bytes], [each step shallow, one level built]). It stops
   at the first line that is not one, or not whole yet, for the caller to
   read (a pid or an end line) or refuse.
*/

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_json_check.h"

#define MAX_DEPTH 512

typedef struct {
    const unsigned char *at;
    const unsigned char *end;
} Scan;

/* A result: OK, or MALFORMED (no Python error set), or FAILED (one set); MORE:
   a container goes on after a comma. */
enum { OK = 0, MALFORMED = -1, FAILED = -2, MORE = 1 };

static int value(Scan *scan, int depth, int levels, PyObject **out);

/* The bytes that stand for themselves in a string: printable ASCII but the quote and the backslash. */
static const unsigned char PLAIN[256] = {[0x20 ... 0x7F] = 1, ['"'] = 0, ['\\'] = 0};

static inline void
skip_space(Scan *scan)
{
    while (scan->at < scan->end
           && (*scan->at == ' ' || *scan->at == '\t' || *scan->at == '\n' || *scan->at == '\r'))
        scan->at++;
}

static int
hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits after \u, or -1. */
static long
escaped_unit(Scan *scan)
{
    long unit = 0;
    if (scan->end - scan->at < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(scan->at[i]);
        if (digit < 0)
            return -1;
        unit = unit * 16 + digit;
    }
    scan->at += 4;
    return unit;
}

/* One UTF-8 character starting at scan->at (its first byte >= 0x80): its code
   point, or -1 where the bytes are not UTF-8 (overlong, a surrogate, beyond
   U+10FFFF, cut short). */
static long
utf8_character(Scan *scan)
{
    const unsigned char *p = scan->at;
    Py_ssize_t left = scan->end - p;
    unsigned char c = p[0];
    int length;
    long code;
    unsigned char low = 0x80, high = 0xBF;  /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        length = 2;
        code = c & 0x1F;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        length = 3;
        code = c & 0x0F;
        if (c == 0xE0)
            low = 0xA0;
        else if (c == 0xED)
            high = 0x9F;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        length = 4;
        code = c & 0x07;
        if (c == 0xF0)
            low = 0x90;
        else if (c == 0xF4)
            high = 0x8F;
    }
    else
        return -1;
    if (left < length || p[1] < low || p[1] > high)
        return -1;
    for (int i = 1; i < length; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        code = (code << 6) | (p[i] & 0x3F);
    }
    scan->at += length;
    return code;
}

/* The characters of a string up to its closing quote (scan->at is past its
   opening one), written to units if not NULL; how many, or -1 if malformed. */
static Py_ssize_t
string_units(Scan *scan, Py_UCS4 *units)
{
    Py_ssize_t count = 0;
    for (;;) {
        long code;
        if (scan->at >= scan->end)
            return -1;
        unsigned char c = *scan->at;
        if (c == '"') {
            scan->at++;
            return count;
        }
        if (c < 0x20)
            return -1;
        if (c < 0x80 && c != '\\') {
            scan->at++;
            code = c;
        }
        else if (c >= 0x80) {
            code = utf8_character(scan);
            if (code < 0)
                return -1;
        }
        else {  /* an escape */
            scan->at++;
            if (scan->at >= scan->end)
                return -1;
            c = *scan->at++;
            switch (c) {
            case '"': code = '"'; break;
            case '\\': code = '\\'; break;
            case '/': code = '/'; break;
            case 'b': code = '\b'; break;
            case 'f': code = '\f'; break;
            case 'n': code = '\n'; break;
            case 'r': code = '\r'; break;
            case 't': code = '\t'; break;
            case 'u':
                code = escaped_unit(scan);
                if (code < 0)
                    return -1;
                /* a high surrogate followed by an escaped low one is one character,
                   as json.loads makes it; any other surrogate stays alone */
                if (code >= 0xD800 && code <= 0xDBFF && scan->end - scan->at >= 6
                    && scan->at[0] == '\\' && scan->at[1] == 'u') {
                    Scan ahead = {scan->at + 2, scan->end};
                    long next = escaped_unit(&ahead);
                    if (next >= 0xDC00 && next <= 0xDFFF) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (next - 0xDC00);
                        scan->at = ahead.at;
                    }
                }
                break;
            default:
                return -1;
            }
        }
        if (units != NULL)
            units[count] = (Py_UCS4)code;
        count++;
    }
}

/* Where the run of plain ASCII from scan->at ends: most strings are one run, to the quote. */
static inline const unsigned char *
plain_run(const Scan *scan)
{
    const unsigned char *at = scan->at;
    while (at < scan->end && PLAIN[*at])
        at++;
    return at;
}

/* A string checked, not built; scan->at is past its opening quote. */
static inline int
skip_string(Scan *scan)
{
    const unsigned char *at = plain_run(scan);
    if (at < scan->end && *at == '"') {
        scan->at = at + 1;
        return OK;
    }
    scan->at = at;
    return string_units(scan, NULL) < 0 ? MALFORMED : OK;
}

/* A string built into *out (a str); scan->at is past its opening quote. */
static int
string(Scan *scan, PyObject **out)
{
    const unsigned char *start = scan->at;
    const unsigned char *at = plain_run(scan);
    if (at < scan->end && *at == '"') {  /* plain ASCII */
        scan->at = at + 1;
        *out = PyUnicode_DecodeASCII((const char *)start, at - start, NULL);
        return *out == NULL ? FAILED : OK;
    }
    Py_ssize_t count = string_units(scan, NULL);
    if (count < 0)
        return MALFORMED;
    Py_UCS4 *units = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(count + 1));
    if (units == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    Scan again = {start, scan->end};
    string_units(&again, units);
    *out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, units, count);
    PyMem_Free(units);
    return *out == NULL ? FAILED : OK;
}

static int
digits(Scan *scan)
{
    const unsigned char *start = scan->at;
    while (scan->at < scan->end && *scan->at >= '0' && *scan->at <= '9')
        scan->at++;
    return scan->at > start;
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; an int or a float into *out if out. */
static int
number(Scan *scan, PyObject **out)
{
    const unsigned char *start = scan->at;
    int is_float = 0;
    if (scan->at < scan->end && *scan->at == '-')
        scan->at++;
    if (scan->at < scan->end && *scan->at == '0')
        scan->at++;
    else if (!digits(scan))
        return MALFORMED;
    if (scan->at < scan->end && *scan->at == '.') {
        scan->at++;
        is_float = 1;
        if (!digits(scan))
            return MALFORMED;
    }
    if (scan->at < scan->end && (*scan->at == 'e' || *scan->at == 'E')) {
        scan->at++;
        is_float = 1;
        if (scan->at < scan->end && (*scan->at == '+' || *scan->at == '-'))
            scan->at++;
        if (!digits(scan))
            return MALFORMED;
    }
    if (out == NULL)
        return OK;
    PyObject *text = PyBytes_FromStringAndSize((const char *)start, scan->at - start);
    if (text == NULL)
        return FAILED;
    if (is_float) {
        double parsed = PyOS_string_to_double(PyBytes_AS_STRING(text), NULL, NULL);
        *out = parsed == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(parsed);
    }
    else
        *out = PyLong_FromString(PyBytes_AS_STRING(text), NULL, 10);
    Py_DECREF(text);
    return *out == NULL ? FAILED : OK;
}

static int
literal(Scan *scan, const char *word, PyObject *object, PyObject **out)
{
    size_t length = strlen(word);
    if ((size_t)(scan->end - scan->at) < length || memcmp(scan->at, word, length) != 0)
        return MALFORMED;
    scan->at += length;
    if (out != NULL)
        *out = Py_NewRef(object);
    return OK;
}

/* After a container's item: MORE after a comma, OK after `closer`, else MALFORMED. */
static int
after_item(Scan *scan, unsigned char closer)
{
    skip_space(scan);
    if (scan->at < scan->end && (*scan->at == ',' || *scan->at == closer))
        return *scan->at++ == ',' ? MORE : OK;
    return MALFORMED;
}

/* The container built (into *out, if it is to be), or dropped where it is not whole. */
static int
finish_container(int status, PyObject *result, PyObject **out)
{
    if (status != OK)
        Py_XDECREF(result);
    else if (out != NULL)
        *out = result;
    return status;
}

/* An object; scan->at is past its '{'. */
static int
object(Scan *scan, int depth, int levels, PyObject **out)
{
    int build = out != NULL;
    PyObject *result = build ? PyDict_New() : NULL;
    if (build && result == NULL)
        return FAILED;
    int status = OK;
    skip_space(scan);
    if (scan->at < scan->end && *scan->at == '}') {
        scan->at++;
        return finish_container(OK, result, out);
    }
    for (;;) {
        PyObject *key = NULL, *item = NULL;
        int members = build && levels > 0;
        skip_space(scan);
        if (scan->at >= scan->end || *scan->at != '"') {
            status = MALFORMED;
            break;
        }
        scan->at++;
        status = members ? string(scan, &key) : skip_string(scan);
        if (status != OK)
            break;
        skip_space(scan);
        if (scan->at >= scan->end || *scan->at != ':') {
            Py_XDECREF(key);
            status = MALFORMED;
            break;
        }
        scan->at++;
        status = value(scan, depth + 1, levels - 1, members ? &item : NULL);
        if (status == OK && members && PyDict_SetItem(result, key, item) < 0)
            status = FAILED;
        Py_XDECREF(key);
        Py_XDECREF(item);
        if (status == OK)
            status = after_item(scan, '}');
        if (status != MORE)
            break;
    }
    return finish_container(status, result, out);
}

/* An array; scan->at is past its '['. */
static int
array(Scan *scan, int depth, int levels, PyObject **out)
{
    int build = out != NULL;
    PyObject *result = build ? PyList_New(0) : NULL;
    if (build && result == NULL)
        return FAILED;
    int status = OK;
    skip_space(scan);
    if (scan->at < scan->end && *scan->at == ']') {
        scan->at++;
        return finish_container(OK, result, out);
    }
    for (;;) {
        PyObject *item = NULL;
        int items = build && levels > 0;
        status = value(scan, depth + 1, levels - 1, items ? &item : NULL);
        if (status == OK && items && PyList_Append(result, item) < 0)
            status = FAILED;
        Py_XDECREF(item);
        if (status == OK)
            status = after_item(scan, ']');
        if (status != MORE)
            break;
    }
    return finish_container(status, result, out);
}

/* A value that is checked but not built, after optional whitespace: the same
   language as value() with out NULL, in one loop with its open containers on
   a stack of its own instead of a call per item (most of a step is this). */
static int
skip_value(Scan *scan, int depth)
{
    unsigned char open[MAX_DEPTH + 1];  /* '{' or '[' per container open, innermost last */
    int top = 0;
    int status;
    const unsigned char *end = scan->end;

next_value:
    if (depth + top > MAX_DEPTH)
        return MALFORMED;
    skip_space(scan);
    if (scan->at >= end)
        return MALFORMED;
    switch (*scan->at) {
    case '{':
    case '[': {
        unsigned char opener = *scan->at++;
        skip_space(scan);
        if (scan->at < end && *scan->at == (opener == '{' ? '}' : ']')) {
            scan->at++;
            goto after_value;
        }
        open[top++] = opener;
        if (opener == '{')
            goto next_key;
        goto next_value;
    }
    case '"':
        scan->at++;
        status = skip_string(scan);
        break;
    case 't':
        status = literal(scan, "true", Py_True, NULL);
        break;
    case 'f':
        status = literal(scan, "false", Py_False, NULL);
        break;
    case 'n':
        status = literal(scan, "null", Py_None, NULL);
        break;
    default:
        status = number(scan, NULL);
    }
    if (status != OK)
        return status;

after_value:
    while (top > 0) {
        unsigned char closer = open[top - 1] == '{' ? '}' : ']';
        status = after_item(scan, closer);
        if (status == MORE) {
            if (closer == '}')
                goto next_key;
            goto next_value;
        }
        if (status != OK)
            return status;
        top--;
    }
    return OK;

next_key:
    skip_space(scan);
    if (scan->at >= end || *scan->at != '"')
        return MALFORMED;
    scan->at++;
    if (skip_string(scan) != OK)
        return MALFORMED;
    skip_space(scan);
    if (scan->at >= end || *scan->at != ':')
        return MALFORMED;
    scan->at++;
    goto next_value;
}

/* Any value, after optional whitespace; `levels`: how many container levels
   from here are built (from 0 on, a container is built empty). */
static int
value(Scan *scan, int depth, int levels, PyObject **out)
{
    if (out == NULL)
        return skip_value(scan, depth);
    if (depth > MAX_DEPTH)
        return MALFORMED;
    skip_space(scan);
    if (scan->at >= scan->end)
        return MALFORMED;
    if (levels <= 0 && (*scan->at == '{' || *scan->at == '[')) {
        /* built empty: its items are only checked */
        unsigned char opener = *scan->at;
        int status = skip_value(scan, depth);
        if (status != OK)
            return status;
        *out = opener == '{' ? PyDict_New() : PyList_New(0);
        return *out == NULL ? FAILED : OK;
    }
    switch (*scan->at) {
    case '{':
        scan->at++;
        return object(scan, depth, levels, out);
    case '[':
        scan->at++;
        return array(scan, depth, levels, out);
    case '"':
        scan->at++;
        return string(scan, out);
    case 't':
        return literal(scan, "true", Py_True, out);
    case 'f':
        return literal(scan, "false", Py_False, out);
    case 'n':
        return literal(scan, "null", Py_None, out);
    default:
        return number(scan, out);
    }
}

PyObject *
shallow_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "shallow_json(data, levels)");
        return NULL;
    }
    long levels = PyLong_AsLong(args[1]);
    if (levels == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    Scan scan = {data.buf, (const unsigned char *)data.buf + data.len};
    PyObject *result = NULL;
    int status = value(&scan, 0, (int)Py_MIN(levels, MAX_DEPTH + 1), &result);
    PyBuffer_Release(&data);
    if (status == OK) {
        skip_space(&scan);
        if (scan.at == scan.end)
            return result;
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    /* a number beyond int's digit limit is malformed, as for json.loads; memory is not */
    if (status == FAILED && PyErr_ExceptionMatches(PyExc_MemoryError))
        return NULL;
    PyErr_Clear();
    Py_RETURN_NONE;
}

PyObject *
step_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, opener;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "step_lines(buffer, offset, opener)");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[2], &opener, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *texts = PyList_New(0), *steps = PyList_New(0), *result = NULL;
    if (texts == NULL || steps == NULL)
        goto done;
    const unsigned char *base = data.buf, *end = base + data.len;
    while (offset >= 0 && offset < data.len) {
        const unsigned char *line = base + offset;
        const unsigned char *newline = memchr(line, '\n', end - line);
        if (newline == NULL || newline - line < opener.len + 1 || memcmp(line, opener.buf, opener.len) != 0
            || newline[-1] != '}')
            break;
        Scan scan = {line + opener.len, newline - 1};
        PyObject *step = NULL;
        int status = value(&scan, 0, 1, &step);
        if (status == OK) {
            skip_space(&scan);
            if (scan.at != scan.end) {
                Py_DECREF(step);
                status = MALFORMED;
            }
        }
        if (status == FAILED && PyErr_ExceptionMatches(PyExc_MemoryError))
            goto done;
        if (status != OK) {
            PyErr_Clear();
            break;  /* the caller refuses it */
        }
        PyObject *text = PyBytes_FromStringAndSize((const char *)line + opener.len,
                                                   newline - 1 - line - opener.len);
        int appended = text != NULL && PyList_Append(texts, text) == 0 && PyList_Append(steps, step) == 0;
        Py_XDECREF(text);
        Py_DECREF(step);
        if (!appended)
            goto done;
        offset = newline + 1 - base;
    }
    result = Py_BuildValue("nOO", offset, texts, steps);
done:
    Py_XDECREF(texts);
    Py_XDECREF(steps);
    PyBuffer_Release(&data);
    PyBuffer_Release(&opener);
    return result;
}

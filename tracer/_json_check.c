/* The service's check of a child's step lines (sandbox.py), part of _speedups.

   Every step line is strict JSON (RFC 8259: UTF-8, no NaN or Infinity, no
   control character unescaped in a string, no integer longer than int()
   takes, surrounding whitespace allowed, nesting at most MAX_DEPTH deep),
   checked to its last byte, as json.loads takes it: the record joins the
   step bytes as they came, so the whole value is checked, not only what the
   parent needs of it. Python's mirror: speedups.step_lines.

   `step_lines(buffer, offset, opener, shape)` takes the step lines (`opener`,
   one JSON value, `}`, a newline) from `offset` on, in one call where a
   Python loop would make several per line, each step checked against the
   reply's `shape` (speedups.step_shape: an object whose members are each of
   their kind, the required ones there, no other where the shape is exact)
   without building it: (the offset after the last one taken, [each step's
   JSON bytes], [each step's collected members' values, a tuple per step]).
   It stops at the first line that is not one, or not whole yet, for the
   caller to read (a pid or an end line) or refuse.
*/

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_json_check.h"

#define MAX_DEPTH 512
#define LONGEST_INT_ALWAYS_TAKEN 640

typedef struct {
    const unsigned char *at;
    const unsigned char *end;
} Scan;

/* A result: OK, or MALFORMED (no Python error set), or FAILED (one set); MORE:
   a container goes on after a comma. */
enum { OK = 0, MALFORMED = -1, FAILED = -2, MORE = 1 };

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

/* The int an integer's text from start to end makes, as int() makes it (refused past
   sys.get_int_max_str_digits(), with ValueError set). */
static PyObject *
int_of(const unsigned char *start, const unsigned char *end)
{
    PyObject *text = PyBytes_FromStringAndSize((const char *)start, end - start);
    PyObject *built = text ? PyLong_FromString(PyBytes_AS_STRING(text), NULL, 10) : NULL;
    Py_XDECREF(text);
    return built;
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; an integer longer than
   the shortest limit int() may have on its digits (640) is built, to be refused
   as json.loads refuses it (past sys.get_int_max_str_digits()). */
static int
number(Scan *scan)
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
    if (!is_float && scan->at - start > LONGEST_INT_ALWAYS_TAKEN) {
        PyObject *built = int_of(start, scan->at);
        if (built == NULL)
            return FAILED;
        Py_DECREF(built);
    }
    return OK;
}

static int
literal(Scan *scan, const char *word)
{
    size_t length = strlen(word);
    if ((size_t)(scan->end - scan->at) < length || memcmp(scan->at, word, length) != 0)
        return MALFORMED;
    scan->at += length;
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

/* A value checked, not built, after optional whitespace: in one loop with its
   open containers on a stack of its own instead of a call per item (most of a
   step is this). */
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
        status = literal(scan, "true");
        break;
    case 'f':
        status = literal(scan, "false");
        break;
    case 'n':
        status = literal(scan, "null");
        break;
    default:
        status = number(scan);
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

/* -- a step's shape: its members checked where they are, not built (step_lines) */

#define MAX_MEMBERS 16
#define MAX_INT_DIGITS 18  /* at most this many digits fit a long long: longer ones go through PyLong_FromString */

/* speedups.step_shape's kinds */
enum { KIND_INT = 1, KIND_STR = 2, KIND_OBJECT = 3, KIND_ARRAY = 4, KIND_ENUM = 5 };

typedef struct {
    const char *key;    /* UTF-8, from the shape's bytes */
    Py_ssize_t key_length;
    int kind;
    PyObject *allowed;  /* KIND_ENUM: a tuple of the str values allowed */
    int required;
    int slot;           /* where its value goes in a step's collected tuple, or -1 */
} Member;

typedef struct {
    int exact;          /* no member but those named */
    Py_ssize_t count;
    Py_ssize_t collected;  /* how many members are collected */
    unsigned long required;  /* a bit per required member */
    Member members[MAX_MEMBERS];
} Shape;

/* The shape speedups.step_shape made: (exact, ((key, kind, allowed, required), ...), (collected index, ...)). */
static int
read_shape(PyObject *spec, Shape *shape)
{
    PyObject *members, *collect;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3
            || !PyTuple_Check(members = PyTuple_GET_ITEM(spec, 1)) || !PyTuple_Check(collect = PyTuple_GET_ITEM(spec, 2))
            || PyTuple_GET_SIZE(members) > MAX_MEMBERS) {
        PyErr_SetString(PyExc_TypeError, "the step shape must come from speedups.step_shape");
        return -1;
    }
    shape->exact = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 0));
    shape->count = PyTuple_GET_SIZE(members);
    shape->collected = PyTuple_GET_SIZE(collect);
    shape->required = 0;
    for (Py_ssize_t i = 0; i < shape->count; i++) {
        PyObject *member = PyTuple_GET_ITEM(members, i);
        Member *m = &shape->members[i];
        if (!PyTuple_Check(member) || PyTuple_GET_SIZE(member) != 4 || !PyBytes_Check(PyTuple_GET_ITEM(member, 0))) {
            PyErr_SetString(PyExc_TypeError, "a step shape's member is (key bytes, kind, allowed, required)");
            return -1;
        }
        m->key = PyBytes_AS_STRING(PyTuple_GET_ITEM(member, 0));
        m->key_length = PyBytes_GET_SIZE(PyTuple_GET_ITEM(member, 0));
        m->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(member, 1));
        m->allowed = PyTuple_GET_ITEM(member, 2);
        m->required = PyObject_IsTrue(PyTuple_GET_ITEM(member, 3));
        m->slot = -1;
        if (m->kind < KIND_INT || m->kind > KIND_ENUM || (m->kind == KIND_ENUM && !PyTuple_Check(m->allowed))) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "a step shape's kind is unknown");
            return -1;
        }
        if (m->required)
            shape->required |= 1UL << i;
    }
    for (Py_ssize_t slot = 0; slot < shape->collected; slot++) {
        Py_ssize_t index = PyLong_AsSsize_t(PyTuple_GET_ITEM(collect, slot));
        if (index < 0 || index >= shape->count) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "a step shape collects a member it does not have");
            return -1;
        }
        shape->members[index].slot = (int)slot;
    }
    return 0;
}

/* A string's UTF-8 (scan->at past its opening quote), to compare with names the shape
   knows: plain ASCII where it is in the line; anything else decoded first into *decoded (the
   caller releases it), so it is what json.loads would make of it. *length is -1 for a
   string with a lone surrogate, which no name is. */
static int
string_utf8(Scan *scan, const char **text, Py_ssize_t *length, PyObject **decoded)
{
    const unsigned char *start = scan->at;
    const unsigned char *at = plain_run(scan);
    *decoded = NULL;
    *text = (const char *)start;
    *length = at - start;
    if (at < scan->end && *at == '"') {
        scan->at = at + 1;
        return OK;
    }
    int status = string(scan, decoded);
    if (status != OK)
        return status;
    *text = PyUnicode_AsUTF8AndSize(*decoded, length);
    if (*text == NULL) {
        PyErr_Clear();
        *length = -1;
    }
    return OK;
}

/* The member a key names (scan->at past its opening quote), or -1 for none. */
static int
member_named(Scan *scan, const Shape *shape, Py_ssize_t *index)
{
    const char *key;
    Py_ssize_t length;
    PyObject *decoded;
    int status = string_utf8(scan, &key, &length, &decoded);
    if (status != OK)
        return status;
    *index = -1;
    for (Py_ssize_t i = 0; i < shape->count && length >= 0; i++) {
        if (shape->members[i].key_length == length && memcmp(shape->members[i].key, key, (size_t)length) == 0) {
            *index = i;
            break;
        }
    }
    Py_XDECREF(decoded);
    return OK;
}

/* An integer as json.loads makes one (no fraction, no exponent), built into *out if out. */
static int
integer(Scan *scan, PyObject **out)
{
    const unsigned char *start = scan->at;
    int status = number(scan);
    if (status != OK)
        return status;
    int negative = *start == '-';
    for (const unsigned char *p = start + negative; p < scan->at; p++) {
        if (*p < '0' || *p > '9')
            return MALFORMED;  /* a float */
    }
    if (out == NULL)
        return OK;
    if (scan->at - start - negative > MAX_INT_DIGITS)
        *out = int_of(start, scan->at);
    else {
        long long parsed = 0;
        for (const unsigned char *p = start + negative; p < scan->at; p++)
            parsed = parsed * 10 + (*p - '0');
        *out = PyLong_FromLongLong(negative ? -parsed : parsed);
    }
    return *out == NULL ? FAILED : OK;
}

/* One of the allowed strings (scan->at past its opening quote), that object into *out if
   out: no str is made for each step's event, which is plain ASCII. */
static int
allowed_string(Scan *scan, PyObject *allowed, PyObject **out)
{
    const char *text;
    Py_ssize_t length;
    PyObject *decoded;
    int status = string_utf8(scan, &text, &length, &decoded);
    if (status != OK)
        return status;
    status = MALFORMED;
    for (Py_ssize_t i = 0; status == MALFORMED && length >= 0 && i < PyTuple_GET_SIZE(allowed); i++) {
        PyObject *candidate = PyTuple_GET_ITEM(allowed, i);
        Py_ssize_t candidate_length;
        const char *candidate_text = PyUnicode_Check(candidate)
            ? PyUnicode_AsUTF8AndSize(candidate, &candidate_length) : NULL;
        if (candidate_text == NULL)
            status = PyErr_Occurred() ? FAILED : MALFORMED;
        else if (candidate_length == length && memcmp(candidate_text, text, (size_t)length) == 0) {
            status = OK;
            if (out != NULL)
                *out = Py_NewRef(candidate);
        }
        if (status == FAILED)
            break;
    }
    Py_XDECREF(decoded);
    return status;
}

/* A member's value, checked to be of its kind; built into *out if out. */
static int
member_value(Scan *scan, const Member *member, PyObject **out)
{
    skip_space(scan);
    if (scan->at >= scan->end)
        return MALFORMED;
    unsigned char c = *scan->at;
    switch (member->kind) {
    case KIND_INT:
        return c == '-' || (c >= '0' && c <= '9') ? integer(scan, out) : MALFORMED;
    case KIND_STR:
        if (c != '"')
            return MALFORMED;
        scan->at++;
        return out != NULL ? string(scan, out) : skip_string(scan);
    case KIND_ENUM:
        if (c != '"')
            return MALFORMED;
        scan->at++;
        return allowed_string(scan, member->allowed, out);
    case KIND_OBJECT:
    case KIND_ARRAY:
        if (c != (member->kind == KIND_OBJECT ? '{' : '['))
            return MALFORMED;
        if (out != NULL) {
            PyErr_SetString(PyExc_TypeError, "a step shape collects only ints and strings");
            return FAILED;
        }
        return skip_value(scan, 1);
    }
    return MALFORMED;
}

/* One step: an object of the shape's members (each at most once, of its kind, the
   required ones all there; others only where the shape is not exact), every value
   checked as strict JSON; the collected members' values into `collected` (NULL where
   absent). */
static int
shaped_step(Scan *scan, const Shape *shape, PyObject **collected)
{
    unsigned long seen = 0;
    skip_space(scan);
    if (scan->at >= scan->end || *scan->at != '{')
        return MALFORMED;
    scan->at++;
    skip_space(scan);
    if (scan->at < scan->end && *scan->at == '}') {
        scan->at++;
        return shape->required == 0 ? OK : MALFORMED;
    }
    for (;;) {
        Py_ssize_t index;
        skip_space(scan);
        if (scan->at >= scan->end || *scan->at != '"')
            return MALFORMED;
        scan->at++;
        int status = member_named(scan, shape, &index);
        if (status != OK)
            return status;
        skip_space(scan);
        if (scan->at >= scan->end || *scan->at != ':')
            return MALFORMED;
        scan->at++;
        if (index < 0) {
            if (shape->exact)
                return MALFORMED;
            status = skip_value(scan, 1);
        }
        else {
            const Member *member = &shape->members[index];
            if (seen & (1UL << index))
                return MALFORMED;  /* twice: json.loads would keep the last, unchecked here */
            seen |= 1UL << index;
            status = member_value(scan, member, member->slot >= 0 ? &collected[member->slot] : NULL);
        }
        if (status == OK)
            status = after_item(scan, '}');
        if (status == OK)
            return (seen & shape->required) == shape->required ? OK : MALFORMED;
        if (status != MORE)
            return status;
    }
}

PyObject *
step_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, opener;
    Shape shape;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "step_lines(buffer, offset, opener, shape)");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
    if ((offset == -1 && PyErr_Occurred()) || read_shape(args[3], &shape) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[2], &opener, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *texts = PyList_New(0), *all_collected = PyList_New(0), *result = NULL;
    if (texts == NULL || all_collected == NULL)
        goto done;
    const unsigned char *base = data.buf, *end = base + data.len;
    while (offset >= 0 && offset < data.len) {
        const unsigned char *line = base + offset;
        const unsigned char *newline = memchr(line, '\n', end - line);
        if (newline == NULL || newline - line < opener.len + 1 || memcmp(line, opener.buf, opener.len) != 0
            || newline[-1] != '}')
            break;
        Scan scan = {line + opener.len, newline - 1};
        PyObject *values[MAX_MEMBERS] = {NULL};
        int status = shaped_step(&scan, &shape, values);
        if (status == OK) {
            skip_space(&scan);
            if (scan.at != scan.end)
                status = MALFORMED;
        }
        PyObject *collected = NULL;
        if (status == OK && shape.collected) {
            collected = PyTuple_New(shape.collected);
            for (Py_ssize_t slot = 0; collected != NULL && slot < shape.collected; slot++) {
                PyTuple_SET_ITEM(collected, slot, values[slot] ? values[slot] : Py_NewRef(Py_None));
                values[slot] = NULL;
            }
            if (collected == NULL)
                status = FAILED;
        }
        for (Py_ssize_t slot = 0; slot < shape.collected; slot++)
            Py_XDECREF(values[slot]);
        if (status == FAILED && PyErr_ExceptionMatches(PyExc_MemoryError))
            goto done;
        if (status != OK) {
            PyErr_Clear();
            break;  /* the caller refuses it */
        }
        PyObject *text = PyBytes_FromStringAndSize((const char *)line + opener.len,
                                                   newline - 1 - line - opener.len);
        int appended = text != NULL && PyList_Append(texts, text) == 0
                       && (collected == NULL || PyList_Append(all_collected, collected) == 0);
        Py_XDECREF(text);
        Py_XDECREF(collected);
        if (!appended)
            goto done;
        offset = newline + 1 - base;
    }
    result = Py_BuildValue("nOO", offset, texts, all_collected);
done:
    Py_XDECREF(texts);
    Py_XDECREF(all_collected);
    PyBuffer_Release(&data);
    PyBuffer_Release(&opener);
    return result;
}

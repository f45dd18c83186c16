/* JSON text of the common scalars, as HeapEncoder.value_text writes it.
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit (each uses what the parts before it define), so the
 * compiler still inlines across them. */

/* -- JSON text of values: what HeapEncoder.value_text writes, for the common scalars */

#define MAX_EXACT_INT ((1LL << 53) - 1)

/* The escape json.dumps writes for c (2 or 6 characters), or 0 when c is
 * written as itself. A lone surrogate gets a \u escape too (encode_string). */
static int
escape_of(Py_UCS4 c, Py_UCS4 *escape)
{
    static const char hex[] = "0123456789abcdef";
    char short_form = 0;
    switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
    }
    escape[0] = '\\';
    if (short_form) {
        escape[1] = short_form;
        return 2;
    }
    if (c < 0x20 || (c >= 0xD800 && c <= 0xDFFF)) {
        escape[1] = 'u';
        escape[2] = hex[(c >> 12) & 0xF];
        escape[3] = hex[(c >> 8) & 0xF];
        escape[4] = hex[(c >> 4) & 0xF];
        escape[5] = hex[c & 0xF];
        return 6;
    }
    return 0;
}

/* `encode_string(s)`: json.dumps(s, ensure_ascii=False), lone surrogates as
 * \u escapes. Sized first, so the text is allocated once and exactly. */
static PyObject *
string_text(PyObject *s)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_UCS4 escape[6];
    Py_UCS4 widest = '"';
    Py_ssize_t size = 2;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int escaped = escape_of(c, escape);
        size += escaped ? escaped : 1;
        if (!escaped && c > widest) {
            widest = c;
        }
    }
    PyObject *text = PyUnicode_New(size, widest);
    if (text == NULL) {
        return NULL;
    }
    int out_kind = PyUnicode_KIND(text);
    void *out = PyUnicode_DATA(text);
    Py_ssize_t n = 0;
    PyUnicode_WRITE(out_kind, out, n++, '"');
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int escaped = escape_of(c, escape);
        if (escaped) {
            for (int j = 0; j < escaped; j++) {
                PyUnicode_WRITE(out_kind, out, n++, escape[j]);
            }
        }
        else {
            PyUnicode_WRITE(out_kind, out, n++, c);
        }
    }
    PyUnicode_WRITE(out_kind, out, n++, '"');
    return text;
}

/* Writes the decimal digits of x (|x| <= MAX_EXACT_INT) at out; returns how many. */
static Py_ssize_t
put_decimal(long long x, char *out)
{
    char digits[24];
    Py_ssize_t n = 0, length = 0;
    unsigned long long magnitude = x < 0 ? (unsigned long long)(-x) : (unsigned long long)x;
    do {
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (x < 0) {
        out[length++] = '-';
    }
    while (n) {
        out[length++] = digits[--n];
    }
    return length;
}

/* The texts (all str) one after another, in one allocation. */
static PyObject *
concat(PyObject *const *pieces, Py_ssize_t count)
{
    Py_ssize_t length = 0;
    Py_UCS4 widest = 0x7f;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyUnicode_Check(pieces[i])) {
            PyErr_SetString(PyExc_TypeError, "a text must be a str");
            return NULL;
        }
        length += PyUnicode_GET_LENGTH(pieces[i]);
        Py_UCS4 most = PyUnicode_MAX_CHAR_VALUE(pieces[i]);
        widest = most > widest ? most : widest;
    }
    PyObject *text = PyUnicode_New(length, widest);
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; text != NULL && i < count; i++) {
        Py_ssize_t piece = PyUnicode_GET_LENGTH(pieces[i]);
        if (piece && PyUnicode_CopyCharacters(text, at, pieces[i], 0, piece) < 0) {
            Py_CLEAR(text);
        }
        at += piece;
    }
    return text;
}

/* The value's text when it is a scalar written as itself (an int within
 * JSON's exact range, a bool, None, a finite non-integral float, a str no
 * longer than string_cap); NULL with no error set when it is not one. */
static PyObject *
scalar_text(PyObject *v, Py_ssize_t string_cap)
{
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow || x > MAX_EXACT_INT || x < -MAX_EXACT_INT) {
            return NULL;
        }
        char digits[24];
        return PyUnicode_FromStringAndSize(digits, put_decimal(x, digits));
    }
    if (PyUnicode_CheckExact(v)) {
        return PyUnicode_GET_LENGTH(v) <= string_cap ? string_text(v) : NULL;
    }
    if (v == Py_True || v == Py_False || v == Py_None) {
        PyObject *text = v == Py_True ? text_true : v == Py_False ? text_false : text_null;
        Py_INCREF(text);
        return text;
    }
    if (PyFloat_CheckExact(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        return isfinite(d) && d != floor(d) ? PyObject_Repr(v) : NULL;
    }
    return NULL;
}

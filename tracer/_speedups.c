/* The tracer's per-step work, in C (tracer/speedups.py is its Python face).
 *
 * Tracer is the trace function: for the common events (a line, a call or a
 * return of a shown frame of the program, in the record's format, while no
 * limit is near) it does what Engine._on_event does without running
 * Python, and hands every other event to it.
 *
 * At every step the tracer decides, frame by frame and heap object by heap
 * object, whether what a cached text was made of is still there: in Python
 * that means building a tuple of keys and values and comparing it item by
 * item; here a dict answers with its version tag (CPython bumps it on every
 * change to the dict) and a list is compared in place (settle_heap,
 * frames_text). What did change is written again: namespaces, scalars and
 * references here (EncoderCore), the program's objects by Python
 * (HeapEncoder). Each step's bytes are written in one pass into the
 * record's one buffer (full_step, delta_step, RecordBuffer). Nothing here
 * calls the program's code. tracer/speedups.py falls back to the same work
 * in Python where this is not built; tests/test_speedups.py holds both to
 * the same bytes.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <time.h>

#include "_json_check.h"

/* interned at import */
static PyObject *text_true, *text_false, *text_null, *text_comma, *text_qualname, *text_open_brace,
    *text_close_brace, *text_frame_id, *text_frame_name, *text_frame_line, *text_frame_locals, *text_return_member;

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
#define HAVE_VERSION_TAG 1
/* The dict's version tag (PEP 509): deprecated in 3.12, gone in 3.14. */
static uint64_t
version_of(PyObject *d)
{
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    return ((PyDictObject *)d)->ma_version_tag;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
#endif

/* dict_version(d) -> int, or None when d is not an exact dict or the
 * interpreter keeps no version tag. The tag is a global counter: two reads
 * that agree mean the dict was not changed in between. */
static PyObject *
dict_version(PyObject *module, PyObject *d)
{
#ifdef HAVE_VERSION_TAG
    if (PyDict_CheckExact(d)) {
        return PyLong_FromUnsignedLongLong(version_of(d));
    }
#endif
    Py_RETURN_NONE;
}

/* The same object, or two exact ints of the same value (whose JSON text is
 * the same): comparing those runs no program code. */
static int
same_object(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        return PyObject_RichCompareBool(a, b, Py_EQ) == 1;
    }
    return 0;
}

/* same_items(fingerprint, start, items, count) -> bool: whether the first
 * `count` items of the exact list `items` are, one by one, the very objects
 * at fingerprint[start:start + count] (see same_object), and the fingerprint
 * ends there. */
static PyObject *
same_items(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyTuple_CheckExact(args[0]) || !PyList_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "same_items(tuple, int, list, int)");
        return NULL;
    }
    PyObject *fingerprint = args[0], *items = args[2];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t count = PyLong_AsSsize_t(args[3]);
    if ((start == -1 || count == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0 || count < 0 || count > PyList_GET_SIZE(items)
            || PyTuple_GET_SIZE(fingerprint) != start + count) {
        Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!same_object(PyTuple_GET_ITEM(fingerprint, start + i), PyList_GET_ITEM(items, i))) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

/* same_objects(first, second) -> bool: two tuples of the same objects (see
 * same_object). */
static PyObject *
same_objects(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "same_objects(tuple, tuple)");
        return NULL;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(args[0]);
    if (size != PyTuple_GET_SIZE(args[1])) {
        Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        if (!same_object(PyTuple_GET_ITEM(args[0], i), PyTuple_GET_ITEM(args[1], i))) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

/* 1 when `obj`'s cached fingerprint says its text is unchanged, 0 when this
 * cannot tell (the caller checks in Python), -1 on error. Only fingerprints
 * whose shape HeapEncoder._fingerprint gives these types are recognized. */
static int
unchanged(PyObject *fingerprint, PyObject *obj, Py_ssize_t cap, PyObject *immutable, PyObject *by_version)
{
    if (fingerprint == immutable) {
        return 1;
    }
    if (!PyTuple_CheckExact(fingerprint)) {
        return 0;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(fingerprint);
    PyTypeObject *cls = Py_TYPE(obj);
    if (size < 2 || PyTuple_GET_ITEM(fingerprint, 0) != (PyObject *)cls) {
        return 0;
    }
    PyObject *second = PyTuple_GET_ITEM(fingerprint, 1);
    if (cls == &PyList_Type) {  /* (list, len, *items[:cap]) */
        Py_ssize_t length = PyList_GET_SIZE(obj);
        Py_ssize_t count = length < cap ? length : cap;
        if (!PyLong_CheckExact(second) || PyLong_AsSsize_t(second) != length || size != 2 + count) {
            return PyErr_Occurred() ? -1 : 0;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            if (!same_object(PyTuple_GET_ITEM(fingerprint, 2 + i), PyList_GET_ITEM(obj, i))) {
                return 0;
            }
        }
        return 1;
    }
    if (cls == &PyGen_Type) {  /* (generator, qualname): the getter is the generator type's own */
        PyObject *qualname = PyObject_GetAttr(obj, text_qualname);
        if (qualname == NULL) {
            return -1;
        }
        Py_DECREF(qualname);
        return size == 2 && qualname == second;
    }
#ifdef HAVE_VERSION_TAG
    if (cls == &PyDict_Type) {  /* (dict, version) */
        return size == 2 && PyLong_CheckExact(second)
            && PyLong_AsUnsignedLongLong(second) == version_of(obj);
    }
#endif
    if (cls == &PyFunction_Type) {  /* (function, name, code, defaults, kwdefaults) */
        PyFunctionObject *function = (PyFunctionObject *)obj;
        PyObject *defaults = function->func_defaults ? function->func_defaults : Py_None;
        PyObject *kwdefaults = function->func_kwdefaults ? function->func_kwdefaults : Py_None;
        return size == 5 && second == function->func_name && PyTuple_GET_ITEM(fingerprint, 2) == function->func_code
            && PyTuple_GET_ITEM(fingerprint, 3) == defaults && PyTuple_GET_ITEM(fingerprint, 4) == kwdefaults;
    }
#ifdef HAVE_VERSION_TAG
    /* an instance of a program class with no slots: (class, name, by_version, __dict__, its version) */
    if (size == 5 && PyTuple_GET_ITEM(fingerprint, 2) == by_version && PyType_HasFeature(cls, Py_TPFLAGS_HEAPTYPE)) {
        PyObject **slot = _PyObject_GetDictPtr(obj);
        PyObject *attributes = PyTuple_GET_ITEM(fingerprint, 3);
        PyObject *version = PyTuple_GET_ITEM(fingerprint, 4);
        return second == ((PyHeapTypeObject *)cls)->ht_name && slot != NULL && *slot == attributes
            && PyDict_CheckExact(attributes) && PyLong_CheckExact(version)
            && PyLong_AsUnsignedLongLong(version) == version_of(attributes);
    }
#endif
    return 0;
}

/* Puts the (heap id, object) pair's id in `heap` with a placeholder, keeping
 * discovery order, and the pair on `pending` to settle, unless the id is there. */
static int
place(PyObject *heap, PyObject *pending, PyObject *pair)
{
    Py_ssize_t before = PyDict_GET_SIZE(heap);
    if (PyDict_SetDefault(heap, PyTuple_GET_ITEM(pair, 0), Py_None) == NULL) {  /* an int key: one lookup */
        return -1;
    }
    return PyDict_GET_SIZE(heap) > before ? PyList_Append(pending, pair) : 0;
}

/* settle_heap(pending, heap, cache, cap, immutable, by_version) -> (heap id, object) or None
 *
 * HeapEncoder.heap's loop for the objects whose cached text still holds:
 * pops (heap id, object) pairs off `pending`, and for each one whose cache
 * entry (fingerprint, text, referred pairs) is unchanged, puts its text in
 * `heap` and what it refers to on `pending`, as the Python loop does. Returns
 * the first pair it cannot settle, for Python to check and encode, or None
 * when `pending` is empty. */
static PyObject *
settle(PyObject *pending, PyObject *heap, PyObject *cache, Py_ssize_t cap, PyObject *immutable, PyObject *by_version)
{
    while (PyList_GET_SIZE(pending) > 0) {
        Py_ssize_t last = PyList_GET_SIZE(pending) - 1;
        PyObject *pair = PyList_GET_ITEM(pending, last);
        Py_INCREF(pair);
        if (PyList_SetSlice(pending, last, last + 1, NULL) < 0) {
            Py_DECREF(pair);
            return NULL;
        }
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            return pair;
        }
        PyObject *heap_id = PyTuple_GET_ITEM(pair, 0);
        PyObject *entry = PyDict_GetItemWithError(cache, heap_id);
        if (entry == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(pair);
                return NULL;
            }
            return pair;
        }
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyList_CheckExact(PyTuple_GET_ITEM(entry, 2))) {
            return pair;
        }
        /* held: allocating below can run a collection, whose finalizers are the
         * program's, and a program that reached into the encoder could change the cache */
        Py_INCREF(entry);
        int same = unchanged(PyTuple_GET_ITEM(entry, 0), PyTuple_GET_ITEM(pair, 1), cap, immutable, by_version);
        if (same <= 0) {
            Py_DECREF(entry);
            if (same < 0) {
                Py_DECREF(pair);
                return NULL;
            }
            return pair;
        }
        PyObject *referred = PyTuple_GET_ITEM(entry, 2);
        int failed = 0;
        for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(referred); i++) {
            PyObject *child = PyList_GET_ITEM(referred, i);
            if (!PyTuple_CheckExact(child) || PyTuple_GET_SIZE(child) != 2) {
                continue;  /* never: _reference makes these */
            }
            Py_INCREF(child);
            failed = place(heap, pending, child) < 0;
            Py_DECREF(child);
        }
        failed = failed || PyDict_SetItem(heap, heap_id, PyTuple_GET_ITEM(entry, 1)) < 0;
        Py_DECREF(entry);
        Py_DECREF(pair);
        if (failed) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
settle_heap(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "settle_heap(list, dict, dict, int, object, object)");
        return NULL;
    }
    Py_ssize_t cap = PyLong_AsSsize_t(args[3]);
    if (cap == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return settle(args[0], args[1], args[2], cap, args[4], args[5]);
}

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

/* -- the encoder's core: heap ids, and values' texts without leaving C for
 * the common ones (HeapEncoder subclasses this; snapshot._PythonCore is
 * the same in Python) */

typedef struct {
    PyObject_HEAD
    PyObject *ids;          /* id(obj) -> heap id, for the whole trace */
    PyObject *alive;        /* every object given an id, held so no id is reused */
    PyObject *heap;         /* this step's texts by heap id (None until settled), in discovery order */
    PyObject *pending;      /* this step's (heap id, object) pairs still to settle */
    PyObject *collected;    /* the pairs what is being encoded refers to, or None */
    PyObject *key_texts;    /* name -> '"name":' */
    PyObject *scalar_types; /* tuple: other types value() may write as a repr instead of a reference */
    PyObject *cache;        /* heap id -> (fingerprint, text, referred pairs), for settle */
    PyObject *immutable;    /* settle's markers: see settle_heap */
    PyObject *by_version;
    Py_ssize_t items_cap;
    Py_ssize_t string_cap;
    PyObject *ref_texts;    /* {"ref":N} for heap id N, at N - 1 (C's own) */
    PyObject *last_heap;    /* the last snapshot's heap, and how many of its objects the frames named */
    Py_ssize_t last_roots;
    Py_ssize_t release_at;  /* ids held past which the snapshot has release() sweep them all */
    PyObject *deaths;       /* heap id -> weak reference: watched objects that died (see forget_dead) */
} EncoderObject;

static PyTypeObject EncoderType;

/* The fields C relies on hold what HeapEncoder puts there (only a program
 * reaching the encoder through gc could make them not). */
static int
encoder_ready(EncoderObject *e)
{
    if (e->ids == NULL || !PyDict_CheckExact(e->ids) || e->alive == NULL || !PyList_CheckExact(e->alive)
            || e->heap == NULL || !PyDict_CheckExact(e->heap) || e->pending == NULL || !PyList_CheckExact(e->pending)
            || e->key_texts == NULL || !PyDict_CheckExact(e->key_texts)
            || e->scalar_types == NULL || !PyTuple_CheckExact(e->scalar_types)
            || e->cache == NULL || !PyDict_CheckExact(e->cache) || e->immutable == NULL || e->by_version == NULL
            || (e->collected != NULL && e->collected != Py_None && !PyList_CheckExact(e->collected))) {
        PyErr_SetString(PyExc_TypeError, "the encoder's core fields are not set");
        return 0;
    }
    return 1;
}

/* HeapEncoder._reference: obj's heap id (given on first sight, for the
 * trace), noted in `collected` and, first time this step, in the heap. */
static PyObject *
encoder_reference(EncoderObject *e, PyObject *obj)
{
    PyObject *key = PyLong_FromVoidPtr(obj);
    if (key == NULL) {
        return NULL;
    }
    PyObject *heap_id = PyDict_GetItemWithError(e->ids, key);
    if (heap_id != NULL) {
        Py_INCREF(heap_id);
        /* watched while unseen (HeapEncoder.release), shown again: held again */
        Py_ssize_t n = PyLong_AsSsize_t(heap_id);
        if (n >= 1 && n <= PyList_GET_SIZE(e->alive) && PyList_GET_ITEM(e->alive, n - 1) == Py_None) {
            Py_INCREF(obj);
            PyList_SET_ITEM(e->alive, n - 1, obj);
            Py_DECREF(Py_None);
        }
        else if (n == -1 && PyErr_Occurred()) {
            Py_DECREF(heap_id);
            heap_id = NULL;
        }
    }
    else if (!PyErr_Occurred()) {
        heap_id = PyLong_FromSsize_t(PyList_GET_SIZE(e->alive) + 1);
        if (heap_id != NULL && (PyDict_SetItem(e->ids, key, heap_id) < 0 || PyList_Append(e->alive, obj) < 0)) {
            Py_CLEAR(heap_id);
        }
    }
    Py_DECREF(key);
    if (heap_id == NULL) {
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, heap_id, obj);
    if (pair == NULL) {
        Py_DECREF(heap_id);
        return NULL;
    }
    /* held: appending may collect garbage, and the program's finalizers run then */
    PyObject *collected = e->collected, *heap = e->heap, *pending = e->pending;
    Py_XINCREF(collected);
    Py_INCREF(heap);
    Py_INCREF(pending);
    int failed = (collected != NULL && collected != Py_None && PyList_Append(collected, pair) < 0)
        || place(heap, pending, pair) < 0;
    Py_XDECREF(collected);
    Py_DECREF(heap);
    Py_DECREF(pending);
    Py_DECREF(pair);
    if (failed) {
        Py_DECREF(heap_id);
        return NULL;
    }
    return heap_id;
}

static PyObject *text_other_text;

/* {"ref":N}, made once per heap id. */
static PyObject *
ref_text(EncoderObject *e, PyObject *heap_id)
{
    Py_ssize_t n = PyLong_AsSsize_t(heap_id);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (e->ref_texts == NULL && (e->ref_texts = PyList_New(0)) == NULL) {
        return NULL;
    }
    while (PyList_GET_SIZE(e->ref_texts) < n) {
        PyObject *text = PyUnicode_FromFormat("{\"ref\":%zd}", PyList_GET_SIZE(e->ref_texts) + 1);
        if (text == NULL || PyList_Append(e->ref_texts, text) < 0) {
            Py_XDECREF(text);
            return NULL;
        }
        Py_DECREF(text);
    }
    if (n < 1) {
        return PyUnicode_FromFormat("{\"ref\":%zd}", n);
    }
    PyObject *text = PyList_GET_ITEM(e->ref_texts, n - 1);
    Py_INCREF(text);
    return text;
}

/* HeapEncoder.value_text: a scalar's text, or a reference's {"ref":N}; what
 * is neither here (a long str, a big int, an integral float, bytes, the
 * types written as a repr) goes to the encoder's Python `_other_text`. */
static PyObject *
encoder_value_text(EncoderObject *e, PyObject *v)
{
    PyObject *text = scalar_text(v, e->string_cap);
    if (text != NULL || PyErr_Occurred()) {
        return text;
    }
    PyTypeObject *type = Py_TYPE(v);
    int other = type == &PyUnicode_Type || type == &PyLong_Type || type == &PyFloat_Type || type == &PyBytes_Type;
    for (Py_ssize_t i = 0; !other && i < PyTuple_GET_SIZE(e->scalar_types); i++) {
        other = PyTuple_GET_ITEM(e->scalar_types, i) == (PyObject *)type;  /* by identity: no metaclass __eq__ */
    }
    if (other) {
        text = PyObject_CallMethodOneArg((PyObject *)e, text_other_text, v);
        if (text != NULL && !PyUnicode_CheckExact(text)) {
            Py_DECREF(text);
            PyErr_SetString(PyExc_TypeError, "a value's text must be a str");
            return NULL;
        }
        return text;
    }
    PyObject *heap_id = encoder_reference(e, v);
    if (heap_id == NULL) {
        return NULL;
    }
    text = ref_text(e, heap_id);
    Py_DECREF(heap_id);
    return text;
}

static PyObject *
encoder_reference_method(EncoderObject *e, PyObject *obj)
{
    return encoder_ready(e) ? encoder_reference(e, obj) : NULL;
}

static PyObject *
encoder_value_text_method(EncoderObject *e, PyObject *v)
{
    return encoder_ready(e) ? encoder_value_text(e, v) : NULL;
}

/* ",".join(texts), taking the reference to `texts`. */
static PyObject *
joined_texts(PyObject *texts)
{
    PyObject *joined = PyUnicode_Join(text_comma, texts);
    Py_DECREF(texts);
    return joined;
}

/* The first `count` items joined, when each is an int within JSON's exact
 * range, a bool or None (a list of numbers, the common case), written into
 * one ASCII text; NULL with no error set when an item is anything else. */
static PyObject *
plain_items_text(PyObject *items, Py_ssize_t count)
{
    char *buffer = PyMem_Malloc(count * 20 + 1);
    if (buffer == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (i) {
            buffer[n++] = ',';
        }
        if (PyLong_CheckExact(item)) {
            int overflow;
            long long x = PyLong_AsLongLongAndOverflow(item, &overflow);
            if (overflow || x > MAX_EXACT_INT || x < -MAX_EXACT_INT) {
                goto other;
            }
            n += put_decimal(x, buffer + n);
        }
        else if (item == Py_True || item == Py_False || item == Py_None) {
            const char *word = item == Py_True ? "true" : item == Py_False ? "false" : "null";
            size_t length = strlen(word);
            memcpy(buffer + n, word, length);
            n += length;
        }
        else {
            goto other;
        }
    }
    PyObject *text = PyUnicode_FromStringAndSize(buffer, n);
    PyMem_Free(buffer);
    return text;
other:
    PyMem_Free(buffer);
    return NULL;
}

/* encoder.items_text(items, count) -> str: the first `count` items of the
 * exact list `items` as JSON texts, joined with commas. */
static PyObject *
items_text(EncoderObject *e, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "items_text(list, int)");
        return NULL;
    }
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    if ((count == -1 && PyErr_Occurred()) || !encoder_ready(e)) {
        return NULL;
    }
    if (count > PyList_GET_SIZE(args[0])) {
        count = PyList_GET_SIZE(args[0]);
    }
    PyObject *plain = plain_items_text(args[0], count);
    if (plain != NULL || PyErr_Occurred()) {
        return plain;
    }
    PyObject *texts = PyList_New(0);
    if (texts == NULL) {
        return NULL;
    }
    /* the list may change under a Python call: its length is read each time */
    for (Py_ssize_t i = 0; i < count && i < PyList_GET_SIZE(args[0]); i++) {
        PyObject *item = PyList_GET_ITEM(args[0], i);
        Py_INCREF(item);
        PyObject *text = encoder_value_text(e, item);
        Py_DECREF(item);
        if (text == NULL || PyList_Append(texts, text) < 0) {
            Py_XDECREF(text);
            Py_DECREF(texts);
            return NULL;
        }
        Py_DECREF(text);
    }
    return joined_texts(texts);
}

/* The text of the namespace `names` (an exact dict): `{"name":value,...}`
 * for each name of `bound` (a list), in its order, leaving out those not in
 * `names` when skip_missing; NULL with no error set when a name is not an
 * exact str, or missing and not skipped (Python then writes it). */
static PyObject *
namespace_text(EncoderObject *e, PyObject *names, PyObject *bound, int skip_missing)
{
    PyObject *pieces = PyList_New(0);  /* {, "name":, value, ",", ..., } */
    if (pieces == NULL || PyList_Append(pieces, text_open_brace) < 0) {
        Py_XDECREF(pieces);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(bound); i++) {
        PyObject *name = PyList_GET_ITEM(bound, i);  /* borrowed: no code runs before its last use */
        if (!PyUnicode_CheckExact(name)) {
            goto python;
        }
        PyObject *value = PyDict_GetItemWithError(names, name);  /* str keys: no program code */
        if (value == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            if (skip_missing) {
                continue;
            }
            goto python;
        }
        Py_INCREF(value);
        PyObject *key = PyDict_GetItemWithError(e->key_texts, name);
        if (key != NULL) {
            Py_INCREF(key);
        }
        else if (!PyErr_Occurred()) {
            PyObject *quoted = string_text(name);
            key = quoted ? PyUnicode_FromFormat("%U:", quoted) : NULL;
            Py_XDECREF(quoted);
            if (key != NULL && PyDict_SetItem(e->key_texts, name, key) < 0) {
                Py_CLEAR(key);
            }
        }
        PyObject *text = key ? encoder_value_text(e, value) : NULL;
        Py_DECREF(value);
        int failed = text == NULL || (PyList_GET_SIZE(pieces) > 1 && PyList_Append(pieces, text_comma) < 0)
            || PyList_Append(pieces, key) < 0 || PyList_Append(pieces, text) < 0;
        Py_XDECREF(key);
        Py_XDECREF(text);
        if (failed) {
            goto error;
        }
    }
    if (PyList_Append(pieces, text_close_brace) < 0) {
        goto error;
    }
    PyObject *joined = concat(PySequence_Fast_ITEMS(pieces), PyList_GET_SIZE(pieces));
    Py_DECREF(pieces);
    return joined;
python:
    Py_DECREF(pieces);
    return NULL;
error:
    Py_DECREF(pieces);
    return NULL;
}

/* encoder.members_text(names, bound) -> str or None: namespace_text, None
 * where Python must write it. */
static PyObject *
members_text(EncoderObject *e, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "members_text(dict, list)");
        return NULL;
    }
    if (!encoder_ready(e)) {
        return NULL;
    }
    if (!PyDict_CheckExact(args[0])) {
        Py_RETURN_NONE;
    }
    Py_INCREF(args[1]);
    PyObject *text = namespace_text(e, args[0], args[1], 0);
    Py_DECREF(args[1]);
    if (text == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return text;
}

static int
encoder_traverse(EncoderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->ids);
    Py_VISIT(self->alive);
    Py_VISIT(self->heap);
    Py_VISIT(self->pending);
    Py_VISIT(self->collected);
    Py_VISIT(self->key_texts);
    Py_VISIT(self->scalar_types);
    Py_VISIT(self->cache);
    Py_VISIT(self->immutable);
    Py_VISIT(self->by_version);
    Py_VISIT(self->ref_texts);
    Py_VISIT(self->last_heap);
    Py_VISIT(self->deaths);
    return 0;
}

static int
encoder_clear(EncoderObject *self)
{
    Py_CLEAR(self->ids);
    Py_CLEAR(self->alive);
    Py_CLEAR(self->heap);
    Py_CLEAR(self->pending);
    Py_CLEAR(self->collected);
    Py_CLEAR(self->key_texts);
    Py_CLEAR(self->scalar_types);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->immutable);
    Py_CLEAR(self->by_version);
    Py_CLEAR(self->ref_texts);
    Py_CLEAR(self->last_heap);
    Py_CLEAR(self->deaths);
    return 0;
}

static void
encoder_dealloc(EncoderObject *self)
{
    PyObject_GC_UnTrack(self);
    encoder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef encoder_members[] = {
    {"_ids", T_OBJECT, offsetof(EncoderObject, ids), 0, NULL},
    {"_alive", T_OBJECT, offsetof(EncoderObject, alive), 0, NULL},
    {"_release_at", T_PYSSIZET, offsetof(EncoderObject, release_at), 0, NULL},
    {"_deaths", T_OBJECT, offsetof(EncoderObject, deaths), 0, NULL},
    {"_heap", T_OBJECT, offsetof(EncoderObject, heap), 0, NULL},
    {"_pending", T_OBJECT, offsetof(EncoderObject, pending), 0, NULL},
    {"_collected", T_OBJECT, offsetof(EncoderObject, collected), 0, NULL},
    {"_key_texts", T_OBJECT, offsetof(EncoderObject, key_texts), 0, NULL},
    {"_scalar_types", T_OBJECT, offsetof(EncoderObject, scalar_types), 0, NULL},
    {"_cache", T_OBJECT, offsetof(EncoderObject, cache), 0, NULL},
    {"_immutable", T_OBJECT, offsetof(EncoderObject, immutable), 0, NULL},
    {"_by_version", T_OBJECT, offsetof(EncoderObject, by_version), 0, NULL},
    {"_items_cap", T_PYSSIZET, offsetof(EncoderObject, items_cap), 0, NULL},
    {"_string_cap", T_PYSSIZET, offsetof(EncoderObject, string_cap), 0, NULL},
    {NULL},
};

/* -- the record's bytes, written into one growing buffer */

typedef struct {
    PyObject_HEAD
    PyObject *bytes;    /* what is written, at its start; its size is the capacity (NULL: none yet) */
    Py_ssize_t length;  /* how much is written */
    /* the record's steps, kept here so the tracer's C path and RecordWriter share them */
    Py_ssize_t size;    /* how much of the record's budget the steps take */
    Py_ssize_t budget;
    Py_ssize_t count;   /* steps written */
    PyObject *last;     /* what RecordWriter keeps of the last step */
    PyObject *separator, *opener, *closer;  /* bytes: between steps, before and after each */
    PyObject *send;     /* called with each step's bytes (taken from the buffer), or None */
    char delta;         /* whether steps are written in the delta encoding */
} BufferObject;

/* Room for `more` bytes past what is written. A big bytes object is resized
 * in place by the allocator (remapped, not copied), and handed over by take
 * without a copy: the record is never copied whole. */
static int
buffer_reserve(BufferObject *b, Py_ssize_t more)
{
    Py_ssize_t capacity = b->bytes ? PyBytes_GET_SIZE(b->bytes) : 0;
    if (more > PY_SSIZE_T_MAX - b->length) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t needed = b->length + more;
    if (needed <= capacity) {
        return 0;
    }
    Py_ssize_t grown = capacity < PY_SSIZE_T_MAX / 2 ? capacity * 2 : PY_SSIZE_T_MAX;
    Py_ssize_t size = needed > grown ? needed : grown;
    if (size < 4096) {
        size = 4096;
    }
    if (b->bytes == NULL) {
        b->bytes = PyBytes_FromStringAndSize(NULL, size);
    }
    else if (_PyBytes_Resize(&b->bytes, size) < 0) {  /* the buffer holds its only reference */
        return -1;
    }
    if (b->bytes == NULL) {
        return -1;
    }
    return 0;
}

/* Appends `length` bytes at `data`. */
static int
put_bytes(BufferObject *b, const char *data, Py_ssize_t length)
{
    if (length == 0) {
        return 0;
    }
    if (buffer_reserve(b, length) < 0) {
        return -1;
    }
    memcpy(PyBytes_AS_STRING(b->bytes) + b->length, data, length);
    b->length += length;
    return 0;
}

#define PUT(literal) put_bytes(b, literal, sizeof(literal) - 1)

/* Appends the UTF-8 of the str `text`; -1 with no error set when it holds
 * a lone surrogate (or is not a str). */
static int
put_utf8(BufferObject *b, PyObject *text)
{
    Py_ssize_t length;
    const char *utf8 = PyUnicode_CheckExact(text) ? PyUnicode_AsUTF8AndSize(text, &length) : NULL;
    if (utf8 == NULL) {
        PyErr_Clear();
        return -1;
    }
    return put_bytes(b, utf8, length);
}

/* Appends the texts of a list, or the values of a dict, joined with commas. */
static int
put_joined(BufferObject *b, PyObject *texts)
{
    Py_ssize_t position = 0, index = 0;
    PyObject *key, *text;
    while (PyList_CheckExact(texts) ? index < PyList_GET_SIZE(texts)
                                     : PyDict_Next(texts, &position, &key, &text)) {
        if (PyList_CheckExact(texts)) {
            text = PyList_GET_ITEM(texts, index);
        }
        if ((index++ && PUT(",") < 0) || put_utf8(b, text) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
buffer_write(BufferObject *b, PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    int failed = put_bytes(b, view.buf, view.len) < 0;
    PyBuffer_Release(&view);
    if (failed) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
buffer_truncate(BufferObject *b, PyObject *length)
{
    Py_ssize_t n = PyLong_AsSsize_t(length);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0 || n > b->length) {
        PyErr_SetString(PyExc_ValueError, "truncate past the end");
        return NULL;
    }
    b->length = n;
    Py_RETURN_NONE;
}

/* take() -> bytes: what is written, handed over; the buffer starts empty again. */
static PyObject *
buffer_take(BufferObject *b, PyObject *unused)
{
    if (b->bytes == NULL) {
        return PyBytes_FromStringAndSize("", 0);
    }
    if (_PyBytes_Resize(&b->bytes, b->length) < 0) {  /* frees and clears it on failure */
        b->length = 0;
        return NULL;
    }
    PyObject *taken = b->bytes;
    b->bytes = NULL;
    b->length = 0;
    return taken;
}

/* Writes `bytes` (a bytes object; anything else is taken as empty). */
static int
put_object(BufferObject *b, PyObject *bytes)
{
    return bytes != NULL && PyBytes_CheckExact(bytes) ? put_bytes(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes)) : 0;
}

/* open_step(): what goes before a step (the separator after the first). */
static PyObject *
buffer_open_step(BufferObject *b, PyObject *unused)
{
    if ((b->count && put_object(b, b->separator) < 0) || put_object(b, b->opener) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* close_step(): what goes after a step, then the step is sent, if the buffer sends. */
static PyObject *
buffer_close_step(BufferObject *b, PyObject *unused)
{
    if (put_object(b, b->closer) < 0) {
        return NULL;
    }
    if (b->send != NULL && b->send != Py_None) {
        PyObject *send = b->send;
        PyObject *taken = buffer_take(b, NULL);
        if (taken == NULL) {
            return NULL;
        }
        Py_INCREF(send);
        PyObject *result = PyObject_CallOneArg(send, taken);
        Py_DECREF(send);
        Py_DECREF(taken);
        if (result == NULL) {
            return NULL;
        }
        Py_DECREF(result);
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
buffer_length(BufferObject *b)
{
    return b->length;
}

static int
buffer_traverse(BufferObject *b, visitproc visit, void *arg)
{
    Py_VISIT(b->last);
    Py_VISIT(b->send);
    return 0;
}

static int
buffer_clear(BufferObject *b)
{
    Py_CLEAR(b->last);
    Py_CLEAR(b->send);
    return 0;
}

static void
buffer_dealloc(BufferObject *b)
{
    PyObject_GC_UnTrack(b);
    buffer_clear(b);
    Py_XDECREF(b->bytes);
    Py_XDECREF(b->separator);
    Py_XDECREF(b->opener);
    Py_XDECREF(b->closer);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyMethodDef buffer_methods[] = {
    {"write", (PyCFunction)buffer_write, METH_O, NULL},
    {"truncate", (PyCFunction)buffer_truncate, METH_O, NULL},
    {"take", (PyCFunction)buffer_take, METH_NOARGS, NULL},
    {"open_step", (PyCFunction)buffer_open_step, METH_NOARGS, NULL},
    {"close_step", (PyCFunction)buffer_close_step, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef buffer_members[] = {
    {"size", T_PYSSIZET, offsetof(BufferObject, size), 0, NULL},
    {"budget", T_PYSSIZET, offsetof(BufferObject, budget), 0, NULL},
    {"count", T_PYSSIZET, offsetof(BufferObject, count), 0, NULL},
    {"last", T_OBJECT, offsetof(BufferObject, last), 0, NULL},
    {"separator", T_OBJECT, offsetof(BufferObject, separator), 0, NULL},
    {"opener", T_OBJECT, offsetof(BufferObject, opener), 0, NULL},
    {"closer", T_OBJECT, offsetof(BufferObject, closer), 0, NULL},
    {"send", T_OBJECT, offsetof(BufferObject, send), 0, NULL},
    {"delta", T_BOOL, offsetof(BufferObject, delta), 0, NULL},
    {NULL},
};

static PySequenceMethods buffer_sequence = {
    .sq_length = (lenfunc)buffer_length,
};

static PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer._speedups.RecordBuffer",
    .tp_doc = "Bytes written one after another (see speedups.RecordBuffer).",
    .tp_basicsize = sizeof(BufferObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_traverse = (traverseproc)buffer_traverse,
    .tp_clear = (inquiry)buffer_clear,
    .tp_dealloc = (destructor)buffer_dealloc,
    .tp_methods = buffer_methods,
    .tp_members = buffer_members,
    .tp_as_sequence = &buffer_sequence,
};

/* Ends the step begun at `start` (unless writing it `failed` already): its
 * extra members, its output and its closing brace. How many bytes the step
 * is, or None with it taken back when a text holds a lone surrogate (the
 * caller then writes it in Python). */
static PyObject *
end_step(BufferObject *b, Py_ssize_t start, int failed, PyObject *extra, PyObject *stdout_text)
{
    failed = failed || put_utf8(b, extra) < 0
        || (PyUnicode_GET_LENGTH(stdout_text) && (PUT(",\"stdout\":") < 0 || put_utf8(b, stdout_text) < 0))
        || PUT("}") < 0;
    if (failed) {
        b->length = start;
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    return PyLong_FromSsize_t(b->length - start);
}

/* full_step(buffer, event, line, frames, heap, extra, stdout_text) -> int or None:
 * writes the step in the full encoding as UTF-8 (record.full_text's text)
 * at the end of `buffer`: {"event":"E","line":N,"stack":[frames],"heap":{heap's
 * texts}EXTRA,"stdout":STDOUT}, and gives how many bytes that is. None, with
 * nothing written, when a text holds a lone surrogate (the caller then
 * escapes it in Python). */
static PyObject *
full_step(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !Py_IS_TYPE(args[0], &BufferType) || !PyUnicode_CheckExact(args[1])
            || !PyLong_CheckExact(args[2]) || !PyList_CheckExact(args[3]) || !PyDict_CheckExact(args[4])
            || !PyUnicode_CheckExact(args[5]) || !PyUnicode_CheckExact(args[6])) {
        PyErr_SetString(PyExc_TypeError, "full_step(RecordBuffer, str, int, list, dict, str, str)");
        return NULL;
    }
    BufferObject *b = (BufferObject *)args[0];
    int overflow;
    long long line = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (PyErr_Occurred()) {
        return NULL;
    }
    char digits[24];
    Py_ssize_t digits_length = overflow || line > MAX_EXACT_INT || line < -MAX_EXACT_INT ? 0 : put_decimal(line, digits);
    Py_ssize_t start = b->length;
    /* -1 on an error, or a lone surrogate (no error set) */
    int failed = digits_length == 0 || PUT("{\"event\":\"") < 0 || put_utf8(b, args[1]) < 0
        || PUT("\",\"line\":") < 0 || put_bytes(b, digits, digits_length) < 0
        || PUT(",\"stack\":[") < 0 || put_joined(b, args[3]) < 0
        || PUT("],\"heap\":{") < 0 || put_joined(b, args[4]) < 0 || PUT("}") < 0;
    return end_step(b, start, failed, args[5], args[6]);
}

/* Two texts that are the same (the same object, or equal strs). */
static int
same_text(PyObject *a, PyObject *b)
{
    return a == b || (a != NULL && b != NULL && PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)
                      && PyUnicode_Compare(a, b) == 0);
}

/* Writes an int key (a heap id) as its decimal text; -1 with no error set for anything else. */
static int
put_id(BufferObject *b, PyObject *id)
{
    int overflow;
    long long x = PyLong_CheckExact(id) ? PyLong_AsLongLongAndOverflow(id, &overflow) : 0;
    if (!PyLong_CheckExact(id) || overflow || x > MAX_EXACT_INT || x < -MAX_EXACT_INT) {
        PyErr_Clear();
        return -1;
    }
    char digits[24];
    return put_bytes(b, digits, put_decimal(x, digits));
}

/* delta_step(buffer, event, line, frames, heap, extra, stdout_text, old_frames, old_heap) -> int or None:
 * record.delta_text's step, as UTF-8, at the end of `buffer`: what changed
 * since the step whose frames and heap are old_frames and old_heap (empty
 * for the first step). How many bytes, or None (nothing written) where
 * Python must write it (a lone surrogate). */
static PyObject *
delta_step(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || !Py_IS_TYPE(args[0], &BufferType) || !PyUnicode_CheckExact(args[1])
            || !PyLong_CheckExact(args[2]) || !PyList_CheckExact(args[3]) || !PyDict_CheckExact(args[4])
            || !PyUnicode_CheckExact(args[5]) || !PyUnicode_CheckExact(args[6])
            || !(PyList_CheckExact(args[7]) || PyTuple_CheckExact(args[7])) || !PyDict_CheckExact(args[8])) {
        PyErr_SetString(PyExc_TypeError, "delta_step(RecordBuffer, str, int, list, dict, str, str, list, dict)");
        return NULL;
    }
    BufferObject *b = (BufferObject *)args[0];
    PyObject *frames = args[3], *heap = args[4], *old_frames = args[7], *old_heap = args[8];
    Py_ssize_t keep = 0, count = PyList_GET_SIZE(frames), old_count = PySequence_Fast_GET_SIZE(old_frames);
    while (keep < count && keep < old_count
           && same_text(PySequence_Fast_GET_ITEM(old_frames, keep), PyList_GET_ITEM(frames, keep))) {
        keep++;
    }
    Py_ssize_t start = b->length;
    int failed = PUT("{\"event\":\"") < 0 || put_utf8(b, args[1]) < 0 || PUT("\",\"line\":") < 0
        || put_id(b, args[2]) < 0 || PUT(",\"keep\":") < 0;
    char digits[24];
    failed = failed || put_bytes(b, digits, put_decimal(keep, digits)) < 0 || PUT(",\"frames\":[") < 0;
    for (Py_ssize_t i = keep; !failed && i < count; i++) {
        failed = (i > keep && PUT(",") < 0) || put_utf8(b, PyList_GET_ITEM(frames, i)) < 0;
    }
    failed = failed || PUT("],\"heap\":{") < 0;
    Py_ssize_t position = 0, written = 0;
    PyObject *id, *text;
    while (!failed && PyDict_Next(heap, &position, &id, &text)) {
        PyObject *old = PyDict_GetItemWithError(old_heap, id);  /* int keys: no program code */
        if (old == NULL && PyErr_Occurred()) {
            failed = 1;
        }
        else if (!same_text(old, text)) {
            failed = (written++ && PUT(",") < 0) || put_utf8(b, text) < 0;
        }
    }
    failed = failed || PUT("}") < 0;
    /* the ids gone, and whether the heap's order is the old one's less those, then the new ones */
    Py_ssize_t gone = 0, kept = 0, heap_position = 0;
    int in_order = 1;
    position = 0;
    while (!failed && PyDict_Next(old_heap, &position, &id, &text)) {
        int there = PyDict_Contains(heap, id);
        if (there < 0) {
            failed = 1;
        }
        else if (!there) {
            failed = (gone++ ? PUT(",") : PUT(",\"gone\":[")) < 0 || put_id(b, id) < 0;
        }
        else if (in_order) {
            PyObject *next_id, *next_text;
            in_order = PyDict_Next(heap, &heap_position, &next_id, &next_text) && same_object(next_id, id);
            kept++;
        }
    }
    failed = failed || (gone && PUT("]") < 0);
    if (!failed && !in_order) {
        failed = PUT(",\"order\":[") < 0;
        position = 0;
        Py_ssize_t index = 0;
        while (!failed && PyDict_Next(heap, &position, &id, &text)) {
            failed = (index++ && PUT(",") < 0) || put_id(b, id) < 0;
        }
        failed = failed || PUT("]") < 0;
    }
    return end_step(b, start, failed, args[5], args[6]);
}

#undef PUT

/* -- frames: an activation's cached text, and the per-step loop over the stack */

typedef struct {
    PyObject_HEAD
    PyObject *id;
    PyObject *order;
    PyObject *seen;
    PyObject *cached;
    PyObject *frame_text;
    PyObject *frame_line;
    PyObject *frame_locals;
    Py_ssize_t cached_at;
    char after_exception;
    char overflow;
    char suspendable;
    PyObject *name_text;  /* its code's name as JSON text, once looked up (C's own) */
    Py_ssize_t depth;     /* its frame's depth as CPython counts frames, the module's being 1 */
} ActivationObject;

static PyObject *new_activation(PyTypeObject *type, PyObject *id, int suspendable);

static PyObject *
activation_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *id;
    int suspendable;
    if (!PyArg_ParseTuple(args, "Op:Activation", &id, &suspendable)) {
        return NULL;
    }
    return new_activation(type, id, suspendable);
}

static PyObject *
new_activation(PyTypeObject *type, PyObject *id, int suspendable)
{
    ActivationObject *self = (ActivationObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(id);
    self->id = id;
    self->order = PyList_New(0);
    self->seen = PySet_New(NULL);
    Py_INCREF(Py_None);
    self->cached = Py_None;
    Py_INCREF(Py_None);
    self->frame_text = Py_None;
    Py_INCREF(Py_None);
    self->frame_line = Py_None;
    Py_INCREF(Py_None);
    self->frame_locals = Py_None;
    self->cached_at = -1;
    self->suspendable = (char)suspendable;
    if (self->order == NULL || self->seen == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
activation_traverse(ActivationObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->id);
    Py_VISIT(self->order);
    Py_VISIT(self->seen);
    Py_VISIT(self->cached);
    Py_VISIT(self->frame_text);
    Py_VISIT(self->frame_line);
    Py_VISIT(self->frame_locals);
    Py_VISIT(self->name_text);
    return 0;
}

static int
activation_clear(ActivationObject *self)
{
    Py_CLEAR(self->id);
    Py_CLEAR(self->order);
    Py_CLEAR(self->seen);
    Py_CLEAR(self->cached);
    Py_CLEAR(self->frame_text);
    Py_CLEAR(self->frame_line);
    Py_CLEAR(self->frame_locals);
    Py_CLEAR(self->name_text);
    return 0;
}

static void
activation_dealloc(ActivationObject *self)
{
    PyObject_GC_UnTrack(self);
    activation_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef activation_members[] = {
    {"id", T_OBJECT, offsetof(ActivationObject, id), 0, NULL},
    {"order", T_OBJECT, offsetof(ActivationObject, order), 0, NULL},
    {"seen", T_OBJECT, offsetof(ActivationObject, seen), 0, NULL},
    {"cached", T_OBJECT, offsetof(ActivationObject, cached), 0, NULL},
    {"frame_text", T_OBJECT, offsetof(ActivationObject, frame_text), 0, NULL},
    {"frame_line", T_OBJECT, offsetof(ActivationObject, frame_line), 0, NULL},
    {"frame_locals", T_OBJECT, offsetof(ActivationObject, frame_locals), 0, NULL},
    {"cached_at", T_PYSSIZET, offsetof(ActivationObject, cached_at), 0, NULL},
    {"after_exception", T_BOOL, offsetof(ActivationObject, after_exception), 0, NULL},
    {"overflow", T_BOOL, offsetof(ActivationObject, overflow), 0, NULL},
    {"suspendable", T_BOOL, offsetof(ActivationObject, suspendable), 0, NULL},
    {"depth", T_PYSSIZET, offsetof(ActivationObject, depth), 0, NULL},
    {NULL},
};

static PyTypeObject ActivationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer._speedups.Activation",
    .tp_doc = "One run of one frame of the program (see tracer/speedups.py).",
    .tp_basicsize = sizeof(ActivationObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = activation_new,
    .tp_traverse = (traverseproc)activation_traverse,
    .tp_clear = (inquiry)activation_clear,
    .tp_dealloc = (destructor)activation_dealloc,
    .tp_members = activation_members,
};

/* HeapEncoder.refer_again: each (heap id, object) pair not yet in `heap`
 * gets a placeholder there and goes on `pending`. */
static int
refer_again(PyObject *referred, PyObject *heap, PyObject *pending)
{
    if (!PyList_CheckExact(referred)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(referred); i++) {
        PyObject *pair = PyList_GET_ITEM(referred, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            continue;
        }
        Py_INCREF(pair);
        int failed = place(heap, pending, pair) < 0;
        Py_DECREF(pair);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

#ifdef HAVE_VERSION_TAG
/* The text of a function's or the module's changed namespace, as
 * Engine._frame_text writes it, learning names bound since the last step:
 * the cache entry (version, text, referred pairs); NULL with no error set
 * when Python must. */
static PyObject *
changed_locals(EncoderObject *e, ActivationObject *activation, PyObject *names, PyObject *version, int is_module)
{
    if (activation->order == NULL || !PyList_CheckExact(activation->order)
            || activation->seen == NULL || !PySet_CheckExact(activation->seen)) {
        return NULL;
    }
    Py_ssize_t position = 0;
    PyObject *name, *value;
    while (PyDict_Next(names, &position, &name, &value)) {
        if (!PyUnicode_CheckExact(name)) {  /* a module's namespace may hold other keys: never shown */
            continue;
        }
        int seen = PySet_Contains(activation->seen, name);  /* exact str: no program code */
        if (seen < 0) {
            return NULL;
        }
        if (!seen) {  /* _learn_names: bound since the last step, in binding order */
            Py_ssize_t length = PyUnicode_GET_LENGTH(name);
            int hidden = (length > 0 && PyUnicode_READ_CHAR(name, 0) == '.')
                || (is_module && length > 1 && PyUnicode_READ_CHAR(name, 0) == '_' && PyUnicode_READ_CHAR(name, 1) == '_');
            Py_INCREF(name);
            int failed = PySet_Add(activation->seen, name) < 0 || (!hidden && PyList_Append(activation->order, name) < 0);
            Py_DECREF(name);
            if (failed) {
                return NULL;
            }
        }
    }
    PyObject *order = activation->order;
    PyObject *referred = PyList_New(0);
    if (referred == NULL) {
        return NULL;
    }
    Py_INCREF(order);
    PyObject *outer = e->collected;
    Py_INCREF(referred);
    e->collected = referred;
    PyObject *text = namespace_text(e, names, order, 1);  /* the names bound now, in binding order */
    PyObject *mine = e->collected;
    e->collected = outer;
    Py_XDECREF(mine);
    Py_DECREF(order);
    PyObject *entry = text ? PyTuple_Pack(3, version, text, referred) : NULL;
    Py_XDECREF(text);
    Py_DECREF(referred);
    return entry;
}

/* The decimal text of x (|x| <= MAX_EXACT_INT). */
static PyObject *
decimal_text(long long x)
{
    char digits[24];
    return PyUnicode_FromStringAndSize(digits, put_decimal(x, digits));
}

/* A frame's text from its line and the text of its locals (reused when both are the same as last time). */
static PyObject *
frame_text_of(PyFrameObject *f, ActivationObject *activation, PyObject *local_values, PyObject *names_by_code)
{
    PyObject *line = PyLong_FromLong(PyFrame_GetLineNumber(f));
    if (line == NULL) {
        return NULL;
    }
    int line_same = PyLong_CheckExact(activation->frame_line)
        && PyLong_AsLong(activation->frame_line) == PyLong_AsLong(line);
    if (activation->frame_text == Py_None || !line_same || activation->frame_locals != local_values) {
        PyObject *name = activation->name_text;
        if (name == NULL) {
            PyCodeObject *code = PyFrame_GetCode(f);
            PyObject *code_id = PyLong_FromVoidPtr(code);
            Py_DECREF(code);
            name = code_id ? PyDict_GetItemWithError(names_by_code, code_id) : NULL;
            Py_XDECREF(code_id);
            Py_XINCREF(name);
            activation->name_text = name;
        }
        PyObject *id_text = name && PyLong_CheckExact(activation->id) ? PyObject_Str(activation->id) : NULL;
        PyObject *line_text = id_text ? decimal_text(PyLong_AsLong(line)) : NULL;
        PyObject *text = NULL;
        if (line_text != NULL) {
            PyObject *pieces[9] = {text_frame_id, id_text, text_frame_name, name, text_frame_line, line_text,
                                   text_frame_locals, local_values, text_close_brace};
            text = concat(pieces, 9);
        }
        Py_XDECREF(id_text);
        Py_XDECREF(line_text);
        if (text == NULL) {  /* with no error set, for a code Python does not know by name: Python writes it */
            Py_DECREF(line);
            return NULL;
        }
        Py_XSETREF(activation->frame_text, text);
        Py_INCREF(local_values);
        Py_XSETREF(activation->frame_locals, local_values);
        Py_INCREF(line);
        Py_XSETREF(activation->frame_line, line);
    }
    Py_DECREF(line);
    Py_INCREF(activation->frame_text);
    return activation->frame_text;
}
#endif

/* The frame's text, as Engine._frame_text gives it: the cached text of a
 * frame that waited since the last step, or of a namespace whose version
 * tag is the cached one, with what it refers to put in the heap; a
 * function's or the module's changed namespace written here. NULL with no
 * error set when Python must write it (a class body, a namespace that is
 * not an exact dict); *names_read is then the namespace if it was read. */
static PyObject *
frame_text(EncoderObject *e, PyObject *frame, ActivationObject *activation, int is_top, Py_ssize_t step,
           PyObject *ran, PyObject *names_by_code, PyObject **names_read)
{
    PyObject *cached = activation->cached;
    /* a member deleted (only a program reaching the engine through gc could) reads as NULL */
    if (cached == NULL || activation->id == NULL || activation->frame_text == NULL
            || activation->frame_line == NULL || activation->frame_locals == NULL
            || (cached != Py_None && (!PyTuple_CheckExact(cached) || PyTuple_GET_SIZE(cached) != 3))) {
        return NULL;
    }
    if (cached != Py_None && !is_top && activation->cached_at == step - 1 && activation->suspendable
            && activation->frame_text != Py_None) {
        int ran_since = 0;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ran); i++) {
            ran_since |= PyTuple_GET_ITEM(ran, i) == (PyObject *)activation;
        }
        if (!ran_since) {
            if (refer_again(PyTuple_GET_ITEM(cached, 2), e->heap, e->pending) < 0) {
                return NULL;
            }
            activation->cached_at = step;
            Py_INCREF(activation->frame_text);
            return activation->frame_text;
        }
    }
#ifdef HAVE_VERSION_TAG
    PyFrameObject *f = (PyFrameObject *)frame;
    int is_module = PyLong_CheckExact(activation->id) && PyLong_AsLong(activation->id) == 1;
    PyObject *names = is_module ? PyFrame_GetGlobals(f) : PyFrame_GetLocals(f);
    if (names == NULL) {
        return NULL;
    }
    if (!PyDict_CheckExact(names)) {
        *names_read = names;
        return NULL;
    }
    PyObject *version = cached != Py_None ? PyTuple_GET_ITEM(cached, 0) : NULL;
    int same = version && PyLong_CheckExact(version) && PyLong_AsUnsignedLongLong(version) == version_of(names);
    if (PyErr_Occurred()) {
        Py_DECREF(names);
        return NULL;
    }
    Py_INCREF(cached);
    if (same) {
        if (refer_again(PyTuple_GET_ITEM(cached, 2), e->heap, e->pending) < 0) {
            Py_DECREF(cached);
            Py_DECREF(names);
            return NULL;
        }
    }
    else {
        PyCodeObject *code = PyFrame_GetCode(f);
        int optimized = code->co_flags & CO_OPTIMIZED;
        Py_DECREF(code);
        PyObject *version_now = PyLong_FromUnsignedLongLong(version_of(names));
        PyObject *entry = (optimized || is_module) && version_now
            ? changed_locals(e, activation, names, version_now, is_module) : NULL;
        Py_XDECREF(version_now);
        if (entry == NULL) {
            Py_DECREF(cached);
            if (PyErr_Occurred()) {
                Py_DECREF(names);
                return NULL;
            }
            *names_read = names;  /* so Python need not read (for f_locals, copy out) them again */
            return NULL;
        }
        Py_SETREF(cached, entry);
        Py_INCREF(entry);
        Py_XSETREF(activation->cached, entry);
    }
    Py_DECREF(names);
    activation->cached_at = step;
    PyObject *text = frame_text_of(f, activation, PyTuple_GET_ITEM(cached, 1), names_by_code);
    Py_DECREF(cached);
    return text;
#else
    return NULL;
#endif
}

/* encoder.frames_text(chain, step, ran, names_by_code, python_frame_text) -> list:
 * each frame's text, outermost first (as _PythonCore.snapshot lists them), from frame_text
 * where it can, else from python_frame_text(entry, is_top[, names]), given
 * the namespace when frame_text has read it. */
static PyObject *
frames_text(EncoderObject *e, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_CheckExact(args[0]) || !PyTuple_CheckExact(args[2]) || !PyDict_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "frames_text(list, int, tuple, dict, callable)");
        return NULL;
    }
    PyObject *chain = args[0];
    Py_ssize_t step = PyLong_AsSsize_t(args[1]);
    if ((step == -1 && PyErr_Occurred()) || !encoder_ready(e)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(chain);
    PyObject *texts = PyList_New(0);
    if (texts == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < count && index < PyList_GET_SIZE(chain); index++) {
        PyObject *entry = PyList_GET_ITEM(chain, index);
        int is_top = index == count - 1;
        PyObject *text = NULL, *names = NULL;
        Py_INCREF(entry);
        if (PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2
                && PyFrame_Check(PyTuple_GET_ITEM(entry, 0))
                && Py_IS_TYPE(PyTuple_GET_ITEM(entry, 1), &ActivationType) && encoder_ready(e)) {
            text = frame_text(e, PyTuple_GET_ITEM(entry, 0), (ActivationObject *)PyTuple_GET_ITEM(entry, 1),
                              is_top, step, args[2], args[3], &names);
        }
        if (text == NULL && !PyErr_Occurred()) {
            text = PyObject_CallFunctionObjArgs(args[4], entry, is_top ? Py_True : Py_False, names, NULL);
        }
        Py_XDECREF(names);
        Py_DECREF(entry);
        if (text == NULL || PyList_Append(texts, text) < 0) {
            Py_XDECREF(text);
            Py_DECREF(texts);
            return NULL;
        }
        Py_DECREF(text);
    }
    return texts;
}

static PyObject *text_heap, *text_frames, *text_release, *text_forget_dead;

/* encoder.snapshot(chain, step, ran, names_by_code, python_frame_text[, returned])
 *     -> (frames, heap, return_text or None)
 * A step's snapshot in one call: a new heap, the frames' texts (frames_text),
 * the text of the value returned, if given, and the heap's texts (settle,
 * then the encoder's Python `heap` for whatever settle hands back). */
/* 1 when this step's heap is the last snapshot's: the frames (and the value
 * returned) name the same objects, in the same order, as `last`'s first
 * `roots`, and every object of `last` still holds what its text was made
 * of; 0 when that cannot be told. */
static int
same_heap(EncoderObject *e, PyObject *named, PyObject *last, Py_ssize_t roots)
{
    Py_ssize_t position = 0, last_position = 0;
    PyObject *key, *last_key, *value;
    for (Py_ssize_t i = 0; i < roots; i++) {
        if (!PyDict_Next(named, &position, &key, &value) || !PyDict_Next(last, &last_position, &last_key, &value)
                || !same_object(key, last_key)) {
            return 0;
        }
    }
    position = 0;
    PyObject *text;
    while (PyDict_Next(last, &position, &key, &text)) {
        PyObject *entry = PyDict_GetItemWithError(e->cache, key);
        Py_ssize_t n = PyLong_CheckExact(key) ? PyLong_AsSsize_t(key) : -1;
        if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3
                || PyTuple_GET_ITEM(entry, 1) != text || n < 1 || n > PyList_GET_SIZE(e->alive)) {
            if (PyErr_Occurred()) {
                return -1;
            }
            return 0;
        }
        int same = unchanged(PyTuple_GET_ITEM(entry, 0), PyList_GET_ITEM(e->alive, n - 1), e->items_cap,
                             e->immutable, e->by_version);
        if (same <= 0) {
            return same;
        }
    }
    return 1;
}

/* The ids of `last` (the last snapshot's heap, or NULL) that `heap` has not:
 * the objects that step showed and this one does not. */
static PyObject *
vanished_ids(PyObject *last, PyObject *heap)
{
    PyObject *vanished = PyList_New(0);
    if (vanished == NULL || last == NULL || !PyDict_CheckExact(last)) {
        return vanished;
    }
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(last, &position, &key, &value)) {
        int shown = PyDict_Contains(heap, key);
        if (shown < 0 || (!shown && PyList_Append(vanished, key) < 0)) {
            Py_DECREF(vanished);
            return NULL;
        }
    }
    return vanished;
}

static PyObject *
snapshot_of(EncoderObject *e, PyObject *const *args, PyObject *value_returned)
{
    PyObject *vanished = NULL;
    /* as _PythonCore.snapshot: the ids of watched objects that died go before any is given */
    if (e->deaths != NULL && PyDict_CheckExact(e->deaths) && PyDict_GET_SIZE(e->deaths)) {
        PyObject *forgotten = PyObject_CallMethodNoArgs((PyObject *)e, text_forget_dead);
        if (forgotten == NULL) {
            return NULL;
        }
        Py_DECREF(forgotten);
    }
    PyObject *heap = PyDict_New();
    PyObject *pending = PyList_New(0);
    if (heap == NULL || pending == NULL) {
        Py_XDECREF(heap);
        Py_XDECREF(pending);
        return NULL;
    }
    Py_XSETREF(e->heap, heap);
    Py_XSETREF(e->pending, pending);
    PyObject *frames = frames_text(e, args, 5);
    if (frames == NULL) {
        return NULL;
    }
    PyObject *returned = NULL, *result = NULL;
    if (value_returned != NULL) {
        returned = encoder_ready(e) ? encoder_value_text(e, value_returned) : NULL;
        if (returned == NULL) {
            Py_DECREF(frames);
            return NULL;
        }
    }
    if (!encoder_ready(e)) {
        goto done;
    }
    /* held: the program's finalizers may run below, and could reach the encoder through gc */
    heap = e->heap;
    pending = e->pending;
    Py_INCREF(heap);
    Py_INCREF(pending);
    Py_ssize_t roots = PyDict_GET_SIZE(heap);
    if (e->last_heap != NULL && PyDict_CheckExact(e->last_heap) && roots == e->last_roots) {
        PyObject *last = e->last_heap;
        Py_INCREF(last);
        int same = same_heap(e, heap, last, roots);
        if (same) {
            Py_DECREF(heap);
            Py_DECREF(pending);
            result = same > 0 ? PyTuple_Pack(3, frames, last, returned ? returned : Py_None) : NULL;
            Py_DECREF(last);
            goto done;
        }
        Py_DECREF(last);
    }
    PyObject *cache = e->cache, *immutable = e->immutable, *by_version = e->by_version;
    Py_INCREF(cache);
    Py_INCREF(immutable);
    Py_INCREF(by_version);
    PyObject *pair = settle(pending, heap, cache, e->items_cap, immutable, by_version);
    Py_DECREF(cache);
    Py_DECREF(immutable);
    Py_DECREF(by_version);
    if (pair != NULL && pair != Py_None) {  /* Python checks it and writes what changed */
        int failed = PyList_Append(pending, pair) < 0;
        Py_DECREF(pair);
        Py_SETREF(heap, failed ? NULL : PyObject_CallMethodNoArgs((PyObject *)e, text_heap));
    }
    else if (pair == NULL) {
        Py_CLEAR(heap);
    }
    else {
        Py_DECREF(pair);
    }
    Py_DECREF(pending);
    if (heap != NULL) {
        result = PyTuple_Pack(3, frames, heap, returned ? returned : Py_None);
        if (PyDict_CheckExact(heap)) {
            vanished = result != NULL ? vanished_ids(e->last_heap, heap) : NULL;
            if (vanished == NULL) {
                Py_CLEAR(result);
            }
            Py_INCREF(heap);
            Py_XSETREF(e->last_heap, heap);
            e->last_roots = roots;
        }
        Py_DECREF(heap);
    }
done:
    /* as _PythonCore.snapshot: what no step shows any more is let go */
    if (result != NULL && PyDict_CheckExact(e->ids)
            && ((vanished != NULL && PyList_GET_SIZE(vanished)) || PyDict_GET_SIZE(e->ids) > e->release_at)) {
        PyObject *shown_frames = PyLong_FromSsize_t(PyList_GET_SIZE(args[0]));
        PyObject *released = NULL;
        if (shown_frames != NULL && (vanished != NULL || (vanished = PyList_New(0)) != NULL)) {
            PyObject *call[4] = {(PyObject *)e, vanished, PyTuple_GET_ITEM(result, 1), shown_frames};
            released = PyObject_VectorcallMethod(text_release, call, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        }
        if (released == NULL) {
            Py_CLEAR(result);
        }
        Py_XDECREF(released);
        Py_XDECREF(shown_frames);
    }
    Py_XDECREF(vanished);
    Py_DECREF(frames);
    Py_XDECREF(returned);
    return result;
}

static PyObject *
snapshot(EncoderObject *e, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "snapshot(list, int, tuple, dict, callable[, object])");
        return NULL;
    }
    return snapshot_of(e, args, nargs == 6 ? args[5] : NULL);
}

static PyMethodDef encoder_methods[] = {
    {"_reference", (PyCFunction)encoder_reference_method, METH_O, NULL},
    {"value_text", (PyCFunction)encoder_value_text_method, METH_O, NULL},
    {"items_text", (PyCFunction)(void (*)(void))items_text, METH_FASTCALL, NULL},
    {"members_text", (PyCFunction)(void (*)(void))members_text, METH_FASTCALL, NULL},
    {"frames_text", (PyCFunction)(void (*)(void))frames_text, METH_FASTCALL, NULL},
    {"snapshot", (PyCFunction)(void (*)(void))snapshot, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer._speedups.EncoderCore",
    .tp_doc = "HeapEncoder's ids and value texts (see snapshot._PythonCore).",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_traverse = (traverseproc)encoder_traverse,
    .tp_clear = (inquiry)encoder_clear,
    .tp_dealloc = (destructor)encoder_dealloc,
    .tp_members = encoder_members,
    .tp_methods = encoder_methods,
};

/* -- the trace function's C path */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *on_event;       /* Engine._on_event: every event this path does not take */
    PyObject *step;           /* Engine._step: a step this path entered the frames for but cannot write */
    PyObject *activations;    /* frame -> Activation, while the frame runs */
    PyObject *shown;          /* the shown frames, (frame, activation), outermost first */
    PyObject *codes;          /* id(code) -> code, for the program's code objects */
    PyObject *latest_by_code; /* id(code) -> the id of its latest activation */
    PyObject *recursion;      /* the program's RecursionLimit: its `depth` is the most frames allowed */
    PyObject *encoder;        /* the record's EncoderCore, or None: no C path */
    PyObject *buffer;         /* the record's RecordBuffer, or None: no C path (Python Tutor's format) */
    PyObject *names_by_code;  /* id(code) -> its name's JSON text */
    PyObject *frame_text;     /* Engine._frame_text */
    PyObject *output;         /* the program's OutputCapture */
    PyObject *stop;           /* None while the program may run on, else why it stops */
    PyObject *ran;            /* the activations that may have run since the last step */
    PyObject *frame;          /* the frame of the step being taken */
    Py_ssize_t steps;         /* steps taken */
    Py_ssize_t next_id;       /* the next activation's id */
    Py_ssize_t step_limit;
    double deadline;          /* on the monotonic clock, as time.monotonic() */
    int yield_opcode;
    int resume_opcode;
} TracerObject;

static PyObject *text_line, *text_call, *text_return, *text_unread, *text_empty, *text_depth, *text_yield;

enum { EVENT_LINE, EVENT_CALL, EVENT_RETURN };

/* The event's kind, or -1 for one this path does not take. The trace
 * trampoline's event names are interned, but not always as the same
 * objects as ours: the names are compared when the objects are not the same. */
static int
event_kind(PyObject *event)
{
    if (event == text_line) {
        return EVENT_LINE;
    }
    if (event == text_call) {
        return EVENT_CALL;
    }
    if (event == text_return) {
        return EVENT_RETURN;
    }
    if (!PyUnicode_CheckExact(event)) {
        return -1;
    }
    return PyUnicode_CompareWithASCIIString(event, "line") == 0 ? EVENT_LINE
        : PyUnicode_CompareWithASCIIString(event, "call") == 0 ? EVENT_CALL
        : PyUnicode_CompareWithASCIIString(event, "return") == 0 ? EVENT_RETURN : -1;
}

/* Whether the top frame of the shown stack is `frame` (with `activation`, if given). */
static int
on_top(PyObject *shown, PyObject *frame, PyObject *activation)
{
    Py_ssize_t count = PyList_GET_SIZE(shown);
    PyObject *top = count ? PyList_GET_ITEM(shown, count - 1) : NULL;
    return top != NULL && PyTuple_CheckExact(top) && PyTuple_GET_SIZE(top) == 2 && PyTuple_GET_ITEM(top, 0) == frame
        && (activation == NULL || PyTuple_GET_ITEM(top, 1) == activation);
}

/* Engine._yielded: whether a return event is a generator's yield. */
static int
yielded(TracerObject *t, PyObject *frame, ActivationObject *activation)
{
    if (activation->after_exception) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    PyObject *bytecode = PyCode_GetCode(code);
    Py_DECREF(code);
    if (bytecode == NULL) {
        return -1;
    }
    int lasti = PyFrame_GetLasti((PyFrameObject *)frame);
    const unsigned char *ops = (const unsigned char *)PyBytes_AS_STRING(bytecode);
    /* At a yield, f_lasti is the YIELD_VALUE (3.11, 3.12) or the RESUME after it (3.13). */
    int result = lasti >= 0 && lasti < PyBytes_GET_SIZE(bytecode)
        && (ops[lasti] == t->yield_opcode
            || (lasti >= 2 && ops[lasti] == t->resume_opcode && ops[lasti - 2] == t->yield_opcode));
    Py_DECREF(bytecode);
    return result;
}

/* A new activation for a frame of the program's code, as Engine._enter makes it. */
static PyObject *
enter(TracerObject *t, PyObject *activations, PyObject *frame, PyObject *code_id)
{
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    int suspendable = (code->co_flags & CO_OPTIMIZED) && code->co_ncellvars == 0 && code->co_nfreevars == 0;
    Py_DECREF(code);
    PyObject *id = PyLong_FromSsize_t(t->next_id);
    PyObject *activation = id ? new_activation(&ActivationType, id, suspendable) : NULL;
    PyObject *latest = t->latest_by_code;
    if (activation == NULL || PyDict_SetItem(activations, frame, activation) < 0
            || latest == NULL || !PyDict_CheckExact(latest) || PyDict_SetItem(latest, code_id, id) < 0) {
        Py_XDECREF(id);
        Py_XDECREF(activation);
        return NULL;
    }
    Py_DECREF(id);
    t->next_id++;
    return activation;
}

/* Writes the step for `frame` (on top of the shown stack) in the buffer's
 * encoding, as Engine._record_step with RecordWriter.add_snapshot would: 1
 * when written, 0 when Python must write it (nothing written), -1 on an error. */
static int
write_top_step(TracerObject *t, PyObject *shown, PyObject *frame, PyObject *event, int line, PyObject *value_returned,
               PyObject *extra)
{
    BufferObject *b = (BufferObject *)t->buffer;
    PyObject *encoder = t->encoder, *ran = t->ran, *names_by_code = t->names_by_code, *frame_text = t->frame_text;
    Py_INCREF(b);
    Py_INCREF(encoder);
    Py_INCREF(ran);
    Py_INCREF(names_by_code);
    Py_INCREF(frame_text);
    Py_INCREF(frame);
    Py_XSETREF(t->frame, frame);
    int result = -1;
    PyObject *taken = NULL, *written = NULL, *line_number = NULL, *step = NULL, *full_extra = NULL;
    PyObject *previous = NULL, *old_frames = NULL, *old_heap = NULL;
    Py_ssize_t opened = b->length, count_before = b->count;
    PyObject *open = buffer_open_step(b, NULL);
    if (open == NULL) {
        goto done;
    }
    Py_DECREF(open);
    Py_ssize_t start = b->length;
    PyObject *steps = PyLong_FromSsize_t(t->steps);
    if (steps == NULL) {
        goto done;
    }
    PyObject *snapshot_args[5] = {shown, steps, ran, names_by_code, frame_text};
    taken = snapshot_of((EncoderObject *)encoder, snapshot_args, value_returned);
    Py_DECREF(steps);
    line_number = PyLong_FromLong(line);
    if (taken == NULL || line_number == NULL) {
        goto done;
    }
    if (value_returned != NULL) {
        PyObject *pieces[3] = {text_return_member, PyTuple_GET_ITEM(taken, 2), extra};
        full_extra = concat(pieces, 3);
    }
    else {
        full_extra = extra;
        Py_INCREF(full_extra);
    }
    if (full_extra == NULL) {
        goto done;
    }
    if (b->delta) {
        /* the step before, as RecordWriter keeps it: (event, line, frames, heap, extra) or a Step */
        previous = b->last != NULL && PyTuple_CheckExact(b->last) && PyTuple_GET_SIZE(b->last) == 4
            ? PyTuple_GET_ITEM(b->last, 0) : Py_None;
        Py_INCREF(previous);
        if (PyTuple_CheckExact(previous) && PyTuple_GET_SIZE(previous) == 5) {
            old_frames = PyTuple_GET_ITEM(previous, 2);
            old_heap = PyTuple_GET_ITEM(previous, 3);
            Py_INCREF(old_frames);
            Py_INCREF(old_heap);
        }
        else if (previous != Py_None) {
            old_frames = PyObject_GetAttr(previous, text_frames);
            old_heap = old_frames ? PyObject_GetAttr(previous, text_heap) : NULL;
            if (old_heap == NULL) {
                goto done;
            }
        }
        else {
            old_frames = PyTuple_New(0);
            old_heap = PyDict_New();
            if (old_frames == NULL || old_heap == NULL) {
                goto done;
            }
        }
        PyObject *step_args[9] = {(PyObject *)b, event, line_number, PyTuple_GET_ITEM(taken, 0),
                                  PyTuple_GET_ITEM(taken, 1), full_extra, text_empty, old_frames, old_heap};
        written = delta_step(NULL, step_args, 9);
    }
    else {
        PyObject *step_args[7] = {(PyObject *)b, event, line_number, PyTuple_GET_ITEM(taken, 0),
                                  PyTuple_GET_ITEM(taken, 1), full_extra, text_empty};
        written = full_step(NULL, step_args, 7);
    }
    if (written == NULL) {
        goto done;
    }
    Py_ssize_t added = written == Py_None ? 0 : PyLong_AsSsize_t(written) + 1;
    if (written == Py_None || b->size + added > b->budget) {
        /* Python writes it (a lone surrogate) or ends the record (its cap);
         * the snapshot taken again gives the same texts */
        b->length = opened;
        result = 0;
        goto done;
    }
    PyObject *start_at = PyLong_FromSsize_t(start);
    PyObject *pieces = start_at ? PyTuple_Pack(5, event, line_number, PyTuple_GET_ITEM(taken, 0),
                                               PyTuple_GET_ITEM(taken, 1), full_extra) : NULL;
    step = pieces ? PyTuple_Pack(4, pieces, previous ? previous : Py_None, text_empty, start_at) : NULL;
    Py_XDECREF(start_at);
    Py_XDECREF(pieces);
    if (step == NULL) {
        goto done;
    }
    b->size += added;
    b->count++;
    Py_XSETREF(b->last, step);
    PyObject *close = buffer_close_step(b, NULL);
    if (close == NULL) {
        goto done;
    }
    Py_DECREF(close);
    result = 1;
done:
    if (result < 0 && b->length > opened && b->count == count_before) {
        b->length = opened;  /* an error before the step was counted: nothing of it stays */
    }
    Py_XDECREF(taken);
    Py_XDECREF(written);
    Py_XDECREF(line_number);
    Py_XDECREF(full_extra);
    Py_XDECREF(previous);
    Py_XDECREF(old_frames);
    Py_XDECREF(old_heap);
    Py_DECREF(b);
    Py_DECREF(encoder);
    Py_DECREF(ran);
    Py_DECREF(names_by_code);
    Py_DECREF(frame_text);
    return result;
}

/* Engine._on_event for the common events: a line, a call or a return of a
 * frame of the program on top of the shown stack, while no limit is near and
 * there is no output to take; and the call of a library function, which is
 * not traced. 1 with *result set (the local trace function) when it took
 * the event, 0 when Engine._on_event must, -1 on an error. */
static int take_held(TracerObject *t, PyObject *activations, PyObject *shown, int kind, PyObject *frame,
                     PyObject *event, PyObject *arg, PyObject **result);

static int
take_event(TracerObject *t, PyObject *frame, PyObject *event, PyObject *arg, PyObject **result)
{
    int kind = event_kind(event);
    if (kind < 0 || !PyFrame_Check(frame)
            || t->activations == NULL || !PyDict_CheckExact(t->activations)
            || t->codes == NULL || !PyDict_CheckExact(t->codes)
            || t->latest_by_code == NULL || !PyDict_CheckExact(t->latest_by_code)
            || t->buffer == NULL || !Py_IS_TYPE(t->buffer, &BufferType)
            || t->encoder == NULL || !PyObject_TypeCheck(t->encoder, &EncoderType)
            || t->shown == NULL || !PyList_CheckExact(t->shown)
            || t->ran == NULL || !PyTuple_CheckExact(t->ran) || t->names_by_code == NULL
            || !PyDict_CheckExact(t->names_by_code) || t->frame_text == NULL || t->output == NULL
            || t->recursion == NULL || t->step == NULL) {
        return 0;
    }
    /* held, as every member this path uses: Python runs during a step (the engine's, and the
     * program's finalizers), and a program that reached the engine could change a member */
    PyObject *activations = t->activations, *shown = t->shown;
    Py_INCREF(activations);
    Py_INCREF(shown);
    int taken = take_held(t, activations, shown, kind, frame, event, arg, result);
    Py_DECREF(activations);
    Py_DECREF(shown);
    return taken;
}

/* Engine._depth_of: the frame's depth among Python frames, library code's
 * included, as CPython counts them against the recursion limit (the module's
 * frame is 1): its nearest traced caller's, plus the frames between; -1 on an
 * error. */
static Py_ssize_t
frame_depth(PyObject *activations, PyObject *frame)
{
    Py_ssize_t hops = 0;
    PyFrameObject *back = PyFrame_GetBack((PyFrameObject *)frame);
    while (back != NULL) {
        hops++;
        PyObject *found = PyDict_GetItemWithError(activations, (PyObject *)back);
        if (found != NULL && Py_IS_TYPE(found, &ActivationType)) {
            Py_DECREF(back);
            return ((ActivationObject *)found)->depth + hops;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(back);
            return -1;
        }
        PyFrameObject *next = PyFrame_GetBack(back);
        Py_DECREF(back);
        back = next;
    }
    return hops + 1;
}

/* The program's recursion limit (its RecursionLimit's depth), or -1 on an error. */
static Py_ssize_t
recursion_limit(TracerObject *t)
{
    PyObject *most = PyObject_GetAttr(t->recursion, text_depth);
    Py_ssize_t limit = most ? PyLong_AsSsize_t(most) : -1;
    Py_XDECREF(most);
    return limit;
}

static int
take_held(TracerObject *t, PyObject *activations, PyObject *shown, int kind, PyObject *frame, PyObject *event,
          PyObject *arg, PyObject **result)
{
    Py_ssize_t depth = 0;
    PyObject *activation = PyDict_GetItemWithError(activations, frame);  /* frames hash by identity */
    PyObject *code_id = NULL;
    if (activation == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        if (kind != EVENT_CALL) {
            return 0;
        }
        PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
        code_id = PyLong_FromVoidPtr(code);
        Py_DECREF(code);
        int known = code_id ? PyDict_Contains(t->codes, code_id) : -1;
        if (known <= 0) {
            Py_XDECREF(code_id);
            if (known < 0) {
                return -1;
            }
            /* library code: not traced, but its frames count against the limit (past it, Python raises) */
            Py_ssize_t limit = recursion_limit(t);
            depth = limit == -1 && PyErr_Occurred() ? -1 : frame_depth(activations, frame);
            if (depth < 0) {
                return -1;
            }
            if (depth > limit) {
                return 0;
            }
            Py_INCREF(Py_None);
            *result = Py_None;
            return 1;
        }
        if (t->next_id == 1) {  /* the module's own first call */
            Py_DECREF(code_id);
            return 0;
        }
    }
    else if (!Py_IS_TYPE(activation, &ActivationType) || ((ActivationObject *)activation)->overflow
             || (kind != EVENT_CALL && !on_top(shown, frame, activation))) {
        return 0;
    }
    /* what would make Python stop the program or take output: Python does it all */
    int line = PyFrame_GetLineNumber((PyFrameObject *)frame);
    int pass = t->stop == Py_None && t->steps < t->step_limit && line > 0;
    if (pass) {
        PyObject *unread = PyObject_GetAttr(t->output, text_unread);
        if (unread == NULL) {
            Py_XDECREF(code_id);
            return -1;
        }
        pass = unread == Py_False;
        Py_DECREF(unread);
    }
    struct timespec now;
    if (pass && (clock_gettime(CLOCK_MONOTONIC, &now) != 0
                 || (double)now.tv_sec + (double)now.tv_nsec * 1e-9 > t->deadline)) {
        pass = 0;
    }
    if (pass && kind == EVENT_CALL) {
        Py_ssize_t limit = recursion_limit(t);
        depth = limit == -1 && PyErr_Occurred() ? -1 : frame_depth(activations, frame);
        if (depth < 0) {
            Py_XDECREF(code_id);
            return -1;
        }
        pass = depth <= limit;
    }
    if (!pass) {
        Py_XDECREF(code_id);
        return 0;
    }
    /* the frames entered or left, as Engine._on_event does before the step */
    if (activation == NULL) {
        activation = enter(t, activations, frame, code_id);
        Py_DECREF(code_id);
        if (activation == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(activation);
    }
    ActivationObject *a = (ActivationObject *)activation;
    int is_yield = 0, taken = -1;
    PyObject *extra = text_empty, *value_returned = NULL, *ran = NULL;
    if (kind == EVENT_CALL) {
        PyObject *entry = PyTuple_Pack(2, frame, activation);
        if (entry == NULL || PyList_Append(shown, entry) < 0) {
            Py_XDECREF(entry);
            goto done;
        }
        Py_DECREF(entry);
        a->depth = depth;
    }
    else if (kind == EVENT_RETURN) {
        is_yield = yielded(t, frame, a);
        if (is_yield < 0) {
            goto done;
        }
        if (!a->after_exception) {
            value_returned = arg;
            extra = is_yield ? text_yield : text_empty;
        }
    }
    Py_ssize_t count = PyList_GET_SIZE(shown);
    PyObject *below = kind == EVENT_RETURN && count > 1 ? PyList_GET_ITEM(shown, count - 2) : NULL;
    ran = below && PyTuple_CheckExact(below) && PyTuple_GET_SIZE(below) == 2
        ? PyTuple_Pack(2, activation, PyTuple_GET_ITEM(below, 1)) : PyTuple_Pack(1, activation);
    if (ran == NULL) {
        goto done;
    }
    taken = write_top_step(t, shown, frame, event, line, value_returned, extra);
    if (taken == 0) {  /* Python writes this step, from the frames as they are now */
        PyObject *step = t->step;
        if (step == NULL) {
            PyErr_SetString(PyExc_TypeError, "the tracer has no step");
            taken = -1;
            goto done;
        }
        Py_INCREF(step);
        *result = PyObject_CallFunction(step, "OOOOO", frame, event, arg, activation, is_yield ? Py_True : Py_False);
        Py_DECREF(step);
        taken = *result ? 1 : -1;
        goto done;
    }
    if (taken < 0) {
        goto done;
    }
    t->steps++;
    Py_XSETREF(t->ran, ran);  /* Python may have run (a changed object's encoding): never trust a member */
    ran = NULL;
    /* what follows the step, as Engine._step does */
    if (kind == EVENT_RETURN) {
        count = PyList_GET_SIZE(shown);
        if (on_top(shown, frame, NULL) && PyList_SetSlice(shown, count - 1, count, NULL) < 0) {
            taken = -1;
            goto done;
        }
        if (!is_yield && PyDict_DelItem(activations, frame) < 0) {
            taken = -1;
            goto done;
        }
    }
    else {
        a->after_exception = 0;
    }
    Py_INCREF(t);
    *result = (PyObject *)t;
done:
    Py_XDECREF(ran);
    Py_DECREF(activation);
    return taken;
}

/* tracer(frame, event, arg): the trace function (global and local) */
static PyObject *
tracer_vectorcall(TracerObject *t, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) == 3 && kwnames == NULL) {
        PyObject *result = NULL;
        int taken = take_event(t, args[0], args[1], args[2], &result);
        if (taken < 0) {
            return NULL;
        }
        if (taken) {
            return result;
        }
    }
    if (t->on_event == NULL) {
        PyErr_SetString(PyExc_TypeError, "the tracer has no on_event");
        return NULL;
    }
    PyObject *on_event = t->on_event;
    Py_INCREF(on_event);
    PyObject *result = PyObject_Vectorcall(on_event, args, nargsf, kwnames);
    Py_DECREF(on_event);
    return result;
}

static PyObject *
tracer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    TracerObject *t = (TracerObject *)type->tp_alloc(type, 0);
    if (t == NULL) {
        return NULL;
    }
    t->vectorcall = (vectorcallfunc)tracer_vectorcall;
    t->deadline = 0;
    t->next_id = 1;
    Py_INCREF(Py_None);
    t->stop = Py_None;
    t->ran = PyTuple_New(0);
    if (t->ran == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static int
tracer_traverse(TracerObject *t, visitproc visit, void *arg)
{
    Py_VISIT(t->on_event);
    Py_VISIT(t->step);
    Py_VISIT(t->codes);
    Py_VISIT(t->latest_by_code);
    Py_VISIT(t->recursion);
    Py_VISIT(t->activations);
    Py_VISIT(t->shown);
    Py_VISIT(t->encoder);
    Py_VISIT(t->buffer);
    Py_VISIT(t->names_by_code);
    Py_VISIT(t->frame_text);
    Py_VISIT(t->output);
    Py_VISIT(t->stop);
    Py_VISIT(t->ran);
    Py_VISIT(t->frame);
    return 0;
}

static int
tracer_clear(TracerObject *t)
{
    Py_CLEAR(t->on_event);
    Py_CLEAR(t->step);
    Py_CLEAR(t->codes);
    Py_CLEAR(t->latest_by_code);
    Py_CLEAR(t->recursion);
    Py_CLEAR(t->activations);
    Py_CLEAR(t->shown);
    Py_CLEAR(t->encoder);
    Py_CLEAR(t->buffer);
    Py_CLEAR(t->names_by_code);
    Py_CLEAR(t->frame_text);
    Py_CLEAR(t->output);
    Py_CLEAR(t->stop);
    Py_CLEAR(t->ran);
    Py_CLEAR(t->frame);
    return 0;
}

static void
tracer_dealloc(TracerObject *t)
{
    PyObject_GC_UnTrack(t);
    tracer_clear(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyMemberDef tracer_members[] = {
    {"on_event", T_OBJECT, offsetof(TracerObject, on_event), 0, NULL},
    {"step", T_OBJECT, offsetof(TracerObject, step), 0, NULL},
    {"codes", T_OBJECT, offsetof(TracerObject, codes), 0, NULL},
    {"latest_by_code", T_OBJECT, offsetof(TracerObject, latest_by_code), 0, NULL},
    {"recursion", T_OBJECT, offsetof(TracerObject, recursion), 0, NULL},
    {"next_id", T_PYSSIZET, offsetof(TracerObject, next_id), 0, NULL},
    {"yield_opcode", T_INT, offsetof(TracerObject, yield_opcode), 0, NULL},
    {"resume_opcode", T_INT, offsetof(TracerObject, resume_opcode), 0, NULL},
    {"activations", T_OBJECT, offsetof(TracerObject, activations), 0, NULL},
    {"shown", T_OBJECT, offsetof(TracerObject, shown), 0, NULL},
    {"encoder", T_OBJECT, offsetof(TracerObject, encoder), 0, NULL},
    {"buffer", T_OBJECT, offsetof(TracerObject, buffer), 0, NULL},
    {"names_by_code", T_OBJECT, offsetof(TracerObject, names_by_code), 0, NULL},
    {"frame_text", T_OBJECT, offsetof(TracerObject, frame_text), 0, NULL},
    {"output", T_OBJECT, offsetof(TracerObject, output), 0, NULL},
    {"stop", T_OBJECT, offsetof(TracerObject, stop), 0, NULL},
    {"ran", T_OBJECT, offsetof(TracerObject, ran), 0, NULL},
    {"frame", T_OBJECT, offsetof(TracerObject, frame), 0, NULL},
    {"steps", T_PYSSIZET, offsetof(TracerObject, steps), 0, NULL},
    {"step_limit", T_PYSSIZET, offsetof(TracerObject, step_limit), 0, NULL},
    {"deadline", T_DOUBLE, offsetof(TracerObject, deadline), 0, NULL},
    {NULL},
};

static PyTypeObject TracerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer._speedups.Tracer",
    .tp_doc = "The trace function: common events in C, the others to on_event (see speedups.Tracer).",
    .tp_basicsize = sizeof(TracerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = tracer_new,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(TracerObject, vectorcall),
    .tp_traverse = (traverseproc)tracer_traverse,
    .tp_clear = (inquiry)tracer_clear,
    .tp_dealloc = (destructor)tracer_dealloc,
    .tp_members = tracer_members,
};

static PyMethodDef methods[] = {
    {"full_step", (PyCFunction)(void (*)(void))full_step, METH_FASTCALL, NULL},
    {"delta_step", (PyCFunction)(void (*)(void))delta_step, METH_FASTCALL, NULL},
    {"settle_heap", (PyCFunction)(void (*)(void))settle_heap, METH_FASTCALL, NULL},
    {"dict_version", dict_version, METH_O, NULL},
    {"same_items", (PyCFunction)(void (*)(void))same_items, METH_FASTCALL, NULL},
    {"same_objects", (PyCFunction)(void (*)(void))same_objects, METH_FASTCALL, NULL},
    {"shallow_json", (PyCFunction)(void (*)(void))shallow_json, METH_FASTCALL, NULL},
    {"step_lines", (PyCFunction)(void (*)(void))step_lines, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", NULL, 0, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    text_true = PyUnicode_InternFromString("true");
    text_false = PyUnicode_InternFromString("false");
    text_null = PyUnicode_InternFromString("null");
    text_comma = PyUnicode_InternFromString(",");
    text_qualname = PyUnicode_InternFromString("__qualname__");
    text_open_brace = PyUnicode_InternFromString("{");
    text_close_brace = PyUnicode_InternFromString("}");
    text_frame_id = PyUnicode_InternFromString("{\"id\":");
    text_frame_name = PyUnicode_InternFromString(",\"name\":");
    text_frame_line = PyUnicode_InternFromString(",\"line\":");
    text_frame_locals = PyUnicode_InternFromString(",\"locals\":");
    text_return_member = PyUnicode_InternFromString(",\"return\":");
    if (text_open_brace == NULL || text_close_brace == NULL || text_frame_id == NULL || text_frame_name == NULL
            || text_frame_line == NULL || text_frame_locals == NULL || text_return_member == NULL) {
        return NULL;
    }
    text_other_text = PyUnicode_InternFromString("_other_text");
    text_heap = PyUnicode_InternFromString("heap");
    text_release = PyUnicode_InternFromString("release");
    text_forget_dead = PyUnicode_InternFromString("forget_dead");
    text_frames = PyUnicode_InternFromString("frames");
    text_line = PyUnicode_InternFromString("line");
    text_call = PyUnicode_InternFromString("call");
    text_return = PyUnicode_InternFromString("return");
    text_unread = PyUnicode_InternFromString("unread");
    text_empty = PyUnicode_InternFromString("");
    text_depth = PyUnicode_InternFromString("depth");
    text_yield = PyUnicode_InternFromString(",\"yield\":true");
    if (text_line == NULL || text_call == NULL || text_return == NULL || text_unread == NULL || text_empty == NULL
            || text_depth == NULL || text_yield == NULL || text_other_text == NULL || text_heap == NULL || text_release == NULL || text_forget_dead == NULL || text_true == NULL || text_false == NULL || text_null == NULL || text_comma == NULL || text_qualname == NULL) {
        return NULL;
    }
    if (PyType_Ready(&ActivationType) < 0 || PyType_Ready(&EncoderType) < 0 || PyType_Ready(&BufferType) < 0
            || PyType_Ready(&TracerType) < 0) {
        return NULL;
    }
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(created, "Activation", (PyObject *)&ActivationType) < 0
            || PyModule_AddObjectRef(created, "EncoderCore", (PyObject *)&EncoderType) < 0
            || PyModule_AddObjectRef(created, "RecordBuffer", (PyObject *)&BufferType) < 0
            || PyModule_AddObjectRef(created, "Tracer", (PyObject *)&TracerType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}

/* The record's bytes in one growing buffer (RecordBuffer, record.RecordWriter's),
 * and full_step and delta_step, which write a step into it in either encoding.
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit (each uses what the parts before it define), so the
 * compiler still inlines across them. */

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
    PyObject *send;     /* called with steps' bytes as they are sent (see buffer_send), or None */
    /* When steps are sent: each as it closes until `send_each` bytes have been; then once
       `send_batch` bytes wait, or a step closes `send_interval` seconds after the last send. */
    Py_ssize_t send_each, send_batch, sent;
    double send_interval, sent_at;
    char delta;         /* whether steps are written in the delta encoding */
} BufferObject;

static double
monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);  /* as time.monotonic() */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

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

/* Hands what is written to `send` as a memoryview valid only during the call (no copy:
 * a child at its memory limit still sends), then starts again in the same memory. */
static int
buffer_send(BufferObject *b)
{
    if (b->length == 0) {
        return 0;
    }
    PyObject *send = b->send;
    PyObject *view = PyMemoryView_FromMemory(PyBytes_AS_STRING(b->bytes), b->length, PyBUF_READ);
    if (view == NULL) {
        return -1;
    }
    Py_INCREF(send);
    PyObject *result = PyObject_CallOneArg(send, view);
    Py_DECREF(send);
    if (result == NULL) {
        /* the view is released all the same, and the send's error is the one raised */
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *raised = PyErr_GetRaisedException();
        Py_XDECREF(PyObject_CallMethod(view, "release", NULL));
        PyErr_SetRaisedException(raised);
#else
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        Py_XDECREF(PyObject_CallMethod(view, "release", NULL));
        PyErr_Restore(type, value, traceback);
#endif
        Py_DECREF(view);
        return -1;
    }
    Py_DECREF(result);
    PyObject *released = PyObject_CallMethod(view, "release", NULL);
    Py_DECREF(view);
    if (released == NULL) {
        return -1;
    }
    Py_DECREF(released);
    b->sent += b->length;
    b->length = 0;
    b->sent_at = monotonic_seconds();
    return 0;
}

/* close_step(): what goes after a step; then, if the buffer sends, what waits is sent when it is due. */
static PyObject *
buffer_close_step(BufferObject *b, PyObject *unused)
{
    if (put_object(b, b->closer) < 0) {
        return NULL;
    }
    if (b->send != NULL && b->send != Py_None
        && (b->sent < b->send_each || b->length >= b->send_batch
            || monotonic_seconds() - b->sent_at >= b->send_interval)
        && buffer_send(b) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* flush(): send what waits (the buffer sends). */
static PyObject *
buffer_flush(BufferObject *b, PyObject *unused)
{
    if (b->send != NULL && b->send != Py_None && buffer_send(b) < 0) {
        return NULL;
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
    {"flush", (PyCFunction)buffer_flush, METH_NOARGS, NULL},
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
    {"send_each", T_PYSSIZET, offsetof(BufferObject, send_each), 0, NULL},
    {"send_batch", T_PYSSIZET, offsetof(BufferObject, send_batch), 0, NULL},
    {"send_interval", T_DOUBLE, offsetof(BufferObject, send_interval), 0, NULL},
    {"sent", T_PYSSIZET, offsetof(BufferObject, sent), READONLY, NULL},
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

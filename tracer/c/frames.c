/* Frames: an activation's cached text, the per-step loop over the stack, and
 * the encoder's snapshot (Activation; Engine._frame_text in Python).
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit (each uses what the parts before it define), so the
 * compiler still inlines across them. */

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
    /* C's own: the text of `id` (as made from id_texted, the id it was made of), and the
     * frame's line at the instruction offset line_lasti (-1: none yet). A frame's line is
     * its code's line at its offset, and a frame below the top has the same offset step
     * after step: its line is not looked up in the code's table again (PyCode_Addr2Line
     * reads the table from its start) */
    PyObject *id_text, *id_texted;
    int line_lasti, line_at_lasti;
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
    self->line_lasti = -1;
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
    Py_VISIT(self->id_text);
    Py_VISIT(self->id_texted);
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
    Py_CLEAR(self->id_text);
    Py_CLEAR(self->id_texted);
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

/* Keep `line` as the frame's line at offset `lasti` (see line_lasti). */
static void
keep_line(ActivationObject *activation, int lasti, int line)
{
    activation->line_lasti = lasti;
    activation->line_at_lasti = line;
}

/* The frame's line, as PyFrame_GetLineNumber gives it (see line_lasti). */
static int
line_of(PyFrameObject *f, ActivationObject *activation)
{
    int lasti = PyFrame_GetLasti(f);
    if (lasti >= 0 && lasti == activation->line_lasti) {
        return activation->line_at_lasti;
    }
    int line = PyFrame_GetLineNumber(f);
    keep_line(activation, lasti, line);
    return line;
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

/* The text of the activation's id, made once. */
static PyObject *
id_text_of(ActivationObject *activation)
{
    if (activation->id_text == NULL || activation->id_texted != activation->id) {
        PyObject *text = PyObject_Str(activation->id);
        if (text == NULL) {
            return NULL;
        }
        Py_XSETREF(activation->id_text, text);
        Py_INCREF(activation->id);
        Py_XSETREF(activation->id_texted, activation->id);
    }
    Py_INCREF(activation->id_text);
    return activation->id_text;
}

/* A frame's text from its line and the text of its locals (reused when both are the same as last time). */
static PyObject *
frame_text_of(PyFrameObject *f, ActivationObject *activation, PyObject *local_values, PyObject *names_by_code)
{
    PyObject *line = PyLong_FromLong(line_of(f, activation));
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
        PyObject *id_text = name && PyLong_CheckExact(activation->id) ? id_text_of(activation) : NULL;
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

static PyObject *text_heap, *text_frames, *text_release, *text_forget_dead, *text_activations;

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

/* 1 when release(vanished, heap, shown_frames) would let go of nothing, so that it
 * need not be called: no sweep is due, there are live activations the step does
 * not show, and each vanished id is one that an activation's cached locals refer
 * to (a suspended generator's, say, whose frame the step left): release holds
 * those (HeapEncoder._held_by_hidden_frames). 0 when that cannot be told. */
static int
release_holds_all(EncoderObject *e, PyObject *vanished, Py_ssize_t shown_frames)
{
    if (!PyDict_CheckExact(e->ids) || PyDict_GET_SIZE(e->ids) > e->release_at || !PyList_GET_SIZE(vanished)) {
        return 0;
    }
    PyObject *activations = PyObject_GetAttr((PyObject *)e, text_activations);
    if (activations == NULL) {
        PyErr_Clear();  /* release itself then says what is wrong */
        return 0;
    }
    int held = PyDict_CheckExact(activations) && PyDict_GET_SIZE(activations) > shown_frames;
    for (Py_ssize_t i = 0; held && i < PyList_GET_SIZE(vanished); i++) {
        PyObject *id = PyList_GET_ITEM(vanished, i), *frame, *activation;
        Py_ssize_t position = 0;
        held = 0;
        while (!held && PyDict_Next(activations, &position, &frame, &activation)) {
            PyObject *cached = Py_IS_TYPE(activation, &ActivationType) ? ((ActivationObject *)activation)->cached : NULL;
            if (cached == NULL || !PyTuple_CheckExact(cached) || PyTuple_GET_SIZE(cached) != 3
                    || !PyList_CheckExact(PyTuple_GET_ITEM(cached, 2))) {
                continue;
            }
            PyObject *referred = PyTuple_GET_ITEM(cached, 2);
            for (Py_ssize_t j = 0; !held && j < PyList_GET_SIZE(referred); j++) {
                PyObject *pair = PyList_GET_ITEM(referred, j);  /* (heap id, object) */
                held = PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2
                       && same_object(PyTuple_GET_ITEM(pair, 0), id);
            }
        }
    }
    Py_DECREF(activations);
    return held;
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
    PyObject *pair = settle_in_c(e, heap, pending);
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
    /* as _PythonCore.snapshot: what no step shows any more is let go (where
     * release would hold it all, as a generator's objects its frame left, without
     * a call: 68 of a 1000-step trace of bench/programs/generators.py) */
    if (result != NULL && PyDict_CheckExact(e->ids)
            && ((vanished != NULL && PyList_GET_SIZE(vanished)) || PyDict_GET_SIZE(e->ids) > e->release_at)
            && !(vanished != NULL && release_holds_all(e, vanished, PyList_GET_SIZE(args[0])))) {
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
    {"settle_pending", (PyCFunction)settle_pending, METH_NOARGS, NULL},
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

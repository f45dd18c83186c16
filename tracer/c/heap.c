/* The encoder's core (EncoderCore, snapshot._PythonCore in Python): heap ids,
 * and the texts of values, items and namespaces.
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit (each uses what the parts before it define), so the
 * compiler still inlines across them. */

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
    PyObject *immutable;    /* settle's markers: see snapshot._IMMUTABLE and _BY_VERSION */
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

/* The first `count` items of the exact list `items` as JSON texts, joined with commas. */
static PyObject *
list_items_text(EncoderObject *e, PyObject *items, Py_ssize_t count)
{
    if (count > PyList_GET_SIZE(items)) {
        count = PyList_GET_SIZE(items);
    }
    PyObject *plain = plain_items_text(items, count);
    if (plain != NULL || PyErr_Occurred()) {
        return plain;
    }
    PyObject *texts = PyList_New(0);
    if (texts == NULL) {
        return NULL;
    }
    /* the list may change under a Python call: its length is read each time */
    for (Py_ssize_t i = 0; i < count && i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
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

/* encoder.items_text(items, count) -> str: list_items_text. */
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
    return list_items_text(e, args[0], count);
}

/* settle_here's exact list, whose text no longer holds or has none yet
 * (`entry`, its cache entry, or NULL), written again (bubble sort's list
 * changes at a step in four: a 1000-step trace took 3.03 ms in process with
 * it written in Python, 2.43 here). Its fingerprint (list, len,
 * *items[:cap]) and its text are HeapEncoder._fingerprint's and _list_text's,
 * made in that order; the text goes in `heap` and the cache, and what its
 * items refer to on `pending` (as they are written, by encoder_reference). */
static int
settle_list(EncoderObject *e, PyObject *heap_id, PyObject *list, PyObject *entry, PyObject *heap, PyObject *cache)
{
    if (entry != NULL) {
        /* only a list's own fingerprint that settle found changed: Python's loop finds it so too */
        PyObject *fingerprint = PyTuple_GET_ITEM(entry, 0);
        if (!PyTuple_CheckExact(fingerprint) || PyTuple_GET_SIZE(fingerprint) < 2
                || PyTuple_GET_ITEM(fingerprint, 0) != (PyObject *)&PyList_Type
                || !PyLong_CheckExact(PyTuple_GET_ITEM(fingerprint, 1))) {
            return 0;
        }
        int same = unchanged(fingerprint, list, e->items_cap, e->immutable, e->by_version);
        if (same != 0) {
            return same < 0 ? -1 : 0;
        }
    }
    Py_ssize_t length = PyList_GET_SIZE(list);
    Py_ssize_t count = length < e->items_cap ? length : e->items_cap;
    PyObject *fingerprint = PyTuple_New(2 + count);
    PyObject *length_object = PyLong_FromSsize_t(length);
    if (fingerprint == NULL || length_object == NULL) {
        Py_XDECREF(fingerprint);
        Py_XDECREF(length_object);
        return -1;
    }
    Py_INCREF(&PyList_Type);
    PyTuple_SET_ITEM(fingerprint, 0, (PyObject *)&PyList_Type);
    PyTuple_SET_ITEM(fingerprint, 1, length_object);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        Py_INCREF(item);
        PyTuple_SET_ITEM(fingerprint, 2 + i, item);
    }
    PyObject *referred = PyList_New(0);
    if (referred == NULL) {
        Py_DECREF(fingerprint);
        return -1;
    }
    /* held: writing the items may run Python (an item's _other_text), and a
     * collection there the program's finalizers */
    Py_INCREF(list);
    Py_INCREF(heap_id);
    PyObject *outer = e->collected;
    Py_INCREF(referred);
    e->collected = referred;
    PyObject *items = list_items_text(e, list, e->items_cap);
    PyObject *mine = e->collected;
    e->collected = outer;
    Py_XDECREF(mine);
    PyObject *keyed = NULL;
    if (items != NULL) {
        length = PyList_GET_SIZE(list);  /* read again after the items, as _list_text does */
        keyed = length <= e->items_cap
            ? PyUnicode_FromFormat("\"%S\":{\"kind\":\"list\",\"type\":\"list\",\"items\":[%U]}", heap_id, items)
            : PyUnicode_FromFormat("\"%S\":{\"kind\":\"list\",\"type\":\"list\",\"items\":[%U],\"truncated\":%zd}",
                                   heap_id, items, length - e->items_cap);
    }
    PyObject *cached = keyed ? PyTuple_Pack(3, fingerprint, keyed, referred) : NULL;
    int failed = cached == NULL || PyDict_SetItem(cache, heap_id, cached) < 0 || PyDict_SetItem(heap, heap_id, keyed) < 0;
    Py_XDECREF(cached);
    Py_XDECREF(keyed);
    Py_XDECREF(items);
    Py_DECREF(referred);
    Py_DECREF(fingerprint);
    Py_DECREF(heap_id);
    Py_DECREF(list);
    return failed ? -1 : 1;
}

/* HeapEncoder._fingerprint of an exact dict: (dict, its version tag) where the
 * interpreter keeps one, else (dict, len, *keys, *values), or past the items
 * cap (dict, len, key, value, key, value, ...) for the first cap items. */
static PyObject *
dict_fingerprint(PyObject *d, Py_ssize_t cap)
{
#ifdef HAVE_VERSION_TAG
    PyObject *version = PyLong_FromUnsignedLongLong(version_of(d));
    PyObject *fingerprint = version ? PyTuple_Pack(2, (PyObject *)&PyDict_Type, version) : NULL;
    Py_XDECREF(version);
    return fingerprint;
#else
    Py_ssize_t length = PyDict_GET_SIZE(d), count = length <= cap ? length : cap;
    PyObject *fingerprint = PyTuple_New(2 + 2 * count);
    PyObject *length_object = PyLong_FromSsize_t(length);
    if (fingerprint == NULL || length_object == NULL) {
        Py_XDECREF(fingerprint);
        Py_XDECREF(length_object);
        return NULL;
    }
    Py_INCREF(&PyDict_Type);
    PyTuple_SET_ITEM(fingerprint, 0, (PyObject *)&PyDict_Type);
    PyTuple_SET_ITEM(fingerprint, 1, length_object);
    Py_ssize_t position = 0, i = 0;
    PyObject *key, *value;
    while (i < count && PyDict_Next(d, &position, &key, &value)) {
        Py_INCREF(key);
        Py_INCREF(value);
        /* all keys, then all values; past the cap, each key beside its value */
        PyTuple_SET_ITEM(fingerprint, length <= cap ? 2 + i : 2 + 2 * i, key);
        PyTuple_SET_ITEM(fingerprint, length <= cap ? 2 + count + i : 3 + 2 * i, value);
        i++;
    }
    return fingerprint;
#endif
}

/* Two fingerprints of the same objects (same_object), in order. */
static int
same_fingerprint(PyObject *first, PyObject *second)
{
    if (!PyTuple_CheckExact(first) || !PyTuple_CheckExact(second)
            || PyTuple_GET_SIZE(first) != PyTuple_GET_SIZE(second)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(first); i++) {
        if (!same_object(PyTuple_GET_ITEM(first, i), PyTuple_GET_ITEM(second, i))) {
            return 0;
        }
    }
    return 1;
}

/* HeapEncoder._mapping's text of an exact dict, keyed by its heap id:
 * {"kind":"dict","type":"dict","entries":[[key,value],...]} for its first
 * cap items, and "truncated" past them. Its items are taken first (held), so
 * that a finalizer that changes the dict while they are written changes
 * nothing here. */
static PyObject *
keyed_dict_text(EncoderObject *e, PyObject *heap_id, PyObject *d)
{
    Py_ssize_t count = PyDict_GET_SIZE(d) <= e->items_cap ? PyDict_GET_SIZE(d) : e->items_cap;
    PyObject *items = PyList_New(0), *texts = PyList_New(0), *text = NULL;
    Py_ssize_t position = 0;
    PyObject *key, *value;
    int failed = items == NULL || texts == NULL;
    while (!failed && PyList_GET_SIZE(items) < 2 * count && PyDict_Next(d, &position, &key, &value)) {
        failed = PyList_Append(items, key) < 0 || PyList_Append(items, value) < 0;
    }
    PyObject *head = failed ? NULL : PyUnicode_FromFormat("\"%S\":{\"kind\":\"dict\",\"type\":\"dict\",\"entries\":[", heap_id);
    failed = head == NULL || PyList_Append(texts, head) < 0;
    Py_XDECREF(head);
    for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(items); i += 2) {
        PyObject *key_text = encoder_value_text(e, PyList_GET_ITEM(items, i));
        PyObject *value_text = key_text ? encoder_value_text(e, PyList_GET_ITEM(items, i + 1)) : NULL;
        failed = value_text == NULL || PyList_Append(texts, i ? text_entry_next : text_entry_first) < 0
            || PyList_Append(texts, key_text) < 0 || PyList_Append(texts, text_comma) < 0
            || PyList_Append(texts, value_text) < 0 || PyList_Append(texts, text_entry_close) < 0;
        Py_XDECREF(key_text);
        Py_XDECREF(value_text);
    }
    if (!failed) {
        /* the length now, after the items, as _mapping reads it */
        Py_ssize_t cut = PyDict_GET_SIZE(d) - PyList_GET_SIZE(items) / 2;
        PyObject *tail = cut ? PyUnicode_FromFormat("],\"truncated\":%zd}", cut) : PyUnicode_FromString("]}");
        failed = tail == NULL || PyList_Append(texts, tail) < 0;
        Py_XDECREF(tail);
    }
    if (!failed) {
        text = concat(PySequence_Fast_ITEMS(texts), PyList_GET_SIZE(texts));
    }
    Py_XDECREF(items);
    Py_XDECREF(texts);
    return text;
}

/* settle_here's exact dict (`entry`, its cache entry, or NULL; a word
 * count's dict changes at most steps: a 1000-step trace took 7.94 ms in
 * process with it settled in Python, 6.05 here): its fingerprint made as
 * HeapEncoder._fingerprint makes it; where the cached one is the same (where
 * the interpreter keeps no version tag, settle cannot tell), its text again,
 * and what it refers to on `pending` (refer_again); else its text written
 * again (keyed_dict_text) and cached. */
static int
settle_dict(EncoderObject *e, PyObject *heap_id, PyObject *d, PyObject *entry, PyObject *heap, PyObject *cache,
            PyObject *pending)
{
    /* held: writing the items may run Python (an item's _other_text), and a
     * collection there the program's finalizers */
    Py_INCREF(d);
    Py_INCREF(heap_id);
    Py_XINCREF(entry);
    int result = -1;
    PyObject *referred = NULL, *keyed = NULL, *cached = NULL;
    PyObject *fingerprint = dict_fingerprint(d, e->items_cap);
    if (fingerprint == NULL) {
        goto done;
    }
    if (entry != NULL && same_fingerprint(PyTuple_GET_ITEM(entry, 0), fingerprint)) {
        if (refer_again(PyTuple_GET_ITEM(entry, 2), heap, pending) < 0
                || PyDict_SetItem(heap, heap_id, PyTuple_GET_ITEM(entry, 1)) < 0) {
            goto done;
        }
        result = 1;
        goto done;
    }
    referred = PyList_New(0);
    if (referred == NULL) {
        goto done;
    }
    PyObject *outer = e->collected;
    Py_INCREF(referred);
    e->collected = referred;
    keyed = keyed_dict_text(e, heap_id, d);
    PyObject *mine = e->collected;
    e->collected = outer;
    Py_XDECREF(mine);
    cached = keyed ? PyTuple_Pack(3, fingerprint, keyed, referred) : NULL;
    if (cached != NULL && PyDict_SetItem(cache, heap_id, cached) == 0 && PyDict_SetItem(heap, heap_id, keyed) == 0) {
        result = 1;
    }
done:
    Py_XDECREF(cached);
    Py_XDECREF(keyed);
    Py_XDECREF(referred);
    Py_XDECREF(fingerprint);
    Py_XDECREF(entry);
    Py_DECREF(heap_id);
    Py_DECREF(d);
    return result;
}

/* '"name":' for the exact str `name`, made once per name (e->key_texts). */
static PyObject *
key_text(EncoderObject *e, PyObject *name)
{
    PyObject *key = PyDict_GetItemWithError(e->key_texts, name);  /* str keys: no program code */
    if (key != NULL) {
        Py_INCREF(key);
        return key;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *quoted = string_text(name);
    key = quoted ? PyUnicode_FromFormat("%U:", quoted) : NULL;
    Py_XDECREF(quoted);
    if (key != NULL && PyDict_SetItem(e->key_texts, name, key) < 0) {
        Py_CLEAR(key);
    }
    return key;
}

#ifdef HAVE_VERSION_TAG
/* Whether `name` (an exact str) is a dunder, as objects.is_dunder tells. */
static int
is_dunder(PyObject *name)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(name);
    return length > 4 && PyUnicode_READ_CHAR(name, 0) == '_' && PyUnicode_READ_CHAR(name, 1) == '_'
        && PyUnicode_READ_CHAR(name, length - 2) == '_' && PyUnicode_READ_CHAR(name, length - 1) == '_';
}

/* Whether instances of `cls` are what HeapEncoder writes as a program's
 * instance from their __dict__ alone, as it did when it cached `fingerprint`
 * (the shape it gives an instance of a class with no slots, whose dict has a
 * version tag): a class of the program (its __module__ "__main__"), every
 * class of its MRO the program's or `object` (so none a list, dict or type
 * that HeapEncoder._kind would tell first), and the instance's dict still the
 * one the fingerprint names, with only str keys (HeapEncoder._attrs writes
 * others' reprs). The dict, borrowed, or NULL. */
static PyObject *
plain_instance_dict(PyObject *obj, PyObject *fingerprint, PyObject *by_version)
{
    PyTypeObject *cls = Py_TYPE(obj);
    if (!PyTuple_CheckExact(fingerprint) || PyTuple_GET_SIZE(fingerprint) != 5
            || PyTuple_GET_ITEM(fingerprint, 0) != (PyObject *)cls || PyTuple_GET_ITEM(fingerprint, 2) != by_version
            || !PyType_HasFeature(cls, Py_TPFLAGS_HEAPTYPE) || cls->tp_mro == NULL || !PyTuple_CheckExact(cls->tp_mro)
            || cls->tp_dict == NULL || !PyDict_CheckExact(cls->tp_dict)
            || !PyUnicode_CheckExact(((PyHeapTypeObject *)cls)->ht_name)) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(cls->tp_mro); i++) {
        PyObject *klass = PyTuple_GET_ITEM(cls->tp_mro, i);
        if (klass != (PyObject *)&PyBaseObject_Type
                && !(PyType_Check(klass) && PyType_HasFeature((PyTypeObject *)klass, Py_TPFLAGS_HEAPTYPE))) {
            return NULL;
        }
    }
    if (!is_program_class(cls)) {
        return NULL;
    }
    PyObject **slot = _PyObject_GetDictPtr(obj);
    PyObject *attributes = slot != NULL ? *slot : NULL;
    if (attributes == NULL || attributes != PyTuple_GET_ITEM(fingerprint, 3) || !PyDict_CheckExact(attributes)) {
        return NULL;
    }
    Py_ssize_t position = 0;
    PyObject *name, *value;
    while (PyDict_Next(attributes, &position, &name, &value)) {
        if (!PyUnicode_CheckExact(name)) {
            return NULL;
        }
    }
    return attributes;
}

/* HeapEncoder._instance's text of a plain instance (plain_instance_dict), keyed
 * by its heap id: {"kind":"instance","type":NAME,"attrs":{...}} with its
 * attributes but the dunders, and "truncated" past the items cap. Every
 * attribute's value is written, those past the cap too, as Python refers to
 * them all before it cuts. Its items are taken first, as Python takes them. */
static PyObject *
keyed_instance_text(EncoderObject *e, PyObject *heap_id, PyObject *obj, PyObject *attributes)
{
    PyObject *name_text = string_text(((PyHeapTypeObject *)Py_TYPE(obj))->ht_name);
    PyObject *items = PyList_New(0), *texts = PyList_New(0), *text = NULL;
    Py_ssize_t position = 0, kept = 0;
    PyObject *name, *value;
    int failed = name_text == NULL || items == NULL || texts == NULL;
    while (!failed && PyDict_Next(attributes, &position, &name, &value)) {
        failed = PyList_Append(items, name) < 0 || PyList_Append(items, value) < 0;
    }
    PyObject *head = failed ? NULL : PyUnicode_FromFormat(
        "\"%S\":{\"kind\":\"instance\",\"type\":%U,\"attrs\":{", heap_id, name_text);
    failed = head == NULL || PyList_Append(texts, head) < 0;
    Py_XDECREF(head);
    for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(items); i += 2) {
        name = PyList_GET_ITEM(items, i);
        if (is_dunder(name)) {
            continue;
        }
        PyObject *value_text = encoder_value_text(e, PyList_GET_ITEM(items, i + 1));
        failed = value_text == NULL;
        if (!failed && kept < e->items_cap) {
            PyObject *key = key_text(e, name);
            failed = key == NULL || (kept && PyList_Append(texts, text_comma) < 0) || PyList_Append(texts, key) < 0
                || PyList_Append(texts, value_text) < 0;
            Py_XDECREF(key);
        }
        Py_XDECREF(value_text);
        kept++;
    }
    if (!failed) {
        PyObject *tail = kept > e->items_cap ? PyUnicode_FromFormat("},\"truncated\":%zd}", kept - e->items_cap)
                                             : PyUnicode_FromString("}}");
        failed = tail == NULL || PyList_Append(texts, tail) < 0;
        Py_XDECREF(tail);
    }
    if (!failed) {
        text = concat(PySequence_Fast_ITEMS(texts), PyList_GET_SIZE(texts));
    }
    Py_XDECREF(name_text);
    Py_XDECREF(items);
    Py_XDECREF(texts);
    return text;
}

/* settle_here's plain instance (plain_instance_dict) whose cached text does
 * not hold: an attribute set since (a BST's nodes as the tree grows: a
 * 1000-step trace took 5.47 ms in process with them written in Python, 4.71
 * here).
 * Its fingerprint (class, name, by_version, __dict__, its version), as
 * HeapEncoder._fingerprint makes it, made first; its text written again and
 * cached. 0 when it is not one, with nothing changed. */
static int
settle_instance(EncoderObject *e, PyObject *heap_id, PyObject *obj, PyObject *entry, PyObject *heap, PyObject *cache)
{
    PyObject *attributes = entry != NULL ? plain_instance_dict(obj, PyTuple_GET_ITEM(entry, 0), e->by_version) : NULL;
    if (attributes == NULL) {
        return 0;
    }
    PyObject *version = PyLong_FromUnsignedLongLong(version_of(attributes));
    PyObject *fingerprint = version ? PyTuple_Pack(5, (PyObject *)Py_TYPE(obj), ((PyHeapTypeObject *)Py_TYPE(obj))->ht_name,
                                                   e->by_version, attributes, version) : NULL;
    Py_XDECREF(version);
    if (fingerprint == NULL) {
        return -1;
    }
    if (same_fingerprint(PyTuple_GET_ITEM(entry, 0), fingerprint)) {
        Py_DECREF(fingerprint);
        return 0;  /* (settle would have taken it: Python's loop says why not) */
    }
    /* held: writing the values may run Python (a value's _other_text), and a
     * collection there the program's finalizers */
    Py_INCREF(obj);
    Py_INCREF(heap_id);
    Py_INCREF(attributes);
    int result = -1;
    PyObject *referred = PyList_New(0), *keyed = NULL, *cached = NULL;
    if (referred != NULL) {
        PyObject *outer = e->collected;
        Py_INCREF(referred);
        e->collected = referred;
        keyed = keyed_instance_text(e, heap_id, obj, attributes);
        PyObject *mine = e->collected;
        e->collected = outer;
        Py_XDECREF(mine);
        cached = keyed ? PyTuple_Pack(3, fingerprint, keyed, referred) : NULL;
        if (cached != NULL && PyDict_SetItem(cache, heap_id, cached) == 0
                && PyDict_SetItem(heap, heap_id, keyed) == 0) {
            result = 1;
        }
    }
    Py_XDECREF(cached);
    Py_XDECREF(keyed);
    Py_XDECREF(referred);
    Py_DECREF(fingerprint);
    Py_DECREF(attributes);
    Py_DECREF(heap_id);
    Py_DECREF(obj);
    return result;
}
#endif

/* HeapEncoder.heap's loop, here and not in Python, for a pair settle handed
 * back (its cached text does not hold, or it has none) whose object is an
 * exact list or dict, or an instance of a program class written from its
 * __dict__ alone (settle_list, settle_dict, settle_instance). 1 when done; 0 when Python
 * must (any other object, or a cache entry of a shape this does not know,
 * which Python's loop checks itself), with nothing changed; -1 on error. */
static int
settle_here(EncoderObject *e, PyObject *pair, PyObject *heap, PyObject *cache, PyObject *pending)
{
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyLong_CheckExact(PyTuple_GET_ITEM(pair, 0))) {
        return 0;
    }
    PyObject *heap_id = PyTuple_GET_ITEM(pair, 0), *obj = PyTuple_GET_ITEM(pair, 1);
    if (!PyList_CheckExact(obj) && !PyDict_CheckExact(obj) && !PyType_HasFeature(Py_TYPE(obj), Py_TPFLAGS_HEAPTYPE)) {
        return 0;
    }
    PyObject *entry = PyDict_GetItemWithError(cache, heap_id);  /* an int key: no program code */
    if (entry == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (entry != NULL && (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3
                          || !PyList_CheckExact(PyTuple_GET_ITEM(entry, 2)))) {
        return 0;
    }
    if (PyList_CheckExact(obj)) {
        return settle_list(e, heap_id, obj, entry, heap, cache);
    }
    if (PyDict_CheckExact(obj)) {
        return settle_dict(e, heap_id, obj, entry, heap, cache, pending);
    }
#ifdef HAVE_VERSION_TAG
    return settle_instance(e, heap_id, obj, entry, heap, cache);
#else
    return 0;
#endif
}

/* HeapEncoder.heap's loop as far as C takes it: the pending pairs whose
 * cached text holds (settle), and those settle_here writes again; the first
 * pair neither takes, for Python's loop to check and write, or None once
 * `pending` is empty. */
static PyObject *
settle_in_c(EncoderObject *e, PyObject *heap, PyObject *pending)
{
    PyObject *cache = e->cache, *immutable = e->immutable, *by_version = e->by_version;
    Py_INCREF(cache);
    Py_INCREF(immutable);
    Py_INCREF(by_version);
    PyObject *pair;
    for (;;) {
        pair = settle(pending, heap, cache, e->items_cap, immutable, by_version);
        if (pair == NULL || pair == Py_None) {
            break;
        }
        int written = settle_here(e, pair, heap, cache, pending);
        if (written == 0) {
            break;
        }
        Py_DECREF(pair);
        if (written < 0) {
            pair = NULL;
            break;
        }
    }
    Py_DECREF(cache);
    Py_DECREF(immutable);
    Py_DECREF(by_version);
    return pair;
}

/* encoder.settle_pending() -> (heap id, object) or None: settle_in_c on this
 * step's heap and pending pairs (HeapEncoder.heap calls it where C is built). */
static PyObject *
settle_pending(EncoderObject *e, PyObject *unused)
{
    if (!encoder_ready(e)) {
        return NULL;
    }
    PyObject *heap = e->heap, *pending = e->pending;
    Py_INCREF(heap);
    Py_INCREF(pending);
    PyObject *pair = settle_in_c(e, heap, pending);
    Py_DECREF(heap);
    Py_DECREF(pending);
    return pair;
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
        PyObject *key = key_text(e, name);
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

/* What changed since a cached text was made: dicts' version tags, identity
 * comparisons, and settle, HeapEncoder.heap's loop over what has not.
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit (each uses what the parts before it define), so the
 * compiler still inlines across them. */

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

/* The same object, or two exact ints or exact strs of the same value (whose
 * JSON text is the same): comparing those runs no program code. (A static
 * type's name is a new str each time it is read: `type`'s, in every class's
 * fingerprint, and `set`'s or `deque`'s in theirs: compared by identity, every
 * class was written again at every step, and a 1000-step BST trace took 23.4 ms
 * in process, against 11.6 with names compared by value.) */
static int
same_object(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        return PyObject_RichCompareBool(a, b, Py_EQ) == 1;
    }
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)) {
        return PyUnicode_Compare(a, b) == 0;
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

/* Whether `text` is the name that type.__name__ gives `type` (a heap type's
 * own str; a static type's, a new str each time, from its tp_name). */
static int
same_type_name(PyObject *text, PyTypeObject *type)
{
    if (!PyUnicode_CheckExact(text)) {
        return 0;
    }
    if (PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE)) {
        return same_object(text, ((PyHeapTypeObject *)type)->ht_name);
    }
    const char *name = strrchr(type->tp_name, '.');
    name = name != NULL ? name + 1 : type->tp_name;
    Py_ssize_t length;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &length);
    if (utf8 == NULL) {
        PyErr_Clear();  /* a lone surrogate: no type's name */
        return 0;
    }
    return (size_t)length == strlen(name) && memcmp(utf8, name, (size_t)length) == 0;
}

/* A program class's fingerprint, (metaclass, its name, the class's name,
 * *bases, *the items of its dict), as HeapEncoder._fingerprint makes it, held
 * against the class as it is now: read in place, where Python copies the
 * class's dict to build a new one at every step (a 1000-step BST trace, two
 * classes: 11.6 ms in process so, 5.4 with this). */
static int
same_class(PyObject *fingerprint, PyTypeObject *type)
{
    PyObject *bases = type->tp_bases, *namespace = type->tp_dict;
    if (bases == NULL || !PyTuple_CheckExact(bases) || namespace == NULL || !PyDict_CheckExact(namespace)) {
        return 0;
    }
    Py_ssize_t base_count = PyTuple_GET_SIZE(bases);
    if (PyTuple_GET_SIZE(fingerprint) != 3 + base_count + 2 * PyDict_GET_SIZE(namespace)
            || !same_type_name(PyTuple_GET_ITEM(fingerprint, 1), Py_TYPE(type))
            || !same_type_name(PyTuple_GET_ITEM(fingerprint, 2), type)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < base_count; i++) {
        if (!same_object(PyTuple_GET_ITEM(fingerprint, 3 + i), PyTuple_GET_ITEM(bases, i))) {
            return 0;
        }
    }
    Py_ssize_t position = 0, at = 3 + base_count;
    PyObject *key, *value;
    while (PyDict_Next(namespace, &position, &key, &value)) {
        if (!same_object(PyTuple_GET_ITEM(fingerprint, at), key)
                || !same_object(PyTuple_GET_ITEM(fingerprint, at + 1), value)) {
            return 0;
        }
        at += 2;
    }
    return 1;
}

#ifdef HAVE_VERSION_TAG
/* Whether `cls` is a class of the program now, as objects.is_program_class
 * tells (its __module__ the str "__main__"): a class moved to another module
 * makes its instances "other" objects. */
static int
is_program_class(PyTypeObject *cls)
{
    PyObject *namespace = cls->tp_dict;
    PyObject *module = namespace != NULL && PyDict_CheckExact(namespace)
        ? PyDict_GetItemWithError(namespace, text_module) : NULL;  /* str keys: no program code */
    if (module == NULL) {
        PyErr_Clear();
        return 0;
    }
    return PyUnicode_CheckExact(module) && PyUnicode_CompareWithASCIIString(module, "__main__") == 0;
}
#endif

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
    if (PyType_Check(obj) && PyType_HasFeature((PyTypeObject *)obj, Py_TPFLAGS_HEAPTYPE)) {
        return same_class(fingerprint, (PyTypeObject *)obj);
    }
#ifdef HAVE_VERSION_TAG
    /* an instance of a program class with no slots: (class, name, by_version, __dict__, its version) */
    if (size == 5 && PyTuple_GET_ITEM(fingerprint, 2) == by_version && PyType_HasFeature(cls, Py_TPFLAGS_HEAPTYPE)) {
        PyObject **slot = _PyObject_GetDictPtr(obj);
        PyObject *attributes = PyTuple_GET_ITEM(fingerprint, 3);
        PyObject *version = PyTuple_GET_ITEM(fingerprint, 4);
        return second == ((PyHeapTypeObject *)cls)->ht_name && is_program_class(cls) && slot != NULL && *slot == attributes
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

/* settle(pending, heap, cache, cap, immutable, by_version) -> (heap id, object) or None
 *
 * HeapEncoder.heap's loop for the objects whose cached text still holds:
 * pops (heap id, object) pairs off `pending`, and for each one whose cache
 * entry (fingerprint, text, referred pairs) is unchanged, puts its text in
 * `heap` and what it refers to on `pending`, as the Python loop does. Returns
 * the first pair it cannot settle (for settle_here, else Python, to check and
 * write), or None when `pending` is empty. */
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


/* Identity checks for the snapshot caches, without building Python objects.
 *
 * The caches decide, at every step, whether a namespace or a container still
 * holds the very objects it held when its text was made. In Python that
 * means building a tuple of its keys and values and comparing it item by
 * item; here a dict answers with its version tag (CPython bumps it on every
 * change to the dict) and a list is compared in place. Nothing here calls
 * back into Python code, so no program code can run from these checks.
 * tracer/identity.py falls back to pure Python where this is not built.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* dict_version(d) -> int, or None when d is not an exact dict or the
 * interpreter keeps no version tag. The tag is a global counter: two reads
 * that agree mean the dict was not changed in between. */
static PyObject *
dict_version(PyObject *module, PyObject *d)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
    if (PyDict_CheckExact(d)) {
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
        uint64_t tag = ((PyDictObject *)d)->ma_version_tag;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
        return PyLong_FromUnsignedLongLong(tag);
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

static PyMethodDef methods[] = {
    {"dict_version", dict_version, METH_O, NULL},
    {"same_items", (PyCFunction)(void (*)(void))same_items, METH_FASTCALL, NULL},
    {"same_objects", (PyCFunction)(void (*)(void))same_objects, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", NULL, 0, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}

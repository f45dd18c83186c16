/* The trace function as the cyclic collector sees it (GcNeutral; see
 * _collector.c for why).
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit. */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *trace;  /* the trace function it calls: the C Tracer, or Engine._on_event */
} GcNeutralObject;

/* neutral(frame, event, arg): trace(frame, event, arg) with the collector paused; where
 * trace returns itself (to go on tracing the frame), this returns itself instead */
static PyObject *
gc_neutral_vectorcall(GcNeutralObject *n, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    CollectorState saved;
    collector_pause(&saved);
    PyObject *result = PyObject_Vectorcall(n->trace, args, nargsf, kwnames);
    if (result == n->trace) {
        Py_SETREF(result, Py_NewRef((PyObject *)n));
    }
    collector_resume(&saved, result != NULL);
    return result;
}

static PyObject *
gc_neutral_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *trace;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "GcNeutral takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "GcNeutral", 1, 1, &trace)) {
        return NULL;
    }
    GcNeutralObject *n = (GcNeutralObject *)type->tp_alloc(type, 0);
    if (n == NULL) {
        return NULL;
    }
    n->vectorcall = (vectorcallfunc)gc_neutral_vectorcall;
    n->trace = Py_NewRef(trace);
    return (PyObject *)n;
}

static int
gc_neutral_traverse(GcNeutralObject *n, visitproc visit, void *arg)
{
    Py_VISIT(n->trace);
    return 0;
}

static int
gc_neutral_clear(GcNeutralObject *n)
{
    Py_CLEAR(n->trace);
    return 0;
}

static void
gc_neutral_dealloc(GcNeutralObject *n)
{
    PyObject_GC_UnTrack(n);
    gc_neutral_clear(n);
    Py_TYPE(n)->tp_free((PyObject *)n);
}

static PyObject *
gc_neutral_restart(GcNeutralObject *n, PyObject *Py_UNUSED(ignored))
{
    collector_restart();
    Py_RETURN_NONE;
}

static PyMethodDef gc_neutral_methods[] = {
    {"restart", (PyCFunction)gc_neutral_restart, METH_NOARGS,
     "The program starts: the collector counts its allocations from zero."},
    {NULL},
};

static PyMemberDef gc_neutral_members[] = {
    {"trace", T_OBJECT, offsetof(GcNeutralObject, trace), READONLY, NULL},
    {NULL},
};

static PyTypeObject GcNeutralType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer._speedups.GcNeutral",
    .tp_doc = "A trace function whose allocations the cyclic collector does not count, and inside which it never runs.",
    .tp_basicsize = sizeof(GcNeutralObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = gc_neutral_new,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(GcNeutralObject, vectorcall),
    .tp_traverse = (traverseproc)gc_neutral_traverse,
    .tp_clear = (inquiry)gc_neutral_clear,
    .tp_dealloc = (destructor)gc_neutral_dealloc,
    .tp_members = gc_neutral_members,
    .tp_methods = gc_neutral_methods,
};

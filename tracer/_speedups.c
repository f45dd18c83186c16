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
 * change to the dict) and a list or a class is compared in place (settle,
 * frames_text). What did change is written again: namespaces, scalars,
 * references, exact lists and dicts and plain instances here (EncoderCore,
 * settle_here), the program's other objects by Python (HeapEncoder). Each
 * step's bytes are written in one pass into the record's one buffer
 * (full_step, delta_step, RecordBuffer). Nothing here calls the program's
 * code. tracer/speedups.py falls back to the same work in Python where this
 * is not built; tests/test_speedups.py holds both to the same bytes.
 *
 * It also carries the service's C that is not per-step work: the parent's
 * check of a child's step lines (_json_check.c), a spare's confinement
 * calls (_kernel.c) and the fork server's objects made immortal before it
 * forks (_immortal.c), each in its own file.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <time.h>

#include "_json_check.h"
#include "_collector.h"
#include "_kernel.h"
#include "_immortal.h"

/* interned at import */
static PyObject *text_true, *text_false, *text_null, *text_comma, *text_qualname, *text_open_brace,
    *text_close_brace, *text_frame_id, *text_frame_name, *text_frame_line, *text_frame_locals, *text_return_member,
    *text_entry_first, *text_entry_next, *text_entry_close, *text_module;

/* the parts, by job, in the order each needs the ones before it */
#include "c/unchanged.c"
#include "c/text.c"
#include "c/heap.c"
#include "c/record.c"
#include "c/frames.c"
#include "c/trace.c"
#include "c/gc_neutral.c"

static PyMethodDef methods[] = {
    {"full_step", (PyCFunction)(void (*)(void))full_step, METH_FASTCALL, NULL},
    {"delta_step", (PyCFunction)(void (*)(void))delta_step, METH_FASTCALL, NULL},
    {"dict_version", dict_version, METH_O, NULL},
    {"same_items", (PyCFunction)(void (*)(void))same_items, METH_FASTCALL, NULL},
    {"same_objects", (PyCFunction)(void (*)(void))same_objects, METH_FASTCALL, NULL},
    {"step_lines", (PyCFunction)(void (*)(void))step_lines, METH_FASTCALL, NULL},
    {"run_traced", (PyCFunction)(void (*)(void))run_traced, METH_FASTCALL, NULL},
    {"prctl", (PyCFunction)(void (*)(void))kernel_prctl, METH_FASTCALL, NULL},
    {"seccomp_filter", kernel_seccomp_filter, METH_O, NULL},
    {"landlock_create_ruleset", (PyCFunction)(void (*)(void))kernel_landlock_create_ruleset, METH_FASTCALL, NULL},
    {"landlock_restrict_self", kernel_landlock_restrict_self, METH_O, NULL},
    {"sched_getcpu", kernel_sched_getcpu, METH_NOARGS, NULL},
    {"immortalize", immortalize, METH_O, NULL},
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
    text_entry_first = PyUnicode_InternFromString("[");
    text_entry_next = PyUnicode_InternFromString(",[");
    text_entry_close = PyUnicode_InternFromString("]");
    text_module = PyUnicode_InternFromString("__module__");
    if (text_open_brace == NULL || text_close_brace == NULL || text_frame_id == NULL || text_frame_name == NULL
            || text_frame_line == NULL || text_frame_locals == NULL || text_return_member == NULL
            || text_entry_first == NULL || text_entry_next == NULL || text_entry_close == NULL || text_module == NULL) {
        return NULL;
    }
    text_other_text = PyUnicode_InternFromString("_other_text");
    text_heap = PyUnicode_InternFromString("heap");
    text_release = PyUnicode_InternFromString("release");
    text_forget_dead = PyUnicode_InternFromString("forget_dead");
    text_activations = PyUnicode_InternFromString("activations");
    text_frames = PyUnicode_InternFromString("frames");
    text_line = PyUnicode_InternFromString("line");
    text_call = PyUnicode_InternFromString("call");
    text_return = PyUnicode_InternFromString("return");
    text_unread = PyUnicode_InternFromString("unread");
    text_empty = PyUnicode_InternFromString("");
    text_depth = PyUnicode_InternFromString("depth");
    text_yield = PyUnicode_InternFromString(",\"yield\":true");
    if (text_line == NULL || text_call == NULL || text_return == NULL || text_unread == NULL || text_empty == NULL
            || text_depth == NULL || text_yield == NULL || text_other_text == NULL || text_heap == NULL || text_release == NULL || text_forget_dead == NULL || text_activations == NULL || text_true == NULL || text_false == NULL || text_null == NULL || text_comma == NULL || text_qualname == NULL) {
        return NULL;
    }
    if (PyType_Ready(&ActivationType) < 0 || PyType_Ready(&EncoderType) < 0 || PyType_Ready(&BufferType) < 0
            || PyType_Ready(&TracerType) < 0 || PyType_Ready(&GcNeutralType) < 0) {
        return NULL;
    }
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(created, "Activation", (PyObject *)&ActivationType) < 0
            || PyModule_AddObjectRef(created, "EncoderCore", (PyObject *)&EncoderType) < 0
            || PyModule_AddObjectRef(created, "RecordBuffer", (PyObject *)&BufferType) < 0
            || PyModule_AddObjectRef(created, "Tracer", (PyObject *)&TracerType) < 0
            || PyModule_AddObjectRef(created, "GcNeutral", (PyObject *)&GcNeutralType) < 0
            || PyModule_AddObjectRef(created, "IMMORTALIZES", immortal_mark_known() ? Py_True : Py_False) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}

/* The fork server's objects made immortal before it forks, so that its
 * children do not write them (tracer/forkserver.py calls this once).
 *
 * A child shares the server's pages until it writes one, and then copies
 * it: a page fault, a few µs on a virtual machine, and its exit frees the
 * copy again. Most of what a trace writes in the server's pages is
 * reference counts: every object it touches (a module's functions, a type's
 * methods, the names its code reads) is counted up and down. From CPython
 * 3.12 on, an immortal object is never counted (PEP 683): CPython makes
 * None, the small ints, the static types and the interned strings so; this
 * makes so everything reachable from `roots` (the collector's objects),
 * through what the collector itself follows (tp_traverse), a code object's
 * parts and a type's dict. A child still sees them all and can change any
 * mutable one; an immortal object is never freed, which the server never
 * needed of the objects it made before forking.
 *
 * On CPython 3.12 and 3.13 (64-bit, with the GIL) the mark is the one
 * CPython's own header uses: the low 32 bits of the count all set
 * (_Py_IMMORTAL_REFCNT), which Py_INCREF and Py_DECREF check first. Another
 * runtime counts differently (3.11 has no immortal objects; the free-threaded
 * build and 3.14 mark them otherwise): nothing is changed there, and the
 * count returned is 0. */

#include "_immortal.h"

#include <stdint.h>
#include <stdlib.h>

#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000 && SIZEOF_VOID_P == 8 \
    && !defined(Py_GIL_DISABLED)
#define IMMORTAL_MARK_KNOWN 1
#endif

int
immortal_mark_known(void)
{
#ifdef IMMORTAL_MARK_KNOWN
    return 1;
#else
    return 0;
#endif
}

#ifdef IMMORTAL_MARK_KNOWN

typedef struct {
    PyObject **items;
    size_t count, capacity;
} Pending;

/* the objects seen, by address: open addressing, at most half full */
typedef struct {
    uintptr_t *slots;
    size_t mask, used;
} Seen;

static int
pending_push(Pending *pending, PyObject *object)
{
    if (object == NULL) {
        return 0;
    }
    if (pending->count == pending->capacity) {
        size_t capacity = pending->capacity ? 2 * pending->capacity : 4096;
        PyObject **items = realloc(pending->items, capacity * sizeof(PyObject *));
        if (items == NULL) {
            return -1;
        }
        pending->items = items;
        pending->capacity = capacity;
    }
    pending->items[pending->count++] = object;
    return 0;
}

static int
visit(PyObject *object, void *pending)
{
    return pending_push((Pending *)pending, object);
}

static size_t
slot_of(const Seen *seen, uintptr_t address)
{
    return (size_t)((address >> 4) * 0x9E3779B97F4A7C15ull) & seen->mask;
}

static int
seen_grow(Seen *seen)
{
    size_t size = seen->slots ? 2 * (seen->mask + 1) : 1 << 16;
    uintptr_t *slots = calloc(size, sizeof(uintptr_t));
    if (slots == NULL) {
        return -1;
    }
    Seen grown = {slots, size - 1, seen->used};
    for (size_t i = 0; seen->slots != NULL && i <= seen->mask; i++) {
        if (seen->slots[i]) {
            size_t at = slot_of(&grown, seen->slots[i]);
            while (grown.slots[at]) {
                at = (at + 1) & grown.mask;
            }
            grown.slots[at] = seen->slots[i];
        }
    }
    free(seen->slots);
    *seen = grown;
    return 0;
}

/* 1 if `object` is new to `seen` (now added), 0 if seen before, -1 out of memory */
static int
seen_add(Seen *seen, PyObject *object)
{
    if (seen->slots == NULL || 2 * (seen->used + 1) > seen->mask + 1) {
        if (seen_grow(seen) < 0) {
            return -1;
        }
    }
    uintptr_t address = (uintptr_t)object;
    size_t at = slot_of(seen, address);
    while (seen->slots[at]) {
        if (seen->slots[at] == address) {
            return 0;
        }
        at = (at + 1) & seen->mask;
    }
    seen->slots[at] = address;
    seen->used++;
    return 1;
}

/* What an object refers to that the collector does not follow: a code object is
 * not the collector's, and a static type's dict is kept by the interpreter. */
static int
push_unfollowed(Pending *pending, PyObject *object)
{
    if (PyCode_Check(object)) {
        PyCodeObject *code = (PyCodeObject *)object;
        PyObject *parts[] = {code->co_consts, code->co_names, code->co_exceptiontable, code->co_localsplusnames,
                             code->co_localspluskinds, code->co_filename, code->co_name, code->co_qualname,
                             code->co_linetable};
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
            if (pending_push(pending, parts[i]) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (PyType_Check(object)) {
        PyTypeObject *type = (PyTypeObject *)object;
        /* a new reference (the type keeps the dict alive), or NULL, no error set, for a type without one */
        PyObject *dict = PyType_GetDict(type);
        int pushed = pending_push(pending, dict);
        Py_XDECREF(dict);
        if (pushed < 0 || pending_push(pending, type->tp_mro) < 0 || pending_push(pending, type->tp_bases) < 0) {
            return -1;
        }
    }
    return 0;
}

PyObject *
immortalize(PyObject *module, PyObject *roots)
{
    if (!PyList_Check(roots)) {
        PyErr_SetString(PyExc_TypeError, "immortalize() takes a list of objects");
        return NULL;
    }
    Pending pending = {NULL, 0, 0};
    Seen seen = {NULL, 0, 0};
    Py_ssize_t marked = 0;
    int failed = 0;
    for (Py_ssize_t i = PyList_GET_SIZE(roots) - 1; i >= 0 && !failed; i--) {
        failed = pending_push(&pending, PyList_GET_ITEM(roots, i)) < 0;
    }
    while (!failed && pending.count) {
        PyObject *object = pending.items[--pending.count];
        int added = seen_add(&seen, object);
        if (added <= 0) {
            failed = added < 0;
            continue;
        }
        if (!_Py_IsImmortal(object)) {
            object->ob_refcnt = _Py_IMMORTAL_REFCNT;
            marked++;
        }
        if (push_unfollowed(&pending, object) < 0) {
            failed = 1;
        } else if (PyObject_IS_GC(object) && Py_TYPE(object)->tp_traverse != NULL) {
            /* what gc.get_referents follows: a static type is no GC object, and its
             * tp_traverse must not be called */
            failed = Py_TYPE(object)->tp_traverse(object, visit, &pending) < 0;
        }
    }
    free(pending.items);
    free(seen.slots);
    if (failed) {
        return PyErr_NoMemory();
    }
    return PyLong_FromSsize_t(marked);
}

#else

PyObject *
immortalize(PyObject *module, PyObject *roots)
{
    if (!PyList_Check(roots)) {
        PyErr_SetString(PyExc_TypeError, "immortalize() takes a list of objects");
        return NULL;
    }
    return PyLong_FromLong(0);
}

#endif

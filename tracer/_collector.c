/* The cyclic collector sees the program's allocations, not the tracer's.
 *
 * CPython collects garbage cycles when the objects it tracks, allocated
 * less freed, pass a threshold (700; 2000 on 3.13). The trace function allocates too,
 * and differently in C and in Python, so untouched the tracer would decide
 * when a program's garbage cycles die, and their finalizers would run
 * inside the trace function, untraced, whenever its own allocations tipped
 * the count. Around each call of the trace function (GcNeutral) automatic
 * collection is off and the count is put back as the program left it:
 * a collection comes where the program's own allocations make it due, in
 * the program's code, where its finalizers are traced; the same in C and
 * in Python.
 *
 * CPython has no API for the count: this reads and writes the interpreter's
 * collector state, the one file built with Py_BUILD_CORE (the struct is the
 * same on 3.11, 3.12 and 3.13). */

#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_interp.h"

#include "_collector.h"

/* As the program starts: every generation's count from zero, as after a full
 * collection. What came before (the tracer's setup, different in C and in
 * Python) is not the program's. */
void
collector_restart(void)
{
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    for (int generation = 0; generation < NUM_GENERATIONS; generation++) {
        gc->generations[generation].count = 0;
    }
}

void
collector_pause(CollectorState *saved)
{
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    saved->enabled = gc->enabled;
    saved->count = gc->generations[0].count;
    gc->enabled = 0;
}

/* may_schedule: no exception is set, and an allocation may be made */
void
collector_resume(const CollectorState *saved, int may_schedule)
{
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    struct gc_generation *young = &gc->generations[0];
    gc->enabled = saved->enabled;
    young->count = saved->count;
#if PY_VERSION_HEX >= 0x030C0000
    /* From 3.12 an allocation past the threshold schedules the collection for
     * the interpreter's next periodic check; one made inside the trace
     * function's Python, with collection off, drops the schedule. Made due
     * again here, it runs at the program's next check, as if the tracer had
     * run no Python. (3.11 collects at the allocation itself: never due here.) */
    if (may_schedule && gc->enabled && young->threshold && young->count > young->threshold && !gc->collecting) {
        young->count = young->threshold;
        PyObject *probe = PySet_New(NULL);  /* one allocation: past the threshold, scheduled */
        if (probe == NULL) {
            PyErr_Clear();
        }
        Py_XDECREF(probe);
        young->count = saved->count;
    }
#else
    (void)may_schedule;
#endif
}

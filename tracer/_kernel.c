/* The calls a spare makes to confine itself, and its child's first line
 * makes to name its CPU, without ctypes (tracer/kernel.py is their Python
 * face, and does the same through ctypes where this is not built).
 *
 * A spare is forked from the fork server, and every page it writes is one
 * it copies from the server's. ctypes writes many on its first calls in a
 * process (its argument objects, its errno swap, the symbol's lazy binding):
 * a spare's prctl, Landlock and seccomp calls cost it 162 page faults through
 * ctypes and 30 through these, its child's first sched_getcpu 46 and 7. */

#include "_kernel.h"

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

#define SECCOMP_MODE_FILTER_ 2

static PyObject *
refused(const char *what)
{
    int error = errno;
    PyObject *message = PyUnicode_FromFormat("%s: %s", what, strerror(error));
    if (message != NULL) {
        PyObject *exception = PyObject_CallFunction(PyExc_OSError, "iO", error, message);
        Py_DECREF(message);
        if (exception != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
            Py_DECREF(exception);
        }
    }
    return NULL;
}

/* prctl(option, argument): the result; OSError where the kernel refuses */
PyObject *
kernel_prctl(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "prctl(option, argument)");
        return NULL;
    }
    long option = PyLong_AsLong(args[0]);
    unsigned long argument = PyLong_AsUnsignedLong(args[1]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    int result = prctl((int)option, argument, 0UL, 0UL, 0UL);
    if (result < 0) {
        char what[32];
        snprintf(what, sizeof what, "prctl(%ld)", option);
        return refused(what);
    }
    return PyLong_FromLong(result);
}

/* seccomp_filter(program): installs the classic BPF program (bytes, 8 per instruction) */
PyObject *
kernel_seccomp_filter(PyObject *module, PyObject *program)
{
    if (!PyBytes_Check(program) || PyBytes_GET_SIZE(program) % sizeof(struct sock_filter) != 0
            || PyBytes_GET_SIZE(program) / (Py_ssize_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        PyErr_SetString(PyExc_ValueError, "a seccomp program is bytes, 8 per instruction, at most 4096");
        return NULL;
    }
    struct sock_fprog fprog = {
        .len = (unsigned short)(PyBytes_GET_SIZE(program) / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)PyBytes_AS_STRING(program),
    };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER_, &fprog, 0UL, 0UL) < 0) {
        return refused("prctl(PR_SET_SECCOMP)");
    }
    Py_RETURN_NONE;
}

/* landlock_create_ruleset(attributes, flags): the syscall's result (a descriptor, or the
 * ABI version with its version flag); `attributes` is bytes (struct landlock_ruleset_attr,
 * as long as the ABI reads) or None */
PyObject *
kernel_landlock_create_ruleset(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || (args[0] != Py_None && !PyBytes_Check(args[0]))) {
        PyErr_SetString(PyExc_TypeError, "landlock_create_ruleset(attributes: bytes or None, flags)");
        return NULL;
    }
    unsigned long flags = PyLong_AsUnsignedLong(args[1]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    const char *attributes = args[0] == Py_None ? NULL : PyBytes_AS_STRING(args[0]);
    size_t size = args[0] == Py_None ? 0 : (size_t)PyBytes_GET_SIZE(args[0]);
    long result = syscall(__NR_landlock_create_ruleset, attributes, size, (unsigned int)flags);
    if (result < 0) {
        return refused("landlock_create_ruleset");
    }
    return PyLong_FromLong(result);
}

/* landlock_restrict_self(ruleset): enforces the ruleset on this thread */
PyObject *
kernel_landlock_restrict_self(PyObject *module, PyObject *ruleset)
{
    long fd = PyLong_AsLong(ruleset);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (syscall(__NR_landlock_restrict_self, (int)fd, 0U) < 0) {
        return refused("landlock_restrict_self");
    }
    Py_RETURN_NONE;
}

/* sched_getcpu(): the CPU this thread runs on now, or None where the kernel does not say */
PyObject *
kernel_sched_getcpu(PyObject *module, PyObject *unused)
{
    int cpu = sched_getcpu();
    if (cpu < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(cpu);
}

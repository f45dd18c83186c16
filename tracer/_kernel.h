/* The confinement's system calls, without ctypes: see _kernel.c. */
#ifndef TRACER_KERNEL_H
#define TRACER_KERNEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *kernel_prctl(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_seccomp_filter(PyObject *module, PyObject *program);
PyObject *kernel_landlock_create_ruleset(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_landlock_restrict_self(PyObject *module, PyObject *ruleset);
PyObject *kernel_sched_getcpu(PyObject *module, PyObject *unused);

#endif

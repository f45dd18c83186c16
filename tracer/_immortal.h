/* The fork server's objects made immortal before it forks: see _immortal.c. */
#ifndef TRACER_IMMORTAL_H
#define TRACER_IMMORTAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *immortalize(PyObject *module, PyObject *roots);
/* whether immortalize marks anything on this runtime */
int immortal_mark_known(void);

#endif

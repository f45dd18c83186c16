/* The service's check of a child's step lines: see _json_check.c. */
#ifndef TRACER_JSON_CHECK_H
#define TRACER_JSON_CHECK_H

#include <Python.h>

PyObject *step_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif

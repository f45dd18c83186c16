/* The trace function's C path (Tracer; Engine._on_event in Python).
 *
 * One part of _speedups.c, which includes the parts in order as one
 * compilation unit (each uses what the parts before it define), so the
 * compiler still inlines across them. */

/* -- the trace function's C path */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *on_event;       /* Engine._on_event: every event this path does not take */
    PyObject *step;           /* Engine._step: a step this path entered the frames for but cannot write */
    PyObject *activations;    /* frame -> Activation, while the frame runs */
    PyObject *shown;          /* the shown frames, (frame, activation), outermost first */
    PyObject *codes;          /* id(code) -> code, for the program's code objects */
    PyObject *latest_by_code; /* id(code) -> the id of its latest activation */
    PyObject *recursion;      /* the program's RecursionLimit: its `depth` is the most frames allowed */
    PyObject *encoder;        /* the record's EncoderCore, or None: no C path */
    PyObject *buffer;         /* the record's RecordBuffer, or None: no C path (Python Tutor's format) */
    PyObject *names_by_code;  /* id(code) -> its name's JSON text */
    PyObject *frame_text;     /* Engine._frame_text */
    PyObject *output;         /* the program's OutputCapture */
    PyObject *stop;           /* None while the program may run on, else why it stops */
    PyObject *ran;            /* the activations that may have run since the last step */
    PyObject *frame;          /* the frame of the step being taken */
    Py_ssize_t steps;         /* steps taken */
    Py_ssize_t next_id;       /* the next activation's id */
    Py_ssize_t step_limit;
    double deadline;          /* on the monotonic clock, as time.monotonic() */
    int yield_opcode;
    int resume_opcode;
} TracerObject;

static PyObject *text_line, *text_call, *text_return, *text_unread, *text_empty, *text_depth, *text_yield;

enum { EVENT_LINE, EVENT_CALL, EVENT_RETURN };

/* The event's kind, or -1 for one this path does not take. The trace
 * trampoline's event names are interned, but not always as the same
 * objects as ours: the names are compared when the objects are not the same. */
static int
event_kind(PyObject *event)
{
    if (event == text_line) {
        return EVENT_LINE;
    }
    if (event == text_call) {
        return EVENT_CALL;
    }
    if (event == text_return) {
        return EVENT_RETURN;
    }
    if (!PyUnicode_CheckExact(event)) {
        return -1;
    }
    return PyUnicode_CompareWithASCIIString(event, "line") == 0 ? EVENT_LINE
        : PyUnicode_CompareWithASCIIString(event, "call") == 0 ? EVENT_CALL
        : PyUnicode_CompareWithASCIIString(event, "return") == 0 ? EVENT_RETURN : -1;
}

/* Whether the top frame of the shown stack is `frame` (with `activation`, if given). */
static int
on_top(PyObject *shown, PyObject *frame, PyObject *activation)
{
    Py_ssize_t count = PyList_GET_SIZE(shown);
    PyObject *top = count ? PyList_GET_ITEM(shown, count - 1) : NULL;
    return top != NULL && PyTuple_CheckExact(top) && PyTuple_GET_SIZE(top) == 2 && PyTuple_GET_ITEM(top, 0) == frame
        && (activation == NULL || PyTuple_GET_ITEM(top, 1) == activation);
}

/* Engine._yielded: whether a return event is a generator's yield. */
static int
yielded(TracerObject *t, PyObject *frame, ActivationObject *activation)
{
    if (activation->after_exception) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    PyObject *bytecode = PyCode_GetCode(code);
    Py_DECREF(code);
    if (bytecode == NULL) {
        return -1;
    }
    int lasti = PyFrame_GetLasti((PyFrameObject *)frame);
    const unsigned char *ops = (const unsigned char *)PyBytes_AS_STRING(bytecode);
    /* At a yield, f_lasti is the YIELD_VALUE (3.11, 3.12) or the RESUME after it (3.13). */
    int result = lasti >= 0 && lasti < PyBytes_GET_SIZE(bytecode)
        && (ops[lasti] == t->yield_opcode
            || (lasti >= 2 && ops[lasti] == t->resume_opcode && ops[lasti - 2] == t->yield_opcode));
    Py_DECREF(bytecode);
    return result;
}

/* A new activation for a frame of the program's code, as Engine._enter makes it. */
static PyObject *
enter(TracerObject *t, PyObject *activations, PyObject *frame, PyObject *code_id)
{
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    int suspendable = (code->co_flags & CO_OPTIMIZED) && code->co_ncellvars == 0 && code->co_nfreevars == 0;
    Py_DECREF(code);
    PyObject *id = PyLong_FromSsize_t(t->next_id);
    PyObject *activation = id ? new_activation(&ActivationType, id, suspendable) : NULL;
    PyObject *latest = t->latest_by_code;
    if (activation == NULL || PyDict_SetItem(activations, frame, activation) < 0
            || latest == NULL || !PyDict_CheckExact(latest) || PyDict_SetItem(latest, code_id, id) < 0) {
        Py_XDECREF(id);
        Py_XDECREF(activation);
        return NULL;
    }
    Py_DECREF(id);
    t->next_id++;
    return activation;
}

/* Writes the step for `frame` (on top of the shown stack) in the buffer's
 * encoding, as Engine._record_step with Engine._take_record_step would: 1
 * when written, 0 when Python must write it (nothing written), -1 on an error. */
static int
write_top_step(TracerObject *t, PyObject *shown, PyObject *frame, PyObject *event, int line, PyObject *value_returned,
               PyObject *extra)
{
    BufferObject *b = (BufferObject *)t->buffer;
    PyObject *encoder = t->encoder, *ran = t->ran, *names_by_code = t->names_by_code, *frame_text = t->frame_text;
    Py_INCREF(b);
    Py_INCREF(encoder);
    Py_INCREF(ran);
    Py_INCREF(names_by_code);
    Py_INCREF(frame_text);
    Py_INCREF(frame);
    Py_XSETREF(t->frame, frame);
    int result = -1;
    PyObject *taken = NULL, *written = NULL, *line_number = NULL, *step = NULL, *full_extra = NULL;
    PyObject *previous = NULL, *old_frames = NULL, *old_heap = NULL;
    Py_ssize_t opened = -1, count_before = b->count, steps_before = t->steps;
    PyObject *steps = PyLong_FromSsize_t(t->steps);
    if (steps == NULL) {
        goto done;
    }
    PyObject *snapshot_args[5] = {shown, steps, ran, names_by_code, frame_text};
    taken = snapshot_of((EncoderObject *)encoder, snapshot_args, value_returned);
    Py_DECREF(steps);
    line_number = PyLong_FromLong(line);
    if (taken == NULL || line_number == NULL) {
        goto done;
    }
    /* the snapshot let go of what no step shows now, and a finalizer of the program's took
     * steps (before this one, in the buffer) or wrote: Python takes this step again, after
     * it (Engine._take_record_step) */
    PyObject *unread = PyObject_GetAttr(t->output, text_unread);
    if (unread == NULL) {
        goto done;
    }
    int ran_the_program = unread != Py_False || t->steps != steps_before;
    Py_DECREF(unread);
    if (ran_the_program) {
        result = 0;
        goto done;
    }
    opened = b->length;
    count_before = b->count;
    PyObject *open = buffer_open_step(b, NULL);
    if (open == NULL) {
        goto done;
    }
    Py_DECREF(open);
    Py_ssize_t start = b->length;
    if (value_returned != NULL) {
        PyObject *pieces[3] = {text_return_member, PyTuple_GET_ITEM(taken, 2), extra};
        full_extra = concat(pieces, 3);
    }
    else {
        full_extra = extra;
        Py_INCREF(full_extra);
    }
    if (full_extra == NULL) {
        goto done;
    }
    if (b->delta) {
        /* the step before, as RecordWriter keeps it: (event, line, frames, heap, extra) or a Step */
        previous = b->last != NULL && PyTuple_CheckExact(b->last) && PyTuple_GET_SIZE(b->last) == 4
            ? PyTuple_GET_ITEM(b->last, 0) : Py_None;
        Py_INCREF(previous);
        if (PyTuple_CheckExact(previous) && PyTuple_GET_SIZE(previous) == 5) {
            old_frames = PyTuple_GET_ITEM(previous, 2);
            old_heap = PyTuple_GET_ITEM(previous, 3);
            Py_INCREF(old_frames);
            Py_INCREF(old_heap);
        }
        else if (previous != Py_None) {
            old_frames = PyObject_GetAttr(previous, text_frames);
            old_heap = old_frames ? PyObject_GetAttr(previous, text_heap) : NULL;
            if (old_heap == NULL) {
                goto done;
            }
        }
        else {
            old_frames = PyTuple_New(0);
            old_heap = PyDict_New();
            if (old_frames == NULL || old_heap == NULL) {
                goto done;
            }
        }
        PyObject *step_args[9] = {(PyObject *)b, event, line_number, PyTuple_GET_ITEM(taken, 0),
                                  PyTuple_GET_ITEM(taken, 1), full_extra, text_empty, old_frames, old_heap};
        written = delta_step(NULL, step_args, 9);
    }
    else {
        PyObject *step_args[7] = {(PyObject *)b, event, line_number, PyTuple_GET_ITEM(taken, 0),
                                  PyTuple_GET_ITEM(taken, 1), full_extra, text_empty};
        written = full_step(NULL, step_args, 7);
    }
    if (written == NULL) {
        goto done;
    }
    Py_ssize_t added = written == Py_None ? 0 : PyLong_AsSsize_t(written) + 1;
    if (written == Py_None || b->size + added > b->budget) {
        /* Python writes it (a lone surrogate) or ends the record (its cap);
         * the snapshot taken again gives the same texts */
        b->length = opened;
        result = 0;
        goto done;
    }
    PyObject *start_at = PyLong_FromSsize_t(start);
    PyObject *pieces = start_at ? PyTuple_Pack(5, event, line_number, PyTuple_GET_ITEM(taken, 0),
                                               PyTuple_GET_ITEM(taken, 1), full_extra) : NULL;
    step = pieces ? PyTuple_Pack(4, pieces, previous ? previous : Py_None, text_empty, start_at) : NULL;
    Py_XDECREF(start_at);
    Py_XDECREF(pieces);
    if (step == NULL) {
        goto done;
    }
    b->size += added;
    b->count++;
    Py_XSETREF(b->last, step);
    PyObject *close = buffer_close_step(b, NULL);
    if (close == NULL) {
        goto done;
    }
    Py_DECREF(close);
    result = 1;
done:
    if (result < 0 && opened >= 0 && b->length > opened && b->count == count_before) {
        b->length = opened;  /* an error before the step was counted: nothing of it stays */
    }
    Py_XDECREF(taken);
    Py_XDECREF(written);
    Py_XDECREF(line_number);
    Py_XDECREF(full_extra);
    Py_XDECREF(previous);
    Py_XDECREF(old_frames);
    Py_XDECREF(old_heap);
    Py_DECREF(b);
    Py_DECREF(encoder);
    Py_DECREF(ran);
    Py_DECREF(names_by_code);
    Py_DECREF(frame_text);
    return result;
}

/* Engine._on_event for the common events: a line, a call or a return of a
 * frame of the program on top of the shown stack, while no limit is near and
 * there is no output to take; and the call of a library function, which is
 * not traced. 1 with *result set (the local trace function) when it took
 * the event, 0 when Engine._on_event must, -1 on an error. */
static int take_held(TracerObject *t, PyObject *activations, PyObject *shown, int kind, PyObject *frame,
                     PyObject *event, PyObject *arg, PyObject **result);

static int
take_event(TracerObject *t, PyObject *frame, PyObject *event, PyObject *arg, PyObject **result)
{
    int kind = event_kind(event);
    if (kind < 0 || !PyFrame_Check(frame)
            || t->activations == NULL || !PyDict_CheckExact(t->activations)
            || t->codes == NULL || !PyDict_CheckExact(t->codes)
            || t->latest_by_code == NULL || !PyDict_CheckExact(t->latest_by_code)
            || t->buffer == NULL || !Py_IS_TYPE(t->buffer, &BufferType)
            || t->encoder == NULL || !PyObject_TypeCheck(t->encoder, &EncoderType)
            || t->shown == NULL || !PyList_CheckExact(t->shown)
            || t->ran == NULL || !PyTuple_CheckExact(t->ran) || t->names_by_code == NULL
            || !PyDict_CheckExact(t->names_by_code) || t->frame_text == NULL || t->output == NULL
            || t->recursion == NULL || t->step == NULL) {
        return 0;
    }
    /* held, as every member this path uses: Python runs during a step (the engine's, and the
     * program's finalizers), and a program that reached the engine could change a member */
    PyObject *activations = t->activations, *shown = t->shown;
    Py_INCREF(activations);
    Py_INCREF(shown);
    int taken = take_held(t, activations, shown, kind, frame, event, arg, result);
    Py_DECREF(activations);
    Py_DECREF(shown);
    return taken;
}

/* Engine._depth_of: the frame's depth among Python frames, library code's
 * included, as CPython counts them against the recursion limit (the module's
 * frame is 1): its nearest traced caller's, plus the frames between; -1 on an
 * error. */
static Py_ssize_t
frame_depth(PyObject *activations, PyObject *frame)
{
    Py_ssize_t hops = 0;
    PyFrameObject *back = PyFrame_GetBack((PyFrameObject *)frame);
    while (back != NULL) {
        hops++;
        PyObject *found = PyDict_GetItemWithError(activations, (PyObject *)back);
        if (found != NULL && Py_IS_TYPE(found, &ActivationType)) {
            Py_DECREF(back);
            return ((ActivationObject *)found)->depth + hops;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(back);
            return -1;
        }
        PyFrameObject *next = PyFrame_GetBack(back);
        Py_DECREF(back);
        back = next;
    }
    return hops + 1;
}

/* The program's recursion limit (its RecursionLimit's depth), or -1 on an error. */
static Py_ssize_t
recursion_limit(TracerObject *t)
{
    PyObject *most = PyObject_GetAttr(t->recursion, text_depth);
    Py_ssize_t limit = most ? PyLong_AsSsize_t(most) : -1;
    Py_XDECREF(most);
    return limit;
}

static int
take_held(TracerObject *t, PyObject *activations, PyObject *shown, int kind, PyObject *frame, PyObject *event,
          PyObject *arg, PyObject **result)
{
    Py_ssize_t depth = 0;
    PyObject *activation = PyDict_GetItemWithError(activations, frame);  /* frames hash by identity */
    PyObject *code_id = NULL;
    if (activation == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        if (kind != EVENT_CALL) {
            return 0;
        }
        PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
        code_id = PyLong_FromVoidPtr(code);
        Py_DECREF(code);
        int known = code_id ? PyDict_Contains(t->codes, code_id) : -1;
        if (known <= 0) {
            Py_XDECREF(code_id);
            if (known < 0) {
                return -1;
            }
            /* library code: not traced, but its frames count against the limit (past it, Python raises) */
            Py_ssize_t limit = recursion_limit(t);
            depth = limit == -1 && PyErr_Occurred() ? -1 : frame_depth(activations, frame);
            if (depth < 0) {
                return -1;
            }
            if (depth > limit) {
                return 0;
            }
            Py_INCREF(Py_None);
            *result = Py_None;
            return 1;
        }
        if (t->next_id == 1) {  /* the module's own first call */
            Py_DECREF(code_id);
            return 0;
        }
    }
    else if (!Py_IS_TYPE(activation, &ActivationType) || ((ActivationObject *)activation)->overflow
             || (kind != EVENT_CALL && !on_top(shown, frame, activation))) {
        return 0;
    }
    /* what would make Python stop the program or take output: Python does it all */
    /* kept in the activation: the frame's text (frames.c) asks for it again */
    int line = activation != NULL ? line_of((PyFrameObject *)frame, (ActivationObject *)activation)
                                  : PyFrame_GetLineNumber((PyFrameObject *)frame);
    int pass = t->stop == Py_None && t->steps < t->step_limit && line > 0;
    if (pass) {
        PyObject *unread = PyObject_GetAttr(t->output, text_unread);
        if (unread == NULL) {
            Py_XDECREF(code_id);
            return -1;
        }
        pass = unread == Py_False;
        Py_DECREF(unread);
    }
    struct timespec now;
    if (pass && (clock_gettime(CLOCK_MONOTONIC, &now) != 0
                 || (double)now.tv_sec + (double)now.tv_nsec * 1e-9 > t->deadline)) {
        pass = 0;
    }
    if (pass && kind == EVENT_CALL) {
        Py_ssize_t limit = recursion_limit(t);
        depth = limit == -1 && PyErr_Occurred() ? -1 : frame_depth(activations, frame);
        if (depth < 0) {
            Py_XDECREF(code_id);
            return -1;
        }
        pass = depth <= limit;
    }
    if (!pass) {
        Py_XDECREF(code_id);
        return 0;
    }
    /* the frames entered or left, as Engine._on_event does before the step */
    if (activation == NULL) {
        activation = enter(t, activations, frame, code_id);
        Py_DECREF(code_id);
        if (activation == NULL) {
            return -1;
        }
        keep_line((ActivationObject *)activation, PyFrame_GetLasti((PyFrameObject *)frame), line);
    }
    else {
        Py_INCREF(activation);
    }
    ActivationObject *a = (ActivationObject *)activation;
    int is_yield = 0, taken = -1;
    PyObject *extra = text_empty, *value_returned = NULL, *ran = NULL;
    if (kind == EVENT_CALL) {
        PyObject *entry = PyTuple_Pack(2, frame, activation);
        if (entry == NULL || PyList_Append(shown, entry) < 0) {
            Py_XDECREF(entry);
            goto done;
        }
        Py_DECREF(entry);
        a->depth = depth;
    }
    else if (kind == EVENT_RETURN) {
        is_yield = yielded(t, frame, a);
        if (is_yield < 0) {
            goto done;
        }
        if (!a->after_exception) {
            value_returned = arg;
            extra = is_yield ? text_yield : text_empty;
        }
    }
    Py_ssize_t count = PyList_GET_SIZE(shown);
    PyObject *below = kind == EVENT_RETURN && count > 1 ? PyList_GET_ITEM(shown, count - 2) : NULL;
    ran = below && PyTuple_CheckExact(below) && PyTuple_GET_SIZE(below) == 2
        ? PyTuple_Pack(2, activation, PyTuple_GET_ITEM(below, 1)) : PyTuple_Pack(1, activation);
    if (ran == NULL) {
        goto done;
    }
    taken = write_top_step(t, shown, frame, event, line, value_returned, extra);
    if (taken == 0) {  /* Python writes this step, from the frames as they are now */
        PyObject *step = t->step;
        if (step == NULL) {
            PyErr_SetString(PyExc_TypeError, "the tracer has no step");
            taken = -1;
            goto done;
        }
        Py_INCREF(step);
        *result = PyObject_CallFunction(step, "OOOOO", frame, event, arg, activation, is_yield ? Py_True : Py_False);
        Py_DECREF(step);
        taken = *result ? 1 : -1;
        goto done;
    }
    if (taken < 0) {
        goto done;
    }
    t->steps++;
    Py_XSETREF(t->ran, ran);  /* Python may have run (a changed object's encoding): never trust a member */
    ran = NULL;
    /* what follows the step, as Engine._step does */
    if (kind == EVENT_RETURN) {
        count = PyList_GET_SIZE(shown);
        if (on_top(shown, frame, NULL) && PyList_SetSlice(shown, count - 1, count, NULL) < 0) {
            taken = -1;
            goto done;
        }
        if (!is_yield && PyDict_DelItem(activations, frame) < 0) {
            taken = -1;
            goto done;
        }
    }
    else {
        a->after_exception = 0;
    }
    Py_INCREF(t);
    *result = (PyObject *)t;
done:
    Py_XDECREF(ran);
    Py_DECREF(activation);
    return taken;
}

/* tracer(frame, event, arg): the trace function (global and local) */
static PyObject *
tracer_vectorcall(TracerObject *t, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) == 3 && kwnames == NULL) {
        PyObject *result = NULL;
        int taken = take_event(t, args[0], args[1], args[2], &result);
        if (taken < 0) {
            return NULL;
        }
        if (taken) {
            return result;
        }
    }
    if (t->on_event == NULL) {
        PyErr_SetString(PyExc_TypeError, "the tracer has no on_event");
        return NULL;
    }
    PyObject *on_event = t->on_event;
    Py_INCREF(on_event);
    PyObject *result = PyObject_Vectorcall(on_event, args, nargsf, kwnames);
    Py_DECREF(on_event);
    return result;
}

static PyObject *
tracer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    TracerObject *t = (TracerObject *)type->tp_alloc(type, 0);
    if (t == NULL) {
        return NULL;
    }
    t->vectorcall = (vectorcallfunc)tracer_vectorcall;
    t->deadline = 0;
    t->next_id = 1;
    Py_INCREF(Py_None);
    t->stop = Py_None;
    t->ran = PyTuple_New(0);
    if (t->ran == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static int
tracer_traverse(TracerObject *t, visitproc visit, void *arg)
{
    Py_VISIT(t->on_event);
    Py_VISIT(t->step);
    Py_VISIT(t->codes);
    Py_VISIT(t->latest_by_code);
    Py_VISIT(t->recursion);
    Py_VISIT(t->activations);
    Py_VISIT(t->shown);
    Py_VISIT(t->encoder);
    Py_VISIT(t->buffer);
    Py_VISIT(t->names_by_code);
    Py_VISIT(t->frame_text);
    Py_VISIT(t->output);
    Py_VISIT(t->stop);
    Py_VISIT(t->ran);
    Py_VISIT(t->frame);
    return 0;
}

static int
tracer_clear(TracerObject *t)
{
    Py_CLEAR(t->on_event);
    Py_CLEAR(t->step);
    Py_CLEAR(t->codes);
    Py_CLEAR(t->latest_by_code);
    Py_CLEAR(t->recursion);
    Py_CLEAR(t->activations);
    Py_CLEAR(t->shown);
    Py_CLEAR(t->encoder);
    Py_CLEAR(t->buffer);
    Py_CLEAR(t->names_by_code);
    Py_CLEAR(t->frame_text);
    Py_CLEAR(t->output);
    Py_CLEAR(t->stop);
    Py_CLEAR(t->ran);
    Py_CLEAR(t->frame);
    return 0;
}

static void
tracer_dealloc(TracerObject *t)
{
    PyObject_GC_UnTrack(t);
    tracer_clear(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyMemberDef tracer_members[] = {
    {"on_event", T_OBJECT, offsetof(TracerObject, on_event), 0, NULL},
    {"step", T_OBJECT, offsetof(TracerObject, step), 0, NULL},
    {"codes", T_OBJECT, offsetof(TracerObject, codes), 0, NULL},
    {"latest_by_code", T_OBJECT, offsetof(TracerObject, latest_by_code), 0, NULL},
    {"recursion", T_OBJECT, offsetof(TracerObject, recursion), 0, NULL},
    {"next_id", T_PYSSIZET, offsetof(TracerObject, next_id), 0, NULL},
    {"yield_opcode", T_INT, offsetof(TracerObject, yield_opcode), 0, NULL},
    {"resume_opcode", T_INT, offsetof(TracerObject, resume_opcode), 0, NULL},
    {"activations", T_OBJECT, offsetof(TracerObject, activations), 0, NULL},
    {"shown", T_OBJECT, offsetof(TracerObject, shown), 0, NULL},
    {"encoder", T_OBJECT, offsetof(TracerObject, encoder), 0, NULL},
    {"buffer", T_OBJECT, offsetof(TracerObject, buffer), 0, NULL},
    {"names_by_code", T_OBJECT, offsetof(TracerObject, names_by_code), 0, NULL},
    {"frame_text", T_OBJECT, offsetof(TracerObject, frame_text), 0, NULL},
    {"output", T_OBJECT, offsetof(TracerObject, output), 0, NULL},
    {"stop", T_OBJECT, offsetof(TracerObject, stop), 0, NULL},
    {"ran", T_OBJECT, offsetof(TracerObject, ran), 0, NULL},
    {"frame", T_OBJECT, offsetof(TracerObject, frame), 0, NULL},
    {"steps", T_PYSSIZET, offsetof(TracerObject, steps), 0, NULL},
    {"step_limit", T_PYSSIZET, offsetof(TracerObject, step_limit), 0, NULL},
    {"deadline", T_DOUBLE, offsetof(TracerObject, deadline), 0, NULL},
    {NULL},
};

static PyTypeObject TracerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer._speedups.Tracer",
    .tp_doc = "The trace function: common events in C, the others to on_event (see speedups.Tracer).",
    .tp_basicsize = sizeof(TracerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = tracer_new,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(TracerObject, vectorcall),
    .tp_traverse = (traverseproc)tracer_traverse,
    .tp_clear = (inquiry)tracer_clear,
    .tp_dealloc = (destructor)tracer_dealloc,
    .tp_members = tracer_members,
};

/* run_traced(function, *args): function(*args) with the program's code it runs traced.
 * Called from inside the trace function, where CPython traces nothing, it lets
 * CPython call the trace function again for what runs below: HeapEncoder.release
 * lets go of what the program let go of, which runs the program's finalizers, and
 * they are the program's steps. Outside a trace function, a plain call. */
static PyObject *
run_traced(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "run_traced(function, *args)");
        return NULL;
    }
    PyThreadState *tstate = PyThreadState_Get();
    int inside = tstate->tracing > 0;
    if (inside) {
        PyThreadState_LeaveTracing(tstate);
    }
    PyObject *result = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    if (inside) {
        PyThreadState_EnterTracing(tstate);
    }
    return result;
}

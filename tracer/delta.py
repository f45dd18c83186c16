"""The delta encoding of a record, and its decoder.

A request with `"encoding": "delta"` gets a record whose steps carry only
what changed since the step before (the first step: since an empty state):

    {"encoding": "delta", "steps": [DeltaStep, ...], "outcome", "stdout", "limits"}

    DeltaStep = {
      "event", "line",                      as in the full step
      "keep": k,                            the first k frames of the previous stack, unchanged
      "frames": [Frame, ...],               the frames after them, whole
      "heap": {id: HeapObject, ...},        objects new at this step, or changed
      "gone": [id, ...],                    ids of the previous heap this one no longer holds (omitted if none)
      "order": [id, ...],                   this heap's ids in order, only when it is not the previous
                                            order less `gone`, then the new ids in `heap`'s order
      "return", "yield", "exception", "stdout"   as in the full step
    }

Frames, heap objects and values are exactly those of the full record.
Replaying forward applies each delta to the state before it; to step back,
a front end keeps what each delta replaced (the frames past `keep`, the
previous versions of changed and gone objects) as it goes forward, or
decodes once with `decode` and indexes the steps.
"""

_STEP_FIELDS = ("event", "line", "keep", "frames", "heap", "gone", "order")


def decode(record):
    """The full record that a delta-encoded record stands for (a full record is returned as is).

    Decoded steps share the frames and heap objects that did not change
    between them: copy a step before editing it.
    """
    if record.get("encoding") != "delta":
        return record
    stack, heap = [], {}
    steps = []
    for delta in record["steps"]:
        stack = stack[:delta["keep"]] + delta["frames"]
        gone = {str(heap_id) for heap_id in delta.get("gone", ())}
        heap = {heap_id: value for heap_id, value in heap.items() if heap_id not in gone}
        heap.update(delta["heap"])
        if "order" in delta:
            heap = {str(heap_id): heap[str(heap_id)] for heap_id in delta["order"]}
        step = {"event": delta["event"], "line": delta["line"], "stack": stack, "heap": heap}
        step.update((key, value) for key, value in delta.items() if key not in _STEP_FIELDS)
        steps.append(step)
    full = {key: value for key, value in record.items() if key != "encoding"}
    full["steps"] = steps
    return full

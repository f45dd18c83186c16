"""The caps one trace runs under, with their defaults and environment variables."""

import dataclasses
import os
from dataclasses import dataclass

DEFAULT_STEPS = 5000

# name in the record's "limits" -> (environment variable, default)
_SETTINGS = {
    "max_steps": ("TRACER_MAX_STEPS", 10000),
    "items_per_object": ("TRACER_ITEMS_PER_OBJECT", 100),
    "string_length": ("TRACER_STRING_LENGTH", 1000),
    "record_bytes": ("TRACER_RECORD_BYTES", 32 * 1024 * 1024),
    "stdout_bytes": ("TRACER_STDOUT_BYTES", 1024 * 1024),
    "recursion_depth": ("TRACER_RECURSION_DEPTH", 1000),
    "time_seconds": ("TRACER_TIME_SECONDS", 10),
}


@dataclass(frozen=True)
class Limits:
    steps: int
    max_steps: int
    items_per_object: int
    string_length: int
    record_bytes: int
    stdout_bytes: int
    recursion_depth: int
    time_seconds: int

    def as_record(self):
        """The caps as the record's `limits` object reports them."""
        # (its fields are ints: dataclasses.asdict's deep copy took 0.07 ms, twice a request)
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def _setting(name):
    variable, default = _SETTINGS[name]
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{variable} must be a positive integer, not {raw!r}")
    return value


def limits_for(steps=DEFAULT_STEPS):
    """Limits for one trace: `steps` clamped to the configured maximum."""
    settings = {name: _setting(name) for name in _SETTINGS}
    return Limits(steps=min(steps, settings["max_steps"]), **settings)

"""bench/end_to_end.py's comparison with the seed holds only where both traced the same
program as far: a record that stopped early is said so, not counted faster."""

import json

from bench import end_to_end


def _results(**steps):
    return {"programs": {name: {"steps": count} for name, count in steps.items()}}


def test_a_record_of_fewer_steps_is_not_the_same_trace():
    ours = _results(matrix=1000, fib=1000, tiny=4)
    seed = _results(matrix=9, fib=1000, tiny=4)
    assert end_to_end.fewer_steps(ours, seed) == {"matrix": (9, 1000)}
    assert end_to_end.fewer_steps(ours, ours) == {}


def test_steps_are_counted_in_either_service_s_record():
    assert end_to_end._steps_in(json.dumps({"steps": [{}, {}, {}], "outcome": {}}).encode()) == 3
    assert end_to_end._steps_in(json.dumps({"steps": [{"snapshot": {}}]}).encode()) == 1
    assert end_to_end._steps_in(json.dumps({"error": "no steps"}).encode()) == 0
